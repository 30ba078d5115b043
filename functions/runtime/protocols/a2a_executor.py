"""The A2A ``AgentExecutor``: one task = one turn of the app's query handler.

The task's ``contextId`` is the session, so a task loads and saves history and state as
``/process`` does (``turn.py``), and the next message in the same context sees this one.
How a turn's events (``protocol.py``) become A2A 1.0 events:

* the task is created ``working`` with the user's message as its history, once the
  turn holds its session. A message refused before that (the session busy, the user over
  ``USER_MAX_TURNS_PER_MINUTE``, input the app rejects) makes no task:
  :class:`TurnRefused`, answered as a JSON-RPC error by ``a2a_server.py``;
* each assistant message is one artifact (``artifactId`` = the message id): its text
  streams as artifact updates while the agent writes (the first chunk creates the
  artifact, later ones append, ``lastChunk`` when the message is complete); data, image
  and file content become data and url/raw parts;
* tool calls and their results (``plugin_call`` / ``function_call`` / ``mcp_call`` and
  their ``*_output`` messages, reasoning) become ``working`` status updates whose
  message holds the call as a data part, its ``metadata.type`` naming the kind;
* the turn's end becomes the task's: ``completed``, ``canceled`` (a stop, from any
  instance), or ``failed`` with a status message carrying the error's text and
  ``metadata.error = {code, message}``. The terminal update is sent once the turn has
  saved the session and let it go, so a client that sees it may send the next message.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
import uuid
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any, TypeAlias, cast

from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.types.a2a_pb2 import (
    Artifact,
    Message,
    Part,
    Role,
    Task,
    TaskArtifactUpdateEvent,
    TaskState,
    TaskStatus,
    TaskStatusUpdateEvent,
)
from a2a.utils.errors import A2AError
from google.protobuf import json_format, struct_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from .. import protocol as p
from ..errors import ApiError
from ..turn import open_turn
from .translator import EventTranslator

if TYPE_CHECKING:
    from ..auth import Principal
    from ..instance import Instance
    from ..turn import Agent, Turn

FINAL_STATES = {
    p.RunStatus.Completed: TaskState.TASK_STATE_COMPLETED,
    p.RunStatus.Canceled: TaskState.TASK_STATE_CANCELED,
    p.RunStatus.Failed: TaskState.TASK_STATE_FAILED,
    # cut off without an error (a budget): the answer is not whole, so not "completed"
    p.RunStatus.Incomplete: TaskState.TASK_STATE_FAILED,
}
# messages that are not the answer but steps towards it: sent as status updates
STEP_TYPES = frozenset(
    {
        p.MessageType.FUNCTION_CALL,
        p.MessageType.FUNCTION_CALL_OUTPUT,
        p.MessageType.PLUGIN_CALL,
        p.MessageType.PLUGIN_CALL_OUTPUT,
        p.MessageType.COMPONENT_CALL,
        p.MessageType.COMPONENT_CALL_OUTPUT,
        p.MessageType.MCP_LIST_TOOLS,
        p.MessageType.MCP_TOOL_CALL,
        p.MessageType.MCP_TOOL_CALL_OUTPUT,
        p.MessageType.MCP_APPROVAL_REQUEST,
        p.MessageType.MCP_APPROVAL_RESPONSE,
        p.MessageType.REASONING,
    }
)
A2AEvent: TypeAlias = Task | TaskStatusUpdateEvent | TaskArtifactUpdateEvent
# call-context flag: the server made the contextId for this message (nothing to load)
NEW_CONTEXT = "a2a_new_context"


def status(state: TaskState, message: Message | None = None) -> TaskStatus:
    """A status stamped now (to the microsecond, as a ``datetime`` would be)."""
    us = time.time_ns() // 1000
    stamp = Timestamp(seconds=us // 1_000_000, nanos=us % 1_000_000 * 1000)
    return TaskStatus(state=state, message=message, timestamp=stamp)


def data_part(value: Any) -> Part:
    return Part(data=json_format.ParseDict(value, struct_pb2.Value()))


# -- A2A message -> AgentRequest ------------------------------------------------------------


def to_content(part: Part) -> p.Content:
    """One A2A part as the seed's content (text, data, image or file)."""
    kind = part.WhichOneof("content")
    if kind == "text":
        return p.TextContent(text=part.text)
    if kind == "data":
        value = json_format.MessageToDict(part.data)
        return p.DataContent(data=value if isinstance(value, dict) else {"value": value})
    image = part.media_type.startswith("image/")
    if kind == "url":
        if image:
            return p.ImageContent(image_url=part.url)
        return p.FileContent(file_url=part.url, filename=part.filename or None)
    if kind == "raw":
        encoded = base64.b64encode(part.raw).decode()
        if image:
            return p.ImageContent(image_url=f"data:{part.media_type};base64,{encoded}")
        return p.FileContent(file_data=encoded, filename=part.filename or None)
    return p.TextContent(text="")


def to_agent_message(message: Message) -> p.Message:
    return p.Message(
        id=message.message_id or p.new_id("msg"),
        role="user",
        status=p.RunStatus.Completed,
        content=[to_content(part) for part in message.parts],  # type: ignore[misc]
    )


# -- turn events -> A2A events --------------------------------------------------------------


def to_part(content: p.Content) -> Part | None:
    """The seed's content as an A2A part (None for content with nothing to carry)."""
    if isinstance(content, p.TextContent):
        return Part(text=content.text or "")
    if isinstance(content, p.DataContent):
        return data_part(content.data or {})
    if isinstance(content, p.ImageContent) and content.image_url:
        return Part(url=content.image_url, media_type="image/*")
    if isinstance(content, p.FileContent):
        if content.file_url:
            return Part(url=content.file_url, filename=content.filename or "")
        if content.file_data:
            raw = base64.b64decode(content.file_data)
            return Part(raw=raw, filename=content.filename or "")
    if isinstance(content, p.RefusalContent):
        return Part(text=content.refusal or "", metadata=_struct({"type": "refusal"}))
    return None


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    result = struct_pb2.Struct()
    result.update(value)
    return result


class TaskEvents(EventTranslator[A2AEvent]):
    """Turns one turn's events into the A2A events of one task (see the module's docstring)."""

    def __init__(self, task_id: str, context_id: str) -> None:
        self.task_id, self.context_id = task_id, context_id
        self.kinds: dict[str, str] = {}  # message id -> its type (answers are "message")
        self.open_artifacts: set[str] = set()
        self.streamed: set[tuple[str, int]] = set()  # (message id, part index) sent as deltas

    def agent_message(self, parts: list[Part], metadata: dict[str, Any]) -> Message:
        return Message(
            message_id=str(uuid.uuid4()),
            role=Role.ROLE_AGENT,
            task_id=self.task_id,
            context_id=self.context_id,
            parts=parts,
            metadata=_struct(metadata),
        )

    def status_update(
        self,
        state: TaskState,
        message: Message | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> TaskStatusUpdateEvent:
        return TaskStatusUpdateEvent(
            task_id=self.task_id,
            context_id=self.context_id,
            status=status(state, message),
            metadata=_struct(metadata) if metadata else None,
        )

    def chunk(
        self, message_id: str, parts: list[Part], last: bool = False
    ) -> TaskArtifactUpdateEvent:
        append = message_id in self.open_artifacts
        self.open_artifacts.add(message_id)
        return TaskArtifactUpdateEvent(
            task_id=self.task_id,
            context_id=self.context_id,
            artifact=Artifact(artifact_id=message_id, parts=parts),
            append=append,
            last_chunk=last,
        )

    def _message(self, msg: p.Message) -> list[A2AEvent]:
        if msg.status == p.RunStatus.InProgress:
            self.kinds[msg.id] = msg.type
            return []
        if msg.status not in (p.RunStatus.Completed, p.RunStatus.Incomplete):
            return []
        kind = self.kinds.pop(msg.id, msg.type)
        if kind == p.MessageType.MESSAGE:
            if msg.id in self.open_artifacts:
                return [self.chunk(msg.id, [], last=True)]
            return []
        if kind not in STEP_TYPES:
            return []
        parts = [part for c in msg.content or () if (part := to_part(c)) is not None]
        step = self.agent_message(parts, {"type": kind, "status": msg.status})
        return [self.status_update(TaskState.TASK_STATE_WORKING, step)]

    def _content(self, content: p.Content) -> list[A2AEvent]:
        msg_id = content.msg_id or ""
        if self.kinds.get(msg_id) != p.MessageType.MESSAGE:
            return []  # a step's content arrives whole with its message
        where = (msg_id, content.index or 0)
        if content.delta:
            self.streamed.add(where)
            text = getattr(content, "text", None)
            return [self.chunk(msg_id, [Part(text=text)])] if text else []
        if content.status != p.RunStatus.Completed or where in self.streamed:
            return []  # the closing copy of a part already streamed
        part = to_part(content)
        return [self.chunk(msg_id, [part])] if part is not None else []

    def final(self, response: p.Response | None) -> TaskStatusUpdateEvent:
        """The terminal update for the turn's final response."""
        if response is None or response.status not in FINAL_STATES:
            error = p.Error(code="internal_error", message="the turn ended without a final event")
            return self.failed(error)
        state = FINAL_STATES[response.status]
        metadata = {"usage": response.usage} if response.usage else None
        if state != TaskState.TASK_STATE_FAILED:
            return self.status_update(state, metadata=metadata)
        error = response.error or p.Error(
            code="incomplete", message="the turn was cut off before it completed"
        )
        return self.failed(error, metadata)

    def failed(
        self, error: p.Error, metadata: dict[str, Any] | None = None
    ) -> TaskStatusUpdateEvent:
        """``failed``, with the error's text as the status message and the error in its
        metadata."""
        body = {"code": error.code, "message": error.message}
        message = self.agent_message([Part(text=error.message)], {"error": body})
        return self.status_update(TaskState.TASK_STATE_FAILED, message, metadata)


class TurnRefused(A2AError):
    """A message refused before its turn began: no task exists, nothing is stored.

    Carries the :class:`ApiError` that refused it (``quota_exceeded`` 429 with its
    ``Retry-After``, ``session_busy`` 409, ...); ``a2a_server.py`` answers it as a JSON-RPC
    server error naming that error's ``code`` and ``detail``.
    """

    def __init__(self, error: ApiError) -> None:
        body = error.body()
        super().__init__(f"{body['code']}: {body['detail']}")
        self.error = error


class TurnExecutor(AgentExecutor):
    """Runs each A2A task as one turn of ``agent`` on ``instance``."""

    def __init__(self, instance: Instance, agent: Agent) -> None:
        self.instance = instance
        self.agent = agent
        self.running: dict[str, Turn] = {}  # task id -> its turn, on this instance

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        """Open the task's turn (:class:`TurnRefused` before any event if it cannot
        start), then run it."""
        await self.run(await self.open(context), context, event_queue)

    async def open(self, context: RequestContext) -> Turn:
        """The begun turn for the task's message: lease taken, session loaded.

        Raises :class:`TurnRefused` (an A2A error: nothing is stored) when the turn may not
        start: the session busy (``session_busy``), the user's quota used up
        (``quota_exceeded``), the input refused, the store unreachable.
        """
        message = context.message
        assert message is not None and context.context_id
        principal: Principal = context.call_context.state["principal"]
        request = p.AgentRequest(
            input=[to_agent_message(message)],
            id=context.task_id,  # the turn's lease names its task (a2a_server.py)
            session_id=context.context_id,
            user_id=context.call_context.user.user_name,
        )
        new = bool(context.call_context.state.get(NEW_CONTEXT))
        try:
            return await open_turn(self.instance, self.agent, request, principal, new=new)
        except ApiError as exc:
            raise TurnRefused(exc) from exc

    async def run(self, turn: Turn, context: RequestContext, event_queue: EventQueue) -> None:
        """Run the begun ``turn`` as the task: its events, then its end."""
        message = context.message
        assert message is not None and context.task_id and context.context_id
        task_id, context_id = context.task_id, context.context_id
        events = TaskEvents(task_id, context_id)
        task = Task(
            id=task_id,
            context_id=context_id,
            status=status(TaskState.TASK_STATE_WORKING),
            history=[message],
        )
        self.running[task_id] = turn
        try:
            await event_queue.enqueue_event(task)
            events_of_turn = cast("AsyncGenerator[p.Event, None]", turn.events())
            async with contextlib.aclosing(events_of_turn) as stream:
                async for event in stream:
                    for update in events.feed(event):
                        await event_queue.enqueue_event(update)
        finally:
            self.running.pop(task_id, None)
            if turn.lease is not None:  # its events never began (its task could not be
                # saved): it still holds its session; let it go, even if cancelled here
                await asyncio.shield(turn.end())
        # the stream is closed: the turn is saved and its session released
        await event_queue.enqueue_event(events.final(turn.final))

    def stop(self, task_id: str) -> bool:
        """Stop the task's turn if it runs on this instance; it ends ``canceled``."""
        turn = self.running.get(task_id)
        if turn is None:
            return False
        turn.stop(p.RunStatus.Canceled)
        return True

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        """Called by the SDK when it cancels a task it runs here: stop the turn (the
        SDK cancels ``execute`` next, and records the task ``canceled``)."""
        if context.task_id:
            self.stop(context.task_id)

"""AG-UI at ``POST /ag-ui``: a ``RunAgentInput`` in, the run's AG-UI events out as SSE
(``data: <event JSON, camelCase>`` frames), for web front ends such as CopilotKit.

Shapes are the ``ag-ui-protocol`` package's (``ag_ui.core``, protocol 1.0), imported when
the route is first hit: their generated models take a fifth of a second to import, which
no other request should pay for.

* ``threadId`` is the session, ``runId`` the response id. A client sends the whole
  conversation each run; the session already holds it, so only messages whose ids it does
  not hold are new input (our events carry our message ids, which the client echoes; what
  counts as held is ``echoes.py``'s to say, for every protocol that is sent messages back).
* Events: ``RUN_STARTED`` -> per assistant message ``TEXT_MESSAGE_START`` /
  ``_CONTENT`` / ``_END``; per reasoning message ``REASONING_START`` ... ``REASONING_END``;
  per tool call ``TOOL_CALL_START`` / ``_ARGS`` / ``_END``, and ``TOOL_CALL_RESULT`` for the
  ones the server ran -> ``RUN_FINISHED`` (its outcome ``cancelled`` for a stopped run,
  ``success`` naming the front-end tool calls left to answer) or ``RUN_ERROR``. A run a turn
  budget or the function's deadline cut short ends ``cancelled`` too, after a ``CUSTOM``
  event named ``budget_exceeded`` / ``deadline_exceeded`` whose value is ``{code, message}``.
* ``tools`` (front-end tools) reach the agent as ``request.tools``; a call to one ends the
  run, and the tool message the client adds answers it in the next run.
* Cancelling a run: the client aborts the request (the turn is stopped as any vanished
  client's), or anyone sends ``POST /process/stop`` with the thread id.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, cast

from fastapi import APIRouter, Request
from pydantic import ValidationError

from ..auth import PrincipalDep
from ..budgets import BUDGET_EXCEEDED, DEADLINE_EXCEEDED
from ..errors import InvalidRequest
from ..function_app import InstanceDep
from ..http_errors import errors, field_errors
from ..protocol import (
    CALL_TYPES,
    OUTPUT_TYPES,
    AgentRequest,
    AgentRole,
    Content,
    DataContent,
    ImageContent,
    Message,
    MessageType,
    Response,
    Role,
    RunStatus,
    TextContent,
)
from ..sse import SSEResponse, frame, stream_answer
from ..storage.keys import validate_id
from ..turn import Turn, open_turn
from .process import AgentDep, session_header
from .translator import EventTranslator

if TYPE_CHECKING:
    from ag_ui.core import BaseEvent, RunAgentInput

router = APIRouter()

CUT_SHORT = (BUDGET_EXCEEDED, DEADLINE_EXCEEDED)  # incomplete runs reported as cancelled
_SCHEMA = {"type": "object", "description": "AG-UI RunAgentInput (ag-ui-protocol 1.0)"}


def _parts(content: Any) -> list[Any]:
    """A user message's content (a string, or text / image parts) as protocol parts."""
    if isinstance(content, str):
        return [TextContent(text=content)]
    parts: list[Any] = []
    for part in content or ():
        kind = getattr(part, "type", None)
        if kind == "text":
            parts.append(TextContent(text=part.text))
        elif kind == "image":
            source = part.source
            if source.type == "url":
                parts.append(ImageContent(image_url=source.value))
            elif source.type == "data":
                parts.append(
                    ImageContent(image_url=f"data:{source.mime_type};base64,{source.value}")
                )
    return parts


def _data(kind: str, role: AgentRole, msg_id: str, data: dict[str, Any]) -> Message:
    return Message(
        id=msg_id,
        type=kind,
        role=role,
        content=[DataContent(data=data)],
        status=RunStatus.Completed,
    )


def input_messages(run: RunAgentInput) -> list[Message]:
    """The run's messages as protocol messages, each keeping its AG-UI id."""
    out: list[Message] = []
    for msg in cast(list[Any], run.messages):  # a union of message models, told by role
        role = msg.role
        if role in ("user", "system", "developer"):
            out.append(
                Message(
                    id=msg.id,
                    role="user" if role == "user" else "system",
                    content=_parts(msg.content),
                    status=RunStatus.Completed,
                )
            )
        elif role == "assistant":
            if msg.content:
                out.append(
                    Message(
                        id=msg.id,
                        role="assistant",
                        content=[TextContent(text=msg.content)],
                        status=RunStatus.Completed,
                    )
                )
            for call in msg.tool_calls or ():
                data = {
                    "call_id": call.id,
                    "name": call.function.name,
                    "arguments": call.function.arguments,
                }
                out.append(_data(MessageType.FUNCTION_CALL, "assistant", call.id, data))
        elif role == "tool":
            content = msg.content if isinstance(msg.content, str) else _text_of(msg.content)
            data = {"call_id": msg.tool_call_id, "output": msg.error or content}
            out.append(_data(MessageType.FUNCTION_CALL_OUTPUT, "tool", msg.id, data))
        # activity and reasoning messages are the front end's own: nothing for the agent
    return out


def _text_of(parts: Any) -> str:
    return "".join(getattr(p, "text", "") for p in parts or ())


def parse_input(body: bytes) -> RunAgentInput:
    """The body as a ``RunAgentInput``; ``InvalidRequest`` (422) naming each bad field."""
    from ag_ui.core import RunAgentInput

    try:
        run = RunAgentInput.model_validate_json(body)
    except ValidationError as exc:
        raise InvalidRequest(
            field_errors(exc.errors(include_url=False, include_context=False), ("body",))
        ) from None
    validate_id(run.thread_id, "threadId")
    problems = unnamed_calls(run)
    if problems:
        raise InvalidRequest(problems)
    return run


def unnamed_calls(run: RunAgentInput) -> list[dict[str, Any]]:
    """Field errors (``[{loc, msg, type}]``, in AG-UI's own shape) of the run's tool calls,
    tool results and tools that name their call or tool by an empty string: a model is
    sent those names as ids (``protocol.check_request`` holds every protocol to the same
    rule, but names the fields of ``/process``'s body)."""
    problems: list[dict[str, Any]] = []

    def empty(value: str, *loc: str | int) -> None:
        if not value:
            msg = f"{loc[-1]} is a non-empty string"
            problems.append({"loc": ["body", *loc], "msg": msg, "type": "value_error"})

    for i, msg in enumerate(cast(list[Any], run.messages)):
        if msg.role == "assistant":
            for j, call in enumerate(msg.tool_calls or ()):
                empty(call.id, "messages", i, "toolCalls", j, "id")
                empty(call.function.name, "messages", i, "toolCalls", j, "function", "name")
        elif msg.role == "tool":
            empty(msg.tool_call_id, "messages", i, "toolCallId")
    for i, tool in enumerate(run.tools or ()):
        empty(tool.name, "tools", i, "name")
    return problems


class AguiStream(EventTranslator["BaseEvent"]):
    """A turn's events (the seed's protocol) as AG-UI events."""

    def __init__(self, thread_id: str, run_id: str) -> None:
        from ag_ui import core

        self.core = core
        self.thread_id, self.run_id = thread_id, run_id
        self._streamed: dict[tuple[str, int], str] = {}  # (message id, part) -> text sent
        self._kinds: dict[str, str] = {}  # open message id -> "text" | "reasoning"
        self._pending: list[str] = []  # front-end tool calls without a result

    def _response(self, event: Response) -> list[BaseEvent]:
        core, ids = self.core, {"thread_id": self.thread_id, "run_id": self.run_id}
        if event.status == RunStatus.Created:
            return [core.RunStartedEvent(**ids)]
        if event.status not in RunStatus.FINAL:
            return []
        usage = None
        if event.usage:
            usage = [
                core.TokenUsage(
                    input_tokens=event.usage.get("input_tokens"),
                    output_tokens=event.usage.get("output_tokens"),
                    total_tokens=event.usage.get("total_tokens"),
                )
            ]
        if event.status == RunStatus.Failed:
            error = event.error
            return [
                core.RunErrorEvent(
                    message=error.message if error else "the run failed",
                    code=error.code if error else None,
                    usage=usage,
                )
            ]
        cut = event.error is not None and event.error.code in CUT_SHORT
        if cut:  # the run's own limits stopped it: say which, then end it cancelled
            assert event.error is not None
            limit = {"code": event.error.code, "message": event.error.message}
            before = [core.CustomEvent(name=event.error.code, value=limit)]
        else:
            before = []
        if event.status == RunStatus.Canceled or cut:
            outcome: Any = core.RunFinishedCancelledOutcome()
        else:
            outcome = core.RunFinishedSuccessOutcome(pending_tool_call_ids=self._pending or None)
        return [*before, core.RunFinishedEvent(**ids, outcome=outcome, usage=usage)]

    def _message(self, msg: Message) -> list[BaseEvent]:
        core = self.core
        if msg.status == RunStatus.InProgress:
            if msg.type == MessageType.MESSAGE and msg.role == Role.ASSISTANT:
                self._kinds[msg.id] = "text"
                return [core.TextMessageStartEvent(message_id=msg.id, role="assistant")]
            if msg.type == MessageType.REASONING:
                self._kinds[msg.id] = "reasoning"
                return [
                    core.ReasoningStartEvent(message_id=msg.id),
                    core.ReasoningMessageStartEvent(message_id=msg.id, role="reasoning"),
                ]
            return []
        kind = self._kinds.pop(msg.id, None)
        if kind == "text":
            return [core.TextMessageEndEvent(message_id=msg.id)]
        if kind == "reasoning":
            return [
                core.ReasoningMessageEndEvent(message_id=msg.id),
                core.ReasoningEndEvent(message_id=msg.id),
            ]
        events: list[BaseEvent] = []
        for part in msg.content or ():
            data = getattr(part, "data", None)
            if not isinstance(data, dict) or not data.get("call_id"):
                continue
            call_id = str(data["call_id"])
            if msg.type in CALL_TYPES:
                arguments = data.get("arguments", "")
                if not isinstance(arguments, str):
                    arguments = json.dumps(arguments, ensure_ascii=False)
                events.append(
                    core.ToolCallStartEvent(
                        tool_call_id=call_id,
                        tool_call_name=str(data.get("name") or ""),
                        parent_message_id=msg.id,
                    )
                )
                if arguments:
                    events.append(core.ToolCallArgsEvent(tool_call_id=call_id, delta=arguments))
                events.append(core.ToolCallEndEvent(tool_call_id=call_id))
                if msg.type == MessageType.FUNCTION_CALL:
                    self._pending.append(call_id)
            elif msg.type in OUTPUT_TYPES:
                output = data.get("output", "")
                if not isinstance(output, str):
                    output = json.dumps(output, ensure_ascii=False)
                if call_id in self._pending:
                    self._pending.remove(call_id)
                events.append(
                    core.ToolCallResultEvent(
                        message_id=msg.id, tool_call_id=call_id, content=output, role="tool"
                    )
                )
        return events

    def _content(self, part: Content) -> list[BaseEvent]:
        kind = self._kinds.get(part.msg_id or "")
        if kind is None or part.type != "text" or part.index is None:
            return []
        text = getattr(part, "text", None) or ""
        slot = (part.msg_id or "", part.index)
        sent = self._streamed.get(slot, "")
        if part.delta:
            piece = text
            self._streamed[slot] = sent + text
        elif part.status == RunStatus.Completed and text.startswith(sent):
            piece = text[len(sent) :]  # a whole part, or what of it was not streamed
            self._streamed[slot] = text
        else:
            return []
        if not piece:  # AG-UI refuses an empty content delta
            return []
        msg_id = part.msg_id or ""
        if kind == "reasoning":
            return [self.core.ReasoningMessageContentEvent(message_id=msg_id, delta=piece)]
        return [self.core.TextMessageContentEvent(message_id=msg_id, delta=piece)]


async def _frames(turn: Turn, out: AguiStream) -> AsyncIterator[bytes]:
    events = turn.events()
    try:
        async for event in events:
            produced = out.feed(event)
            if produced:  # one write for what one turn event became
                yield b"".join(
                    frame(item.model_dump_json(by_alias=True, exclude_none=True))
                    for item in produced
                )
    finally:
        await events.aclose()  # type: ignore[attr-defined]  # an async generator


@router.post(
    "/ag-ui",
    operation_id="run_agent",
    response_model=None,
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": _SCHEMA}}}
    },
    responses=errors(
        401, 403, 409, 413, 415, 422, 429, 503, also={200: stream_answer("AG-UI events of the run")}
    ),
)
async def run_agent(
    request: Request, instance: InstanceDep, agent: AgentDep, principal: PrincipalDep
) -> Any:
    """Run the agent on an AG-UI ``RunAgentInput``; its AG-UI events as SSE."""
    from .echoes import new_messages

    run = parse_input(await request.body())
    messages = input_messages(run)
    req = AgentRequest.model_construct(
        input=messages,
        stream=True,
        id=run.run_id,
        session_id=run.thread_id,
        user_id=None,
        tools=[
            {"type": "function", "function": t.model_dump(exclude_none=True)}
            for t in run.tools or ()
        ],
        context=[c.model_dump() for c in run.context or ()],
        forwarded_props=run.forwarded_props,
        state=run.state,
    )
    turn = await open_turn(instance, agent, req, principal)
    assert turn.session is not None
    req.input = new_messages(messages, turn.session.messages)
    out = AguiStream(run.thread_id, run.run_id)
    frames = _frames(turn, out)
    headers = session_header(turn.session_id)
    return SSEResponse(frames, instance.settings.sse_ping_interval_s, headers, turn.ready)

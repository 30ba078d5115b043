"""The A2A server of one query-function instance: agent card, JSON-RPC, tasks in the store.

Built by ``protocols/a2a.py`` on the first A2A request (a2a-sdk costs a few hundred
milliseconds to import, which no other route should pay). a2a-sdk 1.x does the protocol:
JSON-RPC 2.0 with A2A 1.0's methods and, on the same endpoint, 0.3's (``message/send``,
``message/stream``, ``tasks/get``, ``tasks/cancel``, ``tasks/resubscribe``). What is ours:

* identity: every call acts for the user it was authenticated as (``auth/``); tasks are
  stored under that user, so nobody else finds them;
* the executor (``a2a_executor.py``: a task is a turn) and the task store
  (``a2a_tasks.py``: the object store, optimistic concurrency);
* what a stateless function needs beyond the SDK, whose running tasks live in one
  process: ``CancelTask`` stops the turn wherever it runs, through the session's stop
  mark (``POST /process/stop``'s mechanism), and waits for that instance to record the
  task ``canceled``; ``SubscribeToTask`` for a task another instance runs follows it by
  reading the store; a message naming an existing task is refused (each message starts
  a task of its own; the conversation continues through ``contextId``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import warnings
from collections.abc import AsyncGenerator, Iterator
from typing import TYPE_CHECKING, Any

from a2a.auth.user import User
from a2a.server.cluster import StoredTask
from a2a.server.context import ServerCallContext
from a2a.server.request_handlers import DefaultRequestHandlerV2
from a2a.server.routes import create_agent_card_routes
from a2a.server.routes.common import DefaultServerCallContextBuilder
from a2a.server.routes.jsonrpc_dispatcher import JsonRpcDispatcher
from a2a.types.a2a_pb2 import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
    CancelTaskRequest,
    HTTPAuthSecurityScheme,
    Message,
    SecurityRequirement,
    SecurityScheme,
    SendMessageRequest,
    StringList,
    SubscribeToTaskRequest,
    Task,
    TaskArtifactUpdateEvent,
    TaskState,
    TaskStatusUpdateEvent,
)
from a2a.utils.errors import (
    InvalidParamsError,
    TaskNotCancelableError,
    TaskNotFoundError,
    UnsupportedOperationError,
)
from google.protobuf import json_format

from ..storage.keys import InvalidId, validate_id
from .a2a_executor import TurnExecutor
from .a2a_tasks import TERMINAL, ObjectTaskStore

if TYPE_CHECKING:
    from a2a.server.events import Event
    from starlette.requests import Request
    from starlette.responses import Response

    from ..instance import Instance
    from ..settings import Settings
    from ..turn import Agent

log = logging.getLogger("agentscope_faas.a2a")

RPC_PATH = "/a2a"
INPUT_MODES = ["text/plain", "application/json"]
OUTPUT_MODES = ["text/plain", "application/json"]
# request headers the SDK may read (version, extensions); credentials stay out of its context
SECRET_HEADERS = frozenset({"authorization", "x-forwarded-authorization", "cookie"})
# how long CancelTask waits for the instance running the turn to record it canceled before
# recording it itself (that instance then stops at its next save or stop check)
CANCEL_WAIT_S = 10.0
CANCEL_POLL_S = 0.05
# agent cards kept per base URL (Host headers vary; A2A_PUBLIC_URL makes it one)
MAX_CARDS = 16


# -- identity ---------------------------------------------------------------------------------


class TaskOwner(User):
    """The user an A2A call acts for: its tasks are stored under ``user_name``."""

    def __init__(self, user_id: str, authenticated: bool) -> None:
        self._user_id, self._authenticated = user_id, authenticated

    @property
    def is_authenticated(self) -> bool:
        return self._authenticated

    @property
    def user_name(self) -> str:
        return self._user_id


OWNER_KEY = "a2a_owner"


class PrincipalContextBuilder(DefaultServerCallContextBuilder):
    """The SDK's call context for a request ``protocols/a2a.py`` authenticated: the owner
    it resolved, the principal (turns act for it), no credentials."""

    def build(self, request: Request) -> ServerCallContext:
        from ..auth import get_principal

        context = super().build(request)
        principal = get_principal(request)
        context.user = TaskOwner(request.scope["state"][OWNER_KEY], principal.kind != "anonymous")
        context.state["principal"] = principal
        headers = context.state.get("headers", {})
        context.state["headers"] = {
            k: v for k, v in headers.items() if k.lower() not in SECRET_HEADERS
        }
        context.state.pop("auth", None)
        return context


# -- the agent card ---------------------------------------------------------------------------


def build_card(agent: Agent, settings: Settings, base_url: str) -> AgentCard:
    """The agent card for ``agent`` served at ``base_url`` (``A2A_PUBLIC_URL`` wins).

    Name and description are the app's; skills are ``A2A_SKILLS`` (A2A ``AgentSkill``
    objects as JSON) or one skill named for the app; it streams; with ``AUTH_MODE=jwt`` it
    asks for a bearer JWT. JSON-RPC is offered as A2A 1.0 and, at the same URL, 0.3.
    """
    url = (settings.a2a_public_url or base_url).rstrip("/") + RPC_PATH
    description = agent.app_description or f"{agent.app_name}, an AgentScope agent"
    skills = settings.a2a_skills or [
        {"id": agent.app_name, "name": agent.app_name, "description": description, "tags": ["chat"]}
    ]
    card = AgentCard(
        name=agent.app_name,
        description=description,
        version=settings.a2a_agent_version,
        supported_interfaces=[
            AgentInterface(url=url, protocol_binding="JSONRPC", protocol_version="1.0"),
            AgentInterface(url=url, protocol_binding="JSONRPC", protocol_version="0.3"),
        ],
        capabilities=AgentCapabilities(streaming=True, push_notifications=False),
        default_input_modes=INPUT_MODES,
        default_output_modes=OUTPUT_MODES,
    )
    for skill in skills:
        try:
            card.skills.append(json_format.ParseDict(skill, AgentSkill()))
        except json_format.ParseError as exc:
            raise ValueError(f"A2A_SKILLS: not an A2A AgentSkill: {skill!r}: {exc}") from None
    if settings.auth_mode == "jwt":
        scheme = HTTPAuthSecurityScheme(scheme="Bearer", bearer_format="JWT")
        card.security_schemes["bearer"].CopyFrom(SecurityScheme(http_auth_security_scheme=scheme))
        card.security_requirements.append(SecurityRequirement(schemes={"bearer": StringList()}))
    return card


# -- following a task in the store ------------------------------------------------------------


def changes(old: Task, new: Task) -> list[Event]:
    """The events that take a subscriber from ``old`` to ``new`` (same task, later)."""
    events: list[Event] = []
    before = {a.artifact_id: a for a in old.artifacts}
    for artifact in new.artifacts:
        prior = before.get(artifact.artifact_id)
        if prior == artifact:
            continue
        added = _appended(prior, artifact) if prior is not None else None
        update = TaskArtifactUpdateEvent(task_id=new.id, context_id=new.context_id)
        if added is None:
            update.artifact.CopyFrom(artifact)
        else:
            update.artifact.artifact_id = artifact.artifact_id
            update.artifact.parts.extend(added)
            update.append = True
        events.append(update)
    if new.status != old.status:
        events.append(
            TaskStatusUpdateEvent(task_id=new.id, context_id=new.context_id, status=new.status)
        )
    return events


def _appended(old: Any, new: Any) -> list[Any] | None:
    """The parts that, appended to ``old``'s, make ``new``'s (a grown last text part gives
    its new text); None when ``new`` is not ``old`` plus something."""
    n = len(old.parts)
    if n == 0 or len(new.parts) < n or list(old.parts[: n - 1]) != list(new.parts[: n - 1]):
        return None if n else list(new.parts)
    last_old, last_new = old.parts[n - 1], new.parts[n - 1]
    if last_old == last_new:
        return list(new.parts[n:])
    kinds = (last_old.WhichOneof("content"), last_new.WhichOneof("content"))
    if kinds == ("text", "text") and last_new.text.startswith(last_old.text):
        grown = type(last_new)(text=last_new.text[len(last_old.text) :])
        return [grown, *new.parts[n:]]
    return None


# -- the request handler ----------------------------------------------------------------------


class TurnRequestHandler(DefaultRequestHandlerV2):
    """a2a-sdk's handler, made stateless where the SDK keeps running tasks in one process
    (see the module's docstring)."""

    def __init__(
        self, instance: Instance, executor: TurnExecutor, tasks: ObjectTaskStore, card: AgentCard
    ) -> None:
        with _quiet_cluster_warning():
            super().__init__(agent_executor=executor, task_store=tasks, agent_card=card)
        self.instance = instance
        self.executor = executor
        self.tasks = tasks
        self.follow_interval_s = max(tasks.save_interval_s, 0.1)

    async def _check_message(self, params: SendMessageRequest, context: ServerCallContext) -> None:
        message = params.message
        try:
            if message.context_id:
                validate_id(message.context_id, "contextId")
        except InvalidId as exc:
            raise InvalidParamsError(message=str(exc.detail)) from None
        if message.task_id:
            stored = await self.tasks.get(message.task_id, context)
            if stored is None:
                raise TaskNotFoundError(f"Task {message.task_id} not found")
            raise UnsupportedOperationError(
                message=f"task {message.task_id} is not waiting for input: every message starts "
                "a task of its own; continue the conversation with the same contextId"
            )

    async def on_message_send(
        self, params: SendMessageRequest, context: ServerCallContext
    ) -> Message | Task:
        await self._check_message(params, context)
        return await super().on_message_send(params, context)

    async def on_message_send_stream(
        self, params: SendMessageRequest, context: ServerCallContext
    ) -> AsyncGenerator[Event, None]:
        await self._check_message(params, context)
        async for event in super().on_message_send_stream(params, context):
            yield event

    async def on_cancel_task(self, params: CancelTaskRequest, context: ServerCallContext) -> Task:
        stored = await self.tasks.get(params.id, context)
        if stored is None:
            raise TaskNotFoundError
        if stored.task.status.state in TERMINAL:
            raise TaskNotCancelableError
        task = stored.task
        if not self.executor.stop(task.id) and not await self._stop_elsewhere(task, context):
            # no turn runs for it (its instance died): record it canceled
            return await self._cancel_remote(task.id, task, stored.version, context)
        ended = await self._wait_for_end(task.id, context)
        if ended is None:  # its instance is slow to notice: record it, the turn follows
            latest = await self.tasks.get(task.id, context)
            if latest is None:
                raise TaskNotFoundError
            return await self._cancel_remote(task.id, latest.task, latest.version, context)
        if ended.status.state != TaskState.TASK_STATE_CANCELED:
            state = TaskState.Name(ended.status.state)
            raise TaskNotCancelableError(f"the task ended {state} before it could be canceled")
        return ended

    async def _stop_elsewhere(self, task: Task, context: ServerCallContext) -> bool:
        """Mark the task's session stopping; False when no turn runs on it."""
        from ..services.lock import NoRunningTurn

        try:
            await self.instance.lock.request_stop(context.user.user_name, task.context_id)
        except NoRunningTurn:
            return False
        return True

    async def _wait_for_end(self, task_id: str, context: ServerCallContext) -> Task | None:
        deadline = time.monotonic() + CANCEL_WAIT_S
        while time.monotonic() < deadline:
            stored = await self.tasks.get(task_id, context)
            if stored is None:
                raise TaskNotFoundError
            if stored.task.status.state in TERMINAL:
                return stored.task
            await asyncio.sleep(CANCEL_POLL_S)
        return None

    async def on_subscribe_to_task(
        self, params: SubscribeToTaskRequest, context: ServerCallContext
    ) -> AsyncGenerator[Event, None]:
        stored = await self.tasks.get(params.id, context)
        if stored is None:
            raise TaskNotFoundError
        if stored.task.status.state in TERMINAL:
            raise UnsupportedOperationError(
                message=f"Task {params.id} is in terminal state: "
                f"{TaskState.Name(stored.task.status.state)}"
            )
        local = await self._active_task_registry.get(params.id)
        if local is not None and not local.is_finished:
            async for event in local.subscribe(include_initial_task=True):
                yield event
            return
        async for event in self._follow(stored, context):
            yield event

    async def _follow(
        self, stored: StoredTask, context: ServerCallContext
    ) -> AsyncGenerator[Event]:
        """The task as stored now, then its changes as the instance running it saves them,
        until it ends."""
        task, version = stored.task, stored.version
        yield task
        while task.status.state not in TERMINAL:
            await asyncio.sleep(self.follow_interval_s)
            latest = await self.tasks.get(task.id, context)
            if latest is None:
                raise TaskNotFoundError
            if latest.version == version:
                continue
            for event in changes(task, latest.task):
                yield event
            task, version = latest.task, latest.version


@contextlib.contextmanager
def _quiet_cluster_warning() -> Iterator[None]:
    """The SDK warns that a versioned store without its event stream cannot stream across
    replicas; this handler does (``_follow``), so the warning would only mislead."""
    sdk_log = logging.getLogger("a2a.server.request_handlers.default_request_handler_v2")
    previous = sdk_log.level
    sdk_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        sdk_log.setLevel(previous)


# -- the server -------------------------------------------------------------------------------


class A2AServer:
    """Everything A2A of one instance, built once on its first A2A request."""

    def __init__(self, instance: Instance, agent: Agent) -> None:
        self.instance, self.agent = instance, agent
        settings = instance.settings
        self.executor = TurnExecutor(instance, agent)
        self.tasks = ObjectTaskStore(instance.store, settings.a2a_save_interval_s)
        # the handler reads only capabilities and modes off its card: any base URL will do
        card = build_card(agent, settings, "http://localhost")
        self.handler = TurnRequestHandler(instance, self.executor, self.tasks, card)
        self.dispatcher = JsonRpcDispatcher(
            request_handler=self.handler,
            context_builder=PrincipalContextBuilder(),
            enable_v0_3_compat=True,
        )
        self._cards: dict[str, Any] = {}  # base URL -> the SDK's card endpoint for it

    async def card(self, request: Request) -> Response:
        """The agent card (with the SDK's ETag and ``If-None-Match`` handling)."""
        base = self.instance.settings.a2a_public_url or str(request.base_url)
        endpoint = self._cards.get(base)
        if endpoint is None:
            card = build_card(self.agent, self.instance.settings, base)
            endpoint = create_agent_card_routes(card)[0].endpoint
            if len(self._cards) >= MAX_CARDS:
                self._cards.clear()
            self._cards[base] = endpoint
        response: Response = await endpoint(request)
        return response

    async def rpc(self, request: Request, owner: str) -> Response:
        """One JSON-RPC call (or stream) acting for ``owner``."""
        request.scope.setdefault("state", {})[OWNER_KEY] = owner
        response: Response = await self.dispatcher.handle_requests(request)
        return response

    async def close(self) -> None:
        """Stop this instance's running tasks (each saved as its turn ends)."""
        await self.handler.aclose()

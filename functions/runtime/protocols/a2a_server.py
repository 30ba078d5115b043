"""The A2A server of one query-function instance: agent card, JSON-RPC, tasks in the store.

Built by ``protocols/a2a.py`` on the first A2A request (a2a-sdk costs a few hundred
milliseconds to import, which no other route should pay). a2a-sdk 1.x does the protocol:
JSON-RPC 2.0 with A2A 1.0's methods and, on the same endpoint, 0.3's (``message/send``,
``message/stream``, ``tasks/get``, ``tasks/cancel``, ``tasks/resubscribe``). What is ours:

* identity: every call acts for the user it was authenticated as (``auth/``); tasks are
  stored under that user, so nobody else finds them;
* the executor (``a2a_executor.py``: a task is a turn) and the task store
  (``a2a_tasks.py``: the object store, optimistic concurrency);
* the hot call, a 1.0 ``SendMessage`` in a plain JSON-RPC envelope, parsed here and
  handed to the SDK's request handler without its dispatcher (:func:`send_message_call`;
  the answer is the dispatcher's, byte for byte); every other call goes through the
  dispatcher;
* what a stateless function needs beyond the SDK, whose running tasks live in one
  process: ``CancelTask`` stops the turn wherever it runs, through the session's stop
  mark (``POST /process/stop``'s mechanism), and waits for that instance to record the
  task ``canceled`` (the stop mark names the task's turn: it never reaches a later turn
  on the same context); ``SubscribeToTask`` for a task another instance runs follows it
  by reading the store; a task whose instance died mid-turn is recorded ``failed``
  (``instance_lost``) when ``GetTask``, ``ListTasks`` or a subscriber finds it so (see
  :meth:`TurnRequestHandler.settled`); a message naming an existing task is refused
  (each message starts a task of its own; the conversation continues through
  ``contextId``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
import warnings
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from a2a.auth.user import User
from a2a.extensions.common import HTTP_EXTENSION_HEADER, get_requested_extensions
from a2a.server.agent_execution import RequestContext
from a2a.server.cluster import ConcurrentTaskModificationError, StoredTask, TaskVersion
from a2a.server.context import ServerCallContext
from a2a.server.jsonrpc_models import InternalError as JSONRPCInternalError
from a2a.server.request_handlers import DefaultRequestHandlerV2
from a2a.server.request_handlers.response_helpers import build_error_response
from a2a.server.routes import create_agent_card_routes
from a2a.server.routes.common import DefaultServerCallContextBuilder
from a2a.server.routes.jsonrpc_dispatcher import JsonRpcDispatcher
from a2a.types.a2a_pb2 import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
    CancelTaskRequest,
    GetTaskRequest,
    HTTPAuthSecurityScheme,
    Message,
    SecurityRequirement,
    SecurityScheme,
    SendMessageRequest,
    SendMessageResponse,
    StringList,
    SubscribeToTaskRequest,
    Task,
    TaskState,
)
from a2a.utils.errors import (
    A2AError,
    InternalError,
    InvalidParamsError,
    TaskNotCancelableError,
    TaskNotFoundError,
    UnsupportedOperationError,
)
from a2a.utils.task import apply_history_length, validate_history_length
from google.protobuf import json_format
from google.protobuf.message import Message as ProtoMessage
from jsonrpc.jsonrpc2 import JSONRPC20Response
from sse_starlette.sse import EventSourceResponse
from starlette.responses import JSONResponse

from ..auth import get_principal
from ..errors import ApiError
from ..protocol import Error
from ..services.lock import lost_after_s
from ..storage.base import StoreError
from ..storage.keys import InvalidId, validate_id
from .a2a_executor import NEW_CONTEXT, TaskEvents, TurnExecutor, TurnRefused
from .a2a_required import required_params, unknown_enum
from .a2a_runs import TaskRun, apply_event, copy_task, follow
from .a2a_tasks import TERMINAL, UNANNOUNCED, ObjectTaskStore, decode

if TYPE_CHECKING:
    from a2a.server.events import Event
    from starlette.requests import Request
    from starlette.responses import Response

    from ..instance import Instance
    from ..settings import Settings
    from ..storage.base import ObjectStore
    from ..turn import Agent

log = logging.getLogger("agentscope_faas.a2a")

INPUT_MODES = ["text/plain", "application/json"]
OUTPUT_MODES = ["text/plain", "application/json"]
# request headers the SDK may read (version, extensions); credentials stay out of its context
SECRET_HEADERS = frozenset({"authorization", "x-forwarded-authorization", "cookie"})
# what FC adds to every request: the function role's temporary key among it (a client
# cannot send these: FC refuses x-fc- request headers)
PLATFORM_HEADERS = ("x-fc-",)
# how long CancelTask waits for the instance running the turn to record it canceled before
# recording it itself (that instance then stops at its next save or stop check)
CANCEL_WAIT_S = 10.0
CANCEL_POLL_S = 0.05
# agent cards kept per base URL (Host headers vary; A2A_PUBLIC_URL makes it one)
MAX_CARDS = 16
# the JSON-RPC error code of a message refused before its turn (-32000..-32099 are the
# implementation's server errors; A2A's own take -32001..-32009)
REFUSED_CODE = -32000
# the members a JSON-RPC 2.0 request object may have
ENVELOPE = frozenset({"jsonrpc", "method", "params", "id"})
ERROR_INFO_TYPE = "type.googleapis.com/google.rpc.ErrorInfo"
ERROR_DOMAIN = "agentscope-faas"


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
# where the handler records a message refused before its turn (``rpc`` answers it)
REFUSED_KEY = "a2a_refused"


class PrincipalContextBuilder(DefaultServerCallContextBuilder):
    """The SDK's call context for a request ``protocols/a2a.py`` authenticated: the owner
    it resolved, the principal (turns act for it), the headers but credentials, the
    extensions asked for (as the SDK's builder reads them)."""

    def build(self, request: Request) -> ServerCallContext:
        principal = get_principal(request)
        state = request.scope["state"]
        headers = {  # names in lower case, as the SDK's builder has them
            name: value
            for name, value in request.headers.items()
            if name not in SECRET_HEADERS and not name.startswith(PLATFORM_HEADERS)
        }
        return ServerCallContext(
            user=TaskOwner(state[OWNER_KEY], principal.kind != "anonymous"),
            state={"headers": headers, "principal": principal, REFUSED_KEY: state.get(REFUSED_KEY)},
            requested_extensions=get_requested_extensions(
                request.headers.getlist(HTTP_EXTENSION_HEADER)
            ),
        )


# -- the agent card ---------------------------------------------------------------------------


def build_card(agent: Agent, settings: Settings, rpc_url: str) -> AgentCard:
    """The agent card for ``agent`` whose JSON-RPC endpoint is at ``rpc_url``.

    Name and description are the app's; skills are ``A2A_SKILLS`` (A2A ``AgentSkill``
    objects as JSON) or one skill named for the app; it streams; with ``AUTH_MODE=jwt`` it
    asks for a bearer JWT. JSON-RPC is offered as A2A 1.0 and, at the same URL, 0.3.
    """
    url = rpc_url
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


# -- the request handler ----------------------------------------------------------------------


class TurnRequestHandler(DefaultRequestHandlerV2):
    """a2a-sdk's handler (``GetTask``, ``ListTasks``, validation), with tasks run as
    :class:`TaskRun` s, canceled and followed through the store (see the module's
    docstring)."""

    def __init__(
        self, instance: Instance, executor: TurnExecutor, tasks: ObjectTaskStore, card: AgentCard
    ) -> None:
        with _quiet_cluster_warning():
            super().__init__(agent_executor=executor, task_store=tasks, agent_card=card)
        self.instance = instance
        self.executor = executor
        self.tasks = tasks
        tasks.settle = self.settled  # ListTasks shows a task whose instance died as failed
        self.follow_interval_s = max(tasks.save_interval_s, 0.1)
        self.runs: dict[str, tuple[TaskRun, asyncio.Task[None]]] = {}  # running here

    # -- sending -------------------------------------------------------------------------------

    async def _start(self, params: SendMessageRequest, context: ServerCallContext) -> TaskRun:
        """Check the message, then start its task in the background (a task outlives the
        call that started it: a caller that leaves may read it later)."""
        validate_history_length(params.configuration)
        message = params.message
        try:
            if message.context_id:
                validate_id(message.context_id, "contextId")
        except InvalidId as exc:
            raise InvalidParamsError(message=str(exc.detail)) from None
        if message.task_id:
            if await self.tasks.get(message.task_id, context) is None:
                raise TaskNotFoundError(f"Task {message.task_id} not found")
            raise UnsupportedOperationError(
                message=f"task {message.task_id} is not waiting for input: every message starts "
                "a task of its own; continue the conversation with the same contextId"
            )
        context.state[NEW_CONTEXT] = not message.context_id
        request = RequestContext(context, params)
        try:
            turn = await self.executor.open(request)  # refused here: no task is made
        except TurnRefused as exc:
            refused = context.state.get(REFUSED_KEY)
            if refused is not None:
                state = context.state
                refused.append(Refusal(exc.error, state.get("request_id"), state.get("method", "")))
            raise
        run = TaskRun(self.tasks, self.executor, request, turn)
        job = asyncio.ensure_future(run.run())
        self.runs[run.task_id] = (run, job)
        job.add_done_callback(lambda _: self.runs.pop(run.task_id, None))
        return run

    @required_params
    async def on_message_send(
        self, params: SendMessageRequest, context: ServerCallContext
    ) -> Message | Task:
        blocking = not params.configuration.return_immediately
        context.state[UNANNOUNCED] = blocking  # its caller learns the task's id at the end
        run = await self._start(params, context)
        await (run.done if blocking else run.created).wait()
        if run.task is None:
            raise InternalError(message=f"task {run.task_id} failed before it began")
        if blocking and run.error is not None:  # its end may not be saved: never claim it
            raise InternalError(message=f"task {run.task_id} broke before its end was saved")
        return apply_history_length(copy_task(run.task), params.configuration)

    @required_params
    async def on_message_send_stream(
        self, params: SendMessageRequest, context: ServerCallContext
    ) -> AsyncGenerator[Event, None]:
        try:
            run = await self._start(params, context)
        except TurnRefused:
            if context.state.get(REFUSED_KEY) is None:
                raise
            return  # an empty stream: ``rpc`` answers the refusal (the SDK would log an error)
        async with contextlib.aclosing(run.events()) as events:
            async for event in events:
                if isinstance(event, Task):
                    event = apply_history_length(event, params.configuration)
                yield event
        if run.error is not None:
            raise InternalError(message=f"task {run.task_id} failed: {run.error}")

    # -- canceling -----------------------------------------------------------------------------

    @required_params
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
            owner = context.user.user_name
            await self.instance.lock.request_stop(owner, task.context_id, response_id=task.id)
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

    # -- tasks whose instance died ---------------------------------------------------------------

    @required_params
    async def on_get_task(self, params: GetTaskRequest, context: ServerCallContext) -> Task:
        validate_history_length(params)
        stored = await self.tasks.get(params.id, context)
        if stored is None:
            raise TaskNotFoundError
        stored = await self.settled(stored, context)
        return apply_history_length(stored.task, params)

    def lost_after_s(self) -> float:
        """``services/lock.py: lost_after_s`` for this instance's settings."""
        return lost_after_s(self.instance.settings)

    async def settled(self, stored: StoredTask, context: ServerCallContext) -> StoredTask:
        """``stored`` as it stands; a task whose instance died mid-turn recorded ``failed``
        (``instance_lost``, :func:`record_lost`), keeping what it said.

        Its context's lease tells: an instance renews the lease of a turn while it runs and
        deletes it when the turn has ended, then writes the task's end. The task is lost
        when its lease is past its expiry by more than :func:`lost_after_s` (time for a
        live instance on a slow store to renew it, or to let it go and write the end), or
        when a later turn has held the context for that long (the task's turn let it go,
        or lapsed, before that turn took it; a later turn that took over a lease lapsed
        that long records the task failed as it starts: :func:`record_lapsed`). A task whose
        context has no lease (its instance died between letting the context go and
        writing the end, a window of one write) is left as it is: from the store alone
        that cannot be told apart from an end still in flight.

        Best effort: a store that fails here leaves the task as read (the caller asked to
        read it, and did).
        """
        task = stored.task
        if task.status.state in TERMINAL or task.id in self.runs:
            return stored
        try:
            lease = await self.instance.lock.lease_on(context.user.user_name, task.context_id)
        except StoreError as exc:
            log.warning("A2A task %s: could not read its lease: %s", task.id, exc)
            return stored
        if lease is None:
            return stored
        # the task's turn held the lease until this moment at the latest
        held_until = lease.expires_at if lease.response_id == task.id else lease.started_at
        if held_until + self.lost_after_s() > time.time():
            return stored
        return await record_lost(self.tasks, stored, context)

    # -- subscribing ---------------------------------------------------------------------------

    @required_params
    async def on_subscribe_to_task(
        self, params: SubscribeToTaskRequest, context: ServerCallContext
    ) -> AsyncGenerator[Event, None]:
        stored = await self.tasks.get(params.id, context)
        if stored is None:
            raise TaskNotFoundError
        stored = await self.settled(stored, context)
        if stored.task.status.state in TERMINAL:
            raise UnsupportedOperationError(
                message=f"Task {params.id} is in terminal state: "
                f"{TaskState.Name(stored.task.status.state)}"
            )
        running = self.runs.get(params.id)
        events = (
            running[0].events(initial=True)
            if running is not None
            else follow(
                self.tasks,
                stored,
                context,
                self.follow_interval_s,
                lambda latest: self.settled(latest, context),
                self.instance.lock.renew_every_s,
            )
        )
        async with contextlib.aclosing(events):
            async for event in events:
                yield event

    async def aclose(self) -> None:
        """Stop the tasks running here (each turn is saved as it ends, its task failed)."""
        jobs = [job for _, job in self.runs.values()]
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
        await super().aclose()


async def record_lost(
    tasks: ObjectTaskStore, stored: StoredTask, context: ServerCallContext
) -> StoredTask:
    """The unfinished task ``stored`` recorded ``failed`` (``instance_lost``: its turn
    will never write its end), keeping what it said; the task as the store has it after.

    Written on the version read, so an end or a cancel that came first wins (and is
    returned). Best effort: a store that fails leaves the task as read.
    """
    task = stored.task
    ended = copy_task(task)
    error = Error(
        code="instance_lost", message="the instance running the task stopped before it ended"
    )
    apply_event(ended, TaskEvents(task.id, task.context_id).failed(error))
    try:
        version = await tasks.save(
            ended, event=None, prev=task, prev_version=stored.version, context=context
        )
    except ConcurrentTaskModificationError:  # its end, or a cancel, came first
        try:
            latest = await tasks.get(task.id, context)
        except StoreError:
            return stored
        if latest is None:
            raise TaskNotFoundError from None
        return latest
    except StoreError as exc:
        log.warning("A2A task %s: could not record it failed: %s", task.id, exc)
        return stored
    log.warning("A2A task %s: its instance died mid-turn; recorded failed", task.id)
    return StoredTask(ended, version)


async def record_lapsed(store: ObjectStore, owner: str, found: tuple[bytes, str]) -> None:
    """A task of ``owner`` (``found``: its stored bytes and etag) whose turn's lapsed lease
    a later turn took over: recorded failed unless it ended (``protocols/a2a.py``)."""
    stored = StoredTask(decode(found[0]), TaskVersion(found[1]))
    if stored.task.status.state in TERMINAL:
        return
    context = ServerCallContext(user=TaskOwner(owner, True), state={})
    with contextlib.suppress(TaskNotFoundError):  # deleted meanwhile: nothing to record
        await record_lost(ObjectTaskStore(store), stored, context)


@contextlib.contextmanager
def _quiet_cluster_warning() -> Iterator[None]:
    """The SDK warns that a versioned store without its event stream cannot stream across
    replicas; this handler does (``a2a_runs.follow``), so the warning would only mislead."""
    sdk_log = logging.getLogger("a2a.server.request_handlers.default_request_handler_v2")
    previous = sdk_log.level
    sdk_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        sdk_log.setLevel(previous)


# -- messages refused before their turn ---------------------------------------------------------


class Refusal(NamedTuple):
    """A message refused before its turn began, and the JSON-RPC call it came in."""

    error: ApiError
    request_id: str | int | None
    method: str


def refusal_response(refusal: Refusal) -> Response:
    """The JSON-RPC error for a message refused before its turn: no task was made.

    ``code`` is :data:`REFUSED_CODE` (a JSON-RPC implementation-defined server error: no
    A2A error says "not now"), ``message`` is ``"<our code>: <detail>"``, ``data`` carries
    our error body ``{"code", "detail"}``, the HTTP ``status`` it has on our other routes
    and, for a quota, ``retryAfter`` (seconds): for 0.3 methods as a plain object, for 1.0
    methods (whose ``data`` is a list of typed details) as the ``metadata`` (strings) of a
    ``google.rpc.ErrorInfo`` whose ``reason`` is the code in capitals. HTTP 200 as for
    every JSON-RPC error, with the refusal's ``Retry-After`` header.
    """
    error, request_id, method = refusal
    body = error.body()
    detail = body["detail"] if isinstance(body["detail"], str) else str(body["detail"])
    info: dict[str, Any] = {"code": body["code"], "detail": detail, "status": error.status}
    retry_after = error.headers.get("Retry-After")
    if retry_after is not None:
        info["retryAfter"] = int(retry_after)
    data: Any = info
    if "/" not in method:  # A2A 1.0's methods are single words, 0.3's are "group/verb"
        metadata = {key: str(value) for key, value in info.items()}
        data = [
            {
                "@type": ERROR_INFO_TYPE,
                "reason": body["code"].upper(),
                "domain": ERROR_DOMAIN,
                "metadata": metadata,
            }
        ]
    error_object = {"code": REFUSED_CODE, "message": f"{body['code']}: {detail}", "data": data}
    content = {"jsonrpc": "2.0", "id": request_id, "error": error_object}
    return JSONResponse(content, headers=error.headers)


async def _prepend(first: Any, rest: AsyncIterator[Any]) -> AsyncGenerator[Any, None]:
    if first is not None:
        yield first
    async for item in rest:
        yield item


# -- SendMessage without the dispatcher ---------------------------------------------------------


def send_message_call(
    request: Request, call: Call | None
) -> tuple[str | int, SendMessageRequest] | None:
    """The id and params of an A2A 1.0 ``SendMessage`` call (``call``: the request's
    envelope, :func:`call_of`; ``A2A-Version: 1.0``, no extensions asked for), parsed as the
    SDK's dispatcher parses them (``ParseDict``, unknown fields ignored); None for anything
    else.

    The hot call of the protocol skips the dispatcher's generic layers (about a fifth of a
    ``SendMessage``, ``benchmarks/process_load.py``); whatever this does not take - other
    methods, 0.3, streams, a malformed envelope or params - goes to the dispatcher, which
    answers it, errors included, as before.
    """
    headers = request.headers
    if headers.get("a2a-version") != "1.0" or "a2a-extensions" in headers:
        return None
    if call is None or call[1] != "SendMessage":
        return None
    request_id, _, params = call
    try:
        parsed = json_format.ParseDict(params, SendMessageRequest(), ignore_unknown_fields=True)
    except Exception:  # the dispatcher parses it again and answers the error
        return None
    return request_id, parsed


Call = tuple[str | int, str, dict[str, Any]]  # a JSON-RPC request's id, method and params


def call_of(raw: bytes) -> Call | None:
    """(id, method, params) of a well-formed JSON-RPC 2.0 request with an id and params
    given by name; None for anything else (the dispatcher answers that). ``raw`` was read
    and checked by json_numbers.py already."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(body, dict):
        return None
    request_id, method, params = body.get("id"), body.get("method"), body.get("params")
    if (
        body.get("jsonrpc") != "2.0"
        or not body.keys() <= ENVELOPE
        or isinstance(request_id, bool)
        or not isinstance(request_id, str | int)
        or not isinstance(method, str)
        or not isinstance(params, dict)
    ):
        return None
    return request_id, method, params


def unknown_enum_answer(call: Call | None) -> Response | None:
    """The JSON-RPC ``InvalidParams`` error for an A2A 1.0 call whose params name an enum
    value that does not exist (:func:`a2a_required.unknown_enum`: the dispatcher would
    take it as the enum's zero); None for any other request."""
    if call is None:
        return None
    request_id, method, params = call
    model = cast("type[ProtoMessage] | None", JsonRpcDispatcher.METHOD_TO_MODEL.get(method))
    why = unknown_enum(params, model.DESCRIPTOR) if model is not None else None
    if why is None:
        return None
    return JSONResponse(build_error_response(request_id, InvalidParamsError(message=why)))


def undecodable_file_answer(call: Call | None) -> Response | None:
    """The JSON-RPC ``InvalidParams`` error for an A2A 0.3 ``message/send`` or
    ``message/stream`` whose file part's ``bytes`` is not base64 (the SDK's 0.3 adapter
    would answer an internal error, logged with its traceback); None for any other
    request."""
    if call is None or call[1] not in ("message/send", "message/stream"):
        return None
    request_id, _, params = call
    message = params.get("message")
    parts = message.get("parts") if isinstance(message, dict) else None
    for index, part in enumerate(parts if isinstance(parts, list) else ()):
        file = part.get("file") if isinstance(part, dict) else None
        data = file.get("bytes") if isinstance(file, dict) else None
        if not isinstance(data, str):
            continue  # absent, or not a string: the SDK's own check says so
        try:
            base64.b64decode(data)  # as the adapter decodes it (line breaks and all)
        except ValueError:
            why = f"params.message.parts[{index}].file.bytes: not base64"
            return JSONResponse(build_error_response(request_id, InvalidParamsError(message=why)))
    return None


# -- the server -------------------------------------------------------------------------------


class A2AServer:
    """Everything A2A of one instance, built once on its first A2A request; its JSON-RPC
    endpoint is at ``rpc_path`` under the base URL."""

    def __init__(self, instance: Instance, agent: Agent, rpc_path: str) -> None:
        self.instance, self.agent, self.rpc_path = instance, agent, rpc_path
        settings = instance.settings
        self.executor = TurnExecutor(instance, agent)
        self.tasks = ObjectTaskStore(instance.store, settings.a2a_save_interval_s)
        # the handler reads only capabilities and modes off its card: any base URL will do
        card = build_card(agent, settings, "http://localhost" + rpc_path)
        self.handler = TurnRequestHandler(instance, self.executor, self.tasks, card)
        self.context_builder = PrincipalContextBuilder()
        self.dispatcher = JsonRpcDispatcher(
            request_handler=self.handler,
            context_builder=self.context_builder,
            enable_v0_3_compat=True,
        )
        self._cards: dict[str, Any] = {}  # base URL -> the SDK's card endpoint for it

    async def card(self, request: Request) -> Response:
        """The agent card (with the SDK's ETag and ``If-None-Match`` handling)."""
        base = self.instance.settings.a2a_public_url or str(request.base_url)
        endpoint = self._cards.get(base)
        if endpoint is None:
            rpc_url = base.rstrip("/") + self.rpc_path
            card = build_card(self.agent, self.instance.settings, rpc_url)
            endpoint = create_agent_card_routes(card)[0].endpoint
            if len(self._cards) >= MAX_CARDS:
                self._cards.clear()
            self._cards[base] = endpoint
        response: Response = await endpoint(request)
        if not self.instance.settings.a2a_public_url:
            # the card names the Host it was asked on: a shared cache must not hand one
            # caller's card (and the /a2a URL its clients send tokens to) to another
            response.headers["Vary"] = "Host"
            response.headers["Cache-Control"] = "no-store"
        return response

    async def rpc(self, request: Request, owner: str) -> Response:
        """One JSON-RPC call (or stream) acting for ``owner``.

        A message refused before its turn began (:class:`TurnRefused`) is answered with
        :func:`refusal_response` instead of the SDK's ``Internal error``; a stream is read
        up to its first event to learn that before its headers go out (as the SDK itself
        does for 1.0's ``SendStreamingMessage``; 0.3's ``message/stream`` would otherwise
        send the refusal as an event of a stream).
        """
        refused: list[Refusal] = []
        state = request.scope.setdefault("state", {})
        state[OWNER_KEY], state[REFUSED_KEY] = owner, refused
        call = call_of(await request.body())  # parsed once here; the dispatcher reparses
        response: Response | None = unknown_enum_answer(call) or undecodable_file_answer(call)
        if response is None:
            sent = send_message_call(request, call)
            if sent is not None:
                response = await self._send_message(request, *sent)
            else:
                response = await self.dispatcher.handle_requests(request)
        if isinstance(response, EventSourceResponse):
            events = aiter(response.body_iterator)  # the SDK's async generator
            try:
                first = await anext(events)
            except StopAsyncIteration:
                first = None
            if refused:
                await cast("AsyncGenerator[Any, None]", events).aclose()
            else:
                response.body_iterator = _prepend(first, events)
        if refused:
            return refusal_response(refused[0])
        return response

    async def _send_message(
        self, request: Request, request_id: str | int, params: SendMessageRequest
    ) -> Response:
        """A ``SendMessage`` call :func:`send_message_call` took: the SDK's handler, its
        JSON-RPC result or error, as the SDK's dispatcher would answer it."""
        context = self.context_builder.build(request)
        context.tenant = params.tenant
        context.state["method"], context.state["request_id"] = "SendMessage", request_id
        content: dict[str, Any]
        try:
            sent = await self.handler.on_message_send(params, context)
            answer = (
                SendMessageResponse(task=sent)
                if isinstance(sent, Task)
                else SendMessageResponse(message=sent)
            )
            result = json_format.MessageToDict(answer)
            content = JSONRPC20Response(result=result, _id=request_id).data
        except A2AError as exc:
            content = build_error_response(request_id, exc)
        except Exception as exc:  # as the dispatcher answers it: JSON-RPC's own, no details
            log.exception("A2A SendMessage %r failed", request_id)
            content = build_error_response(request_id, JSONRPCInternalError(message=str(exc)))
        return JSONResponse(content)

    async def close(self) -> None:
        """Stop this instance's running tasks (each saved as its turn ends)."""
        await self.handler.aclose()
        await self.tasks.close()

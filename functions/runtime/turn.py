"""One turn of a conversation: the session's lease, its history, the agent's events, persistence.

Every protocol (``/process``, the Responses API, AG-UI, A2A) runs a request as a
:class:`Turn`, so each guarantee is written once:

* ``open_turn`` fills in the user and (for a new conversation) the session id, takes the
  session's lease (``SessionBusy`` before any byte is sent) and loads its history;
* ``Turn.events()`` streams the agent's events; the turn is persisted and its session
  released before the final event is handed out, so a client that saw ``completed`` can
  rely on it and send the session's next turn at once;
* ``Turn.stop(status, error)`` ends the turn from anywhere (a stop request, a budget, a
  deadline): the agent is cancelled, what it said is kept, the stream ends in ``status``;
* every exit - the end, a failure, a stop, a client that went away - persists what was
  said (an unfinished message marked ``incomplete``) and releases the lease;
* while the turn runs, a watcher task reads its lease every ``STOP_POLL_INTERVAL_S``: it
  renews the lease (so a crashed instance frees the session within ``SESSION_LOCK_TTL_S``)
  and stops the turn when ``POST /process/stop`` - on any instance - marked it stopping.

The agent runs in a task of its own feeding a queue, so stopping it never depends on when
the consumer next asks for an event.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from .calls import TurnCalls
from .current import STATE_ROUNDS
from .protocol import (
    AgentRequest,
    Content,
    Error,
    Event,
    Response,
    ResponseBuilder,
    RunStatus,
    check_request,
    uuid4_hex,
)
from .redact import loggable_text
from .sse import wait_disconnect
from .storage.base import StoreError

if TYPE_CHECKING:
    from starlette.types import Receive

    from .auth import Principal
    from .instance import Instance
    from .services.history import Session
    from .services.lock import Lease

log = logging.getLogger("agentscope_faas.query")


class Agent(Protocol):
    """What a turn needs of an agent app (``AgentApp`` is one)."""

    app_name: str
    app_description: str

    def stream(
        self, request: AgentRequest, builder: ResponseBuilder | None = None, **kwargs: Any
    ) -> AsyncIterator[Event]: ...

    async def startup(self) -> None: ...

    async def close(self) -> None: ...


class TurnObserver(Protocol):
    """Sees every turn of an instance (tracing, budgets): called inline, must be quick."""

    def started(self, turn: Turn) -> None: ...

    def event(self, turn: Turn, event: Event) -> None: ...

    def finished(self, turn: Turn, final: Response | None) -> None: ...


def bind_services(agent: Any, instance: Instance) -> None:
    """Give the agent the durable services, as the seed's handlers expect them on ``self``.

    An app that set its own in ``@init`` keeps them.
    """
    for name, service in (
        ("state_service", lambda: instance.state),
        ("session_service", lambda: instance.history),
        ("memory_service", lambda: instance.memory),
        ("session_lock", lambda: instance.lock),  # AgentApp.stop_chat marks leases stopping
    ):
        if getattr(agent, name, None) is None:
            setattr(agent, name, service())


_END = object()


class _Stop:
    def __init__(self, status: str, error: Error | None) -> None:
        self.status, self.error = status, error


class Turn:
    """One request on one session. Build it with :func:`open_turn`."""

    def __init__(
        self,
        instance: Instance,
        agent: Agent,
        request: AgentRequest,
        *,
        new: bool = False,
        observers: Sequence[TurnObserver] = (),
    ) -> None:
        self.instance = instance
        self.agent = agent
        self.request = request
        self.new = new  # the id was generated for this request: nothing to load
        # the request's own id names the response, as AgentScope Runtime does
        self.builder = ResponseBuilder(session_id=request.session_id, response_id=request.id)
        self.observers = observers
        self.calls = TurnCalls()  # its model and tool calls: totals, watchers (calls.py)
        # the state rounds its agent loaded or saved, by (user, session) (current.py)
        self.state_rounds: dict[tuple[str, str], int] = {}
        self.lease: Lease | None = None
        self.session: Session | None = None
        self.persisted = False
        # ids of input messages the agent sees but the history does not keep (the Responses
        # API's instructions apply to one request only)
        self.unsaved: set[str] = set()
        # the protocol's own record of the turn, awaited beside the history write with the
        # final response (None: the turn was cut off before its end, its client left) and
        # the history's length after the turn
        self.recorder: Callable[[Response | None, int], Awaitable[None]] | None = None
        self.final: Response | None = None
        # ``(characters, the error)``: the most message text the agent may stream (set by
        # an observer, budgets.TurnBudgets; the error is copied for the turn that reaches
        # it), counted as it is made, not as it is sent
        self.output_cap: tuple[int, Error] | None = None
        # the producer's events, in order, for the consumer (a deque it can peek at)
        self._queue: collections.deque[Any] = collections.deque()
        self._arrived = asyncio.Event()
        self._producer: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._watch_timer: asyncio.TimerHandle | None = None

    @property
    def user_id(self) -> str:
        assert self.request.user_id is not None
        return self.request.user_id

    @property
    def session_id(self) -> str:
        assert self.request.session_id is not None
        return self.request.session_id

    @property
    def response_id(self) -> str:
        return self.builder.response.id

    async def begin(self, settle: Callable[[Turn], Awaitable[None]] | None = None) -> None:
        """Take the lease and load the session; raises before any byte is streamed.
        ``settle``: called with the session loaded, before the turn starts; it may refuse
        the turn (raise) or :meth:`move` it."""
        inst = self.instance
        self.lease = await inst.lock.acquire(self.user_id, self.session_id, self.response_id)
        # renewed from now on, however long loading the session takes (end() stops it)
        self._watch_after(self.instance.settings.stop_poll_interval_s)
        try:
            if self.lease.lapsed is not None:  # its turn's instance died: settle what it left
                await self._settle_lapsed(self.lease.lapsed, self.lease.lapsed_at)
            # one read for a session that exists, none for an id just made; a new session is
            # created by the turn's commit, holding the turn (services/history.py)
            self.session = await inst.history.open_session(
                self.user_id, self.session_id, new=self.new
            )
            if settle is not None:
                await settle(self)
        except BaseException:
            await self.end()
            raise
        for observer in self.observers:
            observer.started(self)

    async def _settle_lapsed(self, response_id: str, lapsed_at: float) -> None:
        """The instance's lapse handlers for the turn this one took the session from, its
        lease lapsed at ``lapsed_at`` (best effort: the turn goes on whatever they meet)."""
        for handler in self.instance.lapse_handlers:
            try:
                await handler(self.instance, self.user_id, response_id, lapsed_at)
            except Exception as exc:
                log.warning("could not settle the lapsed turn %s: %s", response_id, exc)

    async def move(self, session: Session) -> None:
        """Run the turn on ``session`` (the caller's, just made) instead: its lease is taken,
        the one held let go. Only before the turn starts (``begin``'s ``settle``)."""
        lease = await self.instance.lock.acquire(self.user_id, session.id, self.response_id)
        held, self.lease = self.lease, lease
        self.request.session_id = self.builder.response.session_id = session.id
        self.session = session
        if held is not None:
            await self._release(held)

    # -- running ---------------------------------------------------------------------------

    def events(self) -> AsyncIterator[Event]:
        """The turn's events, ending with its final response (persisted before it is sent)."""
        return self._events()

    async def run(self) -> Response:
        """Run to the end and return the final response (``stream: false``)."""
        async for _ in self.events():
            pass
        assert self.final is not None
        return self.final

    def stop(self, status: str = RunStatus.Canceled, error: Error | None = None) -> None:
        """End the turn now: the agent is cancelled and the stream ends in ``status``.

        Safe to call from any task, more than once (the first call decides), and after
        the end (then it does nothing).
        """
        if self.final is not None:
            return
        self._put(_Stop(status, error))
        if self._producer is not None:
            self._producer.cancel()

    def _watch_after(self, delay: float) -> None:
        """Start the watcher task ``delay`` seconds from now: a timer, not a task that sleeps,
        so a turn shorter than that (most of them) never makes one."""

        def start() -> None:
            self._watch_timer = None
            self._watcher = asyncio.ensure_future(self._watch())

        self._watch_timer = asyncio.get_running_loop().call_later(delay, start)

    async def _watch(self) -> None:
        """Renew the lease and obey a stop mark, until the turn has ended (then cancelled
        by :meth:`end`; a stopped turn's lease is renewed while it saves)."""
        from .services.lock import LeaseState

        lock = self.instance.lock
        interval = self.instance.settings.stop_poll_interval_s
        while True:
            lease = self.lease  # read each time: move() may swap it before the turn starts
            if lease is None:
                return
            try:
                state = await lock.check(lease)
            except Exception as exc:  # a store hiccup: the lease outlives a few of them
                log.warning("could not check the lease of session %s: %s", self.session_id, exc)
                await asyncio.sleep(interval)
                continue
            if lease is not self.lease:  # moved while it was read: look at the new one
                continue
            if state is LeaseState.STOP:  # the turn ends; its lease is kept until it has
                self.stop(RunStatus.Canceled)  # (once: a later stop does nothing)
            if state is LeaseState.LOST:
                self.stop(
                    RunStatus.Failed,
                    Error(
                        code="session_lease_lost",
                        message="the turn lost its session lease (the store was unreachable "
                        "for longer than SESSION_LOCK_TTL_S)",
                    ),
                )
                return
            await asyncio.sleep(interval)

    async def _produce(self) -> None:
        self.calls.bind()
        STATE_ROUNDS.set(self.state_rounds)
        limit, error = self.output_cap or (None, None)
        produced = 0
        try:
            stream = self.agent.stream(self.request, builder=self.builder, session=self.session)
            async for event in stream:
                if limit is not None and isinstance(event, Content) and event.delta:
                    # a reader that falls behind must not let the output grow without bound
                    # here: the stop cancels the agent at its next await
                    produced += len(getattr(event, "text", None) or "")
                    if produced > limit:
                        assert error is not None  # set with the limit
                        self.stop(RunStatus.Incomplete, error.model_copy())
                        limit = None
                self._put(event)
        except Exception as exc:
            # the agent's own failures already arrive as a `failed` response: this is a bug
            # beneath it, and the client still gets a valid end to the stream
            log.exception("turn of session %s broke", self.request.session_id)
            text = loggable_text(str(exc))  # a URL it names loses its credentials
            error = Error(code="internal_error", message=f"{type(exc).__name__}: {text}")
            self._put(_Stop(RunStatus.Failed, error))
            return
        self._put(_END)

    def _put(self, item: Any) -> None:
        self._queue.append(item)
        self._arrived.set()

    async def _get(self) -> Any:
        while not self._queue:
            self._arrived.clear()
            await self._arrived.wait()
        return self._queue.popleft()

    def ready(self) -> bool:
        """Whether the stream's next step is already here and taken without waiting on the
        agent: an event in the queue (the final response too: it waits only for the turn
        to be persisted and its session released, store round trips bounded by their
        timeouts), or - once the final response is out - the stream's end. An SSE stream
        then writes what is ready together, in one send, instead of one send each; a turn
        that ends at once goes out whole with the end of its body."""
        if self.final is not None:
            return True  # the final response comes last, its session already released
        return bool(self._queue) and not isinstance(self._queue[0], _Stop)

    async def _events(self) -> AsyncIterator[Event]:
        self._producer = asyncio.ensure_future(self._produce())
        final: Event | None = None
        try:
            while final is None:
                item = await self._get()
                if item is _END:
                    break
                if isinstance(item, _Stop):
                    await self._cancel_producer()
                    events: Sequence[Event] = self.builder.finish(item.status, item.error)
                else:
                    events = (item,)
                for event in events:
                    emitted = await self._emit(event)
                    if self.final is not None:
                        final = emitted
                        break
                    yield emitted
        finally:
            await self._shielded_end()
        if final is not None:
            # handed out once the turn is persisted and its session released: a client
            # that saw it may send the session's next turn at once
            yield final

    async def _emit(self, event: Event) -> Event:
        if isinstance(event, Response) and event.status in RunStatus.FINAL:
            event = await self._persist_then(event)
            self.final = event
        for observer in self.observers:
            observer.event(self, event)
        return event

    async def _cancel_producer(self) -> None:
        producer = self._producer
        if producer is not None and not producer.done():
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await producer

    async def _persist_then(self, final: Response) -> Response:
        """Make the turn durable - with the protocol's ``recorder`` record of it - before
        the client is told it is over."""
        from .services.history import SessionNotFound  # loaded by the turn's session already

        try:
            await self.persist(final=final)
        except SessionNotFound as exc:  # deleted while the turn ran: nothing to save it to
            final.status = RunStatus.Failed
            final.error = Error(code=exc.code, message=f"the turn could not be saved: {exc}")
        except StoreError as exc:
            log.warning("could not persist turn of session %s: %s", self.session_id, exc)
            final.status = RunStatus.Failed
            final.error = Error(
                code="store_unavailable",
                message="the turn could not be saved: the object store is unavailable",
            )
        return final

    # -- persistence and release -----------------------------------------------------------

    def records(self) -> list[dict[str, Any]]:
        """The messages this turn adds to its session's history: its input (less
        ``unsaved``), then what it said (a message cut off marked ``incomplete``)."""
        messages: list[dict[str, Any]] = []
        for msg in self.request.input:
            if msg.id in self.unsaved:
                continue
            item = msg.model_dump(mode="json", exclude_none=True)
            item["status"] = RunStatus.Completed
            item.pop("sequence_number", None)
            messages.append(item)
        output = list(self.builder.response.output or ())
        if self.builder.current is not None:  # cut off mid-message: keep what was said
            output.append(self.builder.current.message)
        for msg in output:
            item = msg.model_dump(mode="json", exclude_none=True)
            item.pop("sequence_number", None)
            if item.get("status") != RunStatus.Completed:
                item["status"] = RunStatus.Incomplete
            messages.append(item)
        return messages

    async def persist(self, final: Response | None = None) -> None:
        """Write what the turn said into its session and, beside it, the ``recorder``'s
        record of its ``final`` response (None: cut off before its end); once."""
        if self.persisted or self.session is None:
            return
        self.persisted = True
        messages = self.records()
        commit = self.instance.history.commit_turn(self.session, messages)
        if self.recorder is not None:  # beside the history write: both durable before the
            # client is told
            end = len(self.session.messages) + len(messages)
            commit = _beside(commit, self._record(self.recorder, final, end))
        write = asyncio.ensure_future(commit)
        # shielded: a client that leaves while the write is in flight (its stream is
        # cancelled) must not cut it short, and the session is released only after it
        try:
            await asyncio.shield(write)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):  # its own failure is the write's to log
                await write
            raise

    async def _record(
        self,
        recorder: Callable[[Response | None, int], Awaitable[None]],
        final: Response | None,
        end: int,
    ) -> None:
        try:
            await recorder(final, end)
        except Exception:  # the turn is kept all the same; only the protocol's record is not
            log.exception("could not record the turn of session %s", self.session_id)

    async def _shielded_end(self) -> None:
        # Runs on every exit, including cancellation by a vanished client: record what was
        # said and free the session even if this task is being cancelled.
        task = asyncio.ensure_future(self._finish())
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            await task
            raise

    async def _finish(self) -> None:
        await self._cancel_producer()
        try:
            await self.persist()
        except Exception as exc:
            log.warning("could not persist cut-off turn: %s", exc)
        await self.end()
        for observer in self.observers:
            observer.finished(self, self.final)

    async def end(self) -> None:
        """Stop watching the lease and release it (persisting is :meth:`persist`'s)."""
        timer, self._watch_timer = self._watch_timer, None
        if timer is not None:
            timer.cancel()
        watcher, self._watcher = self._watcher, None
        if watcher is not None and not watcher.done():
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        lease, self.lease = self.lease, None
        if lease is not None:
            await self._release(lease)

    async def _release(self, lease: Lease) -> None:
        try:
            await self.instance.lock.release(lease)
        except Exception as exc:  # the lease expires on its own
            log.warning("could not release session lease: %s", exc)


async def _beside(main: Awaitable[None], other: Coroutine[Any, Any, None]) -> None:
    """Await ``main`` with ``other`` running meanwhile as a task of its own (a store
    that waits on the network writes both at once); ``main``'s error once ``other`` is
    done. Cheaper than ``gather``: one task, not two and a gathering future."""
    beside = asyncio.ensure_future(other)
    try:
        await main
    finally:
        await beside


async def run_watching(
    turn: Turn, receive: Receive, each: Callable[[Event], object] | None = None
) -> Response:
    """Run ``turn`` to the end for a client waiting on one answer (``stream: false``),
    passing each event to ``each``. A client that goes away (``http.disconnect``) stops the
    turn as a stop request would, instead of leaving its tools running for nobody."""

    def stop_if_gone(task: asyncio.Future[None]) -> None:
        if not task.cancelled():
            turn.stop(RunStatus.Canceled)

    gone = asyncio.ensure_future(wait_disconnect(receive))
    gone.add_done_callback(stop_if_gone)
    events = turn.events()
    try:
        async for event in events:
            if each is not None:
                each(event)
    finally:
        gone.cancel()
        await events.aclose()  # type: ignore[attr-defined]  # an async generator
    assert turn.final is not None
    return turn.final


async def open_turn(
    instance: Instance,
    agent: Agent,
    request: AgentRequest,
    principal: Principal,
    observers: Sequence[TurnObserver] = (),
    *,
    new: bool = False,
    settle: Callable[[Turn], Awaitable[None]] | None = None,
    admitted: bool = False,
) -> Turn:
    """A begun turn for ``request``: its user resolved, lease taken, session loaded.

    The turn acts for the user the request names if ``principal`` may (``Forbidden``, 403,
    otherwise), else for the principal's own user (``DEFAULT_USER_ID`` for an anonymous
    local caller); one without ``session_id`` starts a new session (its id is on
    ``request.session_id`` afterwards), as does one whose id the caller just made (``new``).
    Raises ``QuotaExceeded`` (429) past the user's ``USER_MAX_TURNS_PER_MINUTE``,
    ``SessionBusy`` (409) when another request holds the session. ``settle``: see
    :meth:`Turn.begin`. ``admitted``: the request was counted against the quota already
    (an attempt on another session refused it).
    """
    request.user_id = principal.act_for(request.user_id, instance.settings.default_user_id)
    check_request(request)  # what no model could be given: 422 before anything is stored
    check_input = getattr(agent, "check_input", None)  # AgentApp.input_check's hooks
    if check_input is not None:
        check_input(request)
    observers = (*instance.turn_observers, *observers)  # the instance's: tracing, request log
    if not admitted:
        await instance.turn_rate.admit(request.user_id)  # USER_MAX_TURNS_PER_MINUTE: 429
    new = new or request.session_id is None
    if request.session_id is None:
        request.session_id = uuid4_hex()
    turn = Turn(instance, agent, request, new=new, observers=observers)
    await turn.begin(settle)
    return turn

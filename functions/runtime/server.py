"""The HTTP face of an ``AgentApp``: ``POST /process`` (SSE or JSON) and ``GET /health``.

This lives in the runtime, not in ``functions/query``, because ``AgentApp.run()`` serves the
same thing; the query function only adds how the app is found and configured.

A request's life: validate the body (422 before any stream), pick the session (generated
when absent), take the session's lease (409 when another request holds it), load its
history, stream the handler's events with ``: ping`` keep-alives, persist the turn before
the final event, release the lease. Client disconnects, handler failures and store faults
all pass through the same ``finally``, so no path leaves a session locked or half-written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.responses import Response as HTTPResponse

from .errors import error_response, install_error_handlers
from .protocol import (
    SSE_PING,
    AgentRequest,
    Error,
    Event,
    Response,
    ResponseBuilder,
    RunStatus,
    sse_encode,
)
from .services.lock import SessionBusy, SessionLock
from .storage.base import StoreError

if TYPE_CHECKING:
    from .app import AgentApp
    from .settings import Settings
    from .storage.base import ObjectStore

log = logging.getLogger("agentscope_faas.query")

PROCESS_BODY_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": AgentRequest.model_json_schema()}},
    }
}


class Runtime:
    """The per-instance services a query needs, built once on first use."""

    def __init__(self, agent_app: AgentApp, settings: Settings, store: ObjectStore | None) -> None:
        self.agent_app = agent_app
        self.settings = settings
        self._store = store
        self._ready = False

    def ensure(self) -> None:
        if self._ready:
            return
        from .services import MemoryService, SessionHistoryService, StateService
        from .storage import open_store

        if self._store is None:
            self._store = open_store(self.settings.store_url, self.settings)
        store = self._store
        self.lock = SessionLock(store, self.settings.session_lock_ttl_s)
        self.history = SessionHistoryService(store)
        # Handlers reach durable services through ``self``, as in the seed's examples; an
        # app that sets its own in ``@init`` keeps them.
        for name, service in (
            ("state_service", StateService(store)),
            ("session_service", self.history),
            ("memory_service", MemoryService(store)),
        ):
            if getattr(self.agent_app, name, None) is None:
                setattr(self.agent_app, name, service)
        self._ready = True

    @property
    def store(self) -> ObjectStore:
        self.ensure()
        assert self._store is not None
        return self._store

    async def close(self) -> None:
        if self._store is not None:
            await self._store.close()


class Turn:
    """One query on one session: its lease, its history, and its persistence."""

    def __init__(self, runtime: Runtime, request: AgentRequest, *, new: bool = False) -> None:
        self.runtime = runtime
        self.request = request
        self.new = new  # the id was generated for this request: nothing to load
        self.builder = ResponseBuilder(session_id=request.session_id)
        self.lease: Any = None
        self.session: Any = None
        self.persisted = False

    async def begin(self) -> None:
        """Take the lease and load the session; raises before any byte is streamed."""
        rt, req = self.runtime, self.request
        assert req.user_id and req.session_id
        self.lease = await rt.lock.acquire(req.user_id, req.session_id)
        try:
            session = None
            if not self.new:
                session = await rt.history.get_session(req.user_id, req.session_id)
            if session is None:
                session = await rt.history.create_session(req.user_id, req.session_id)
            self.session = session
        except BaseException:
            await self.end()
            raise

    def events(self) -> AsyncIterator[Event]:
        return self._events()

    async def _events(self) -> AsyncIterator[Event]:
        try:
            stream = self.runtime.agent_app.stream(
                self.request, builder=self.builder, session=self.session
            )
            async for event in stream:
                if isinstance(event, Response) and event.status in RunStatus.FINAL:
                    event = await self._persist_then(event)
                yield event
        finally:
            await self._shielded_end()

    async def _persist_then(self, final: Response) -> Response:
        """Make the turn durable before the client is told it is over."""
        try:
            await self.persist()
        except StoreError as exc:
            log.warning("could not persist turn of session %s: %s", self.request.session_id, exc)
            final.status = RunStatus.Failed
            final.error = Error(
                code="store_unavailable",
                message="the turn could not be saved: the object store is unavailable",
            )
        return final

    async def persist(self) -> None:
        if self.persisted or self.session is None:
            return
        self.persisted = True
        messages: list[dict[str, Any]] = []
        for msg in self.request.input:
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
        await self.runtime.history.append_message(self.session, messages)

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
        try:
            await self.persist()
        except Exception as exc:
            log.warning("could not persist cut-off turn: %s", exc)
        await self.end()

    async def end(self) -> None:
        lease, self.lease = self.lease, None
        if lease is not None:
            try:
                await self.runtime.lock.release(lease)
            except Exception as exc:  # the lease expires on its own
                log.warning("could not release session lease: %s", exc)


class SSEResponse(HTTPResponse):
    """Streams events as SSE, pinging while the handler is silent, stopping on disconnect.

    Each ``__anext__`` runs as its own task so a ping can be sent while it is pending and a
    disconnect can cancel it; cancelling it runs the turn's ``finally`` (persist, release).
    """

    def __init__(
        self, events: AsyncIterator[Event], ping_interval: float, headers: dict[str, str]
    ) -> None:
        self.status_code = 200
        self.background = None
        self.events = events
        self.ping_interval = ping_interval if ping_interval > 0 else None
        self.extra_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream; charset=utf-8"),
                    (b"cache-control", b"no-cache"),
                    (b"x-accel-buffering", b"no"),
                    *self.extra_headers,
                ],
            }
        )
        agen = self.events.__aiter__()
        disconnected = asyncio.ensure_future(_wait_disconnect(receive))
        pending: asyncio.Future[Event] | None = None
        finished = False
        try:
            while True:
                if pending is None:
                    pending = asyncio.ensure_future(agen.__anext__())
                done, _ = await asyncio.wait(
                    (pending, disconnected),
                    timeout=self.ping_interval,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if pending in done:
                    task, pending = pending, None
                    try:
                        event = task.result()
                    except StopAsyncIteration:
                        finished = True
                        break
                    await send(
                        {"type": "http.response.body", "body": sse_encode(event), "more_body": True}
                    )
                elif disconnected in done:
                    break
                else:
                    await send({"type": "http.response.body", "body": SSE_PING, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:  # the client went away while we were writing
            pass
        finally:
            disconnected.cancel()
            if pending is not None:
                pending.cancel()
                with contextlib.suppress(BaseException):
                    await pending
            if not finished:
                with contextlib.suppress(Exception):
                    await agen.aclose()  # type: ignore[attr-defined]


async def _wait_disconnect(receive: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


def _validation_errors(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": ["body", *e["loc"]], "msg": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False, include_context=False)
    ]


def build_app(agent_app: AgentApp, settings: Settings, store: ObjectStore | None = None) -> FastAPI:
    """The ASGI app serving ``agent_app``; ``store`` overrides ``settings.store_url``."""
    runtime = Runtime(agent_app, settings, store)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        runtime.ensure()
        await agent_app.startup()
        try:
            yield
        finally:
            await agent_app.close()
            await runtime.close()

    app = FastAPI(
        title=agent_app.app_name,
        description=agent_app.app_description,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.runtime = runtime
    install_error_handlers(app)

    # response_model=None: a model inferred from the annotation makes FastAPI import
    # pydantic.v1 (~20 ms of every cold start) to check that it is not a v1 model
    @app.get("/health", response_model=None)
    async def health() -> dict[str, str]:
        return {"status": "ok", "app": agent_app.app_name}

    @app.post("/process", openapi_extra=PROCESS_BODY_SCHEMA, response_model=None)
    async def process(request: Request) -> Any:
        """Run the agent on one request: SSE events, or the final response with stream=false."""
        body = await request.body()
        try:
            req = AgentRequest.model_validate_json(body)
        except ValidationError as exc:
            return error_response(422, "invalid_request", _validation_errors(exc))
        runtime.ensure()
        if req.user_id is None:
            req.user_id = settings.default_user_id
        new = req.session_id is None
        if new:
            req.session_id = uuid.uuid4().hex
        turn = Turn(runtime, req, new=new)
        try:
            await turn.begin()
        except SessionBusy as exc:
            return error_response(409, exc.code, str(exc))
        headers = {"X-Session-Id": req.session_id}
        if req.stream:
            return SSEResponse(turn.events(), settings.sse_ping_interval_s, headers)
        final: Event | None = None
        async for event in turn.events():
            final = event
        assert final is not None
        return JSONResponse(final.model_dump(mode="json", exclude_none=True), headers=headers)

    return app

"""The state function: sessions, messages, state rounds and long-term memory over HTTP.

It is a thin REST face on the same services the query function uses in-process, so a
client, an admin tool or another agent sees exactly what the agents see. Everything is in
the object store; any instance can serve any request.

Errors all have the shared shape ``{"detail", "code"}``: bad ids are 422 wherever they
appear (path, query or body -- including ids the router cannot even match, such as ``a/b``
or an empty segment), unknown sessions 404, overlapping writes of one round 409, and a store
that keeps failing 503.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote

from fastapi import Body, FastAPI, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from functions.runtime.errors import ApiError, error_response, install_error_handlers
from functions.runtime.services import (
    LogContention,
    MemoryService,
    Session,
    SessionHistoryService,
    SessionNotFound,
    StateConflict,
    StateService,
)
from functions.runtime.services.layout import MAX_SEQ
from functions.runtime.settings import Settings, get_settings
from functions.runtime.storage.base import ObjectStore
from functions.runtime.storage.keys import validate_id

Message = dict[str, Any]


# --- wire models ---------------------------------------------------------------------------


class ErrorBody(BaseModel):
    detail: Any
    code: str


class CreateSessionBody(BaseModel):
    session_id: str | None = Field(None, description="omit to have an id generated")


class SessionPage(BaseModel):
    items: list[Session]
    next_cursor: str | None = None


class MessagePage(BaseModel):
    items: list[Message]
    next_cursor: str | None = None


class AppendResult(BaseModel):
    sequence: int = Field(description="the stored append's sequence number in the session")
    messages: list[Message]


class RoundId(BaseModel):
    round_id: int


class StateRound(BaseModel):
    round_id: int
    state: dict[str, Any]


class Rounds(BaseModel):
    rounds: list[int]


class MemoryAddBody(BaseModel):
    messages: Message | list[Message]
    session_id: str | None = None


class MemoryAdded(BaseModel):
    added: int


class MemorySearchBody(BaseModel):
    messages: Message | list[Message] | None = None
    query: str | None = Field(None, description="plain-text query; used when messages is absent")
    top_k: int = Field(5, ge=1, le=1000)


class MemoryItems(BaseModel):
    items: list[Message]


class MemoryPage(BaseModel):
    items: list[Message]
    page_num: int
    page_size: int


class Health(BaseModel):
    status: str


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorBody} for code in codes}


# --- the services, opened on first use -------------------------------------------------------


class Services:
    """The store and the three services of one instance, created on the first request."""

    def __init__(self, settings: Settings, store: ObjectStore | None) -> None:
        self.settings = settings
        self._store = store
        self._owns_store = store is None
        self._ready = False

    def ensure(self) -> Services:
        if not self._ready:
            if self._store is None:
                from functions.runtime.storage import open_store

                self._store = open_store(self.settings.store_url, self.settings)
            self.history = SessionHistoryService(self._store)
            self.state = StateService(self._store)
            self.memory = MemoryService(self._store)
            self._ready = True
        return self

    async def close(self) -> None:
        if self._owns_store and self._store is not None:
            await self._store.close()
            self._store, self._ready = None, False


_ID_SEGMENT = {"users": 2, "sessions": 4}


def _bad_id_in_path(raw_path: bytes) -> str | None:
    """Why an unroutable ``/v1/users/...`` path is really a bad id (422, not 404), if it is.

    The raw path is split before percent-decoding, so ``a%2Fb`` is one (invalid) id rather
    than two segments that route nowhere.
    """
    parts = [unquote(p) for p in raw_path.decode("latin-1").split("?")[0].split("/")]
    if len(parts) < 4 or parts[1] != "v1" or parts[2] != "users":
        return None
    checks = [(3, "user_id")]
    if len(parts) > 5 and parts[4] == "sessions":
        checks.append((5, "session_id"))
    for index, what in checks:
        try:
            validate_id(parts[index], what)
        except ValueError as exc:
            return str(exc)
    return None


def _parse_offset(cursor: str | None) -> int:
    if cursor is None:
        return 0
    if not cursor.isdigit() or not cursor.isascii() or len(cursor) > 12:
        raise ApiError(422, "invalid_cursor", "cursor must be a value returned as next_cursor")
    return int(cursor)


# --- the app --------------------------------------------------------------------------------


def create_app(settings: Settings | None = None, store: ObjectStore | None = None) -> FastAPI:
    """The state function's ASGI app; ``store`` overrides ``settings.store_url`` (tests)."""
    settings = settings or get_settings()
    services = Services(settings, store)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await services.close()

    app = FastAPI(
        title="agentscope-faas state",
        description="Sessions, messages, agent state rounds and long-term memory.",
        version="1",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        # ``/sessions/`` is a session with an empty id (422), not the list under another name
        redirect_slashes=False,
    )
    app.state.services = services
    install_error_handlers(app)

    async def not_found(request: Request, exc: Exception) -> Response:
        reason = _bad_id_in_path(request.scope.get("raw_path") or request.url.path.encode())
        if reason is not None:
            return error_response(422, "invalid_id", reason)
        return error_response(404, "not_found", f"no route {request.url.path}")

    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        code = "method_not_allowed" if exc.status_code == 405 else "http_error"
        return error_response(exc.status_code, code, exc.detail)

    async def conflict(_: Request, exc: StateConflict) -> Response:
        return error_response(409, exc.code, str(exc))

    async def missing_session(_: Request, exc: SessionNotFound) -> Response:
        return error_response(404, "session_not_found", str(exc))

    async def contention(_: Request, exc: LogContention) -> Response:
        return error_response(503, "contention", str(exc))

    app.add_exception_handler(404, not_found)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(StateConflict, conflict)
    app.add_exception_handler(SessionNotFound, missing_session)
    app.add_exception_handler(LogContention, contention)

    def svc() -> Services:
        return services.ensure()

    async def existing(user_id: str, session_id: str) -> Session:
        session = await svc().history.get_session(user_id, session_id)
        if session is None:
            raise SessionNotFound(user_id, session_id)
        return session

    # --- health ---------------------------------------------------------------------------

    @app.get("/health", operation_id="health", response_model=Health, responses=_errors(503))
    async def health() -> Any:
        """Up when the object store answers."""
        if not await svc().history.health():
            return error_response(503, "store_unavailable", "the object store is unavailable")
        return Health(status="ok")

    # --- sessions -------------------------------------------------------------------------

    @app.post(
        "/v1/users/{user_id}/sessions",
        operation_id="create_session",
        response_model=Session,
        status_code=201,
        responses={200: {"model": Session, "description": "the session already existed"}}
        | _errors(422, 503),
    )
    async def create_session(
        user_id: str, response: Response, body: CreateSessionBody | None = None
    ) -> Any:
        """Create a session (201), or return the existing one with that id (200)."""
        session_id = body.session_id if body else None
        session, created = await svc().history.ensure_session(user_id, session_id)
        if not created:
            response.status_code = 200
        return session

    @app.get(
        "/v1/users/{user_id}/sessions",
        operation_id="list_sessions",
        response_model=SessionPage,
        responses=_errors(422, 503),
    )
    async def list_sessions(
        user_id: str,
        limit: int = Query(50, ge=1, le=1000),
        cursor: str | None = Query(None, description="next_cursor of the previous page"),
    ) -> Any:
        """The user's sessions in id order, without messages."""
        page = await svc().history.list_sessions(user_id, limit=limit, cursor=cursor)
        return SessionPage(items=list(page), next_cursor=page.next_cursor)

    @app.get(
        "/v1/users/{user_id}/sessions/{session_id}",
        operation_id="get_session",
        response_model=Session,
        responses=_errors(404, 422, 503),
    )
    async def get_session(user_id: str, session_id: str) -> Any:
        """The session with all its messages (page them with .../messages)."""
        return await existing(user_id, session_id)

    @app.delete(
        "/v1/users/{user_id}/sessions/{session_id}",
        operation_id="delete_session",
        status_code=204,
        responses=_errors(404, 422, 503),
    )
    async def delete_session(user_id: str, session_id: str) -> Response:
        """Delete the session's history and its saved state."""
        s = svc()
        existed, _ = await asyncio.gather(
            s.history.delete_session(user_id, session_id), s.state.delete_state(user_id, session_id)
        )
        if not existed:
            raise SessionNotFound(user_id, session_id)
        return Response(status_code=204)

    # --- messages -------------------------------------------------------------------------

    @app.get(
        "/v1/users/{user_id}/sessions/{session_id}/messages",
        operation_id="list_messages",
        response_model=MessagePage,
        responses=_errors(404, 422, 503),
    )
    async def list_messages(
        user_id: str,
        session_id: str,
        limit: int = Query(100, ge=1, le=1000),
        cursor: str | None = Query(None, description="next_cursor of the previous page"),
    ) -> Any:
        """The session's messages, oldest first."""
        start = _parse_offset(cursor)
        messages = (await existing(user_id, session_id)).messages
        end = start + limit
        return MessagePage(
            items=messages[start:end], next_cursor=str(end) if end < len(messages) else None
        )

    @app.post(
        "/v1/users/{user_id}/sessions/{session_id}/messages",
        operation_id="append_messages",
        response_model=AppendResult,
        status_code=201,
        responses=_errors(404, 422, 503),
    )
    async def append_messages(
        user_id: str,
        session_id: str,
        body: Message | list[Message] = Body(..., description="one message or a list"),
    ) -> Any:
        """Append one message or a list, atomically (all or none)."""
        messages = body if isinstance(body, list) else [body]
        if not messages:
            raise ApiError(422, "invalid_request", "no messages to append")
        session = await existing(user_id, session_id)
        sequence = await svc().history.append_message(session, messages)
        assert sequence is not None
        return AppendResult(sequence=sequence, messages=messages)

    # --- state ----------------------------------------------------------------------------

    state_path = "/v1/users/{user_id}/sessions/{session_id}/state"
    round_query = Query(None, ge=1, le=MAX_SEQ)

    @app.get(
        state_path,
        operation_id="get_state",
        response_model=StateRound,
        responses=_errors(404, 422, 503),
    )
    async def get_state(user_id: str, session_id: str, round_id: int | None = round_query) -> Any:
        """The state of a round (the latest when round_id is absent)."""
        found = await svc().state.export_round(user_id, session_id, round_id)
        if found is None:
            which = "no state saved" if round_id is None else f"no round {round_id}"
            raise ApiError(404, "state_not_found", f"{which} for session {session_id!r}")
        return StateRound(round_id=found[0], state=found[1])

    async def save(
        user_id: str, session_id: str, state: dict[str, Any], round_id: int | None
    ) -> RoundId:
        return RoundId(round_id=await svc().state.save_state(user_id, state, session_id, round_id))

    @app.put(
        state_path,
        operation_id="save_state",
        response_model=RoundId,
        responses=_errors(409, 422, 503),
    )
    async def put_state(
        user_id: str,
        session_id: str,
        state: dict[str, Any] = Body(..., description="the state object"),
        round_id: int | None = round_query,
    ) -> Any:
        """Save state as a new round, or overwrite round_id (409 if a save of it overlapped)."""
        return await save(user_id, session_id, state, round_id)

    @app.post(
        state_path,
        operation_id="save_state_post",
        response_model=RoundId,
        responses=_errors(409, 422, 503),
    )
    async def post_state(
        user_id: str,
        session_id: str,
        state: dict[str, Any] = Body(..., description="the state object"),
        round_id: int | None = round_query,
    ) -> Any:
        """Same as PUT, for clients that only POST."""
        return await save(user_id, session_id, state, round_id)

    @app.get(
        f"{state_path}/rounds",
        operation_id="list_state_rounds",
        response_model=Rounds,
        responses=_errors(422, 503),
    )
    async def list_rounds(user_id: str, session_id: str) -> Any:
        """Every saved round id, ascending."""
        return Rounds(rounds=await svc().state.list_rounds(user_id, session_id))

    # --- memory ---------------------------------------------------------------------------

    @app.post(
        "/v1/users/{user_id}/memory",
        operation_id="add_memory",
        response_model=MemoryAdded,
        status_code=201,
        responses=_errors(422, 503),
    )
    async def add_memory(user_id: str, body: MemoryAddBody) -> Any:
        """Remember messages (optionally tagged with the session they came from)."""
        messages = body.messages if isinstance(body.messages, list) else [body.messages]
        if not messages:
            raise ApiError(422, "invalid_request", "no messages to remember")
        await svc().memory.add_memory(user_id, messages, body.session_id)
        return MemoryAdded(added=len(messages))

    @app.post(
        "/v1/users/{user_id}/memory/search",
        operation_id="search_memory",
        response_model=MemoryItems,
        responses=_errors(422, 503),
    )
    async def search_memory(user_id: str, body: MemorySearchBody) -> Any:
        """Memory items ranked by BM25 against the query (or the last message's text)."""
        if body.messages is not None:
            query: Any = body.messages
        elif body.query is not None:
            query = body.query
        else:
            raise ApiError(422, "invalid_request", "give messages or query")
        items = await svc().memory.search_memory(user_id, query, {"top_k": body.top_k})
        return MemoryItems(items=items)

    @app.get(
        "/v1/users/{user_id}/memory",
        operation_id="list_memory",
        response_model=MemoryPage,
        responses=_errors(422, 503),
    )
    async def list_memory(
        user_id: str,
        page_num: int = Query(1, ge=1),
        page_size: int = Query(10, ge=1, le=1000),
    ) -> Any:
        """One page of the user's memory items."""
        filters = {"page_num": page_num, "page_size": page_size}
        items = await svc().memory.list_memory(user_id, filters)
        return MemoryPage(items=items, page_num=page_num, page_size=page_size)

    @app.delete(
        "/v1/users/{user_id}/memory",
        operation_id="delete_memory",
        status_code=204,
        responses=_errors(422, 503),
    )
    async def delete_memory(user_id: str, session_id: str | None = Query(None)) -> Response:
        """Forget one session's memory, or all of the user's when session_id is absent."""
        await svc().memory.delete_memory(user_id, session_id)
        return Response(status_code=204)

    return app

"""``/v1/users/{user_id}/sessions[/{session_id}]``: create, list, read and delete sessions."""

import asyncio
from typing import Any

from fastapi import APIRouter, Query, Response

from functions.runtime.http_errors import errors
from functions.runtime.services import Session, SessionNotFound

from ..deps import ActingUser, ExistingSession, History, SessionId, State
from ..models import CreateSessionBody, SessionPage

router = APIRouter(prefix="/v1/users/{user_id}/sessions")


@router.post(
    "",
    operation_id="create_session",
    response_model=Session,
    status_code=201,
    responses=errors(
        401,
        403,
        422,
        503,
        also={200: {"model": Session, "description": "the session already existed"}},
    ),
)
async def create_session(
    user_id: ActingUser, response: Response, history: History, body: CreateSessionBody | None = None
) -> Any:
    """Create a session (201), or return the existing one with that id (200)."""
    session_id = body.session_id if body else None
    session, created = await history.ensure_session(user_id, session_id)
    if not created:
        response.status_code = 200
    return session


@router.get(
    "",
    operation_id="list_sessions",
    response_model=SessionPage,
    responses=errors(401, 403, 422, 503),
)
async def list_sessions(
    user_id: ActingUser,
    history: History,
    limit: int = Query(50, ge=1, le=1000),
    cursor: str | None = Query(None, description="next_cursor of the previous page"),
) -> Any:
    """The user's sessions in id order, each without its messages (``messages`` is ``[]``
    here, as AgentScope Runtime's ``list_sessions`` leaves them out) and without
    ``updated_at`` (``null``: it would cost a read of each session's latest turn); GET the
    session for both."""
    page = await history.list_sessions(user_id, limit=limit, cursor=cursor)
    return SessionPage(items=list(page), next_cursor=page.next_cursor)


@router.get(
    "/{session_id}",
    operation_id="get_session",
    response_model=Session,
    responses=errors(401, 403, 404, 422, 503),
)
async def get_session(session: ExistingSession) -> Any:
    """The session with all its messages (page them with .../messages)."""
    return session


@router.delete(
    "/{session_id}",
    operation_id="delete_session",
    status_code=204,
    responses=errors(401, 403, 404, 422, 503),
)
async def delete_session(
    user_id: ActingUser, session_id: SessionId, history: History, state: State
) -> Response:
    """Delete the session's history and its saved state; 404 when it had neither."""
    had_history, had_state = await asyncio.gather(
        history.delete_session(user_id, session_id), state.delete_state(user_id, session_id)
    )
    if not (had_history or had_state):
        raise SessionNotFound(user_id, session_id)
    return Response(status_code=204)

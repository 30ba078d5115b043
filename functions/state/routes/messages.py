"""``/v1/users/{user_id}/sessions/{session_id}/messages``: page and append a session's messages."""

from typing import Any

from fastapi import APIRouter, Body, Query

from functions.runtime.errors import InvalidRequest
from functions.runtime.http_errors import errors

from ..deps import ActingUser, ExistingSession, History, SessionId, existing_session, parse_offset
from ..models import AppendResult, Message, MessagePage, checked_messages

router = APIRouter(prefix="/v1/users/{user_id}/sessions/{session_id}/messages")


@router.get(
    "",
    operation_id="list_messages",
    response_model=MessagePage,
    responses=errors(401, 403, 404, 422, 503),
)
async def list_messages(
    session: ExistingSession,
    limit: int = Query(100, ge=1, le=1000),
    cursor: str | None = Query(None, description="next_cursor of the previous page"),
) -> Any:
    """The session's messages, oldest first."""
    start = parse_offset(cursor)
    end = start + limit
    messages = session.messages
    return MessagePage(
        items=messages[start:end], next_cursor=str(end) if end < len(messages) else None
    )


@router.post(
    "",
    operation_id="append_messages",
    response_model=AppendResult,
    status_code=201,
    responses=errors(401, 403, 404, 422, 503),
)
async def append_messages(
    user_id: ActingUser,
    session_id: SessionId,
    history: History,
    body: Message | list[Message] = Body(..., description="one message or a list"),
) -> Any:
    """Append one message or a list, atomically (all or none)."""
    messages = checked_messages(body, ("body",))
    if not messages:
        raise InvalidRequest("no messages to append")
    session = await existing_session(history, user_id, session_id)
    sequence = await history.append_message(session, messages)
    assert sequence is not None
    return AppendResult(sequence=sequence, messages=messages)

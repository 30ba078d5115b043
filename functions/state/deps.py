"""How the state function's routes reach the instance's services (FastAPI dependencies)."""

from typing import Annotated

from fastapi import Depends

from functions.runtime.auth import PrincipalDep
from functions.runtime.errors import InvalidCursor
from functions.runtime.function_app import InstanceDep
from functions.runtime.services import (
    MemoryService,
    Session,
    SessionHistoryService,
    SessionNotFound,
    StateService,
)
from functions.state.paths import path_id


async def _history(instance: InstanceDep) -> SessionHistoryService:
    return instance.history


async def _state(instance: InstanceDep) -> StateService:
    return instance.state


async def _memory(instance: InstanceDep) -> MemoryService:
    return instance.memory


async def acting_user(user_id: str, principal: PrincipalDep, instance: InstanceDep) -> str:
    """The path's user, if the caller may act for them (``Forbidden``, 403, otherwise)."""
    return principal.act_for(path_id(user_id), instance.settings.default_user_id)


async def session_in_path(session_id: str) -> str:
    return path_id(session_id)


# a route's ``user_id`` path parameter, checked against the caller's identity
ActingUser = Annotated[str, Depends(acting_user)]
# a route's ``session_id`` path parameter (a ``/`` in it arrives encoded: paths.py)
SessionId = Annotated[str, Depends(session_in_path)]
History = Annotated[SessionHistoryService, Depends(_history)]
State = Annotated[StateService, Depends(_state)]
Memory = Annotated[MemoryService, Depends(_memory)]


async def existing_session(history: History, user_id: ActingUser, session_id: SessionId) -> Session:
    """The session with its messages; ``SessionNotFound`` (404) when there is none."""
    session = await history.get_session(user_id, session_id)
    if session is None:
        raise SessionNotFound(user_id, session_id)
    return session


ExistingSession = Annotated[Session, Depends(existing_session)]


def parse_offset(cursor: str | None) -> int:
    """A ``next_cursor`` we handed out, as an offset; ``InvalidCursor`` (422) otherwise."""
    if cursor is None:
        return 0
    if not cursor.isdigit() or not cursor.isascii() or len(cursor) > 12:
        raise InvalidCursor("cursor must be a value returned as next_cursor")
    return int(cursor)

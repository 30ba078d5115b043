"""``/v1/users/{user_id}/sessions/{session_id}/state``: the agent's saved state, by round."""

from typing import Any

from fastapi import APIRouter, Body, Query

from functions.runtime.http_errors import errors
from functions.runtime.services import StateNotFound
from functions.runtime.services.layout import MAX_SEQ
from functions.runtime.services.state import MAX_ROUND_ID

from ..deps import ActingUser, SessionId, State
from ..models import RoundId, Rounds, StateRound

router = APIRouter(prefix="/v1/users/{user_id}/sessions/{session_id}/state")

# a round a save numbered itself may lie past MAX_ROUND_ID (state.py): every round that
# /rounds lists can be read by its id; a save names rounds up to MAX_ROUND_ID only
ROUND_READ = Query(None, ge=1, le=MAX_SEQ)
ROUND = Query(None, ge=1, le=MAX_ROUND_ID)
STATE_BODY = Body(..., description="the state object")


@router.get(
    "",
    operation_id="get_state",
    response_model=StateRound,
    responses=errors(401, 403, 404, 422, 503),
)
async def get_state(
    user_id: ActingUser, session_id: SessionId, service: State, round_id: int | None = ROUND_READ
) -> Any:
    """The state of a round (the latest when round_id is absent)."""
    found = await service.export_round(user_id, session_id, round_id)
    if found is None:
        which = "no state saved" if round_id is None else f"no round {round_id}"
        raise StateNotFound(f"{which} for session {session_id!r}")
    return StateRound(round_id=found[0], state=found[1])


@router.put(
    "",
    operation_id="save_state",
    response_model=RoundId,
    responses=errors(401, 403, 409, 422, 503),
)
async def put_state(
    user_id: ActingUser,
    session_id: SessionId,
    service: State,
    state: dict[str, Any] = STATE_BODY,
    round_id: int | None = ROUND,
) -> Any:
    """Save state as a new round, or overwrite round_id (409 if a save of it overlapped)."""
    return RoundId(round_id=await service.save_state(user_id, state, session_id, round_id))


@router.post(
    "",
    operation_id="save_state_post",
    response_model=RoundId,
    responses=errors(401, 403, 409, 422, 503),
)
async def post_state(
    user_id: ActingUser,
    session_id: SessionId,
    service: State,
    state: dict[str, Any] = STATE_BODY,
    round_id: int | None = ROUND,
) -> Any:
    """Same as PUT, for clients that only POST."""
    return RoundId(round_id=await service.save_state(user_id, state, session_id, round_id))


@router.get(
    "/rounds",
    operation_id="list_state_rounds",
    response_model=Rounds,
    responses=errors(401, 403, 422, 503),
)
async def list_rounds(user_id: ActingUser, session_id: SessionId, service: State) -> Any:
    """Every saved round id, ascending."""
    return Rounds(rounds=await service.list_rounds(user_id, session_id))

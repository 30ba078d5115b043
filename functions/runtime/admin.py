"""The query function's kill switch: list the turns running on any instance, and stop them.

* ``GET /admin/turns[?user_id=]``: every running turn of the deployment (or of one user):
  ``{turns: [{user_id, session_id, response_id, started_at, instance, expires_at,
  stopping}]}``, oldest first, whichever instance runs them.
* ``POST /admin/turns/stop`` ``{"user_id": ...}`` or ``{"all": true}``: 202, each of those
  turns marked stopping through its session's lease - what ``POST /process/stop`` does for
  one session - so each ends ``canceled`` within ``STOP_POLL_INTERVAL_S`` on the instance
  running it, what it said kept. The answer names the turns it marked.

The listing is the session leases (``services/lock.py``): nothing is written per turn for
it. Both routes are for admins (a token with ``AUTH_ADMIN_SCOPE``): 403 for anyone else.
A user's own turn stops with ``POST /process/stop``; a user's sandboxes end in one call on
the sandbox function (``POST /v1/admin/sandboxes/stop``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Query
from pydantic import Field, StrictBool, field_validator, model_validator

from .auth import PrincipalDep
from .function_app import InstanceDep
from .http_errors import errors
from .services.lock import NoRunningTurn
from .storage.keys import validate_id
from .wire import WireModel

router = APIRouter(prefix="/admin")
STOP_CONCURRENCY = 16


class RunningTurnInfo(WireModel):
    user_id: str
    session_id: str
    response_id: str | None = Field(None, description="the response the turn is writing")
    started_at: float = Field(description="Unix time, seconds")
    instance: str = Field(description="the function instance running it, as its platform names it")
    expires_at: float = Field(description="when its lease lapses unless renewed (Unix seconds)")
    stopping: bool = Field(description="a stop was asked for and has not landed yet")


class RunningTurns(WireModel):
    turns: list[RunningTurnInfo]


class StopTurns(WireModel):
    """Whose turns to stop: one user's, or (``all``) every running turn of the deployment."""

    user_id: str | None = None
    all: StrictBool = False  # a JSON true: nothing else may stop every turn

    @field_validator("user_id")
    @classmethod
    def _valid_id(cls, value: str | None) -> str | None:
        return None if value is None else validate_id(value, "user_id")

    @model_validator(mode="after")
    def _one_target(self) -> StopTurns:
        if (self.user_id is None) == (not self.all):
            raise ValueError('name a user_id, or give "all": true to stop every running turn')
        return self


class StoppedTurn(WireModel):
    user_id: str
    session_id: str


class TurnsStopping(WireModel):
    """The turns marked stopping: each ends ``canceled`` within ``STOP_POLL_INTERVAL_S``."""

    stopping: list[StoppedTurn]


@router.get(
    "/turns",
    operation_id="list_running_turns",
    response_model=RunningTurns,
    responses=errors(401, 403, 422, 503),
)
async def running_turns(
    instance: InstanceDep,
    principal: PrincipalDep,
    user_id: str | None = Query(default=None, description="only this user's turns"),
) -> Any:
    """The turns running now on any instance (admins only)."""
    principal.require_admin("listing running turns")
    if user_id is not None:
        validate_id(user_id, "user_id")
    turns = await instance.lock.running(user_id)
    return RunningTurns(turns=[RunningTurnInfo(**vars(t)) for t in turns])


@router.post(
    "/turns/stop",
    operation_id="stop_running_turns",
    status_code=202,
    response_model=TurnsStopping,
    responses=errors(401, 403, 413, 415, 422, 503),
)
async def stop_turns(body: StopTurns, instance: InstanceDep, principal: PrincipalDep) -> Any:
    """Stop every running turn of a user, or of the deployment (admins only)."""
    principal.require_admin("stopping turns")
    lock = instance.lock
    turns = await lock.running(body.user_id)
    gate = asyncio.Semaphore(STOP_CONCURRENCY)

    async def stop(user_id: str, session_id: str) -> StoppedTurn | None:
        async with gate:
            try:
                await lock.request_stop(user_id, session_id)
            except NoRunningTurn:  # it ended since it was listed
                return None
        return StoppedTurn(user_id=user_id, session_id=session_id)

    stopped = await asyncio.gather(*(stop(t.user_id, t.session_id) for t in turns))
    return TurnsStopping(stopping=[s for s in stopped if s is not None])

"""``POST /v1/admin/sandboxes/stop``: end every sandbox of one user in one call (admins).

The sandbox half of the kill switch (the query function's ``POST /admin/turns/stop`` stops
turns): each of the user's sandboxes is removed as ``DELETE /v1/sandboxes/{id}`` removes
one - record first, then the container or session - expired ones not yet reaped included.
"""

import asyncio
from typing import Any

from fastapi import APIRouter
from pydantic import Field, field_validator

from functions.runtime.auth import PrincipalDep
from functions.runtime.http_errors import errors
from functions.runtime.storage.keys import validate_id
from functions.runtime.wire import WireModel

from ..deps import Service

router = APIRouter()
STOP_CONCURRENCY = 8


class StopSandboxes(WireModel):
    user_id: str = Field(description="whose sandboxes to end")

    @field_validator("user_id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        return validate_id(value, "user_id")


class SandboxesStopped(WireModel):
    user_id: str
    deleted: list[str] = Field(description="the ids of the sandboxes ended")


@router.post(
    "/v1/admin/sandboxes/stop",
    operation_id="stop_user_sandboxes",
    response_model=SandboxesStopped,
    responses=errors(401, 403, 413, 415, 422, 502, 503),
)
async def stop_sandboxes(body: StopSandboxes, service: Service, principal: PrincipalDep) -> Any:
    """End every sandbox of ``user_id`` (admins only)."""
    principal.require_admin("ending a user's sandboxes")
    gate = asyncio.Semaphore(STOP_CONCURRENCY)

    async def owned(sandbox_id: str) -> bool:
        async with gate:
            found = await service.registry.get(sandbox_id)
        return found is not None and found[0].user_id == body.user_id

    ids = await service.registry.ids()
    found = await asyncio.gather(*map(owned, ids))
    mine = [i for i, yes in zip(ids, found, strict=True) if yes]

    async def end(sandbox_id: str) -> bool:
        async with gate:
            return await service.delete(sandbox_id)

    ended = await asyncio.gather(*map(end, mine))
    deleted = [i for i, e in zip(mine, ended, strict=True) if e]
    return SandboxesStopped(user_id=body.user_id, deleted=deleted)

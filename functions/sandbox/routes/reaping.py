"""``POST /v1/reaper/run``: end expired sandboxes and orphaned containers (a timer trigger)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from functions.runtime.http_errors import errors

from ..deps import Service
from ..models import Reaped

router = APIRouter()


@router.post(
    "/v1/reaper/run", operation_id="run_reaper", response_model=Reaped, responses=errors(503)
)
async def reap(service: Service) -> Any:
    done = await service.reap()
    return Reaped(expired=done.expired, orphans=done.orphans)

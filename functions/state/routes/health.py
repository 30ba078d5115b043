"""``GET /health``: up when the object store answers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from functions.runtime.http_errors import errors
from functions.runtime.storage.base import StoreUnavailable

from ..deps import History
from ..models import Health

router = APIRouter()


@router.get("/health", operation_id="health", response_model=Health, responses=errors(503))
async def health(history: History) -> Any:
    """Up when the object store answers."""
    if not await history.health():
        raise StoreUnavailable("the object store did not answer a health check")
    return Health(status="ok")

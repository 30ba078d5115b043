"""``GET /health``: up when the object store can be read and written."""

from typing import Any

from fastapi import APIRouter

from functions.runtime.function_app import InstanceDep
from functions.runtime.http_errors import errors

from ..models import Health

router = APIRouter()


@router.get("/health", operation_id="health", response_model=Health, responses=errors(503))
async def health(instance: InstanceDep) -> Any:
    """Up when the object store answers reads and takes writes (503 ``store_unavailable`` /
    ``store_unwritable`` otherwise)."""
    await instance.check_store()
    return Health(status="ok")

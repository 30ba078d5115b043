"""``/v1/sandboxes[/{sandbox_id}]``: create, list, get, delete, pause and resume sandboxes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from functions.runtime.http_errors import errors
from functions.runtime.storage.keys import validate_id

from ..deps import Service
from ..models import CreateSandbox, Deleted, Health, SandboxInfo, SandboxList

router = APIRouter()


@router.get("/health", operation_id="health", response_model=Health)
async def health() -> Any:
    return Health(status="ok")


@router.post(
    "/v1/sandboxes",
    operation_id="create_sandbox",
    response_model=SandboxInfo,
    status_code=201,
    responses=errors(
        409,
        422,
        429,
        503,
        also={200: {"model": SandboxInfo, "description": "the session's sandbox existed"}},
    ),
)
async def create(body: CreateSandbox, response: Response, service: Service) -> Any:
    """A sandbox; with a session_id, that session's sandbox of the type (made if absent)."""
    user = body.user_id or service.settings.default_user_id
    record, created = await service.create(body.type, user, body.session_id, body.ttl_s)
    response.status_code = 201 if created else 200
    return record.public()


@router.get(
    "/v1/sandboxes",
    operation_id="list_sandboxes",
    response_model=SandboxList,
    responses=errors(422, 503),
)
async def list_sandboxes(service: Service, user_id: str | None = None) -> Any:
    """The user's live sandboxes."""
    records = await service.list(user_id or service.settings.default_user_id)
    return SandboxList(items=[SandboxInfo(**r.public()) for r in records])


@router.get(
    "/v1/sandboxes/{sandbox_id}",
    operation_id="get_sandbox",
    response_model=SandboxInfo,
    responses=errors(404, 422, 503),
)
async def get(sandbox_id: str, service: Service) -> Any:
    return (await service.require(sandbox_id)).public()


@router.delete(
    "/v1/sandboxes/{sandbox_id}",
    operation_id="delete_sandbox",
    response_model=Deleted,
    responses=errors(422, 503),
)
async def delete(sandbox_id: str, service: Service) -> Any:
    """Idempotent: deleting what is already gone answers 200 with deleted=false."""
    validate_id(sandbox_id, "sandbox_id")
    return Deleted(sandbox_id=sandbox_id, deleted=await service.delete(sandbox_id))


@router.post(
    "/v1/sandboxes/{sandbox_id}/pause",
    operation_id="pause_sandbox",
    response_model=SandboxInfo,
    responses=errors(404, 409, 410, 422, 429, 501, 502, 503),
)
async def pause(sandbox_id: str, service: Service) -> Any:
    """Freeze it (memory and files kept, no compute); 501 where the backend cannot."""
    return (await service.set_paused(sandbox_id, True)).public()


@router.post(
    "/v1/sandboxes/{sandbox_id}/resume",
    operation_id="resume_sandbox",
    response_model=SandboxInfo,
    responses=errors(404, 409, 410, 422, 429, 501, 502, 503),
)
async def resume(sandbox_id: str, service: Service) -> Any:
    return (await service.set_paused(sandbox_id, False)).public()

"""``/v1/sandboxes[/{sandbox_id}]``: create, list, get, delete, pause and resume sandboxes."""

from typing import Any

from fastapi import APIRouter, Request, Response

from functions.runtime.auth import PrincipalDep
from functions.runtime.http_errors import errors
from functions.runtime.storage.keys import validate_plain_id

from ..deps import SandboxInstanceDep, Service, check_owner
from ..desktop import info
from ..mcp import start_mcp_servers
from ..models import CreateSandbox, Deleted, Health, SandboxInfo, SandboxList

router = APIRouter()
health_router = APIRouter()  # also on the live view's door


@health_router.get("/health", operation_id="health", response_model=Health, responses=errors(503))
async def health(instance: SandboxInstanceDep) -> Any:
    """Up when the registry's object store answers reads and takes writes (503
    ``store_unavailable`` / ``store_unwritable`` otherwise); the live view's door
    (``SANDBOX_ROUTES=desktop``), whose role only reads records, skips the write probe."""
    if instance.settings.sandbox_routes != "desktop":
        await instance.check_store()
    return Health(status="ok")


@router.post(
    "/v1/sandboxes",
    operation_id="create_sandbox",
    response_model=SandboxInfo,
    status_code=201,
    responses=errors(
        400,
        401,
        403,
        409,
        422,
        429,
        502,
        503,
        also={200: {"model": SandboxInfo, "description": "the session's sandbox existed"}},
    ),
)
async def create(
    body: CreateSandbox,
    request: Request,
    response: Response,
    service: Service,
    principal: PrincipalDep,
    instance: SandboxInstanceDep,
) -> Any:
    """A sandbox; with a session_id, that session's sandbox of the type (made if absent).
    ``mcp_servers`` start in it (a new sandbox whose servers fail is removed again); a
    browser or gui sandbox's answer has its live view's ``desktop_url``."""
    user = principal.act_for(body.user_id, service.settings.default_user_id)
    record, created = await service.create(body.type, user, body.session_id, body.ttl_s)
    if body.mcp_servers is not None:
        servers = body.mcp_servers.model_dump(exclude_none=True)
        try:
            await start_mcp_servers(instance, record, servers, overwrite=False)
        except BaseException:
            if created:
                await service.delete(record.id)
            raise
    response.status_code = 201 if created else 200
    return info(record, service.settings, request)


@router.get(
    "/v1/sandboxes",
    operation_id="list_sandboxes",
    response_model=SandboxList,
    responses=errors(401, 403, 422, 503),
)
async def list_sandboxes(
    request: Request, service: Service, principal: PrincipalDep, user_id: str | None = None
) -> Any:
    """The user's live sandboxes (the caller's own unless an admin names another user)."""
    records = await service.list(principal.act_for(user_id, service.settings.default_user_id))
    return SandboxList(items=[SandboxInfo(**info(r, service.settings, request)) for r in records])


@router.get(
    "/v1/sandboxes/{sandbox_id}",
    operation_id="get_sandbox",
    response_model=SandboxInfo,
    responses=errors(401, 403, 404, 422, 503),
)
async def get(sandbox_id: str, request: Request, service: Service, principal: PrincipalDep) -> Any:
    record = check_owner(await service.require(sandbox_id), principal)
    return info(record, service.settings, request)


@router.delete(
    "/v1/sandboxes/{sandbox_id}",
    operation_id="delete_sandbox",
    response_model=Deleted,
    responses=errors(401, 403, 422, 502, 503),
)
async def delete(sandbox_id: str, service: Service, principal: PrincipalDep) -> Any:
    """Idempotent: deleting what is already gone answers 200 with deleted=false."""
    validate_plain_id(sandbox_id, "sandbox_id")
    found = await service.registry.get(sandbox_id)
    if found is not None:
        check_owner(found[0], principal)
    return Deleted(sandbox_id=sandbox_id, deleted=await service.delete(sandbox_id))


@router.post(
    "/v1/sandboxes/{sandbox_id}/pause",
    operation_id="pause_sandbox",
    response_model=SandboxInfo,
    responses=errors(401, 403, 404, 409, 410, 422, 429, 501, 502, 503),
)
async def pause(
    sandbox_id: str, request: Request, service: Service, principal: PrincipalDep
) -> Any:
    """Freeze it (memory and files kept, no compute); 501 where the backend cannot."""
    check_owner(await service.require(sandbox_id), principal)
    return info(await service.set_paused(sandbox_id, True), service.settings, request)


@router.post(
    "/v1/sandboxes/{sandbox_id}/resume",
    operation_id="resume_sandbox",
    response_model=SandboxInfo,
    responses=errors(401, 403, 404, 409, 410, 422, 429, 501, 502, 503),
)
async def resume(
    sandbox_id: str, request: Request, service: Service, principal: PrincipalDep
) -> Any:
    check_owner(await service.require(sandbox_id), principal)
    return info(await service.set_paused(sandbox_id, False), service.settings, request)

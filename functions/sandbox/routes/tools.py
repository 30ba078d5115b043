"""``/v1/sandboxes/{sandbox_id}/tools[/{name}]``: list a sandbox's tools and call one."""

from fastapi import APIRouter, Body, Request, Response

from functions.runtime.auth import PrincipalDep
from functions.runtime.http_errors import errors

from ..deps import SandboxInstanceDep
from ..models import ToolList, ToolResult
from ..proxy import checked, forward, raw_tail

router = APIRouter(prefix="/v1/sandboxes/{sandbox_id}/tools")

CALL_ERRORS = errors(400, 401, 403, 404, 409, 410, 413, 415, 422, 429, 502, 503)


@router.get("", operation_id="list_tools", response_model=ToolList, responses=CALL_ERRORS)
async def list_tools(
    sandbox_id: str, request: Request, instance: SandboxInstanceDep, principal: PrincipalDep
) -> Response:
    """The sandbox's tools with their JSON-schema arguments."""
    return await forward(instance, principal, sandbox_id, "GET", "/tools", request)


@router.post("/{name}", operation_id="call_tool", response_model=ToolResult, responses=CALL_ERRORS)
async def call_tool(
    sandbox_id: str,
    name: str,
    request: Request,
    instance: SandboxInstanceDep,
    principal: PrincipalDep,
    _: dict = Body(default_factory=dict, description="the tool's arguments"),
) -> Response:
    """Run a tool; the body is its arguments, the answer ``{content, isError}``."""
    raw = checked(raw_tail(request, 4), "a tool name")
    return await forward(instance, principal, sandbox_id, "POST", f"/tools/{raw}", request)

"""MCP over HTTP: ``/v1/sandboxes/{sandbox_id}/mcp`` (one sandbox as an MCP server) and
``/v1/mcp`` (a session's sandbox, made on first use); ``/v1/sandboxes/{sandbox_id}/mcp-servers``
(MCP servers inside a sandbox, their tools joining its own).

Both MCP endpoints speak MCP's Streamable HTTP transport statelessly with JSON answers
(``POST``; no session id, no SSE), so any instance of the function answers any request.
The caller's identity and the sandbox's owner are checked before MCP starts, as on every
sandbox route: a stranger gets this function's 401/403/404 (``{"code", "detail"}``). Past
that, a body that is not ``application/json`` is refused with 415
``unsupported_media_type``, and answers are MCP's own: a JSON-RPC response (200), a
notification accepted (202), refusals as JSON-RPC errors (400 a body that is not JSON,
-32700, or not a JSON-RPC message of MCP, -32600; 406 an ``Accept`` without
``application/json``). What the function refuses while MCP runs (the session's sandbox
over ``USER_MAX_SANDBOXES``, a sandbox gone) is an MCP error naming our code and detail
(``functions.runtime.sandbox.mcp.bridge``).
"""

from typing import Any

from fastapi import APIRouter, Body, Query, Request, Response

from functions.runtime.auth import PrincipalDep
from functions.runtime.http_errors import errors
from functions.runtime.sandbox.types import get_sandbox_type
from functions.runtime.storage.keys import validate_id

from ..deps import SandboxInstanceDep, check_owner
from ..mcp import McpAnswer, SandboxTools
from ..models import AddMcpServers, McpServerDeleted, McpServerList
from ..proxy import checked, forward, raw_tail

router = APIRouter()

_JSON_RPC = {"application/json": {"schema": {"type": "object"}}}
# MCP's transport refuses in JSON-RPC (ours before it, in ErrorBody): either may answer
JSON_RPC_ERROR = {
    "type": "object",
    "required": ["jsonrpc", "error"],
    "properties": {
        "jsonrpc": {"type": "string"},
        "id": {},
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "integer"}, "message": {"type": "string"}, "data": {}},
        },
    },
}
_EITHER = {
    "application/json": {
        "schema": {"anyOf": [{"$ref": "#/components/schemas/ErrorBody"}, JSON_RPC_ERROR]}
    }
}
MCP_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "a JSON-RPC 2.0 message of MCP (initialize, tools/list, tools/call...)",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}
MCP_ANSWERS = errors(
    401,
    403,
    404,
    422,
    503,
    also={
        200: {"description": "a JSON-RPC response", "content": _JSON_RPC},
        202: {"description": "a notification, accepted"},
        **{
            status: {"description": why, "content": _EITHER}
            for status, why in (
                (400, "not a JSON-RPC message of MCP"),
                (406, "Accept lacks application/json"),
                (413, "over the body limit"),
                (415, "not application/json"),
            )
        },
    },
)


@router.post(
    "/v1/sandboxes/{sandbox_id}/mcp",
    operation_id="sandbox_mcp",
    response_class=Response,
    responses=MCP_ANSWERS,
    openapi_extra=MCP_BODY,
)
async def sandbox_mcp(
    sandbox_id: str, instance: SandboxInstanceDep, principal: PrincipalDep
) -> Response:
    """The sandbox as an MCP server (Streamable HTTP): its tools, with their JSON schemas,
    to list and call; results are MCP content (text, images)."""
    record = check_owner(await instance.service.require(sandbox_id), principal)

    async def record_of() -> Any:
        return record

    return McpAnswer(SandboxTools(instance, record_of))


@router.post(
    "/v1/mcp",
    operation_id="session_mcp",
    response_class=Response,
    responses=MCP_ANSWERS,
    openapi_extra=MCP_BODY,
)
async def session_mcp(
    instance: SandboxInstanceDep,
    principal: PrincipalDep,
    session_id: str = Query(description="the conversation whose sandbox this is"),
    type: str = Query("base", description="the sandbox type"),
    user_id: str | None = None,
    ttl_s: float | None = Query(
        None, ge=1, le=86400, description="idle lifetime, seconds (1 to 86400)"
    ),
) -> Response:
    """One MCP URL for a session: its sandbox of ``type``, made when a tool is first listed
    or called and the same one after (any instance: the session's binding is in the
    store)."""
    service = instance.service
    user = principal.act_for(user_id, service.settings.default_user_id)
    get_sandbox_type(type)
    validate_id(session_id, "session_id")
    made: list[Any] = []

    async def record_of() -> Any:
        if not made:
            made.append((await service.create(type, user, session_id, ttl_s))[0])
        return made[0]

    return McpAnswer(SandboxTools(instance, record_of))


SERVER_ERRORS = errors(400, 401, 403, 404, 409, 410, 422, 429, 502, 503)


@router.get(
    "/v1/sandboxes/{sandbox_id}/mcp-servers",
    operation_id="list_mcp_servers",
    response_model=McpServerList,
    responses=SERVER_ERRORS,
)
async def list_mcp_servers(
    sandbox_id: str, request: Request, instance: SandboxInstanceDep, principal: PrincipalDep
) -> Response:
    """The MCP servers running in the sandbox (never their env or headers)."""
    return await forward(instance, principal, sandbox_id, "GET", "/mcp-servers", request)


@router.post(
    "/v1/sandboxes/{sandbox_id}/mcp-servers",
    operation_id="add_mcp_servers",
    response_model=McpServerList,
    responses=SERVER_ERRORS,
)
async def add_mcp_servers(
    sandbox_id: str,
    request: Request,
    instance: SandboxInstanceDep,
    principal: PrincipalDep,
    _: AddMcpServers = Body(),
) -> Response:
    """Start MCP servers in the sandbox (all or none): their tools join its list as
    ``<server>__<tool>``. 422 ``mcp_server_failed`` names a server that did not start and
    why; 409 ``mcp_server_exists`` a name running with another configuration."""
    return await forward(instance, principal, sandbox_id, "POST", "/mcp-servers", request)


@router.delete(
    "/v1/sandboxes/{sandbox_id}/mcp-servers/{name}",
    operation_id="delete_mcp_server",
    response_model=McpServerDeleted,
    responses=SERVER_ERRORS,
)
async def delete_mcp_server(
    sandbox_id: str,
    name: str,
    request: Request,
    instance: SandboxInstanceDep,
    principal: PrincipalDep,
) -> Response:
    """Stop an MCP server in the sandbox; its tools leave the list."""
    raw = checked(raw_tail(request, 4), "an MCP server name")
    return await forward(instance, principal, sandbox_id, "DELETE", f"/mcp-servers/{raw}", request)

"""An MCP server over a sandbox's tools, and its stateless Streamable HTTP serving.

Tools come as the tool server lists them (``{name, description, parameters}``: the
parameters a JSON schema; ``server`` for a tool of an MCP server inside the sandbox) and
results as the tool server answers them, already MCP's ``CallToolResult`` (``content`` of
``text`` / ``image`` parts, ``isError``, ``structuredContent``): the bridge changes their
envelope, never their content. A tool of an MCP server in the sandbox keeps its server's
name in ``_meta`` (``SERVER_META``).

Errors: a tool's own failure is a result with ``isError`` (the model reads it); a sandbox
that cannot be reached, is gone or refuses is an MCP error response (JSON-RPC ``-32603``,
its ``data`` the sandbox error's ``{code, status}``), an unknown tool ``-32602``.

HTTP (``serve_stateless``): each request gets a fresh transport in stateless mode with JSON
answers (no session, no SSE), so any instance of a function answers any request; the
caller's identity and the sandbox's owner are checked by the function before this runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError
from starlette.types import Receive, Scope, Send

from ...errors import ApiError

ListTools = Callable[[], Awaitable[list[dict[str, Any]]]]
CallTool = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
SERVER_META = "agentscope-faas/server"  # a tool's MCP server inside the sandbox
SERVER_NAME = "agentscope-sandbox"


def mcp_tool(described: dict[str, Any]) -> types.Tool:
    """A tool of the sandbox's list as an MCP ``Tool``."""
    schema = described.get("parameters")
    tool: dict[str, Any] = {
        "name": str(described["name"]),
        "description": str(described.get("description") or "") or None,
        "inputSchema": schema if isinstance(schema, dict) else {"type": "object"},
    }
    if described.get("server"):
        tool["_meta"] = {SERVER_META: described["server"]}
    return types.Tool.model_validate(tool)


def mcp_error(exc: ApiError) -> MCPError:
    """A sandbox error as an MCP error response; an unknown tool is invalid params."""
    code = types.INVALID_PARAMS if exc.code == "unknown_tool" else types.INTERNAL_ERROR
    return MCPError(code, f"{exc.code}: {exc.detail}", {"code": exc.code, "status": exc.status})


def tools_server(
    list_tools: ListTools, call_tool: CallTool, *, name: str = SERVER_NAME, version: str = "1"
) -> Server[Any]:
    """An MCP server whose ``tools/list`` and ``tools/call`` are ``list_tools()`` and
    ``call_tool(name, arguments)``; they raise ``ApiError`` for what is not a tool's own
    result."""

    async def on_list_tools(_ctx: Any, _params: Any) -> types.ListToolsResult:
        try:
            tools = await list_tools()
        except ApiError as exc:
            raise mcp_error(exc) from None
        return types.ListToolsResult(tools=[mcp_tool(t) for t in tools])

    async def on_call_tool(_ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        try:
            result = await call_tool(params.name, params.arguments or {})
        except ApiError as exc:
            raise mcp_error(exc) from None
        return types.CallToolResult.model_validate(result)

    return Server(name, version=version, on_list_tools=on_list_tools, on_call_tool=on_call_tool)


async def serve_stateless(server: Server[Any], scope: Scope, receive: Receive, send: Send) -> None:
    """Answer one Streamable HTTP request with ``server``: JSON, no session."""
    manager = StreamableHTTPSessionManager(server, json_response=True, stateless=True)
    async with manager.run():
        await manager.handle_request(scope, receive, send)

"""A sandbox's tools for MCP: the tool server's list and calls, and the MCP answer.

``SandboxTools`` lists and calls a sandbox's tools through the tool server (``proxy.call``,
so with its token, renewals and the named sandbox errors); ``McpAnswer`` is the route's
response: the MCP bridge (``functions.runtime.sandbox.mcp.bridge``, imported here on the
first MCP request and not before) answers the request itself. MCP servers started in a
sandbox (``mcp_servers`` at create, ``POST .../mcp-servers``) go to the tool server with
``start_mcp_servers``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import Response
from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send

from functions.runtime.auth.local import UnsupportedMediaType
from functions.runtime.json_numbers import json_number_error
from functions.runtime.sandbox.errors import (
    NotSupported,
    SandboxRefused,
    error_for,
    tool_name,
)

from .deps import SandboxInstance
from .proxy import call, checked
from .registry import SandboxRecord

if TYPE_CHECKING:
    import httpx


def answer(upstream: httpx.Response) -> dict[str, Any]:
    """The tool server's JSON answer; its refusal as the named sandbox error; an answer that
    is not a JSON object of JSON values (``NaN``, half a surrogate pair, nesting past
    ``MAX_DEPTH``: see ``json_numbers``) as ``SandboxRefused`` (502), which MCP cannot
    carry and no caller should get."""
    problem = json_number_error(upstream.content)
    if problem is not None:
        raise SandboxRefused(f"the sandbox's answer is not JSON: {problem}")
    try:
        body = upstream.json()
    except ValueError:
        body = None
    if upstream.status_code == 200 and not isinstance(body, dict):
        raise SandboxRefused(f"the sandbox's answer is not a JSON object: {upstream.text[:200]!r}")
    if upstream.status_code != 200:
        found = body if isinstance(body, dict) else {}
        detail = found.get("detail") or upstream.text[:500] or "no answer"
        raise error_for(upstream.status_code, found.get("code"), str(detail))
    return body


class SandboxTools:
    """The tools of the sandbox ``record_of()`` gives (called at most once per tool use:
    the session endpoint makes its sandbox there, on first use)."""

    def __init__(
        self, instance: SandboxInstance, record_of: Callable[[], Awaitable[SandboxRecord]]
    ) -> None:
        self.instance = instance
        self.record_of = record_of

    async def list(self) -> list[dict[str, Any]]:
        upstream = await call(self.instance, await self.record_of(), "GET", "/tools")
        tools = answer(upstream).get("tools")
        return tools if isinstance(tools, list) else []

    async def call(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        path = "/tools/" + checked(quote(tool_name(name), safe=""), "a tool name")
        body = json.dumps(arguments).encode()
        upstream = await call(self.instance, await self.record_of(), "POST", path, body=body)
        return answer(upstream)


class McpAnswer(Response):
    """A route's answer that the MCP bridge writes: a stateless Streamable HTTP exchange over
    ``tools`` (JSON-RPC in the request's body, JSON out)."""

    def __init__(self, tools: SandboxTools) -> None:
        super().__init__()
        self.tools = tools

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        content_type = Headers(scope=scope).get("content-type", "")
        if not content_type.lower().startswith("application/json"):
            # the mcp package would answer a plain-text 400: ours says what is wrong, in JSON
            raise UnsupportedMediaType(
                f"MCP's Streamable HTTP carries JSON-RPC as application/json, not "
                f"{content_type or 'a body without a Content-Type'}"
            )
        # here, not at import: the mcp package is for the requests that speak MCP
        try:
            from functions.runtime.sandbox.mcp.bridge import serve_stateless, tools_server
        except ImportError as exc:  # e.g. the seed's 1.x environment: mcp<2, no mcp_types
            raise NotSupported(
                "this sandbox function serves no MCP: it needs the mcp package 2.x (the "
                f"'sandbox' extra), which this environment lacks ({exc})"
            ) from None

        server = tools_server(self.tools.list, self.tools.call)
        await serve_stateless(server, scope, receive, send)


async def start_mcp_servers(
    instance: SandboxInstance, record: SandboxRecord, servers: dict[str, Any], overwrite: bool
) -> dict[str, Any]:
    """Start ``servers`` (``{"mcpServers": {...}}``) in the sandbox: the tool server's
    ``{"servers": [...]}``, or its refusal (``McpServerFailed``...) raised."""
    body = json.dumps({**servers, "overwrite": overwrite}).encode()
    return answer(await call(instance, record, "POST", "/mcp-servers", body=body))

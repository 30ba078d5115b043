"""An MCP server over a sandbox's tools, and its stateless Streamable HTTP serving.

Tools come as the tool server lists them (``{name, description, parameters}``: the
parameters a JSON schema; ``server`` for a tool of an MCP server inside the sandbox) and
results as the tool server answers them, already MCP's ``CallToolResult`` (``content`` of
``text`` / ``image`` parts, ``isError``, ``structuredContent``): the bridge changes their
envelope, never their content. A tool of an MCP server in the sandbox keeps its server's
name in ``_meta`` (``SERVER_META``).

What the sandbox answers is not trusted to be MCP (code inside it may have replaced the
tool server): a tool whose entry MCP's ``Tool`` cannot hold (per the protocol version the
request speaks) is left out of ``tools/list``, one whose schema names no ``type`` gets
``"object"``; a call's result that is not MCP's ``CallToolResult`` for that version is the
named error ``sandbox_refused`` (``-32603``), never passed on.

Errors: a tool's own failure is a result with ``isError`` (the model reads it); anything
else the function refuses (an ``ApiError``: the sandbox gone, a quota used up, the sandbox
unreachable) is an MCP error response whose ``message`` is ``"<code>: <detail>"`` and
whose ``data`` is our error body ``{"code", "detail"}`` with the HTTP ``status`` the REST
routes answer with (and ``retryAfter`` seconds when there is one); its JSON-RPC code is
``-32602`` (invalid params) for an unknown tool, ``-32603`` (internal error) for a 5xx,
else ``-32000`` (a server error of ours: the caller may act on ``data.code``).

HTTP (``serve_stateless``): each request gets a fresh transport in stateless mode with JSON
answers (no session, no SSE), so any instance of a function answers any request; the
caller's identity and the sandbox's owner are checked by the function before this runs. A
body that is not JSON is a 400 with JSON-RPC's ``-32700`` parse error, one that is not a
JSON-RPC message of MCP a 400 with ``-32600`` invalid request, each with a one-line
message (the transport's own would list every pydantic error of every message kind).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import mcp_types as types
import pydantic_core
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError
from mcp_types import methods as surfaces
from pydantic import ValidationError
from starlette.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send

from ...errors import ApiError
from ...sse import ClientDisconnected, unless_disconnected
from ..errors import SandboxRefused

log = logging.getLogger(__name__)
ListTools = Callable[[], Awaitable[list[dict[str, Any]]]]
CallTool = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
SERVER_META = "agentscope-faas/server"  # a tool's MCP server inside the sandbox
SERVER_NAME = "agentscope-sandbox"
# JSON-RPC's implementation-defined server error: a refusal of ours, named in ``data.code``
SERVER_ERROR = -32000
# the most tools a list carries and content blocks a result may have: what a sandbox answers
# is checked on the event loop every request of the instance shares (a list of 60,000 tools
# held it 10 s), and no client or model has a use for more. The tool server offers at most
# 1000 of each MCP server's tools and 1000 blocks of a result (and its notes).
MAX_TOOLS = 4096
MAX_BLOCKS = 1024


def mcp_tool(described: dict[str, Any]) -> dict[str, Any]:
    """A tool of the sandbox's list as an MCP ``Tool`` (its wire form, a dict): a schema
    without a ``type`` (``{}`` takes anything) takes arguments as an object, as MCP's do."""
    schema = described.get("parameters")
    if not isinstance(schema, dict):
        schema = {"type": "object"}
    elif "type" not in schema:
        schema = {"type": "object", **schema}
    tool: dict[str, Any] = {"name": described.get("name"), "inputSchema": schema}
    if described.get("description"):
        tool["description"] = described["description"]
    if described.get("server"):
        tool["_meta"] = {SERVER_META: described["server"]}
    return tool


def misfit(
    model: type[types.ListToolsResult | types.CallToolResult],
    method: str,
    version: str,
    result: dict[str, Any],
) -> list[Any]:
    """Why ``result`` is not the ``model`` that ``method`` answers in MCP ``version``: the
    pydantic errors (``loc``, ``msg``), empty when it is one. The SDK checks a handler's
    result too, but answers ``-32603`` with no reason."""
    try:
        dumped = model.model_validate(result).model_dump(
            by_alias=True, mode="json", exclude_none=True
        )
        surfaces.serialize_server_result(method, version, dumped)
    except ValidationError as exc:
        return list(exc.errors())
    except (KeyError, ValueError):
        return []  # a version the SDK refuses itself, before any handler runs
    return []


def said(error: Any) -> str:
    """One pydantic error as ``where: why``."""
    where = ".".join(str(part) for part in error["loc"]) or "the result"
    return f"{where}: {error['msg']}"


def listed(tools: list[Any], version: str) -> list[types.Tool]:
    """The tools of the sandbox's list MCP can list in ``version``, the first ``MAX_TOOLS``
    of them; each other one left out (and logged), so one odd tool of an MCP server in the
    sandbox hides no other tool. One check of the whole list finds the odd ones."""
    if len(tools) > MAX_TOOLS:
        log.warning("the sandbox listed %d tools; the first %d are listed", len(tools), MAX_TOOLS)
    entries = [mcp_tool(t) for t in tools[:MAX_TOOLS] if isinstance(t, dict)]
    # a few checks of the whole list, each leaving out the tools it faults (the model's
    # check stops a list before the protocol version's does: a second may find more)
    for _ in range(3):
        errors = misfit(types.ListToolsResult, "tools/list", version, {"tools": entries})
        odd = {e["loc"][1] for e in errors if e["loc"][:1] == ("tools",) and len(e["loc"]) > 1}
        if not errors:
            break
        if not odd <= set(range(len(entries))) or not odd:  # not one tool's: one by one
            odd = {
                i
                for i, entry in enumerate(entries)
                if misfit(types.ListToolsResult, "tools/list", version, {"tools": [entry]})
            }
        for i in sorted(odd):
            why = [said(e) for e in errors if e["loc"][1:2] == (i,)][:1] or ["not an MCP tool"]
            log.warning("tool %.80r left out of tools/list: %s", entries[i].get("name"), why[0])
        entries = [entry for i, entry in enumerate(entries) if i not in odd]
    else:  # still faulted: so is the list (an odd tool each round)
        entries = [
            entry
            for entry in entries
            if not misfit(types.ListToolsResult, "tools/list", version, {"tools": [entry]})
        ]
    return [types.Tool.model_validate(entry) for entry in entries]


def unfit_result(result: Any, version: str) -> str | None:
    """Why a tool's ``result`` is not MCP's ``CallToolResult`` in ``version``; None when it
    is one. More than ``MAX_BLOCKS`` content blocks is refused before any check."""
    if not isinstance(result, dict):
        return f"a JSON {type(result).__name__}, not an object"
    content = result.get("content")
    if isinstance(content, list) and len(content) > MAX_BLOCKS:
        return f"{len(content)} content blocks, more than {MAX_BLOCKS}"
    errors = misfit(types.CallToolResult, "tools/call", version, result)
    return said(errors[0]) if errors else None


def mcp_error(exc: ApiError) -> MCPError:
    """A function error as an MCP error response (see the module's docstring)."""
    if exc.code == "unknown_tool":
        code = types.INVALID_PARAMS
    elif exc.status >= 500:
        code = types.INTERNAL_ERROR
    else:
        code = SERVER_ERROR
    body = exc.body()
    detail = body["detail"] if isinstance(body["detail"], str) else str(body["detail"])
    data: dict[str, Any] = {"code": exc.code, "detail": detail, "status": exc.status}
    retry_after = exc.headers.get("Retry-After")
    if retry_after is not None and retry_after.isdigit():
        data["retryAfter"] = int(retry_after)
    return MCPError(code, f"{exc.code}: {detail}", data)


def tools_server(
    list_tools: ListTools, call_tool: CallTool, *, name: str = SERVER_NAME, version: str = "1"
) -> Server[Any]:
    """An MCP server whose ``tools/list`` and ``tools/call`` are ``list_tools()`` and
    ``call_tool(name, arguments)``; they raise ``ApiError`` for what is not a tool's own
    result."""

    async def on_list_tools(ctx: Any, _params: Any) -> types.ListToolsResult:
        try:
            tools = await list_tools()
        except ApiError as exc:
            raise mcp_error(exc) from None
        return types.ListToolsResult(tools=listed(tools, ctx.protocol_version))

    async def on_call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        try:
            result = await call_tool(params.name, params.arguments or {})
            problem = unfit_result(result, ctx.protocol_version)
            if problem is not None:
                raise SandboxRefused(
                    f"the sandbox answered tool {params.name[:80]!r} with a result that is "
                    f"not MCP's CallToolResult ({problem[:300]})"
                )
        except ApiError as exc:
            raise mcp_error(exc) from None
        return types.CallToolResult.model_validate(result)

    return Server(name, version=version, on_list_tools=on_list_tools, on_call_tool=on_call_tool)


async def serve_stateless(server: Server[Any], scope: Scope, receive: Receive, send: Send) -> None:
    """Answer one Streamable HTTP request with ``server``: JSON, no session; a body that is
    not a JSON-RPC message of MCP gets a short JSON-RPC error (400). A client that hangs up
    first has the call cancelled (its tool's work stopped in the sandbox, as a REST call's
    is): the SDK runs a stateless request in a task group of its own, which leaving
    ``manager.run()`` cancels."""
    chunks: list[bytes] = []
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    body = b"".join(chunks)
    refusal = malformed(body)
    if refusal is not None:
        await JSONResponse(refusal, status_code=400)(scope, receive, send)
        return
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        # the client's own messages are the watch's (below): its leaving cancels this
        await asyncio.Future()
        raise AssertionError("unreachable")

    # the body is read and within the function's own limit (MAX_REQUEST_BYTES, a JSON 413):
    # the SDK's smaller one (4 MiB) would refuse it again, in plain text
    manager = StreamableHTTPSessionManager(
        server, json_response=True, stateless=True, max_request_body_size=max(len(body), 1)
    )
    async with manager.run():
        with contextlib.suppress(ClientDisconnected):
            await unless_disconnected(receive, manager.handle_request(scope, replay, send))


def malformed(body: bytes) -> dict[str, Any] | None:
    """The JSON-RPC error answering ``body`` when it is not one JSON-RPC message of MCP
    (``-32700`` not JSON, ``-32600`` not such a message); None when it is one.

    An ``id`` that is not a string or an integer (MCP forbids null too) is ``-32600``:
    the SDK would take such a request for a notification, run nothing and answer 202."""
    try:
        raw = pydantic_core.from_json(body)
    except ValueError as exc:
        return rpc_error(None, types.PARSE_ERROR, f"Parse error: the body is not JSON ({exc})")
    if isinstance(raw, dict) and "id" in raw and not _is_id(raw["id"]):
        return rpc_error(
            None,
            types.INVALID_REQUEST,
            f"Invalid Request: an id is a string or an integer, not {json.dumps(raw['id'])[:80]}",
        )
    try:
        types.jsonrpc_message_adapter.validate_python(raw, by_name=False)
    except ValidationError:
        if isinstance(raw, list):
            found = "an array (MCP has no JSON-RPC batches)"
        elif isinstance(raw, dict):
            found = "an object"
        else:
            found = f"a JSON {type(raw).__name__}"
        request_id = raw.get("id") if isinstance(raw, dict) else None
        if not _is_id(request_id):
            request_id = None
        return rpc_error(
            request_id,
            types.INVALID_REQUEST,
            f"Invalid Request: the body is {found}, not a JSON-RPC 2.0 message of MCP "
            '(an object with "jsonrpc": "2.0" and a "method", or a response to one)',
        )
    return None


def _is_id(value: Any) -> bool:
    return isinstance(value, str | int) and not isinstance(value, bool)


def rpc_error(request_id: str | int | None, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}

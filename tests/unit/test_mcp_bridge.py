"""The MCP bridge over what a sandbox answers, which code in the sandbox may have forged.

The bridge (``tools_server`` + ``serve_stateless``) is served by uvicorn on 127.0.0.1 and
spoken to by the official ``mcp`` client; its tool list and results stand in for a tool
server's answers (a real tool server sends none of these: it is code inside the sandbox
that could). ``answer`` is the sandbox function's reading of the tool server's HTTP answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from mcp.client import Client
from mcp.shared.exceptions import MCPError

from functions.runtime.sandbox.errors import SandboxRefused
from functions.runtime.sandbox.mcp.bridge import serve_stateless, tools_server
from functions.sandbox.mcp import answer
from tests.fixtures.servers import serve_app

GOOD = {"name": "run_shell_command", "parameters": {"type": "object"}}
ODD_TOOLS = [
    GOOD,
    {"name": "any_arguments", "parameters": {}},  # {} takes anything: an object then
    {"name": "string_schema", "parameters": {"type": "string"}},
    {"name": 12345, "parameters": {"type": "object"}},
    {"name": "description_object", "description": {"a": 1}, "parameters": {"type": "object"}},
    "not a tool at all",
]
BAD_RESULTS = {
    "unknown content type": {"content": [{"type": "bogus", "foo": 1}]},
    "text not a string": {"content": [{"type": "text", "text": 5}]},
    "_meta not an object": {"content": [{"type": "text", "text": "m", "_meta": 5}]},
    "content items not objects": {"content": [5, "x", None]},
    "an image without data": {"content": [{"type": "image"}]},
    "no result": None,
    "a list": [1, 2],
}


def bridge(tools: list[Any], result: Any) -> Any:
    async def list_tools() -> list[Any]:
        return tools

    async def call_tool(_name: str, arguments: dict[str, Any]) -> Any:
        if "echo" in arguments:
            return {"content": [{"type": "text", "text": str(len(arguments["echo"]))}]}
        return result

    server = tools_server(list_tools, call_tool)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await serve_stateless(server, scope, receive, send)

    return app


@pytest.fixture
def serve_bridge() -> Iterator[Any]:
    servers: list[Any] = []

    def serve(tools: list[Any], result: Any = None) -> str:
        served = serve_app(bridge(tools, result))
        servers.append(served)
        return served.__enter__() + "/mcp"

    yield serve
    for served in servers:
        served.__exit__(None, None, None)


def test_an_odd_tool_is_left_out_and_hides_no_other(serve_bridge):
    url = serve_bridge(ODD_TOOLS)

    async def names() -> dict[str, Any]:
        async with Client(url) as mcp:
            return {t.name: t.input_schema for t in (await mcp.list_tools()).tools}

    listed = asyncio.run(names())
    assert listed == {"run_shell_command": {"type": "object"}, "any_arguments": {"type": "object"}}


@pytest.mark.parametrize("why", list(BAD_RESULTS))
def test_a_result_mcp_cannot_carry_is_sandbox_refused(serve_bridge, why):
    url = serve_bridge([GOOD], BAD_RESULTS[why])

    async def call() -> MCPError:
        async with Client(url) as mcp:
            with pytest.raises(MCPError) as err:
                await mcp.call_tool("run_shell_command", {})
            return err.value

    error = asyncio.run(call()).error
    assert error.code == -32603  # the sandbox's fault, not the caller's (-32602)
    assert error.data["code"] == "sandbox_refused" and error.data["status"] == 502
    assert "not MCP's CallToolResult" in error.message


def test_a_body_past_the_sdk_s_own_limit_is_served(serve_bridge):
    """The function's MAX_REQUEST_BYTES bounds bodies; the mcp package's 4 MiB does not."""
    url = serve_bridge([GOOD])
    echo = "x" * (5 * 1024 * 1024)

    async def call() -> str:
        async with Client(url) as mcp:
            result = await mcp.call_tool("run_shell_command", {"echo": echo})
            return result.content[0].text

    assert asyncio.run(call()) == str(len(echo))


@pytest.mark.parametrize(
    "body",
    [
        b'{"content": [], "structuredContent": {"v": NaN}}',
        b'{"content": [{"type": "text", "text": "\\ud800 lone"}]}',
        b'{"content": [], "structuredContent": {"v": ' + b"[" * 900 + b"]" * 900 + b"}}",
        b'{"content": [], "structuredContent": {"v": 1e400}}',
        b"[1, 2]",
        b"not json",
    ],
    ids=["nan", "lone-surrogate", "deep", "overflow", "array", "not-json"],
)
def test_a_tool_server_answer_no_json_reader_takes_is_sandbox_refused(body):
    upstream = httpx.Response(200, content=body, headers={"Content-Type": "application/json"})
    with pytest.raises(SandboxRefused) as err:
        answer(upstream)
    assert err.value.status == 502 and "the sandbox's answer is not" in err.value.detail


def test_a_tool_server_refusal_keeps_its_name():
    upstream = httpx.Response(404, json={"code": "unknown_tool", "detail": "no tool 'x'"})
    with pytest.raises(Exception) as err:
        answer(upstream)
    assert (err.value.status, err.value.code) == (404, "unknown_tool")


def test_a_list_or_a_result_too_long_to_check_on_a_shared_loop_is_cut_or_refused(serve_bridge):
    """What a sandbox answers is checked on the event loop every caller of the instance
    shares: at most 4096 tools are listed, and a result of more than 1024 blocks refused."""
    many = [{"name": f"t{i}", "parameters": {"type": "object"}} for i in range(5000)]
    blocks = {"content": [{"type": "text", "text": ""}] * 1025}
    url = serve_bridge(many, blocks)

    async def session() -> tuple[int, MCPError]:
        async with Client(url) as mcp:
            listed = (await mcp.list_tools()).tools
            with pytest.raises(MCPError) as err:
                await mcp.call_tool("t0", {})
            return len(listed), err.value

    count, error = asyncio.run(session())
    assert count == 4096
    assert error.error.data["code"] == "sandbox_refused"
    assert "1025 content blocks, more than 1024" in error.error.message

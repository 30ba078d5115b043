"""``python -m functions.runtime.sandbox.mcp``: a sandbox as an MCP server over stdio, started
as a subprocess by the official ``mcp`` client's stdio transport (as a desktop client does),
through the sandbox function (``SANDBOX_URL``); embedded mode (Docker directly) is
test_embedded.py's."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp.shared.exceptions import MCPError

from tests.fixtures.servers import ROOT
from tests.sandbox.support import containers_of


def stdio(*args: str, **env: str) -> StdioServerParameters:
    passed = {k: v for k, v in os.environ.items() if k.startswith(("RUNTIME_SANDBOX_", "DOCKER"))}
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "functions.runtime.sandbox.mcp", *args],
        env={**passed, "PYTHONPATH": str(ROOT), **env},
        cwd=str(ROOT),
    )


def text(result) -> str:
    return "".join(part.text for part in result.content if part.type == "text")


async def run_cells(params: StdioServerParameters, *cells: str) -> list[str]:
    async with Client(params) as mcp:
        tools = {t.name: t for t in (await mcp.list_tools()).tools}
        assert {"run_ipython_cell", "run_shell_command"} <= set(tools)
        assert tools["run_shell_command"].input_schema["required"] == ["command"]
        with pytest.raises(MCPError, match="unknown_tool"):
            await mcp.call_tool("no_such_tool", {})
        return [text(await mcp.call_tool("run_ipython_cell", {"code": c})) for c in cells]


@pytest.mark.parametrize("sandbox_backend", ["docker"], indirect=True)
def test_through_the_sandbox_function_a_session_s_sandbox_outlives_the_process(
    serve, settings, docker_client
):
    http = serve(settings)
    params = stdio("--type", "base", "--session-id", "desk-1", SANDBOX_URL=str(http.base_url))
    assert asyncio.run(run_cells(params, "x = 6 * 7", "x")) == ["", "42\n"]
    (box,) = http.get("/v1/sandboxes").json()["items"]  # the session keeps it
    assert box["session_id"] == "desk-1"
    assert asyncio.run(run_cells(params, "x")) == ["42\n"]  # the next run finds it again
    assert len(containers_of(docker_client, settings)) == 1


@pytest.mark.parametrize("sandbox_backend", ["docker"], indirect=True)
def test_a_name_that_is_no_tool_s_is_refused_and_reaches_no_other_route(serve, settings):
    http = serve(settings)
    params = stdio("--type", "base", "--session-id", "names", SANDBOX_URL=str(http.base_url))

    async def calls() -> list[str]:
        async with Client(params) as mcp:
            refused = []
            names = ["a" * 70_000, "../pause", "../../../sandboxes", "..", ".", "a/b"]
            for name in [*names, "run_shell_command?x"]:
                with pytest.raises(MCPError) as err:
                    await mcp.call_tool(name, {"command": "echo reached"})
                refused.append(err.value.error.message.split(":")[0])
            alive = await mcp.call_tool("run_shell_command", {"command": "echo alive"})
            return [*refused, text(alive)]

    refused = asyncio.run(calls())
    assert refused[0] == "unknown_tool" and refused[-1] == "alive\n"
    assert all(code == "unknown_tool" for code in refused[1:-1])
    (box,) = http.get("/v1/sandboxes").json()["items"]  # one sandbox, still running
    assert box["session_id"] == "names" and box["status"] == "running"


def test_with_stdin_at_its_end_from_the_start_the_server_exits():
    """``</dev/null`` (nohup, a supervisor): end of input at once, so the server ends."""
    params = stdio("--type", "base", SANDBOX_URL="http://127.0.0.1:9")  # never called
    proc = subprocess.run(
        [params.command, *params.args],
        env=params.env,
        cwd=params.cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]

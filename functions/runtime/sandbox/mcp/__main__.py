"""``python -m functions.runtime.sandbox.mcp --type base [--session-id S]``: a sandbox as an
MCP server over stdio, as AgentScope Runtime's ``runtime-sandbox-mcp``, for clients that
start their MCP servers as processes (Claude Desktop, Cursor, the ``mcp`` SDK's stdio
transport)::

    {"mcpServers": {"sandbox": {"command": "python",
        "args": ["-m", "functions.runtime.sandbox.mcp", "--type", "base"],
        "env": {"SANDBOX_URL": "https://...", "SANDBOX_TOKEN": "<JWT>"}}}}

The sandbox is made through the sandbox function at ``SANDBOX_URL`` (``SANDBOX_TOKEN``: the
bearer token it wants) or, without one, started on the local Docker engine (embedded mode),
when a tool is first listed or called. With ``--session-id`` it is that session's sandbox,
kept by the sandbox function for later runs (until its TTL); otherwise it is this process's
own, removed when the client ends the process (stdin closes, SIGTERM). The tools are the
sandbox's, MCP servers started in it included. Nothing but MCP goes to stdout; log lines go
to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import Any

from ..client import AsyncBaseSandbox
from ..types import SANDBOX_TYPES


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m functions.runtime.sandbox.mcp",
        description="Serve a sandbox's tools as an MCP server over stdio.",
    )
    parser.add_argument("--type", default="base", choices=sorted(SANDBOX_TYPES))
    parser.add_argument("--session-id", help="use (or make) this session's sandbox")
    parser.add_argument("--user-id", help="act for this user (an admin's token; else its own)")
    parser.add_argument("--ttl-s", type=float, help="the sandbox's idle lifetime, seconds")
    parser.add_argument("--sandbox-url", help="the sandbox function (default: SANDBOX_URL)")
    return parser.parse_args(argv)


def sandbox_for(args: argparse.Namespace) -> AsyncBaseSandbox:
    box = AsyncBaseSandbox(
        session_id=args.session_id,
        user_id=args.user_id,
        ttl_s=args.ttl_s,
        base_url=args.sandbox_url,
    )
    box.sandbox_type = args.type  # the handle of any registered type: its tools come listed
    return box


async def serve(args: argparse.Namespace) -> None:
    from mcp.server.stdio import stdio_server

    from .bridge import tools_server

    box = sandbox_for(args)
    starting = asyncio.Lock()
    # SIGTERM ends the server as a closed stdin does: the sandbox is cleaned up either way
    main = asyncio.current_task()
    if main is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main.cancel)

    async def started() -> AsyncBaseSandbox:
        async with starting:  # the first use makes it, once
            return await box.start()

    async def list_tools() -> list[dict[str, Any]]:
        return await (await started()).list_tools()

    async def call_tool(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        return await (await started()).call_tool(name, arguments)

    server = tools_server(list_tools, call_tool, name=f"agentscope-sandbox-{args.type}")
    try:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())
    finally:
        await box.close()  # removes a sandbox of its own; a session's stays


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        asyncio.run(serve(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

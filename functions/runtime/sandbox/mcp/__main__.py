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
own, removed when the client ends the process (stdin closes; SIGTERM, SIGINT or SIGHUP, at
once even while stdin stays open). The tools are the
sandbox's, MCP servers started in it included. Nothing but MCP goes to stdout; log lines go
to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import stat
import sys
from typing import Any

from ..client import AsyncBaseSandbox
from ..errors import SandboxUnreachable
from ..types import SANDBOX_TYPES

# the signals a client or a terminal ends a server with; each removes the sandbox first
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
# the longest line (one JSON-RPC message) read from stdin: a longer one is dropped
MAX_LINE = 64 * 1024 * 1024


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


class StdinLines:
    """stdin's lines, read by the event loop: the SDK's own reader waits in a worker thread
    that no cancellation reaches until a line comes, so a signal could not end the server
    while its client kept stdin open. ``async for`` is all the SDK's transport asks."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader

    def __aiter__(self) -> StdinLines:
        return self

    async def __anext__(self) -> str:
        try:
            line = await self.reader.readline()
        except ValueError:  # past MAX_LINE: what was read is dropped; not JSON, so logged
            return "(a message longer than MAX_LINE was dropped)\n"
        if not line:
            raise StopAsyncIteration
        return line.decode("utf-8", errors="replace")


async def stdin_lines() -> StdinLines | None:
    """A ``StdinLines`` on a copy of fd 0 when it is a pipe, a socket or a terminal; None
    for anything else (a regular file, ``/dev/null``), which an event loop cannot watch
    (epoll refuses them) and whose end the SDK's own reader reaches at once."""
    mode = os.fstat(0).st_mode
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or os.isatty(0)):
        return None
    reader = asyncio.StreamReader(limit=MAX_LINE)
    pipe = os.fdopen(os.dup(0), "rb", buffering=0)
    try:
        await asyncio.get_running_loop().connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), pipe
        )
    except ValueError:
        pipe.close()
        return None
    return StdinLines(reader)


async def serve(args: argparse.Namespace) -> None:
    import httpx
    from mcp.server.stdio import stdio_server

    from .bridge import tools_server

    box = sandbox_for(args)
    starting = asyncio.Lock()
    # a stop signal ends the server as a closed stdin does: the sandbox is cleaned up either way
    main = asyncio.current_task()
    loop = asyncio.get_running_loop()
    if main is not None:
        for signum in STOP_SIGNALS:
            loop.add_signal_handler(signum, main.cancel)

    start: asyncio.Task[AsyncBaseSandbox] | None = None

    async def started() -> AsyncBaseSandbox:
        nonlocal start
        async with starting:  # the first use makes it, once; a failed start is tried again
            if start is None or (start.done() and start.exception() is not None):
                start = asyncio.ensure_future(box.start())
        # shielded: a stop that comes while the container is made lets it be made, so that
        # the close below finds it and removes it (a start cut short would leave it running
        # for nobody: embedded mode has no reaper)
        return await asyncio.shield(start)

    async def list_tools() -> list[dict[str, Any]]:
        try:
            return await (await started()).list_tools()
        except httpx.TransportError as exc:
            raise unreachable(exc) from None

    async def call_tool(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        try:
            return await (await started()).call_tool(name, arguments)
        except httpx.TransportError as exc:
            raise unreachable(exc) from None

    server = tools_server(list_tools, call_tool, name=f"agentscope-sandbox-{args.type}")
    stdin = await stdin_lines()
    try:
        async with stdio_server(stdin=stdin) as (read, write):  # type: ignore[arg-type]
            await server.run(read, write, server.create_initialization_options())
    finally:
        try:
            if start is not None:
                with contextlib.suppress(Exception):  # its failure was the call's to answer
                    await start
            await box.close()  # removes a sandbox of its own; a session's stays
        finally:
            if stdin is not None:
                os.set_blocking(0, True)  # a terminal's stdin is the shell's again


def unreachable(exc: Exception) -> SandboxUnreachable:
    """A failed HTTP exchange with the sandbox (function) as the named error MCP answers
    (``-32603``, ``sandbox_unreachable``), not an exception the SDK answers with code 0."""
    why = str(exc) or "no answer in time"  # httpx's timeouts have no message
    return SandboxUnreachable(f"the sandbox did not answer ({type(exc).__name__}: {why})")


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

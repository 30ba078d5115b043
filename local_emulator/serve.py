"""Serve several functions' ASGI apps in one process, one uvicorn server per port.

One Ctrl-C stops them all: the servers are told not to capture signals themselves (uvicorn
would let only the last one see the signal) and a single handler stops every server. Every
port is bound before any server starts, so one that is taken is a single line naming the
variable that chose it (``PortInUse``), and nothing was started.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from functions.runtime.redact import loggable_target
from local_emulator.ports import PortInUse, bind


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now (for a server that binds it right after).

    Chosen at random below the kernel's ephemeral range: a port from ``bind(0)`` lies inside it,
    where any outgoing connection's local port or a port Docker publishes may take it before
    the server binds; below it only another server asking for that very port can.
    """
    low, _ = _ephemeral_range()
    for _ in range(200):
        port = random.randrange(max(1024, low - 16384), low)
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket() as s:  # the range below is crowded: the kernel's choice
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass
class Function:
    name: str
    app: Any
    port: int
    routes: str
    # what chose the port, for an error about it: a variable (QUERY_PORT) or an option
    port_from: str = ""


# the variables that choose the emulator's ports, by function
PORT_VARIABLES = {
    "query": "QUERY_PORT",
    "state": "STATE_PORT",
    "sandbox": "SANDBOX_PORT",
    "model": "MODEL_PORT",
    "sandbox-desktop": "SANDBOX_DESKTOP_PORT",
}


class ServerFailed(Exception):
    """A server stopped while starting (its app's startup failed: it said why)."""


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class AccessLog:
    """One line per request: function, method, path, status, duration."""

    def __init__(self, app: Any, name: str) -> None:
        self.app = app
        self.name = name

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 0

        async def send_logged(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_logged)
        finally:
            ms = (time.perf_counter() - start) * 1000
            # the path as sent (percent-encoded: a decoded %0A would start a forged line)
            target = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
            if scope.get("query_string"):
                target += "?" + scope["query_string"].decode("latin-1")
            print(
                f"[{self.name}] {scope['method']} {loggable_target(target)} {status or '-'} "
                f"{ms:.1f}ms",
                flush=True,
            )


async def serve(functions: list[Function], host: str, what: str = "emulator") -> None:
    """Serve ``functions`` until Ctrl-C (SIGINT) or SIGTERM; ``what`` they are together, for
    the lines that say they are ready and stopped. ``PortInUse`` when a port cannot be had,
    before any server starts; ``SystemExit(1)`` when one fails to start."""
    sockets: list[socket.socket] = []
    try:
        for fn in functions:
            source = fn.port_from or PORT_VARIABLES.get(fn.name, f"{fn.name} port")
            sockets.append(bind(host, fn.port, source))
    except PortInUse:
        for sock in sockets:
            sock.close()
        raise
    servers = []
    for fn in functions:
        config = uvicorn.Config(
            AccessLog(fn.app, fn.name),
            host=host,
            port=fn.port,
            access_log=False,
            log_level="warning",
            lifespan="on",
        )
        servers.append(_Server(config))

    def stop(*_: object) -> None:
        for server in servers:
            if server.should_exit:
                server.force_exit = True
            server.should_exit = True

    async def run(server: _Server, sock: socket.socket) -> None:
        try:
            await server.serve(sockets=[sock])
        except SystemExit:  # uvicorn's way to say its startup failed: not the whole loop's
            raise ServerFailed() from None
        finally:
            sock.close()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    try:
        tasks = [
            asyncio.ensure_future(run(s, sock)) for s, sock in zip(servers, sockets, strict=True)
        ]
        while not all(s.started for s in servers):
            if any(t.done() for t in tasks):  # a server failed to start: stop the others
                stop()
                outcomes = await asyncio.gather(*tasks, return_exceptions=True)
                for outcome in outcomes:  # not a startup uvicorn reported: show it
                    if isinstance(outcome, Exception) and not isinstance(outcome, ServerFailed):
                        raise outcome
                raise SystemExit(1)
            await asyncio.sleep(0.05)
        for fn in functions:
            print(f"  {fn.name:<8} http://{host}:{fn.port}  {fn.routes}", flush=True)
        print(f"Ready. Ctrl-C stops the {what}.", flush=True)
        await asyncio.gather(*tasks)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    print(f"{what} stopped", file=sys.stderr, flush=True)

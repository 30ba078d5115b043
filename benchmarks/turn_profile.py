"""Where the time of one ``POST /process`` turn goes, measured in process.

The query app (the trivial text agent, file:// store on tmpfs) is called as an ASGI app, one
request at a time, with no HTTP server and no socket: each request's wall time is then the
worker's own work on it (the file store works inline, nothing else runs). Timers wrapped
around the parts of a turn split it into

* validation: the body parsed into an ``AgentRequest`` (``protocols.process.parse_request``);
* lease: taking and releasing the session's lease (``SessionLock.acquire`` / ``release``);
* session load: the session read once for the turn (``HistoryService.open_session``);
* handler: the agent's own stream, its events built (``Agent.stream``, each step);
* encoding: each event made into its SSE frame (``sse.sse_encode``);
* persistence: the turn committed in one write (``HistoryService.commit_turn``);
* the rest: the web framework, our middleware and the turn's own plumbing (its tasks, the
  queue, the observers), i.e. the request's wall time less the parts above.

A fresh session per request, as in ``process_load.py``'s load. ``--profile N`` prints the
functions that took the most time under cProfile instead (for finding what to cut).

Run: .venv/bin/python benchmarks/turn_profile.py [--turns 2000] [--profile 40]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BODY = {"input": [{"role": "user", "content": [{"type": "text", "text": "ping"}]}]}
PARTS = ("validation", "lease", "session load", "handler", "encoding", "persistence")


class Timers:
    """Nanoseconds spent in each part, summed over the turns."""

    def __init__(self) -> None:
        self.ns: dict[str, int] = defaultdict(int)

    def sync(self, part: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.process_time_ns()
            try:
                return fn(*args, **kwargs)
            finally:
                self.ns[part] += time.process_time_ns() - start

        return timed

    def coroutine(self, part: str, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.process_time_ns()
            try:
                return await fn(*args, **kwargs)
            finally:
                self.ns[part] += time.process_time_ns() - start

        return timed

    def stream(self, part: str, fn: Callable[..., AsyncIterator[Any]]) -> Callable[..., Any]:
        async def timed(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            events = fn(*args, **kwargs)
            try:
                while True:
                    start = time.process_time_ns()
                    try:
                        event = await events.__anext__()
                    except StopAsyncIteration:
                        return
                    finally:
                        self.ns[part] += time.process_time_ns() - start
                    yield event
            finally:
                await events.aclose()  # type: ignore[attr-defined]

        return timed


def scope_for(path: str, body: bytes) -> dict[str, Any]:
    """An HTTP request's ASGI scope as uvicorn gives it, from 127.0.0.1."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def call(app: Any, path: str, body: bytes) -> bytes:
    """One request through the ASGI app; the response body."""
    chunks: list[bytes] = []
    done = asyncio.Event()
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                done.set()

    await app(scope_for(path, body), receive, send)
    return b"".join(chunks)


def build(folder: str) -> tuple[Any, Any, Any]:
    """(the query app, its instance, its agent) on a file store in ``folder``."""
    sys.path.insert(0, str(ROOT))
    from functions.query.app import load_agent_app
    from functions.runtime.server import build_app
    from functions.runtime.settings import Settings

    settings = Settings(store_url=f"file://{folder}/store")
    agent = load_agent_app("benchmarks.trivial_app:agent_app")
    app = build_app(agent, settings)
    return app, app.state.instance, agent


def instrument(timers: Timers, instance: Any, agent: Any) -> Callable[[], None]:
    """The part timers, wrapped around this instance's services and the route's helpers;
    returns what takes the route's helpers back (the services are this app's own)."""
    from functions.runtime.protocols import process

    parse, encode = process.parse_request, process.sse_encode
    process.parse_request = timers.sync("validation", parse)  # type: ignore[assignment]
    process.sse_encode = timers.sync("encoding", encode)  # type: ignore[assignment]

    def undo() -> None:
        process.parse_request, process.sse_encode = parse, encode  # type: ignore[assignment]

    agent.stream = timers.stream("handler", agent.stream)
    for part, service, names in (
        ("lease", instance.lock, ("acquire", "release")),
        ("session load", instance.history, ("open_session",)),
        ("persistence", instance.history, ("commit_turn",)),
    ):
        for name in names:
            method = getattr(service, name, None)
            if method is not None:
                setattr(service, name, timers.coroutine(part, method))
    return undo


def breakdown(turns: int = 2000) -> list[str]:
    """The lines printing one turn's time by part (microseconds per turn)."""
    ram = Path("/dev/shm")
    with tempfile.TemporaryDirectory(dir=ram if ram.is_dir() else None) as folder:
        app, instance, agent = build(folder)
        timers = Timers()
        wall = _run(_timed_run(app, instance, agent, timers, turns))
    per_turn_us = wall / turns * 1e6
    parts = {part: timers.ns[part] / turns / 1e3 for part in PARTS}
    rest = per_turn_us - sum(parts.values())
    lines = [
        f"one /process turn in process (ASGI app called directly, no HTTP server; fresh "
        f"session, file:// on tmpfs, {turns} turns one at a time): {per_turn_us:.0f} us",
    ]
    for part, us in [*parts.items(), ("the rest", rest)]:
        lines.append(f"    {part:<13} {us:7.0f} us  {us / per_turn_us:4.0%}")
    return lines


async def _timed_run(app: Any, instance: Any, agent: Any, timers: Timers, turns: int) -> float:
    body = json.dumps(BODY).encode()
    async with app.router.lifespan_context(app):
        for _ in range(200):
            await call(app, "/process", body)
        undo = instrument(timers, instance, agent)
        try:
            start = time.process_time()
            for _ in range(turns):
                await call(app, "/process", body)
            return time.process_time() - start
        finally:
            undo()


def profile(turns: int, top: int) -> None:
    import cProfile
    import pstats

    ram = Path("/dev/shm")
    with tempfile.TemporaryDirectory(dir=ram if ram.is_dir() else None) as folder:
        app, _, _ = build(folder)
        body = json.dumps(BODY).encode()

        async def run() -> None:
            async with app.router.lifespan_context(app):
                for _ in range(200):
                    await call(app, "/process", body)
                profiler = cProfile.Profile()
                profiler.enable()
                for _ in range(turns):
                    await call(app, "/process", body)
                profiler.disable()
                stats = pstats.Stats(profiler)
                stats.sort_stats("tottime").print_stats(top)

        _run(run())


def _run(main: Any) -> Any:
    """``main`` on the event loop uvicorn serves with (uvloop when installed)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=2000)
    parser.add_argument("--profile", type=int, metavar="TOP", help="cProfile's top functions")
    args = parser.parse_args()
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    if args.profile:
        profile(args.turns, args.profile)
        return 0
    print("\n".join(breakdown(args.turns)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

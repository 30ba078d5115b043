"""Memory soak of the query function: RSS before and after 10,000 turns in one process.

Serves the query function (``functions.query.handler:app``, the trivial text agent of
``benchmarks/trivial_app.py``, one uvicorn worker, a file store on tmpfs) on 127.0.0.1 and
drives it with ``httpx`` from ``--clients`` concurrent clients. Each client keeps its own
sessions (a session takes one turn at a time): a turn starts a fresh session (no
``session_id``: the server names it) or continues one of the client's, up to
``--session-turns`` turns each, then the session is retired; ``stream`` alternates true
and false. Every 50th turn is the Responses API (``/compatible-mode/v1/responses``,
not streamed, continuing with ``previous_response_id`` when it can) and every 50th, offset, an
A2A ``SendMessage`` (JSON-RPC at ``/a2a``): each is a turn too and stores what those
protocols store.

A warm-up of ``--warmup`` turns of the same mix comes first (bounded caches fill - the
file store's 1024 keys and directories take about 1,000 turns -, the allocator's arenas
reach their working size, every route and model is built once), then the server's
RSS (``VmRSS`` of /proc/<pid>/status) is read, ``--turns`` turns are served, the RSS is read
again. Budget (issue 23): growth <= 5 MB (MiB here) over 10,000 turns.

``--tracemalloc``: no server; the same mix runs in this process against the ASGI app
(httpx ``ASGITransport``, the app's lifespan entered) and the top size differences between
a tracemalloc snapshot after the warm-up and one after the turns are printed, to find what
grows.

Run: .venv/bin/python benchmarks/soak.py [--turns 10000] [--clients 8] [--tracemalloc]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx
from support import free_port, publish, uvicorn_worker

ROOT = Path(__file__).resolve().parents[1]
QUERY_APP = "functions.query.handler:app"
PROCESS, RESPONSES, A2A = "/process", "/compatible-mode/v1/responses", "/a2a"
BUDGET_MIB = 5.0
EVERY = 50  # one Responses and one A2A turn in every EVERY


def process_body(session_id: str | None, stream: bool) -> dict:
    body: dict = {
        "input": [{"role": "user", "content": [{"type": "text", "text": "ping"}]}],
        "stream": stream,
    }
    if session_id:
        body["session_id"] = session_id
    return body


def a2a_body(n: int) -> dict:
    message = {"messageId": f"soak-{n}", "role": "ROLE_USER", "parts": [{"text": "ping"}]}
    return {"jsonrpc": "2.0", "id": n, "method": "SendMessage", "params": {"message": message}}


class Client:
    """One client's sessions: fresh ones named by the server, each continued a few turns."""

    def __init__(self, http: httpx.AsyncClient, session_turns: int) -> None:
        self.http = http
        self.session_turns = session_turns
        self.session: str | None = None
        self.turns_in_session = 0
        self.previous_response: str | None = None

    async def turn(self, n: int) -> None:
        if n % EVERY == 0:
            await self.responses()
        elif n % EVERY == EVERY // 2:
            await self.a2a(n)
        else:
            await self.process(stream=n % 2 == 0)

    async def process(self, stream: bool) -> None:
        if self.turns_in_session >= self.session_turns:
            self.session, self.turns_in_session = None, 0
        resp = await self.http.post(PROCESS, json=process_body(self.session, stream))
        resp.raise_for_status()
        if stream:
            assert '"status":"completed"' in resp.text, resp.text[-300:]
            if self.session is None:
                first = resp.text.split("\n", 1)[0].removeprefix("data: ")
                self.session = json.loads(first)["session_id"]
        else:
            answer = resp.json()
            assert answer["status"] == "completed", answer
            self.session = answer["session_id"]
        self.turns_in_session += 1

    async def responses(self) -> None:
        body: dict = {"model": "any", "input": "ping", "stream": False}
        if self.previous_response:
            body["previous_response_id"] = self.previous_response
        resp = await self.http.post(RESPONSES, json=body)
        resp.raise_for_status()
        answer = resp.json()
        assert answer["status"] == "completed", answer
        # a chain of a few: continuing loads what the previous ones stored
        self.previous_response = answer["id"] if self.previous_response is None else None

    async def a2a(self, n: int) -> None:
        resp = await self.http.post(A2A, json=a2a_body(n), headers={"A2A-Version": "1.0"})
        resp.raise_for_status()
        assert "COMPLETED" in resp.text, resp.text


async def drive(http: httpx.AsyncClient, turns: int, clients: int, session_turns: int) -> float:
    """Serve ``turns`` turns from ``clients`` concurrent clients; the seconds it took."""
    counter = itertools.count()
    started = time.perf_counter()

    async def run(client: Client) -> None:
        while (n := next(counter)) < turns:
            await client.turn(n)

    await asyncio.gather(*(run(Client(http, session_turns)) for _ in range(clients)))
    return time.perf_counter() - started


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def server_env(store: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(AGENT_APP="benchmarks.trivial_app:agent_app", STORE_URL=f"file://{store}")
    return env


def soak_server(args: argparse.Namespace, store: str) -> list[str]:
    port = free_port()
    server = uvicorn_worker(QUERY_APP, port, server_env(store))
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/health", timeout=5)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.1)

        async def soak() -> tuple[float, float, float, float]:
            limits = httpx.Limits(max_connections=args.clients)
            async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:
                await drive(http, args.warmup, args.clients, args.session_turns)
                before = rss_mib(server.pid)
                seconds = await drive(http, args.turns, args.clients, args.session_turns)
                after = rss_mib(server.pid)
                # a second stretch, shorter: growth that goes on is a leak, a step is not
                await drive(http, args.turns // 5, args.clients, args.session_turns)
                return before, after, rss_mib(server.pid), seconds

        before, after, later, seconds = asyncio.run(soak())
    finally:
        server.terminate()
        server.wait(timeout=10)
    growth = after - before
    ok = growth <= BUDGET_MIB
    return [
        f"memory soak: POST /process (stream and not, fresh and continued sessions of up to "
        f"{args.session_turns} turns), 1 in {EVERY} Responses and 1 in {EVERY} A2A SendMessage;"
        f" trivial text agent, one uvicorn worker, file store on tmpfs, {args.clients} clients"
        f" (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)",
        f"  RSS after {args.warmup} warm-up turns  {before:.1f} MiB",
        f"  RSS after {args.turns} more turns    {after:.1f} MiB  ({args.turns / seconds:.0f}"
        f" turns/s)",
        f"  growth {growth:+.1f} MiB; budget <= {BUDGET_MIB:.0f} MiB: {'PASS' if ok else 'FAIL'}",
        f"  (and after {args.turns // 5} more: {later:.1f} MiB, {later - after:+.1f} MiB)",
    ]


def soak_traced(args: argparse.Namespace, store: str) -> list[str]:
    """The same mix in this process through ASGITransport, tracemalloc's top differences."""
    import tracemalloc

    os.environ.update(server_env(store))
    sys.path.insert(0, str(ROOT))
    from functions.query.handler import app

    async def soak() -> tuple[tracemalloc.Snapshot, tracemalloc.Snapshot]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
                await drive(http, args.warmup, args.clients, args.session_turns)
                tracemalloc.start(12)
                gc.collect()  # what is left is held, not garbage awaiting the cycle collector
                first = tracemalloc.take_snapshot()
                await drive(http, args.turns, args.clients, args.session_turns)
                gc.collect()
                return first, tracemalloc.take_snapshot()

    first, second = asyncio.run(soak())
    keep = [tracemalloc.Filter(False, tracemalloc.__file__)]
    diff = second.filter_traces(keep).compare_to(first.filter_traces(keep), "traceback")
    total = sum(d.size_diff for d in diff) / 2**20
    lines = [f"tracemalloc over {args.turns} turns in process: {total:+.2f} MiB traced"]
    for d in diff[:10]:
        lines.append(f"  {d.size_diff / 1024:+.1f} KiB in {d.count_diff:+d} blocks")
        lines += [f"    {frame}" for frame in d.traceback.format()[-6:]]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=10_000)
    parser.add_argument("--warmup", type=int, default=2_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--session-turns", type=int, default=5)
    parser.add_argument("--tracemalloc", action="store_true", help="find what grows, in process")
    args = parser.parse_args()
    shm = "/dev/shm" if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(dir=shm) as tmp:
        if args.tracemalloc:
            print("\n".join(soak_traced(args, tmp)))
            return 0
        lines = soak_server(args, tmp)
    publish("soak", "\n".join(lines))
    return 0 if lines[3].endswith("PASS") else 1


if __name__ == "__main__":
    sys.exit(main())

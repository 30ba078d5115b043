"""What the playground's relay adds: one GET of a session's messages, straight to the state
function and through the query port's relay (local_emulator/playground/proxy.py).

A child process serves the query function behind the playground and the state function
as ``make local`` does (``local_emulator.serve.serve``: its sockets, one event loop, its
access log), on free ports on 127.0.0.1, with a file:// store in a temporary folder. This
process then sends the same GET over one keep-alive connection to each port (as the page's
browser does), alternating, and prints the median and p99 of each and the relay's
overhead (the medians' difference).

Before the emulator's sockets had TCP_NODELAY (functions/runtime/sockets.py) the relay added
~43 ms here: the state function's answer waited for the relay's delayed ACK (40 ms on Linux,
up to 200 ms on macOS). Direct GETs stalled the same way when sent in a run of their own;
alternating with slow relayed ones, their connection sat idle long enough for Linux to ACK at
once, so the direct figure is the function's own time either way.

Budget: the relay adds <= 5 ms at the median; PASS or FAIL, exit status 1 on FAIL.
Figures in benchmarks/results/relay_latency.txt (relay_latency_jwt.txt with --auth jwt).
Run: .venv/bin/python benchmarks/relay_latency.py [--requests 300] [--auth none|jwt]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from support import publish

ROOT = Path(__file__).resolve().parents[1]
BUDGET_MS = 5.0
SECRET = "relay-benchmark-secret-at-least-32-bytes"
MESSAGES = 20  # in the session read back


def serve() -> None:
    """The child: the query side (playground and relays) and the state function."""
    sys.path.insert(0, str(ROOT))
    from functions.query.app import create_app as query_app
    from functions.runtime.settings import Settings
    from functions.state.app import create_app as state_app
    from local_emulator.playground import emulator_playground
    from local_emulator.serve import Function, serve

    settings = Settings()
    host = "127.0.0.1"
    functions = [
        Function(
            "query",
            emulator_playground(query_app(settings), settings, host),
            settings.query_port,
            "",
        ),
        Function("state", state_app(settings), settings.state_port, ""),
    ]
    asyncio.run(serve(functions, host, what="relay benchmark"))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="GETs on each path")
    parser.add_argument("--auth", choices=("none", "jwt"), default="none")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
        return 0

    sys.path.insert(0, str(ROOT))
    from local_emulator.serve import free_port

    ports = {name: free_port() for name in ("QUERY_PORT", "STATE_PORT", "SANDBOX_PORT")}
    with tempfile.TemporaryDirectory(prefix="relay-latency-") as tmp:
        env = {**os.environ, **{k: str(v) for k, v in ports.items()}}
        env.update({"STORE_URL": f"file://{tmp}/store", "AUTH_MODE": args.auth})
        headers = {}
        user = "default"
        if args.auth == "jwt":
            from local_emulator.tokens import mint_token

            env["AUTH_JWT_SECRET"] = SECRET
            user = "bench"
            headers["Authorization"] = f"Bearer {mint_token(SECRET, user)}"
        command = [sys.executable, str(Path(__file__).resolve()), "--serve"]
        log = Path(tmp) / "servers.log"
        with log.open("w") as out:
            child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)
        try:
            query = f"http://127.0.0.1:{ports['QUERY_PORT']}"
            state = f"http://127.0.0.1:{ports['STATE_PORT']}"
            wait_ready(child, [f"{query}/health", f"{state}/health"], log)
            return measure(args, query, state, user, headers)
        finally:
            child.terminate()  # SIGTERM: the servers stop as on Ctrl-C
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def wait_ready(child: subprocess.Popen, urls: list[str], log: Path) -> None:
    deadline = time.monotonic() + 60
    for url in urls:
        while True:
            try:
                httpx.get(url, timeout=2)
                break
            except httpx.TransportError:
                if child.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"the servers did not start:\n{log.read_text()}")
                time.sleep(0.1)


def measure(
    args: argparse.Namespace, query: str, state: str, user: str, headers: dict[str, str]
) -> int:
    text = [{"type": "text", "text": "a message of a few words, as the playground lists them"}]
    with httpx.Client(headers=headers, timeout=30) as client:
        created = client.post(f"{state}/v1/users/{user}/sessions", json={})
        created.raise_for_status()
        session = created.json()["id"]
        body = [{"role": "user", "content": text}] * MESSAGES
        client.post(f"{state}/v1/users/{user}/sessions/{session}/messages", json=body)
        path = f"/v1/users/{user}/sessions/{session}/messages?limit=100"
        times: dict[str, list[float]] = {"direct": [], "relayed": []}
        bases = {"direct": state, "relayed": query}
        for round_ in range(args.requests + 20):  # the first 20 of each warm up
            for name, base in bases.items():
                start = time.perf_counter()
                answer = client.get(base + path)
                elapsed = (time.perf_counter() - start) * 1000
                if answer.status_code != 200 or len(answer.json()["items"]) != MESSAGES:
                    sys.exit(f"{name} GET {path}: {answer.status_code} {answer.text[:300]}")
                if round_ >= 20:
                    times[name].append(elapsed)
    medians = {name: statistics.median(values) for name, values in times.items()}
    overhead = medians["relayed"] - medians["direct"]
    verdict = "PASS" if overhead <= BUDGET_MS else "FAIL"
    lines = [
        f"relay latency: GET {MESSAGES} messages, {args.requests} requests each, "
        f"AUTH_MODE={args.auth}, one keep-alive connection per port",
        f"  {'':<8} {'median':>9} {'p99':>9}",
    ]
    for name, values in times.items():
        lines.append(f"  {name:<8} {medians[name]:>7.2f}ms {percentile(values, 0.99):>7.2f}ms")
    lines.append(
        f"  relay adds {overhead:.2f} ms at the median (budget {BUDGET_MS:.0f} ms): {verdict}"
    )
    publish(
        f"relay_latency_{args.auth}" if args.auth != "none" else "relay_latency", "\n".join(lines)
    )
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())

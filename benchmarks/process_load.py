"""Throughput and latency of ``POST /process`` with a trivial text agent.

Serves the query function (``functions.query.handler:app``, one uvicorn worker, state in a
temporary local folder) on 127.0.0.1 and drives it with wrk at concurrency 1, 10 and 50,
a few seconds each. Every request creates a new session, so each one takes a lease, writes
the session and appends the turn: this is the full path, not a hello-world.

Three stores: the default file:// backend on tmpfs, which is what the budget is judged on;
the same on this machine's disk, whose speed varies several-fold from minute to minute
here (a create-only put measured 0.07 to 0.8 ms), so it is shown, not judged; and memory://,
which is what the seed's in-memory services do.

Beside it, on the tmpfs store at c=10: the OpenAI Responses endpoint
(``/compatible-mode/v1/responses``, stream true, same agent; it also stores each response
for ``previous_response_id``), budget >= 90 % of ``/process`` throughput; and the cost of
the lease heartbeat (the watcher task each turn runs: it renews the lease and reads stop
marks every STOP_POLL_INTERVAL_S): ``/process`` with the default interval beside one so
short (1 ms) that every turn reads its lease, and the watcher's own per-turn cost measured
in-process. And A2A ``SendMessage`` (JSON-RPC at ``/a2a``, same agent, blocking; each call
also saves its task, completed, in the store), budget >= 90 % of ``/process``
throughput (issue 23: within 10 %), in the same alternating runs, with the server's CPU
time per request.

Tracing off and on, on the budget's store: on sets OTEL_EXPORTER_OTLP_ENDPOINT to an OTLP
sink in this process (it answers every export with 200 and reads nothing), so each request
makes its server and invoke_agent spans and the batch processor ships them. At c=10 one
worker is saturated, so p50 is about ten service times: a cost per request shows ten-fold
in it (and the noise of a shared machine with it). Tracing's budget is judged on what one
request costs the worker, its service time (1 / throughput at c=10); the p50 difference is
printed beside it.

The framework's ceiling, in the same alternating runs at c=10 with the same wrk settings:
``benchmarks/ceiling_app.py``, a bare FastAPI route streaming the same seven SSE events
with no validation and no storage; /process, the Responses API and A2A are printed as a
share of its throughput, and their p99 over its p99 (issue 23's budgets: /process >= 60 %
of the ceiling with p99 <= 2x the ceiling's, the Responses API and A2A within 10 % of
/process).

And where one turn's time goes (``turn_profile.py``: validation, lease, session load,
handler, encoding, persistence and the rest, timed in process without the HTTP server),
and the store requests of one turn, counted in process (the query app built on the tmpfs
store wrapped in a counter): a turn on a fresh session, then one continuing it, each
request's operation and key (ids shortened) in order; the same, printed without a
budget, for the Responses API (a response, then one continuing it by
``previous_response_id``). Budget (issue 23): a fresh-session turn <= 4 store requests, a
continued one <= 5.

Budget: >= 1,000 requests/s at c=10 on one worker, p99 <= 50 ms; tracing on costs
<= 0.5 ms per request at c=10.
Run: .venv/bin/python benchmarks/process_load.py [--seconds 5] [--compare-only]
(needs wrk: apt-get install wrk; --compare-only: the ceiling comparison and the store
requests alone)
     ... --only responses   (just the Responses API beside /process, alternating: quicker)
     ... --only store       (just the store requests of a fresh and a continued turn)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import turn_profile
from support import free_port, publish, uvicorn_worker

ROOT = Path(__file__).resolve().parents[1]
BODY = {"input": [{"role": "user", "content": [{"type": "text", "text": "ping"}]}]}
RESPONSES_BODY = {"model": "any", "input": "ping", "stream": True}
PROCESS, RESPONSES = "/process", "/compatible-mode/v1/responses"
# A2A 1.0 SendMessage of the same text: blocking, answered with the completed task
A2A_MESSAGE = {"messageId": "bench", "role": "ROLE_USER", "parts": [{"text": "ping"}]}
A2A_BODY = {"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {"message": A2A_MESSAGE}}
A2A = {"path": "/a2a", "body": A2A_BODY, "headers": {"A2A-Version": "1.0"}, "done": "COMPLETED"}
QUERY_APP, CEILING_APP = "functions.query.handler:app", "benchmarks.ceiling_app:app"
LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
{extra}wrk.body = '{body}'
"""
# AUTH_MODE=jwt with a dev HS256 key: every request's token is verified (the key is cached)
JWT_SECRET = "process-load-" + "k" * 32
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def parse_ms(value: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", value)
    assert m, value
    return float(m.group(1)) * UNITS[m.group(2)]


def run_wrk(url: str, script: str, connections: int, seconds: int) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script, url],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 30,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    # Debian's wrk prints "50%", wrk2 "50.000%"
    pct = dict(re.findall(r"^\s+(50|99)(?:\.0+)?%\s+(\S+)", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": rps,
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "p50": parse_ms(pct["50"]),
        "p99": parse_ms(pct["99"]),
        "non2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "",
    }


class _Sink(BaseHTTPRequestHandler):
    """An OTLP/HTTP endpoint that takes every export and keeps nothing."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def otlp_sink() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def serve_and_load(
    store_url: str,
    seconds: int,
    levels: tuple[int, ...] = (1, 10, 50),
    path: str = PROCESS,
    body: dict | None = None,
    env_extra: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    done: str = '"status":"completed"',
    app: str = QUERY_APP,
) -> dict[int, dict[str, float]]:
    """Start one uvicorn worker serving ``app`` on ``store_url`` and drive ``path`` at each
    concurrency (``done``: what the first answer must contain)."""
    body = body or BODY
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(AGENT_APP="benchmarks.trivial_app:agent_app", STORE_URL=store_url)
    env |= env_extra or {}
    headers = dict(headers or {})
    if env.get("AUTH_MODE") == "jwt":
        from local_emulator.tokens import mint_token

        headers["Authorization"] = f"Bearer {mint_token(JWT_SECRET, 'bench-user')}"
    server = uvicorn_worker(app, port, env)
    url = f"http://127.0.0.1:{port}{path}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                resp = httpx.post(url, json=body, headers=headers, timeout=5)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.1)
        assert done in resp.text, resp.text
        with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
            extra = "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in headers.items())
            script.write(LUA.format(body=json.dumps(body), extra=extra))
            script.flush()
            cpu_before = server_cpu_s(server.pid)
            results = {c: run_wrk(url, script.name, c, seconds) for c in levels}
            cpu_s = server_cpu_s(server.pid) - cpu_before
            served = sum(r["requests"] for r in results.values())
            for r in results.values():
                r["cpu_ms"] = cpu_s / max(served, 1) * 1e3
            return results
    finally:
        server.terminate()
        server.wait(timeout=10)


def verify_cost_us(rounds: int = 2000) -> tuple[float, float]:
    """Microseconds one JWT verification takes in process (HS256): a token seen for the
    first time (its signature checked), and one the verifier remembers (what a client's
    every later request costs): the part of the jwt line that is ours, free of the load
    generator's noise."""
    import asyncio

    from functions.runtime.auth.jwt import JwtVerifier
    from functions.runtime.settings import Settings
    from local_emulator.tokens import mint_token

    settings = Settings(auth_mode="jwt", auth_jwt_secret=JWT_SECRET)
    tokens = [mint_token(JWT_SECRET, f"bench-user-{n}") for n in range(rounds)]

    async def run() -> tuple[float, float]:
        verifier = JwtVerifier(settings)
        start = time.perf_counter()
        for token in tokens:  # each new: verified
            await verifier.verify(token)
        first = (time.perf_counter() - start) / rounds * 1e6
        start = time.perf_counter()
        for _ in range(rounds):
            await verifier.verify(tokens[-1])
        return first, (time.perf_counter() - start) / rounds * 1e6

    return asyncio.run(run())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3, help="alternating comparison runs")
    parser.add_argument(
        "--only",
        choices=["responses", "store"],
        help="run just this comparison with /process (store: only the store requests)",
    )
    parser.add_argument(
        "--compare-only", action="store_true", help="the ceiling comparison and store requests"
    )
    args = parser.parse_args()
    if args.only == "store":  # counted in process: needs no wrk
        store_lines, store_ok = store_requests_lines()
        publish("process_store_requests", "\n".join(store_lines))
        return 0 if store_ok else 1
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)
        return 2
    if args.only == "responses":
        return responses_only(args.seconds, args.rounds)
    if args.compare_only:
        lines, ok = ceiling_comparison(args.seconds, args.rounds)
        store_lines, store_ok = store_requests_lines()
        publish("process_ceiling", "\n".join(lines + store_lines + turn_profile.breakdown()))
        return 0 if ok and store_ok else 1
    ram = Path("/dev/shm")
    with (
        tempfile.TemporaryDirectory(dir=ram if ram.is_dir() else None) as on_ram,
        tempfile.TemporaryDirectory(
            dir=ROOT / ".data" if (ROOT / ".data").is_dir() else ROOT
        ) as on_disk,
    ):
        configs = {
            "file:// on tmpfs (budget)": f"file://{on_ram}/store",
            "file:// on this disk": f"file://{on_disk}/store",
            "memory://": "memory://",
        }
        results = {name: serve_and_load(url, args.seconds) for name, url in configs.items()}
        tmpfs = configs["file:// on tmpfs (budget)"]
        jwt_env = {"AUTH_MODE": "jwt", "AUTH_JWT_SECRET": JWT_SECRET}
        results["file:// on tmpfs, AUTH_MODE=jwt"] = serve_and_load(
            tmpfs, args.seconds, env_extra=jwt_env
        )
        # this machine's speed drifts between runs: alternate them, keep each one's median
        runs: dict[str, list[dict[str, float]]] = {
            "ceiling": [],
            "process": [],
            "responses": [],
            "polling": [],
            "a2a": [],
            "jwt": [],
        }
        for _ in range(args.rounds):
            runs["ceiling"].append(serve_and_load(tmpfs, args.seconds, (10,), app=CEILING_APP)[10])
            runs["process"].append(serve_and_load(tmpfs, args.seconds, (10,))[10])
            runs["responses"].append(
                serve_and_load(tmpfs, args.seconds, (10,), RESPONSES, RESPONSES_BODY)[10]
            )
            runs["polling"].append(
                serve_and_load(
                    tmpfs, args.seconds, (10,), env_extra={"STOP_POLL_INTERVAL_S": "0.001"}
                )[10]
            )
            runs["a2a"].append(serve_and_load(tmpfs, args.seconds, (10,), **A2A)[10])
            runs["jwt"].append(serve_and_load(tmpfs, args.seconds, (10,), env_extra=jwt_env)[10])
        ceiling, process, responses, polling, a2a, jwt = (
            median_run(runs[k])
            for k in ("ceiling", "process", "responses", "polling", "a2a", "jwt")
        )
        with otlp_sink() as sink:
            traced = {"OTEL_EXPORTER_OTLP_ENDPOINT": sink}
            results["file:// on tmpfs, tracing on"] = serve_and_load(
                tmpfs, args.seconds, env_extra=traced
            )
    watcher_us, check_ms = watcher_costs()
    lines = [
        f"POST /process, trivial text agent, one uvicorn worker, {args.seconds} s per level "
        f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
    ]
    for name, levels in results.items():
        lines.append(f"  store {name}")
        for c, r in levels.items():
            extra = f"  non-2xx {r['non2xx']}" if r["non2xx"] else ""
            extra += f"  socket errors {r['socket_errors']}" if r["socket_errors"] else ""
            lines.append(
                f"    c={c:<3} {r['rps']:8.0f} req/s   p50 {r['p50']:6.2f} ms   "
                f"p99 {r['p99']:6.2f} ms{extra}"
            )
    budget = results["file:// on tmpfs (budget)"]
    c10 = budget[10]
    ok = c10["rps"] >= 1000 and c10["p99"] <= 50 and not any(r["non2xx"] for r in budget.values())
    lines.append(
        "  budget (file:// on tmpfs) c=10 >= 1000 req/s and p99 <= 50 ms: "
        + ("PASS" if ok else "FAIL")
    )
    # beside /process in the alternating runs: two single runs minutes apart differ by more
    # than the budget (0.3 ms of a 5 ms p50) whatever they run
    added = jwt["p50"] - process["p50"]
    jwt_ok = added <= 0.3
    ok = ok and jwt_ok
    lines.append(
        f"  JWT verification (cached key) adds {added:+.2f} ms p50 at c=10, beside /process "
        f"(medians of {args.rounds} alternating runs; budget <= 0.3 ms): "
        f"{'PASS' if jwt_ok else 'FAIL'}; "
        "in process a verification takes {:.0f} us, a remembered token {:.1f} us".format(
            *verify_cost_us()
        )
    )
    ratio = responses["rps"] / process["rps"]
    lines.append(responses_line(responses, process, args.rounds))
    per_request_us = 1e6 * 10 / process["rps"]
    lines.append(
        f"  lease heartbeat: the watcher task costs {watcher_us:.1f} us per turn "
        f"({watcher_us / per_request_us:.2%} of a request's {per_request_us:.0f} us at c=10); "
        f"a turn shorter than STOP_POLL_INTERVAL_S (0.5 s) does no lease I/O"
    )
    lines.append(
        f"  with STOP_POLL_INTERVAL_S=0.001 (every turn reads its lease): "
        f"{polling['rps']:.0f} req/s vs {process['rps']:.0f}; one lease check "
        f"(a GET, tmpfs) {check_ms:.3f} ms: a running turn pays 2 GETs/s and a PUT per "
        "SESSION_LOCK_TTL_S/3"
    )
    traced = results["file:// on tmpfs, tracing on"]
    extra_p50 = {c: traced[c]["p50"] - budget[c]["p50"] for c in traced}
    per_request = {c: 1000 / traced[c]["rps"] - 1000 / budget[c]["rps"] for c in traced}
    tracing_ok = per_request[10] <= 0.5
    lines.append(
        "  tracing on vs off: p50 "
        + ", ".join(f"c={c} {d:+.2f} ms" for c, d in extra_p50.items())
        + "; service time (1/throughput) "
        + ", ".join(f"c={c} {d:+.3f} ms" for c, d in per_request.items())
    )
    lines.append(
        "  budget tracing on, c=10 <= +0.5 ms per request: " + ("PASS" if tracing_ok else "FAIL")
    )
    a2a_ratio = a2a["rps"] / process["rps"]
    lines.append(
        f"  A2A SendMessage c=10 (tmpfs): {a2a['rps']:.0f} req/s (p99 {a2a['p99']:.2f} ms, "
        f"server CPU {a2a['cpu_ms']:.2f} ms/request) vs /process {process['rps']:.0f} req/s "
        f"({process['cpu_ms']:.2f} ms/request), medians of {args.rounds} alternating runs: "
        f"{a2a_ratio:.0%}; budget >= {BUDGET_OF_PROCESS:.0%}: "
        + ("PASS" if a2a_ratio >= BUDGET_OF_PROCESS else "FAIL")
    )
    share_lines, _ = shares(ceiling, {"/process": process, "Responses": responses, "A2A": a2a})
    store_lines, _ = store_requests_lines()
    lines += [
        f"  beside the bare FastAPI ceiling (same alternating runs, c=10, tmpfs, medians of "
        f"{args.rounds}):",
        *share_lines,
        *store_lines,
        *turn_profile.breakdown(),
    ]
    publish("process_load", "\n".join(lines))
    near = BUDGET_OF_PROCESS
    return 0 if ok and ratio >= near and tracing_ok and a2a_ratio >= near else 1


def responses_line(responses: dict[str, float], process: dict[str, float], rounds: int) -> str:
    ratio = responses["rps"] / process["rps"]
    return (
        f"  Responses API c=10 (tmpfs): {responses['rps']:.0f} req/s "
        f"(p99 {responses['p99']:.2f} ms, server CPU {responses['cpu_ms']:.2f} ms/request) "
        f"vs /process {process['rps']:.0f} req/s ({process['cpu_ms']:.2f} ms/request) measured "
        f"beside it (medians of {rounds} alternating runs): {ratio:.0%}; "
        f"budget >= {BUDGET_OF_PROCESS:.0%}: " + ("PASS" if ratio >= BUDGET_OF_PROCESS else "FAIL")
    )


def responses_only(seconds: int, rounds: int) -> int:
    """The Responses API beside ``/process`` alone (``--only responses``), printed, not
    published."""
    ram = Path("/dev/shm")
    load_before = os.getloadavg()[0]
    runs: dict[str, list[dict[str, float]]] = {"process": [], "responses": []}
    with tempfile.TemporaryDirectory(dir=ram if ram.is_dir() else None) as on_ram:
        tmpfs = f"file://{on_ram}/store"
        for _ in range(rounds):
            runs["process"].append(serve_and_load(tmpfs, seconds, (10,))[10])
            runs["responses"].append(
                serve_and_load(tmpfs, seconds, (10,), RESPONSES, RESPONSES_BODY)[10]
            )
    process, responses = median_run(runs["process"]), median_run(runs["responses"])
    print(
        f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after "
        f"({os.cpu_count()} CPUs)"
    )
    print(responses_line(responses, process, rounds))
    return 0 if responses["rps"] / process["rps"] >= BUDGET_OF_PROCESS else 1


# issue 23's budgets beside the ceiling
BUDGET_SHARE, BUDGET_P99_OVER, BUDGET_NEAR_PROCESS = 0.6, 2.0, 0.1
# the Responses API's and A2A's least throughput as a share of /process's
BUDGET_OF_PROCESS = 1 - BUDGET_NEAR_PROCESS
BUDGET_STORE_REQUESTS = {"fresh session": 4, "continued session": 5}


def ceiling_comparison(seconds: int, rounds: int) -> tuple[list[str], bool]:
    """The ceiling, /process, Responses and A2A at c=10 on tmpfs, alternating, medians."""
    ram = Path("/dev/shm")
    kinds = {
        "ceiling": {"app": CEILING_APP},
        "/process": {},
        "Responses": {"path": RESPONSES, "body": RESPONSES_BODY},
        "A2A": A2A,
    }
    runs: dict[str, list[dict[str, float]]] = {k: [] for k in kinds}
    with tempfile.TemporaryDirectory(dir=ram if ram.is_dir() else None) as on_ram:
        tmpfs = f"file://{on_ram}/store"
        for _ in range(rounds):  # alternating, so that a load that comes and goes hits all
            for kind, how in kinds.items():
                runs[kind].append(serve_and_load(tmpfs, seconds, (10,), **how)[10])
    medians = {k: median_run(v) for k, v in runs.items()}
    ceiling = medians.pop("ceiling")
    lines = [
        f"beside the bare FastAPI ceiling (benchmarks/ceiling_app.py), one uvicorn worker, "
        f"c=10, {seconds} s per run, medians of {rounds} alternating runs, file:// on tmpfs "
        f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)",
    ]
    share_lines, ok = shares(ceiling, medians)
    return [*lines, *share_lines, record_floor_line(medians["/process"])], ok


def record_floor_line(process: dict[str, float], turns: int = 2000, rounds: int = 3) -> str:
    """What keeping one record per turn costs beside a /process turn: the Responses API
    keeps each response, A2A each task, in an object of its own, so neither can cost less
    than /process's turn plus that. Measured in a turn, not in a loop of puts (a put in a
    tight loop costs well under what the same put costs inside a request): Responses
    turns with ``store: true`` against ``store: false``, alternating, the least of
    ``rounds`` runs each (ASGI app called in process, file:// on tmpfs)."""
    ram = Path("/dev/shm")
    bodies = {
        keep: json.dumps({**RESPONSES_BODY, "store": keep}).encode() for keep in (True, False)
    }

    async def measure(app: object) -> dict[bool, float]:
        best = {True: float("inf"), False: float("inf")}
        async with app.router.lifespan_context(app):  # type: ignore[attr-defined]
            for _ in range(rounds):
                for keep, body in bodies.items():
                    for _ in range(turns // 10):  # warm
                        await turn_profile.call(app, RESPONSES, body)
                    start = time.process_time()
                    for _ in range(turns):
                        await turn_profile.call(app, RESPONSES, body)
                    best[keep] = min(best[keep], (time.process_time() - start) / turns)
        return best

    with tempfile.TemporaryDirectory(dir=ram if ram.is_dir() else None) as folder:
        app, _, _ = turn_profile.build(folder)
        cpu = turn_profile._run(measure(app))
    keep_ms = 1e3 * max(0.0, cpu[True] - cpu[False])
    best = process["cpu_ms"] / (process["cpu_ms"] + keep_ms)
    return (
        f"    a record per turn: keeping a Response costs {1e3 * keep_ms:.0f} us of CPU per "
        f"turn (store: true against store: false, in process); /process plus it would be "
        f"{best:.0%} of /process, the most a protocol that keeps a record of each turn "
        f"(a stored Response, an A2A task) can reach"
    )


def shares(
    ceiling: dict[str, float], served: dict[str, dict[str, float]]
) -> tuple[list[str], bool]:
    """Each protocol's throughput as a share of the ceiling's, p99 over the ceiling's."""
    lines = [
        f"    ceiling     {ceiling['rps']:8.0f} req/s  p99 {ceiling['p99']:6.2f} ms"
        f"  server CPU {ceiling['cpu_ms']:.3f} ms/request"
    ]
    ok = True
    process = served["/process"]
    for name, r in served.items():
        share, p99_over = r["rps"] / ceiling["rps"], r["p99"] / ceiling["p99"]
        verdict = share >= BUDGET_SHARE and p99_over <= BUDGET_P99_OVER
        budget = f">= {BUDGET_SHARE:.0%}, p99 <= {BUDGET_P99_OVER}x"
        if name != "/process":
            near = r["rps"] / process["rps"]
            verdict = near >= BUDGET_OF_PROCESS
            budget = f"within {BUDGET_NEAR_PROCESS:.0%} of /process: {near:.0%}"
        ok = ok and verdict
        lines.append(
            f"    {name:<11} {r['rps']:8.0f} req/s  p99 {r['p99']:6.2f} ms  server CPU"
            f" {r['cpu_ms']:.3f} ms/request  {share:4.0%} of the ceiling, p99 {p99_over:.1f}x;"
            f" budget {budget}: {'PASS' if verdict else 'FAIL'}"
        )
    return lines, ok


def store_requests_lines() -> tuple[list[str], bool]:
    """The store requests of a fresh-session turn and a continued one, printed."""
    counted = store_requests()
    lines = [
        "store requests of one turn (file:// on tmpfs, counted in process; /process unless named):"
    ]
    ok = True
    for turn, requests in counted.items():
        budget = BUDGET_STORE_REQUESTS.get(turn)
        if budget is None:  # the Responses API's: its stored response on top of the turn
            lines.append(f"  {turn}: {len(requests)} requests (no budget of its own)")
        else:
            ok = ok and len(requests) <= budget
            verdict = "PASS" if len(requests) <= budget else "FAIL"
            lines.append(f"  {turn}: {len(requests)} requests; budget <= {budget}: {verdict}")
        lines += [f"    {op:<6} {key}" for op, key in requests]
    return lines, ok


def store_requests() -> dict[str, list[tuple[str, str]]]:
    """(operation, key) of each store request, for a turn on a fresh session and one
    continuing it: the query app built in process on a counting wrapper of the store."""
    sys.path.insert(0, str(ROOT))
    from fastapi.testclient import TestClient

    from functions.query.app import load_agent_app
    from functions.runtime.server import build_app
    from functions.runtime.services.counting import CountingStore
    from functions.runtime.settings import Settings
    from functions.runtime.storage import open_store

    class Recording(CountingStore):
        """Also keeps each request's operation and key, in order."""

        def __init__(self, inner: object) -> None:
            super().__init__(inner)  # type: ignore[arg-type]
            self.requests: list[tuple[str, str]] = []

        async def get(self, key: str) -> tuple[bytes, str] | None:
            self.requests.append(("get", key))
            return await super().get(key)

        async def put(self, key: str, data: bytes, **kwargs: object) -> str:
            self.requests.append(("put", key))
            return await super().put(key, data, **kwargs)  # type: ignore[arg-type]

        async def delete(self, key: str) -> None:
            self.requests.append(("delete", key))
            await super().delete(key)

        async def list(self, prefix: str, **kwargs: object) -> list[str]:
            self.requests.append(("list", prefix))
            return await super().list(prefix, **kwargs)  # type: ignore[arg-type]

    ram = Path("/dev/shm")
    counted: dict[str, list[tuple[str, str]]] = {}
    with tempfile.TemporaryDirectory(dir=ram if ram.is_dir() else None) as folder:
        settings = Settings(store_url=f"file://{folder}/store")
        store = Recording(open_store(settings.store_url, settings))
        agent = load_agent_app("benchmarks.trivial_app:agent_app")
        app = build_app(agent, settings, store=store)
        client = TestClient(app, base_url="http://127.0.0.1", client=("127.0.0.1", 50000))
        with client:
            for turn in ("fresh session", "continued session"):
                store.requests.clear()
                answer = client.post("/process", json={**BODY, "session_id": "bench-session"})
                assert answer.status_code == 200 and '"status":"completed"' in answer.text
                counted[turn] = [(op, short(key)) for op, key in store.requests]
            previous: dict[str, str] = {}
            for turn in ("Responses, fresh session", "Responses, previous_response_id"):
                store.requests.clear()
                body = {"model": "any", "input": "ping", **previous}
                answer = client.post(RESPONSES, json=body)
                assert answer.status_code == 200 and answer.json()["status"] == "completed"
                counted[turn] = [(op, short(key)) for op, key in store.requests]
                previous = {"previous_response_id": answer.json()["id"]}
    return counted


def short(key: str) -> str:
    """A store key with its long generated ids cut to their first 8 characters."""
    return re.sub(r"([0-9a-f-]{8})[0-9a-f-]{12,}", r"\1..", key)


def server_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    """The run with the median throughput."""
    return sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]


def watcher_costs(turns: int = 20000) -> tuple[float, float]:
    """(µs per turn of starting and cancelling the watcher, ms per lease check on tmpfs)."""
    import asyncio

    sys.path.insert(0, str(ROOT))
    from functions.runtime.services.lock import SessionLock
    from functions.runtime.storage import open_store

    async def watcher() -> None:
        await asyncio.sleep(0.5)

    ram = Path("/dev/shm")
    on_ram = ram if ram.is_dir() else None

    async def measure() -> tuple[float, float]:
        start = time.perf_counter()
        for _ in range(turns):
            task = asyncio.ensure_future(watcher())
            await asyncio.sleep(0)
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        per_turn = (time.perf_counter() - start) / turns * 1e6
        with tempfile.TemporaryDirectory(dir=on_ram) as folder:
            store = open_store(f"file://{folder}/store")
            lock = SessionLock(store, 30.0)
            lease = await lock.acquire("u", "s")
            start = time.perf_counter()
            for _ in range(1000):
                await lock.check(lease)
            check = (time.perf_counter() - start) / 1000 * 1e3
            await store.close()
        return per_turn, check

    return asyncio.run(measure())


if __name__ == "__main__":
    sys.exit(main())

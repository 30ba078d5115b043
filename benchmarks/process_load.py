"""Throughput and latency of ``POST /process`` with a trivial text agent.

Serves the query function (``functions.query.handler:app``, one uvicorn worker, state in a
temporary local folder) on 127.0.0.1 and drives it with wrk at concurrency 1, 10 and 50,
a few seconds each. Every request creates a new session, so each one takes a lease, writes
the session and appends the turn: this is the full path, not a hello-world.

Three stores: the default file:// backend on tmpfs, which is what the budget is judged on;
the same on this machine's disk, whose speed varies several-fold from minute to minute
here (a create-only put measured 0.07 to 0.8 ms), so it is shown, not judged; and memory://,
which is what the seed's in-memory services do.

Budget: >= 1,000 requests/s at c=10 on one worker, p99 <= 50 ms.
Run: .venv/bin/python benchmarks/process_load.py [--seconds 5]   (needs wrk: apt-get install wrk)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from support import free_port, publish

ROOT = Path(__file__).resolve().parents[1]
BODY = {"input": [{"role": "user", "content": [{"type": "text", "text": "ping"}]}]}
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
        "p50": parse_ms(pct["50"]),
        "p99": parse_ms(pct["99"]),
        "non2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "",
    }


def serve_and_load(
    store_url: str, seconds: int, env_extra: dict[str, str] | None = None
) -> dict[int, dict[str, float]]:
    """Start one uvicorn worker on ``store_url`` and drive it at c=1, 10 and 50."""
    port = free_port()
    env = {**os.environ, "AGENT_APP": "benchmarks.trivial_app:agent_app", "STORE_URL": store_url}
    env |= env_extra or {}
    headers: dict[str, str] = {}
    if env.get("AUTH_MODE") == "jwt":
        from local_emulator.tokens import mint_token

        headers["Authorization"] = f"Bearer {mint_token(JWT_SECRET, 'bench-user')}"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "functions.query.handler:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}/process"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                resp = httpx.post(url, json=BODY, headers=headers, timeout=5)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.1)
        assert '"status":"completed"' in resp.text, resp.text
        with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
            extra = "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in headers.items())
            script.write(LUA.format(body=json.dumps(BODY), extra=extra))
            script.flush()
            return {c: run_wrk(url, script.name, c, seconds) for c in (1, 10, 50)}
    finally:
        server.terminate()
        server.wait(timeout=10)


def verify_cost_us(rounds: int = 5000) -> float:
    """Microseconds one JWT verification takes in process (HS256, key cached): the part
    of the jwt line that is ours, free of the load generator's noise."""
    import asyncio

    from functions.runtime.auth.jwt import JwtVerifier
    from functions.runtime.settings import Settings
    from local_emulator.tokens import mint_token

    verifier = JwtVerifier(Settings(auth_mode="jwt", auth_jwt_secret=JWT_SECRET))
    token = mint_token(JWT_SECRET, "bench-user")

    async def run() -> float:
        start = time.perf_counter()
        for _ in range(rounds):
            await verifier.verify(token)
        return (time.perf_counter() - start) / rounds * 1e6

    return asyncio.run(run())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)
        return 2
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
        jwt_env = {"AUTH_MODE": "jwt", "AUTH_JWT_SECRET": JWT_SECRET}
        results["file:// on tmpfs, AUTH_MODE=jwt"] = serve_and_load(
            configs["file:// on tmpfs (budget)"], args.seconds, jwt_env
        )
    lines = [f"POST /process, trivial text agent, one uvicorn worker, {args.seconds} s per level"]
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
    with_jwt = results["file:// on tmpfs, AUTH_MODE=jwt"][10]
    added = with_jwt["p50"] - c10["p50"]
    jwt_ok = added <= 0.3
    ok = ok and jwt_ok
    lines.append(
        f"  JWT verification (cached key) adds {added:+.2f} ms p50 at c=10 "
        f"(budget <= 0.3 ms): {'PASS' if jwt_ok else 'FAIL'}; "
        f"in process one verification takes {verify_cost_us():.0f} us"
    )
    publish("process_load", "\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

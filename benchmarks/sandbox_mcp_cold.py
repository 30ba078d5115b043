"""What MCP costs the sandbox function's cold start: nothing until the first MCP request.

Each sample is a fresh interpreter (a new FaaS instance) importing ``functions.sandbox.handler``
and answering a Function URL event ``GET /health`` through ``lambda_handler``, from two
source trees, in alternating order so both meet the same load: this checkout, and
``--baseline`` (a git ref, default ``main``, exported with ``git archive``: the function
before this change). Both run on this venv, where ``mcp`` is installed: what differs is
only whether the code imports it. This checkout's processes then answer one MCP request
(``POST /v1/mcp?type=base&session_id=s``, a JSON-RPC ``ping``: no sandbox is made), which
pays the lazy import of the ``mcp`` package.

CPU time (user + system of the process) is judged, wall time shown: on this shared 2-core
machine wall time mostly measures the other work (the load average is printed).
Budget: cold start (import + first /health) of this checkout <= the baseline's + 0.03 s CPU,
and ``mcp`` not imported by it. The first MCP request's cost is reported, not judged.
Run: .venv/bin/python benchmarks/sandbox_mcp_cold.py [--runs 9] [--baseline main]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from support import publish

ROOT = Path(__file__).resolve().parents[1]
BUDGET_CPU_S = 0.03

PROBE = r"""
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
def cpu():
    t = os.times()
    return t.user + t.system
w0, c0 = time.perf_counter(), cpu()
from functions.sandbox import handler
answer = handler.lambda_handler(json.loads(sys.argv[2]), None)
assert answer["statusCode"] == 200, answer
cold = {"wall": time.perf_counter() - w0, "cpu": cpu() - c0}
loaded = any(m.split(".")[0] == "mcp" for m in sys.modules)
first = None
if sys.argv[3] != "-":
    w1, c1 = time.perf_counter(), cpu()
    answer = handler.lambda_handler(json.loads(sys.argv[3]), None)
    assert answer["statusCode"] == 200 and '"result"' in answer["body"], answer
    first = {"wall": time.perf_counter() - w1, "cpu": cpu() - c1}
print(json.dumps({"cold": cold, "mcp_at_start": loaded, "first_mcp": first}))
"""


def event(method: str, path: str, query: str = "", body: bytes = b"") -> dict:
    from local_emulator.function_url import build_event

    headers = [
        ("host", "127.0.0.1"),
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
    ]
    return build_event(method=method, path=path, raw_query=query, headers=headers, body=body)


def baseline_tree(ref: str, into: Path) -> Path:
    """``ref``'s ``functions`` package, exported (its own bytecode is written there)."""
    archive = subprocess.run(
        ["git", "archive", ref, "functions"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def sample(tree: Path, health: dict, mcp: dict | None, store: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYTHONPATH"))}
    env.update(STORE_URL=f"file://{store}", AUTH_MODE="none", LOG_FORMAT="text")
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            PROBE,
            str(tree),
            json.dumps(health),
            json.dumps(mcp) if mcp else "-",
        ],
        cwd=store.parent,
        env=env,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--baseline", default="main")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    health = event("GET", "/health")
    ping = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"}).encode()
    mcp = event("POST", "/v1/mcp", "type=base&session_id=s", ping)
    with tempfile.TemporaryDirectory() as tmp:
        base = baseline_tree(args.baseline, Path(tmp))
        store = Path(tmp) / "store"
        ours: list[dict] = []
        theirs: list[dict] = []
        for _ in range(2):  # unmeasured: both trees write their bytecode first
            sample(ROOT, health, None, store)
            sample(base, health, None, store)
        for n in range(args.runs):
            pair = [(ours, ROOT, mcp), (theirs, base, None)]
            for into, tree, extra in pair if n % 2 == 0 else reversed(pair):
                into.append(sample(tree, health, extra, store))

    def med(samples: list[dict], key: str, field: str) -> float:
        return statistics.median(s[key][field] for s in samples)

    cpu_ours, cpu_theirs = med(ours, "cold", "cpu"), med(theirs, "cold", "cpu")
    lazy = not any(s["mcp_at_start"] for s in ours)
    passed = cpu_ours <= cpu_theirs + BUDGET_CPU_S and lazy
    lines = [
        f"sandbox function cold start with MCP routes, median of {args.runs} fresh processes "
        f"each, alternating (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)",
        f"  import + first GET /health, {args.baseline} (before): "
        f"{cpu_theirs:.3f} s CPU, {med(theirs, 'cold', 'wall'):.3f} s wall",
        f"  import + first GET /health, this checkout:  "
        f"{cpu_ours:.3f} s CPU, {med(ours, 'cold', 'wall'):.3f} s wall",
        f"  difference {cpu_ours - cpu_theirs:+.3f} s CPU (budget <= +{BUDGET_CPU_S} s), "
        f"mcp imported at start: {'no' if lazy else 'YES'}: {'PASS' if passed else 'FAIL'}",
        f"  first MCP request (POST /v1/mcp ping; imports mcp): "
        f"{med(ours, 'first_mcp', 'cpu'):.3f} s CPU, {med(ours, 'first_mcp', 'wall'):.3f} s wall",
    ]
    publish("sandbox_mcp_cold", "\n".join(lines))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())

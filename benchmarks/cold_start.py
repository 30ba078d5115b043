"""Cold start of the query function: import time and peak RSS of its handler module.

Each sample is a fresh interpreter (as a new FaaS instance is) importing
``functions.query.handler`` — which builds the FastAPI app and loads the default agent app —
beside ``import fastapi`` measured the same way in the same run, as the floor.

Budget on this machine: median <= 0.35 s and <= 70 MiB.
Run: .venv/bin/python benchmarks/cold_start.py [--runs 7]
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
BUDGET_S, BUDGET_MIB = 0.35, 70

PROBE = """
import json, resource, time
t = time.perf_counter()
import {module}
elapsed = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"s": elapsed, "mib": peak}}))
"""


def sample(module: str, runs: int, env: dict[str, str]) -> tuple[float, float]:
    times, rss = [], []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", PROBE.format(module=module)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        data = json.loads(out.stdout.strip().splitlines()[-1])
        times.append(data["s"])
        rss.append(data["mib"])
    return statistics.median(times), statistics.median(rss)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "STORE_URL": f"file://{tmp}/store", "PYTHONDONTWRITEBYTECODE": "0"}
        env.pop("AGENT_APP", None)
        sample("functions.query.handler", 1, env)  # warm the bytecode cache, as a deploy would
        handler_s, handler_mib = sample("functions.query.handler", args.runs, env)
        fastapi_s, fastapi_mib = sample("fastapi", args.runs, env)
    ok = handler_s <= BUDGET_S and handler_mib <= BUDGET_MIB
    lines = [
        f"cold start, median of {args.runs} fresh processes (python {sys.version.split()[0]})",
        f"  import functions.query.handler  {handler_s:.3f} s  {handler_mib:.1f} MiB peak RSS",
        f"  import fastapi (floor)          {fastapi_s:.3f} s  {fastapi_mib:.1f} MiB peak RSS",
        f"  budget <= {BUDGET_S} s and <= {BUDGET_MIB} MiB: {'PASS' if ok else 'FAIL'}",
    ]
    publish("cold_start", "\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

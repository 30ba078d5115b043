"""Cold start of the query function: import time and peak RSS of its handler module.

Each sample is a fresh interpreter (as a new FaaS instance is) importing
``functions.query.handler`` — which builds the FastAPI app and loads the default agent app —
beside ``import fastapi`` measured the same way in the same run, as the floor.

Tracing off and on: off is no OTEL_* variable (the default), on sets
OTEL_EXPORTER_OTLP_ENDPOINT (nothing listens there: building the exporter connects to
nothing), so the difference is importing the OpenTelemetry SDK and the OTLP exporter and
setting them up. Off must cost nothing: its OpenTelemetry modules are exactly those
``import fastapi`` loads itself (FastAPI >= 0.142 imports the API for its own telemetry).
CPU time is shown beside wall time: on a machine shared with other work (the load average is
printed) wall time mostly measures the others, so tracing's budget is judged on CPU time,
which is what the import costs an instance that has its core to itself.

Budget on this machine: median <= 0.35 s and <= 70 MiB; tracing on <= +0.3 s (CPU).
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

from support import free_port, publish

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S, BUDGET_MIB = 0.35, 70

PROBE = """
import json, resource, sys, time
t, c = time.perf_counter(), time.process_time()
import {module}
elapsed, cpu = time.perf_counter() - t, time.process_time() - c
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
otel = sorted(m for m in sys.modules if m.split(".")[0] in ("opentelemetry", "google"))
found = {{"s": elapsed, "cpu": cpu, "mib": peak, "modules": len(sys.modules), "otel": otel}}
print(json.dumps(found))
"""
BUDGET_TRACING_S = 0.3


def probe(module: str, env: dict[str, str]) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def sample_all(module: str, runs: int, env: dict[str, str]) -> dict:
    """Medians of ``runs`` fresh processes: s, cpu, mib; the last run's module sets."""
    found = [probe(module, env) for _ in range(runs)]
    medians = {k: statistics.median(f[k] for f in found) for k in ("s", "cpu", "mib")}
    return {**medians, "modules": found[-1]["modules"], "otel": found[-1]["otel"]}


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
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env.update(STORE_URL=f"file://{tmp}/store", PYTHONDONTWRITEBYTECODE="0")
        env.pop("AGENT_APP", None)
        traced = {**env, "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{free_port()}"}
        for warm in (env, traced):  # warm the bytecode cache, as a deploy would
            sample("functions.query.handler", 1, warm)
        off = sample_all("functions.query.handler", args.runs, env)
        on = sample_all("functions.query.handler", args.runs, traced)
        floor = sample_all("fastapi", args.runs, env)
    handler_s, handler_mib = off["s"], off["mib"]
    ok = handler_s <= BUDGET_S and handler_mib <= BUDGET_MIB
    extra_s, extra_cpu = on["s"] - off["s"], on["cpu"] - off["cpu"]
    same_set = off["otel"] == floor["otel"]
    tracing_ok = extra_cpu <= BUDGET_TRACING_S and same_set

    def row(name: str, r: dict) -> str:
        return (
            f"  {name:<31} {r['s']:.3f} s (cpu {r['cpu']:.3f} s)  {r['mib']:.1f} MiB peak RSS"
            f"  {r['modules']} modules"
        )

    lines = [
        f"cold start, median of {args.runs} fresh processes (python {sys.version.split()[0]}, "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)",
        row("import functions.query.handler", off),
        row("  with tracing on", on),
        row("import fastapi (floor)", floor),
        f"  budget <= {BUDGET_S} s and <= {BUDGET_MIB} MiB: {'PASS' if ok else 'FAIL'}",
        f"  tracing off: {len(off['otel'])} opentelemetry/google modules, "
        + ("the same as import fastapi's own" if same_set else f"NOT fastapi's ({floor['otel']})"),
        f"  tracing on: +{extra_s:.3f} s (cpu +{extra_cpu:.3f} s), "
        f"+{on['modules'] - off['modules']} modules, +{on['mib'] - off['mib']:.1f} MiB; "
        f"budget <= +{BUDGET_TRACING_S} s CPU: {'PASS' if tracing_ok else 'FAIL'}",
    ]
    publish("cold_start", "\n".join(lines))
    return 0 if ok and tracing_ok else 1


if __name__ == "__main__":
    sys.exit(main())

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

Then an agentscope 2.x app (examples/agentscope_friday.py), in the same run, each sample a
fresh interpreter answering one question from the offline model's endpoint (served here on
127.0.0.1, the same for both):

* ours: ``import functions.query.handler`` with that app + its first ``lambda_handler``
  call, a Function URL event POST /process (state loaded from and saved to a file store);
* agentscope alone: the same imports from agentscope, the same ``Agent`` with the same
  tool and model, one ``reply_stream`` turn and its state dumped, no runtime at all;
* and ``import agentscope`` by itself, for scale.

Budget: ours - agentscope alone <= 0.15 s (AgentScope Runtime's overhead over agentscope 1.x
measured about 0.6 s here), judged on the processes' CPU time (user + system): on this
shared 2-core machine the wall-clock difference between the two moves by tenths of a second
from one run to the next with the other work on the cores, while CPU time stays within a
hundredth; a cold start is CPU-bound (imports), so CPU seconds are what it costs. Wall
times are printed too.
First, the three functions beside ``import fastapi``: each sample a fresh interpreter, the
four alternating so that a load that comes and goes weighs on all alike; medians of import
time and peak RSS as a ratio to ``import fastapi``'s. Budget: query <= 1.25x, state and sandbox
<= 1.2x, judged on CPU time and RSS (wall time on this shared machine mostly measures the
others' work, as above; it is printed too). Then, for each, the modules its import loads
beyond fastapi's own that none of its code runs in serving a first request (POST /process
for query, GET /health for state and sandbox, through ``lambda_handler`` as Lambda calls
it): what it could leave to be imported where first used. A module counts as used when a
function of it runs (a profile hook); one holding only classes or constants the request
reads is listed though it is used, so the list is what to look at, not a verdict.
Run: .venv/bin/python benchmarks/cold_start.py [--runs 7] [--ratios-only]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from support import free_port, publish

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S, BUDGET_MIB = 0.35, 70
BUDGET_AGENTSCOPE_OVERHEAD_S = 0.15
AGENTSCOPE_APP = "examples.agentscope_friday:agent_app"
QUESTION = "What is the capital of France?"

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

HANDLERS = {
    "query": "functions.query.handler",
    "state": "functions.state.handler",
    "sandbox": "functions.sandbox.handler",
}
BUDGET_RATIO = {"query": 1.25, "state": 1.2, "sandbox": 1.2}
FIRST_PATH = {"query": ("POST", "/process"), "state": ("GET", "/health")}

# imports the handler, then serves its first request with a profile hook noting every module
# one of whose functions runs; prints the modules imported at start that none ran in
UNUSED = """
import json, sys
floor = set(sys.modules)
import fastapi
floor = set(sys.modules)
import {module} as handler
started = set(sys.modules) - floor
ran = set()
def note(frame, event, arg):
    if event == "call":
        ran.add(frame.f_globals.get("__name__"))
sys.setprofile(note)
answer = handler.lambda_handler(json.loads(sys.argv[1]), None)
sys.setprofile(None)
assert answer["statusCode"] == 200, answer
print(json.dumps(sorted(started - ran)))
"""


def first_event(function: str) -> str:
    """The Function URL event of a function's first request, as JSON."""
    sys.path.insert(0, str(ROOT))
    from local_emulator.function_url import build_event

    method, path = FIRST_PATH.get(function, ("GET", "/health"))
    body = b""
    if method == "POST":
        body = json.dumps(
            {"input": [{"role": "user", "content": [{"type": "text", "text": QUESTION}]}]}
        ).encode()
    headers = [("content-type", "application/json"), ("host", "localhost")]
    event = build_event(method=method, path=path, raw_query="", headers=headers, body=body)
    return json.dumps(event)


def ratios(runs: int, env: dict[str, str]) -> tuple[list[str], bool]:
    """Each function's import time and peak RSS over ``import fastapi``'s, same run."""
    for module in HANDLERS.values():  # warm the bytecode cache, as a deploy would
        probe(module, env)
    found: dict[str, list[dict]] = {name: [] for name in (*HANDLERS, "fastapi")}
    for _ in range(runs):  # alternating, so that the others' load weighs on all alike
        found["fastapi"].append(probe("fastapi", env))
        for name, module in HANDLERS.items():
            found[name].append(probe(module, env))
    med = {
        name: {k: statistics.median(f[k] for f in rows) for k in ("s", "cpu", "mib")}
        for name, rows in found.items()
    }
    floor = med["fastapi"]
    lines = [
        f"each function's import beside import fastapi, medians of {runs} fresh processes each,"
        f" alternating (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)",
        f"  import fastapi (1.00x)      {floor['s']:.3f} s  cpu {floor['cpu']:.3f} s"
        f"  {floor['mib']:.1f} MiB  {found['fastapi'][-1]['modules']} modules",
    ]
    ok = True
    for name in HANDLERS:
        m, budget = med[name], BUDGET_RATIO[name]
        t, c, r = m["s"] / floor["s"], m["cpu"] / floor["cpu"], m["mib"] / floor["mib"]
        passed = c <= budget and r <= budget
        ok = ok and passed
        lines.append(
            f"  {name:<8} {t:.2f}x time ({m['s']:.3f} s, cpu {c:.2f}x)  {r:.2f}x RSS"
            f" ({m['mib']:.1f} MiB)  {found[name][-1]['modules']} modules;"
            f" budget <= {budget}x (CPU, RSS): {'PASS' if passed else 'FAIL'}"
        )
    for name, module in HANDLERS.items():
        out = subprocess.run(
            [sys.executable, "-c", UNUSED.format(module=module), first_event(name)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        unused = json.loads(out.stdout.strip().splitlines()[-1])
        method, path = FIRST_PATH.get(name, ("GET", "/health"))
        lines.append(
            f"  {name}: {len(unused)} modules imported at start, none of whose functions"
            f" {method} {path} runs:"
        )
        lines += [f"    {line}" for line in grouped(unused)]
    return lines, ok


def grouped(modules: list[str]) -> list[str]:
    """Others' modules by package with a count (pydantic.v1 apart from pydantic), ours by
    name, wrapped."""
    ours = [m for m in modules if m.split(".")[0] in ("functions", "examples")]
    packages: dict[str, int] = {}
    for m in modules:
        if m not in ours:
            parts = m.split(".")
            key = ".".join(parts[:2]) if parts[:2] == ["pydantic", "v1"] else parts[0]
            packages[key] = packages.get(key, 0) + 1
    others = ", ".join(f"{k} ({n})" if n > 1 else k for k, n in sorted(packages.items()))
    return textwrap.wrap(f"others': {others}", 96) + textwrap.wrap(
        "ours: " + ", ".join(m.removeprefix("functions.") for m in ours), 96
    )


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


# ours: the query function as Lambda starts it, its first request a POST /process
FIRST_REQUEST = """
import json, resource, sys, time
t = time.perf_counter()
import functions.query.handler as handler
answer = handler.lambda_handler(json.loads(sys.argv[1]), None)
elapsed = time.perf_counter() - t
assert answer["statusCode"] == 200 and '"status":"completed"' in answer["body"], answer
usage = resource.getrusage(resource.RUSAGE_SELF)
cpu = usage.ru_utime + usage.ru_stime
print(json.dumps({{"s": elapsed, "mib": usage.ru_maxrss / 1024, "cpu": cpu}}))
"""

# agentscope alone: what examples/agentscope_friday.py asks of agentscope, without us
FRAMEWORK_ONLY = """
import asyncio, json, os, resource, time
t = time.perf_counter()
from agentscope.agent import Agent, InjectionConfig
from agentscope.credential import OpenAICredential
from agentscope.message import Msg, TextBlock
from agentscope.model import OpenAIChatModel
from agentscope.permission import PermissionBehavior, PermissionDecision
from agentscope.state import AgentState
from agentscope.tool import FunctionTool, Toolkit


def run_ipython_cell(code: str, timeout: float | None = None) -> str:
    \"\"\"Run Python code in the sandbox's persistent interpreter; variables survive calls.\"\"\"
    return ""


async def turn() -> None:
    credential = OpenAICredential(api_key="offline", base_url=os.environ["MODEL_BASE_URL"])
    model = OpenAIChatModel(credential=credential, model="offline-demo", stream=True)
    tool = FunctionTool(
        run_ipython_cell,
        permission=PermissionDecision(behavior=PermissionBehavior.ALLOW, message="sandboxed"),
    )
    agent = Agent(
        name="Friday",
        system_prompt="You're a helpful assistant named Friday.",
        model=model,
        toolkit=Toolkit(tools=[tool]),
        state=None,
        injection_config=InjectionConfig(inject_runtime_state=False),
    )
    question = Msg(name="user", role="user", content=[TextBlock(text={question!r})])
    async for _ in agent.reply_stream(question, yield_final_msg=True):
        pass
    json.dumps(agent.state.model_dump(mode="json"))


asyncio.run(turn())
elapsed = time.perf_counter() - t
usage = resource.getrusage(resource.RUSAGE_SELF)
cpu = usage.ru_utime + usage.ru_stime
print(json.dumps({{"s": elapsed, "mib": usage.ru_maxrss / 1024, "cpu": cpu}}))
"""


def sample(
    module: str, runs: int, env: dict[str, str], probe: str = PROBE, *args: str
) -> tuple[float, float]:
    """Medians of (seconds, MiB peak RSS) over ``runs`` fresh processes."""
    figures = samples(module, runs, env, probe, *args)
    return statistics.median(f["s"] for f in figures), statistics.median(f["mib"] for f in figures)


def samples(
    module: str, runs: int, env: dict[str, str], probe: str = PROBE, *args: str
) -> list[dict[str, float]]:
    """What the probe printed in each of ``runs`` fresh processes."""
    figures = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", probe.format(module=module, question=QUESTION), *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        figures.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return figures


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--ratios-only", action="store_true", help="only the first part")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env.update(STORE_URL=f"file://{tmp}/store", PYTHONDONTWRITEBYTECODE="0")
        env.pop("AGENT_APP", None)
        env.pop("MODEL_BASE_URL", None)
        ratio_lines, ratios_ok = ratios(args.runs, env)
        if args.ratios_only:
            publish("cold_start_ratios", "\n".join(ratio_lines))
            return 0 if ratios_ok else 1
        traced = {**env, "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{free_port()}"}
        for warm in (env, traced):  # warm the bytecode cache, as a deploy would
            sample("functions.query.handler", 1, warm)
        off = sample_all("functions.query.handler", args.runs, env)
        on = sample_all("functions.query.handler", args.runs, traced)
        floor = sample_all("fastapi", args.runs, env)
        agentscope = agentscope_figures(args.runs, env, tmp)
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
        *ratio_lines,
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
    ours, alone, bare = agentscope
    overhead, cpu_overhead = ours[0] - alone[0], ours[2] - alone[2]
    as_ok = cpu_overhead <= BUDGET_AGENTSCOPE_OVERHEAD_S
    load = os.getloadavg()[0]
    lines += [
        f"agentscope 2.x app ({AGENTSCOPE_APP}), import + first request, same run,"
        f" interleaved (load average {load:.1f} on {os.cpu_count()} cores)",
        f"  ours: handler + POST /process   {ours[0]:.3f} s  {ours[2]:.3f} s CPU"
        f"  {ours[1]:.1f} MiB peak RSS",
        f"  agentscope alone, same turn     {alone[0]:.3f} s  {alone[2]:.3f} s CPU"
        f"  {alone[1]:.1f} MiB peak RSS",
        f"  import agentscope (bare)        {bare[0]:.3f} s  {bare[1]:.1f} MiB peak RSS",
        f"  overhead {cpu_overhead:+.3f} s CPU ({overhead:+.3f} s wall), budget <= "
        f"{BUDGET_AGENTSCOPE_OVERHEAD_S} s CPU: {'PASS' if as_ok else 'FAIL'}",
    ]
    publish("cold_start", "\n".join(lines))
    return 0 if ok and tracing_ok and as_ok and ratios_ok else 1


def agentscope_figures(
    runs: int, env: dict[str, str], tmp: str
) -> tuple[tuple[float, float, float], tuple[float, float, float], tuple[float, float]]:
    """(ours, agentscope alone, bare import) for the agentscope app, against one endpoint."""
    sys.path.insert(0, str(ROOT))
    from local_emulator.chat_completions import offline_model_app
    from local_emulator.function_url import build_event
    from tests.fixtures.servers import serve_app

    body = json.dumps(
        {"input": [{"role": "user", "content": [{"type": "text", "text": QUESTION}]}]}
    ).encode()
    event = build_event(
        method="POST",
        path="/process",
        raw_query="",
        headers=[("content-type", "application/json"), ("host", "localhost")],
        body=body,
    )
    with serve_app(offline_model_app()) as url:
        env = {
            **env,
            "AGENT_APP": AGENTSCOPE_APP,
            "MODEL_BASE_URL": f"{url}/v1",
            "MODEL_API_KEY": "offline",
            "STORE_URL": f"file://{tmp}/agentscope-store",
        }
        env.pop("SANDBOX_URL", None)
        warm = (env, FIRST_REQUEST, json.dumps(event))
        sample("functions.query.handler", 1, *warm)  # bytecode, as a deploy would
        sample("agentscope", 1, env, FRAMEWORK_ONLY)
        # interleaved, so that a load that comes and goes weighs on both alike
        ours, alone = [], []
        for _ in range(runs):
            ours += samples("functions.query.handler", 1, *warm)
            alone += samples("agentscope", 1, env, FRAMEWORK_ONLY)
        bare = sample("agentscope", runs, env)
    return medians(ours), medians(alone), bare


def medians(figures: list[dict[str, float]]) -> tuple[float, float, float]:
    """(seconds, MiB, CPU seconds): medians of each."""
    return tuple(statistics.median(f[k] for f in figures) for k in ("s", "mib", "cpu"))  # type: ignore[return-value]


if __name__ == "__main__":
    sys.exit(main())

"""Size of every packaged zip and cold start of each function from its unpacked artifact.

Builds every artifact (packaging/build.py, into a temporary folder) or reads the manifest of
an earlier build (--manifest), then:

* size: each zip, zipped and unzipped, against Lambda-friendly budgets: <= 30 MB zipped and
  <= 120 MB unzipped (Lambda allows 50/250; AgentScope Runtime's install is 540 MB);
* the query artifacts of the two agentscope examples (``make package AGENT_APP=...``: the
  framework in the zip, pruned, packaging/frameworks.py) against Lambda's own limits:
  <= 250 MB unzipped (layers included), init (import + first request) <= 10 s; their
  zipped size is shown against the 50 MB Lambda takes in a direct upload (above it, the zip
  must be deployed from S3);
* cold start of the artifacts this machine can run (AWS for this Python and CPU, and FC):
  the median of --runs fresh processes whose import path is the unpacked zip and the
  standard library only (``python -I -S``, the folder put on sys.path by hand):
  - aws: import of the handler module + the first ``lambda_handler`` call with a Function
    URL (payload 2.0) GET /health, timed inside the process;
  - fc: from starting ``bootstrap`` until its first GET /health answers 200 (interpreter
    start and uvicorn's included), timed from outside;
  also, for aws, the same unpacked folder without its precompiled bytecode and unable to
  write any (``-B``, as Lambda's read-only /var/task), to show what the .pyc files buy.
  Budgets: state and sandbox <= 0.5 s, query <= 0.7 s.

Run: .venv/bin/python benchmarks/package_report.py [--manifest dist/manifest.json] [--runs 7]
     [--no-agentscope]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from support import free_port, publish

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "packaging"))
import reprozip  # noqa: E402  (packaging/ is a folder of scripts, not a package)

BUDGET_ZIPPED_MB, BUDGET_UNZIPPED_MB = 30, 120
BUDGET_COLD_S = {"query": 0.7, "state": 0.5, "sandbox": 0.5}
# Lambda's limits, for a query zip that carries an agent framework
LAMBDA_UNZIPPED_MB, LAMBDA_DIRECT_ZIPPED_MB, LAMBDA_INIT_S = 250, 50, 10.0
AGENTSCOPE_APPS = {
    "agentscope 2.x": "examples.agentscope_friday:agent_app",
    "agentscope 1.x": "examples.seed_friday_v1:agent_app",
}

PROBE = r"""
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, sys.argv[1])
import importlib
handler = importlib.import_module(f"functions.{sys.argv[2]}.handler")
answer = handler.lambda_handler(json.loads(sys.argv[3]), None)
elapsed = time.perf_counter() - t0
assert answer["statusCode"] == 200, answer
assert not any("site-packages" in p for p in sys.path), sys.path
print(json.dumps({"s": elapsed}))
"""

HEALTH_EVENT = {
    "version": "2.0",
    "routeKey": "$default",
    "rawPath": "/health",
    "rawQueryString": "",
    "headers": {"host": "abc.lambda-url.us-east-1.on.aws", "user-agent": "package_report"},
    "requestContext": {
        "accountId": "anonymous",
        "apiId": "abc",
        "domainName": "abc.lambda-url.us-east-1.on.aws",
        "domainPrefix": "abc",
        "http": {
            "method": "GET",
            "path": "/health",
            "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1",
            "userAgent": "package_report",
        },
        "requestId": "package-report",
        "routeKey": "$default",
        "stage": "$default",
        "time": "24/Nov/2025:12:00:00 +0000",
        "timeEpoch": 1764000000000,
    },
    "isBase64Encoded": False,
}


def host() -> tuple[str, str]:
    machine = os.uname().machine
    arch = {"aarch64": "arm64", "amd64": "x86_64"}.get(machine, machine)
    return f"{sys.version_info.major}.{sys.version_info.minor}", arch


def clean_env(artifact: dict, store: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AGENT_APP"))}
    return env | artifact["environment"] | {"STORE_URL": f"file://{store}"}


def aws_cold(root: Path, artifact: dict, runs: int, store: Path, flags: tuple[str, ...]) -> float:
    samples = []
    for _ in range(runs):
        out = subprocess.run(
            [
                sys.executable,
                "-I",
                "-S",
                *flags,
                "-c",
                PROBE,
                str(root),
                artifact["function"],
                json.dumps(HEALTH_EVENT),
            ],
            cwd=store.parent,
            env=clean_env(artifact, store),
            capture_output=True,
            text=True,
            check=True,
        )
        samples.append(json.loads(out.stdout.strip().splitlines()[-1])["s"])
    return statistics.median(samples)


def fc_python() -> str:
    """FC's custom.debian12 runs /usr/bin/python3 (3.11); this machine's, if it is that."""
    if Path("/usr/bin/python3").exists():
        version = subprocess.run(
            ["/usr/bin/python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        if version == "3.11":
            return "/usr/bin/python3"
    return sys.executable


def health_ok(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/health")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def fc_cold(root: Path, artifact: dict, runs: int, store: Path) -> float:
    samples = []
    for _ in range(runs):
        port = free_port()
        env = clean_env(artifact, store) | {
            "FC_SERVER_PORT": str(port),
            "SERVE_HOST": "127.0.0.1",
            "FAAS_PYTHON": fc_python(),
        }
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [str(root / "bootstrap")],
            cwd=store.parent,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while not health_ok(port):
                if proc.poll() is not None:
                    raise RuntimeError(f"{artifact['zip']}: bootstrap exited {proc.returncode}")
                if time.perf_counter() - t0 > 30:
                    raise TimeoutError(f"{artifact['zip']}: no answer on /health in 30 s")
                time.sleep(0.002)
            samples.append(time.perf_counter() - t0)
        finally:
            proc.terminate()
            proc.wait(timeout=15)
    return statistics.median(samples)


def without_bytecode(root: Path, dest: Path) -> Path:
    shutil.copytree(root, dest, ignore=shutil.ignore_patterns("__pycache__"), symlinks=True)
    return dest


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def build(out: Path, *args: str) -> Path:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, str(ROOT / "packaging" / "build.py"), "--out", str(out), *args],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    print(f"built {out.name} in {time.perf_counter() - started:.1f} s", flush=True)
    return out / "manifest.json"


def framework_report(tmp: Path, runs: int) -> tuple[list[str], int]:
    """Sizes of each agentscope example's query zips, and cold start of those that run here."""
    lines, failures = [], 0
    python, arch = host()
    for name, app in AGENTSCOPE_APPS.items():
        manifest_path = build(
            tmp / f"dist-{name.split()[-1]}", "--functions", "query", "--app", app
        )
        artifacts = json.loads(manifest_path.read_text())["artifacts"]
        lines.append(
            f"query with {name} ({app}): Lambda's limits, <= {LAMBDA_UNZIPPED_MB} MB unzipped,"
            f" init <= {LAMBDA_INIT_S:.0f} s"
        )
        for a in artifacts:
            zipped, unzipped = a["size"] / 1e6, a["unzipped_size"] / 1e6
            ok = unzipped <= LAMBDA_UNZIPPED_MB
            failures += not ok
            upload = ""
            if a["target"] == "aws":
                upload = "direct" if zipped <= LAMBDA_DIRECT_ZIPPED_MB else "from S3"
                upload = f"({upload} upload)"
            lines.append(
                f"  {a['target']:<4} {a['runtime']:<16} {a['arch']:<7}"
                f" {zipped:6.2f} MB zipped {upload:<20} {unzipped:6.2f} MB unzipped  {verdict(ok)}"
            )
        for a in artifacts:
            if not (a["target"] == "aws" and (a["python"], a["arch"]) == (python, arch)):
                continue
            root = tmp / "unpacked" / name.split()[-1] / a["zip"].removesuffix(".zip")
            reprozip.extract(manifest_path.parent / a["zip"], root)
            store = tmp / "runs" / name.split()[-1] / "store"
            store.mkdir(parents=True)
            seconds = aws_cold(root, a, runs, store, ())
            ok = seconds <= LAMBDA_INIT_S
            failures += not ok
            lines.append(
                f"  cold start {a['runtime']} {a['arch']} lambda_handler (import + GET /health,"
                f" median of {runs}) {seconds:.3f} s  {verdict(ok)}"
            )
    return lines, failures


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--manifest", type=Path, help="an existing build's manifest.json")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument(
        "--no-agentscope", action="store_true", help="leave out the agentscope apps' zips"
    )
    args = parser.parse_args()
    failures = 0
    with tempfile.TemporaryDirectory(prefix="package-report-") as tmp_name:
        tmp = Path(tmp_name)
        if args.manifest:
            manifest_path = args.manifest.resolve()
        else:
            manifest_path = build(tmp / "dist")
        manifest = json.loads(manifest_path.read_text())
        artifacts = manifest["artifacts"]
        lines = [
            f"packaged artifacts of {manifest['project']} {manifest['version']}",
            f"size (budget <= {BUDGET_ZIPPED_MB} MB zipped, <= {BUDGET_UNZIPPED_MB} MB unzipped)",
        ]
        for a in artifacts:
            zipped, unzipped = a["size"] / 1e6, a["unzipped_size"] / 1e6
            ok = zipped <= BUDGET_ZIPPED_MB and unzipped <= BUDGET_UNZIPPED_MB
            failures += not ok
            lines.append(
                f"  {a['function']:<8} {a['target']:<4} {a['runtime']:<16} {a['arch']:<7}"
                f" {zipped:6.2f} MB zipped  {unzipped:6.2f} MB unzipped  {verdict(ok)}"
            )
        python, arch = host()
        runnable = [
            a
            for a in artifacts
            if (a["target"] == "aws" and (a["python"], a["arch"]) == (python, arch))
            or a["target"] == "fc"
        ]
        lines.append(
            f"cold start, median of {args.runs} fresh isolated processes (python -I -S, import"
            f" path = the unpacked zip + stdlib), import + first GET /health"
            f" (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
        )
        for a in runnable:
            root = tmp / "unpacked" / a["zip"].removesuffix(".zip")
            reprozip.extract(manifest_path.parent / a["zip"], root)
            store = tmp / "runs" / a["zip"].removesuffix(".zip") / "store"
            store.mkdir(parents=True)
            budget = BUDGET_COLD_S[a["function"]]
            label = f"  {a['function']:<8} {a['target']:<4} {a['runtime']:<16}"
            if a["target"] == "aws":
                seconds = aws_cold(root, a, args.runs, store, ())
                bare = without_bytecode(root, tmp / "bare" / a["zip"].removesuffix(".zip"))
                sources = aws_cold(bare, a, args.runs, store, ("-B",))
                extra = f"  (sources only, no .pyc: {sources:.3f} s)"
                how = "lambda_handler"
            else:
                seconds = fc_cold(root, a, args.runs, store)
                extra, how = "", "bootstrap -> HTTP"
            ok = seconds <= budget
            failures += not ok
            lines.append(
                f"{label} {how:<17} {seconds:.3f} s  budget <= {budget} s  {verdict(ok)}{extra}"
            )
        skipped = len(artifacts) - len(runnable)
        if skipped:
            lines.append(
                f"  ({skipped} artifacts are for another Python or CPU and cannot start here)"
            )
        if not args.no_agentscope:
            more, failed = framework_report(tmp, args.runs)
            lines += more
            failures += failed
    publish("package_report", "\n".join(lines))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

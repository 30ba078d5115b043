"""``python -m local_emulator.trace_check``: a turn's trace reaches the local trace viewer.

The documented check of ``make traces`` + ``make local TRACES=1`` (``make traces-check`` runs
it): it starts the viewer (Arize Phoenix from ``.venv-traces``, which ``make traces``
installs) on free loopback ports unless ``--viewer URL`` names a running one, runs the
emulator with every function pointed at it, has Friday (the offline demo model) run code in
a sandbox, and reads the viewer's REST API until that turn's trace holds the query
function's, the sandbox function's and the tool server's spans. ``--screenshot PATH`` saves
the viewer's page of the trace, taken with Debian's Chromium through Playwright.
Needs Docker for the sandbox; exits 1 when the trace does not arrive.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from local_emulator.serve import free_port

ROOT = Path(__file__).resolve().parents[1]
VIEWER_PYTHON = ROOT / ".venv-traces" / "bin" / "python"
# one span of each part of the turn, by its name
EXPECTED = {
    "query function": "POST /process",
    "the turn": "invoke_agent Friday",
    "model call": "chat offline-demo",
    "tool call": "execute_tool execute_python_code",
    "sandbox function": "POST /v1/sandboxes/{sandbox_id}/tools/{name}",
    "tool server": "execute_tool run_ipython_cell",
}


def wait_until(url: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args[0]} exited with {proc.returncode} before {url} answered")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, timeout=2).status_code < 500:
                return
        time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s")


@contextlib.contextmanager
def running(command: list[str], env: dict[str, str], ready: list[str], timeout: float):
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for url in ready:
            wait_until(url, proc, timeout)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def viewer(url: str | None, work: Path) -> Iterator[str]:
    if url:
        yield url.rstrip("/")
        return
    if not VIEWER_PYTHON.exists():
        raise SystemExit("no trace viewer: `make traces` installs it into .venv-traces")
    port = free_port()
    env = {
        **os.environ,
        "TRACES_PORT": str(port),
        "TRACES_GRPC_PORT": str(free_port()),
        "PHOENIX_WORKING_DIR": str(work / "phoenix"),
    }
    base = f"http://127.0.0.1:{port}"
    command = [str(VIEWER_PYTHON), str(ROOT / "local_emulator" / "trace_viewer.py")]
    with running(command, env, [f"{base}/v1/projects"], timeout=180):
        yield base


def turn_spans(base: str, session: str, timeout: float) -> list[dict]:
    """The spans of the turn of ``session``, once every expected one has arrived."""
    deadline = time.monotonic() + timeout
    found: list[dict] = []
    while time.monotonic() < deadline:
        spans = httpx.get(f"{base}/v1/projects/default/spans", params={"limit": 500}).json()
        spans = spans.get("data", [])
        turn = next(
            (
                s
                for s in spans
                if s["name"] == EXPECTED["the turn"]
                and s["attributes"].get("gen_ai.conversation.id") == session
            ),
            None,
        )
        if turn is not None:
            trace_id = turn["context"]["trace_id"]
            found = [s for s in spans if s["context"]["trace_id"] == trace_id]
            if set(EXPECTED.values()) <= {s["name"] for s in found}:
                return found
        time.sleep(0.5)
    names = sorted({s["name"] for s in found})
    raise SystemExit(f"the turn's trace did not arrive whole within {timeout:.0f} s: {names}")


def screenshot(base: str, trace_id: str, path: Path) -> None:
    from playwright.sync_api import sync_playwright

    project = httpx.get(f"{base}/v1/projects").json()["data"][0]["id"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"),
            args=["--no-sandbox"],  # root in a container has no user namespaces for it
        )
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 820})
            page.goto(f"{base}/projects/{project}/traces/{trace_id}", wait_until="networkidle")
            page.get_by_text(EXPECTED["the turn"]).first.wait_for(timeout=60_000)
            page.screenshot(path=str(path))
            page.get_by_text(EXPECTED["model call"]).first.click()
            page.get_by_text("gen_ai.usage.output_tokens").first.wait_for(timeout=30_000)
            page.screenshot(path=str(path))
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local_emulator.trace_check")
    parser.add_argument("--viewer", help="a running viewer's URL (default: start one)")
    parser.add_argument("--screenshot", type=Path, help="save the trace's page here (PNG)")
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args(argv)
    session = f"trace-check-{secrets.token_hex(4)}"
    with tempfile.TemporaryDirectory() as tmp, viewer(args.viewer, Path(tmp)) as base:
        ports = {name: str(free_port()) for name in ("QUERY_PORT", "STATE_PORT", "SANDBOX_PORT")}
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
            **ports,
            "STORE_URL": f"file://{tmp}/store",
            "MODEL_BASE_URL": "",
            "OTEL_EXPORTER_OTLP_ENDPOINT": base,
        }
        health = [f"http://127.0.0.1:{port}/health" for port in ports.values()]
        command = [sys.executable, "-m", "local_emulator"]
        with running(command, env, health, timeout=60):
            text = "Run this:\n```python\nprint(6 * 7)\n```"
            body = {
                "input": [{"role": "user", "content": [{"type": "text", "text": text}]}],
                "session_id": session,
                "stream": False,
            }
            answer = httpx.post(
                f"http://127.0.0.1:{ports['QUERY_PORT']}/process", json=body, timeout=120
            ).json()
            output = answer["output"][1]["content"][0]["data"]["output"]
            print(f"turn {answer['status']}: the sandbox printed {output!r}")
            spans = turn_spans(base, session, args.timeout)
            _remove_sandboxes(env["STORE_URL"])
        trace_id = spans[0]["context"]["trace_id"]
        print(f"trace {trace_id} in the viewer ({base}): {len(spans)} spans")
        for part, name in EXPECTED.items():
            print(f"  {part:<17} {name}")
        if args.screenshot:
            screenshot(base, trace_id, args.screenshot)
            print(f"screenshot: {args.screenshot}")
    print(json.dumps({"trace_id": trace_id, "spans": len(spans)}))
    return 0


def _remove_sandboxes(store_url: str) -> None:
    """The session's sandbox outlives the emulator by design; this check's need not."""
    with contextlib.suppress(Exception):
        import docker

        from functions.runtime.sandbox.launchers.docker import LABEL_OWNER, owner_id
        from functions.runtime.settings import Settings

        label = f"{LABEL_OWNER}={owner_id(Settings(store_url=store_url))}"
        for container in docker.from_env().containers.list(all=True, filters={"label": label}):
            container.remove(force=True)


if __name__ == "__main__":
    sys.exit(main())

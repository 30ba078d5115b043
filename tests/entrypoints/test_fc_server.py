"""The FC custom runtime's server: ``python -m functions.runtime.serve`` as FC starts it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx

from tests.fixtures.servers import ROOT, free_port, wait_http


def test_serves_on_fc_port_streams_sse_as_produced_and_logs_fc_request_ids(tmp_path):
    port = free_port()
    gate = tmp_path / "gate"
    env = {
        **os.environ,
        "FC_SERVER_PORT": str(port),
        "FC_FUNCTION_NAME": "query",
        "FC_REGION": "cn-hangzhou",
        "FC_INSTANCE_ID": "c-test",
        "SERVE_HOST": "127.0.0.1",
        "STORE_URL": f"file://{tmp_path / 'store'}",
        "AGENT_APP": "tests.apps:file_gated_app",
        "GATE_FILE": str(gate),
        "PYTHONUNBUFFERED": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "functions.runtime.serve", "functions.query.handler:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/health", proc)
        body = {"input": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}
        headers = {"x-fc-request-id": "1-fc-request-77"}
        seen: list[dict] = []
        with httpx.stream(
            "POST", f"http://127.0.0.1:{port}/process", json=body, headers=headers, timeout=30
        ) as response:
            assert response.status_code == 200
            lines = response.iter_lines()
            for line in lines:  # the first word arrives while the agent is still waiting
                if line.startswith("data: "):
                    seen.append(json.loads(line[6:]))
                    if seen[-1].get("delta") and seen[-1].get("text") == "waiting ":
                        break
            assert not gate.exists()
            gate.touch()
            seen += [json.loads(x[6:]) for x in lines if x.startswith("data: ")]
        assert seen[-1]["object"] == "response" and seen[-1]["status"] == "completed"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=15)
    # SIGTERM (what FC sends before it stops an instance) shuts the app down cleanly
    assert "Application shutdown complete" in out, out
    assert "[1-fc-request-77]" in out and "/process" in out

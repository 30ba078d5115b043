"""The ``mcp`` package is imported by the first MCP request, never at a function's cold start."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.fixtures.servers import ROOT

SERVE = """
import json, sys
from fastapi.testclient import TestClient
from functions.query.handler import app as query
from functions.sandbox.handler import app as sandbox
for app in (query, sandbox):
    with TestClient(app, base_url="http://127.0.0.1", client=("127.0.0.1", 50000)) as client:
        assert client.get("/health").status_code == 200
before = sorted(m for m in sys.modules if m.split(".")[0] in ("mcp", "mcp_types"))
with TestClient(sandbox, base_url="http://127.0.0.1", client=("127.0.0.1", 50000)) as client:
    answer = client.post("/v1/sandboxes/sbx-none/mcp", json={"jsonrpc": "2.0", "id": 1,
        "method": "tools/list"}, headers={"Accept": "application/json"})
    assert answer.status_code == 404, answer.text  # no such sandbox: refused before MCP
    answer = client.post("/v1/mcp?session_id=s&type=base", json={"jsonrpc": "2.0", "id": 1,
        "method": "ping"}, headers={"Accept": "application/json, text/event-stream"})
    assert answer.status_code == 200, answer.text
after = sorted(m for m in sys.modules if m.split(".")[0] == "mcp")
print(json.dumps([before, bool(after)]))
"""


def test_functions_start_and_serve_without_importing_mcp(tmp_path):
    env = {"STORE_URL": f"file://{tmp_path / 'store'}", "MODEL_BASE_URL": "", "PATH": ""}
    out = subprocess.run(
        [sys.executable, "-c", SERVE], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-3000:]
    before, used = json.loads(out.stdout.strip().splitlines()[-1])
    assert before == []  # neither function imported it to start or to serve
    assert used  # the MCP request did

"""With no exporter configured, tracing costs nothing: OpenTelemetry is not imported.

Checked in fresh interpreters: every function's handler is imported and serves requests
(a turn with a model call and a tool call included) without any OTEL_* variable. FastAPI
itself (>= 0.142) imports OpenTelemetry's API for its own, optional, telemetry, so the
measure is "nothing beyond what ``import fastapi`` loads": no SDK, no exporter, no
protobuf - the same import set whether or not this project could trace.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.fixtures.servers import ROOT

SERVE = """
import json, sys
import httpx
from functions.query.handler import app as query
from functions.state.handler import app as state
from functions.sandbox.handler import app as sandbox
from fastapi.testclient import TestClient

headers = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
with TestClient(query, base_url="http://127.0.0.1", client=("127.0.0.1", 50000)) as client:
    turn = {"input": [{"role": "user", "content": [{"type": "text",
            "text": "/tool get_current_time {}"}]}], "stream": False}
    answer = client.post("/process", json=turn, headers=headers).json()
    assert answer["output"][0]["type"] == "plugin_call", answer
for app in (state, sandbox):
    with TestClient(app, base_url="http://127.0.0.1", client=("127.0.0.1", 50000)) as client:
        assert client.get("/health", headers=headers).status_code == 200
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("opentelemetry", "google"))))
"""
BASELINE = """
import json, sys
import fastapi
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("opentelemetry", "google"))))
"""


def loaded(code: str, tmp_path) -> set[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(STORE_URL=f"file://{tmp_path / 'store'}", MODEL_BASE_URL="", LOG_FORMAT="json")
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_no_exporter_means_nothing_of_opentelemetry_beyond_fastapis_own_import(tmp_path):
    served = loaded(SERVE, tmp_path)
    baseline = loaded(BASELINE, tmp_path)
    assert served == baseline
    assert not {
        m
        for m in served
        if m.startswith(("opentelemetry.sdk", "opentelemetry.exporter", "opentelemetry.proto"))
        or m.startswith("google.protobuf")
    }

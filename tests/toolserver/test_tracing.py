"""The tool server's span of a tool run: in ``X-Toolserver-Span`` when the call is traced."""

from __future__ import annotations

import json
import time

TRACED = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
NOT_SAMPLED = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"


def test_a_traced_call_is_answered_with_the_runs_span(start_toolserver):
    server = start_toolserver(OTEL_SERVICE_NAME="agentscope-sandbox-base")
    with server.client() as http:
        before = time.time_ns()
        ok = http.post(
            "/tools/run_shell_command", json={"command": "echo hi"}, headers={"traceparent": TRACED}
        )
        failed = http.post(
            "/tools/run_shell_command", json={"command": "exit 3"}, headers={"traceparent": TRACED}
        )
        after = time.time_ns()
    assert ok.status_code == 200 and ok.json()["isError"] is False
    span = json.loads(ok.headers["x-toolserver-span"])
    assert span["name"] == "execute_tool run_shell_command"
    assert before <= span["start"] <= span["end"] <= after
    assert span["attributes"] == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "run_shell_command",
    }
    assert span["service"] == "agentscope-sandbox-base" and "error" not in span
    assert failed.json()["isError"] is True
    assert json.loads(failed.headers["x-toolserver-span"])["error"] == "tool_error"


def test_an_untraced_or_unsampled_call_gets_no_span(toolserver):
    with toolserver.client() as http:
        for headers in ({}, {"traceparent": NOT_SAMPLED}, {"traceparent": "garbage"}):
            resp = http.post("/tools/run_shell_command", json={"command": "true"}, headers=headers)
            assert resp.status_code == 200
            assert "x-toolserver-span" not in resp.headers

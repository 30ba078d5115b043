"""What ships traces and logs: the packaged zips, run as their platforms run them.

The zips must carry the OpenTelemetry SDK and its OTLP exporter (the functions' extras),
import them only when an exporter is configured, and export every span of a request
before the platform could freeze the instance: Lambda's ``lambda_handler`` (buffered, the
emulated Lambda runtime with the standard library and the zip only) and FC's ``bootstrap``.
"""

from __future__ import annotations

import json
import signal

import pytest

from tests.e2e.test_artifacts import MODES
from tests.e2e.test_emulator import emulator_env, say
from tests.fakes.otlp_receiver import OtlpReceiver
from tests.fixtures.servers import run_emulator

TURN = ["POST /process", "chat offline-demo", "chat offline-demo", "execute_tool get_current_time"]


@pytest.mark.parametrize("mode", ["aws-buffered", "fc"])
def test_the_packaged_query_function_traces_a_turn_and_logs_it_as_json(
    tmp_path, host_artifacts, mode
):
    with OtlpReceiver() as receiver:
        env = emulator_env(
            tmp_path,
            MODEL_BASE_URL="",
            LOG_FORMAT="json",
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
            OTEL_BSP_SCHEDULE_DELAY="600000",  # only the functions' own flushes send spans
        )
        url = f"http://127.0.0.1:{env['QUERY_PORT']}"
        args = ("--artifacts", str(host_artifacts), *MODES[mode])
        with run_emulator(env, args, timeout=120) as proc:
            final = say(url, "/tool get_current_time {}", session_id="packaged")
            spans = receiver.wait_for(
                lambda got: (
                    any(s.name == "invoke_agent Friday" for s in got)
                    and any(s.name == "POST /process" for s in got)
                )
            )
            proc.send_signal(signal.SIGINT)
            out, _ = proc.communicate(timeout=60)
    assert final["status"] == "completed"
    turn = next(s for s in spans if s.name == "invoke_agent Friday")
    trace = [s for s in spans if s.trace_id == turn.trace_id]
    assert sorted(s.name for s in trace if s is not turn) == sorted(TURN)
    assert {s.service for s in trace} == {"agentscope-query"}
    logged = [
        json.loads(line.split("] ", 1)[1])
        for line in out.splitlines()
        if line.startswith("[query] {")
    ]
    line = next(r for r in logged if r.get("route") == "/process")
    assert (line["status"], line["session"], line["tool_calls"]) == (200, "packaged", 1)
    assert line["trace_id"] == turn.trace_id and line["request_id"]

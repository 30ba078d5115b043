"""``LOG_FORMAT=json``: one JSON object per line, one line per request, no secrets, no contents.

The query function runs as FC runs it (``python -m functions.runtime.serve``, the platform's
request id in ``x-fc-request-id``), with JWT identity, a model behind an API key (the fake
OpenAI server) and tracing on; what it writes to stderr is read line by line.
"""

from __future__ import annotations

import json
import logging
import os
import sys

import httpx

from functions.runtime.logs import REQUEST_LOGGER, JsonFormatter
from local_emulator.tokens import mint_token
from tests.fakes.openai_server import FAKE_API_KEY, FakeOpenAIServer, text_reply, tool_calls_reply
from tests.fakes.otlp_receiver import OtlpReceiver
from tests.fixtures.servers import serve_process

SECRET = "log-tests-" + "s" * 40
TRACE = "5b8efff798038103d269b633813fc60c"
MESSAGE = "my passport number is X99-PINEAPPLE-4417"


def test_one_json_line_per_request_with_its_fields_and_no_secret_or_message(tmp_path):
    token = mint_token(SECRET, "alice")
    log_file = tmp_path / "stderr.log"
    with OtlpReceiver() as receiver, FakeOpenAIServer(api_key=FAKE_API_KEY) as model:
        model.push(
            tool_calls_reply([("call_1", "get_current_time", '{"timezone_name": "UTC"}')]),
            text_reply(f"You told me: {MESSAGE}"),
        )
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
            "LOG_FORMAT": "json",
            "AUTH_MODE": "jwt",
            "AUTH_JWT_SECRET": SECRET,
            "MODEL_BASE_URL": model.base_url,
            "MODEL_API_KEY": FAKE_API_KEY,
            "MODEL_NAME": "fake-model",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
            "STORE_URL": f"file://{tmp_path / 'store'}",
        }
        with serve_process(env, log_file) as url:
            body = {
                "input": [{"role": "user", "content": [{"type": "text", "text": MESSAGE}]}],
                "session_id": "s-logs",
                "stream": False,
            }
            answered = httpx.post(
                f"{url}/process",
                json=body,
                headers={
                    "Authorization": f"Bearer {token}",
                    "x-fc-request-id": "fc-req-1",
                    "traceparent": f"00-{TRACE}-00f067aa0ba902b7-01",
                },
                timeout=60,
            )
            assert answered.status_code == 200, answered.text
            assert MESSAGE in answered.text  # the model did see and say it
            refused = httpx.post(
                f"{url}/process",
                json=body,
                headers={"Authorization": f"Bearer {token}x", "x-fc-request-id": "fc-req-2"},
            )
            assert refused.status_code == 401
            receiver.wait_for(lambda got: any(s.name == "POST /process" for s in got))
    lines = [line for line in log_file.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    for record in records:
        assert {"time", "level", "logger", "message", "request_id", "trace_id"} <= set(record)
    text = "\n".join(lines)
    for secret in (token, FAKE_API_KEY, SECRET, "PINEAPPLE", "passport"):
        assert secret not in text

    requests = [r for r in records if r["logger"] == REQUEST_LOGGER]
    turn = next(r for r in requests if r["request_id"] == "fc-req-1")
    span = next(s for s in receiver.spans if s.name == "POST /process" and s.trace_id == TRACE)
    assert turn["trace_id"] == span.trace_id == TRACE
    assert turn["user"] == "alice" and turn["session"] == "s-logs"
    assert (turn["method"], turn["route"], turn["path"], turn["status"]) == (
        "POST",
        "/process",
        "/process",
        200,
    )
    assert turn["duration_ms"] > 0
    assert (turn["model_calls"], turn["tool_calls"]) == (2, 1)
    assert (turn["input_tokens"], turn["output_tokens"]) == (42 + 11, 19 + 7)
    denied = next(r for r in requests if r["request_id"] == "fc-req-2")
    assert denied["status"] == 401 and denied["user"] is None
    assert "tool_calls" not in denied  # no turn ran
    # one line per request: health probes, the turn, the refusal
    assert [r["request_id"] for r in requests if r["path"] == "/process"] == [
        "fc-req-1",
        "fc-req-2",
    ]
    assert not any(r["logger"] == "uvicorn.access" for r in records)


def test_the_json_formatter_keeps_a_records_fields_and_its_exception():
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "broke %s", ("here",), None)
    try:
        raise ValueError("why")
    except ValueError:
        record.exc_info = sys.exc_info()
    record.fields = {"route": "/v1/users/{user_id}/sessions/{session_id}", "status": 500}
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "broke here" and line["level"] == "ERROR"
    assert line["route"] == "/v1/users/{user_id}/sessions/{session_id}"
    assert "ValueError: why" in line["exception"]
    assert line["request_id"] is None and line["trace_id"] is None

"""One turn is one trace: the query function, the model, the sandbox function and the tool
server inside a real sandbox container, as ``make local TRACES=1`` runs them.

The emulator is a real process (all three functions, tracing configured by the standard
OTEL_* variables); the model is the fake OpenAI-compatible server, asked to call Friday's
``execute_python_code``; the sandbox is a Docker container of the base image; the spans
arrive, as protobuf, at an OTLP/HTTP receiver on 127.0.0.1.
"""

from __future__ import annotations

import json

import httpx

from tests.e2e.test_emulator import emulator_env
from tests.fakes.openai_server import FAKE_API_KEY, FakeOpenAIServer, text_reply, tool_calls_reply
from tests.fakes.otlp_receiver import OtlpReceiver, ReceivedSpan
from tests.fixtures.servers import run_emulator

CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"


def only(spans: list[ReceivedSpan], name: str, service: str) -> ReceivedSpan:
    found = [s for s in spans if s.name == name and s.service == service]
    assert len(found) == 1, (name, service, [(s.service, s.name) for s in spans])
    return found[0]


def within(child: ReceivedSpan, parent: ReceivedSpan) -> bool:
    return parent.start_ns <= child.start_ns <= child.end_ns <= parent.end_ns


def test_a_turn_with_a_model_call_and_a_sandbox_tool_call_is_one_trace(
    tmp_path, docker_client, sandbox_images_built
):
    code = json.dumps({"code": "print(6 * 7)"})
    with OtlpReceiver() as receiver, FakeOpenAIServer(api_key=FAKE_API_KEY) as model:
        model.push(
            tool_calls_reply([("call_42", "execute_python_code", code)]),
            text_reply("It printed 42."),
        )
        env = emulator_env(
            tmp_path,
            MODEL_BASE_URL=model.base_url,
            MODEL_API_KEY=FAKE_API_KEY,
            MODEL_NAME="fake-model",
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
            OTEL_BSP_SCHEDULE_DELAY="600000",  # only the functions' own flushes send spans
        )
        url = f"http://127.0.0.1:{env['QUERY_PORT']}"
        body = {
            "input": [{"role": "user", "content": [{"type": "text", "text": "What is 6 * 7?"}]}],
            "session_id": "traced",
            "stream": False,
        }
        with run_emulator(env, timeout=60):  # which removes the session's sandbox as it ends
            resp = httpx.post(
                f"{url}/process",
                json=body,
                headers={"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"},
                timeout=120,
            )
            assert resp.status_code == 200, resp.text
            spans = receiver.wait_for(
                lambda got: (
                    any(s.name == "POST /process" for s in got)
                    and any(s.service == "agentscope-sandbox-base" for s in got)
                ),
                timeout=60,
            )
    final = resp.json()
    assert final["output"][1]["content"][0]["data"]["output"] == "42\n"

    spans = [s for s in spans if s.trace_id == CALLER_TRACE]
    assert {s.service for s in spans} == {
        "agentscope-query",
        "agentscope-sandbox",
        "agentscope-sandbox-base",
    }
    root = only(spans, "POST /process", "agentscope-query")
    assert root.parent_span_id == CALLER_SPAN  # the caller's traceparent

    turn = only(spans, "invoke_agent Friday", "agentscope-query")
    assert turn.parent_span_id == root.span_id and within(turn, root)
    assert turn.attributes["gen_ai.conversation.id"] == "traced"

    chats = sorted((s for s in spans if s.name == "chat fake-model"), key=lambda s: s.start_ns)
    assert len(chats) == 2
    assert all(c.parent_span_id == turn.span_id and within(c, turn) for c in chats)
    assert chats[0].attributes["gen_ai.response.finish_reasons"] == ["tool_calls"]
    assert [r.headers["traceparent"].split("-")[2] for r in model.requests] == [
        c.span_id for c in chats
    ]

    tool = only(spans, "execute_tool execute_python_code", "agentscope-query")
    assert tool.parent_span_id == turn.span_id and within(tool, turn)
    assert tool.attributes["gen_ai.tool.call.id"] == "call_42"

    # the sandbox function: the sandbox is made, then the tool is called, both for the tool
    sandbox_spans = [s for s in spans if s.service == "agentscope-sandbox"]
    assert {s.name for s in sandbox_spans} == {
        "POST /v1/sandboxes",
        "POST /v1/sandboxes/{sandbox_id}/tools/{name}",
    }
    assert all(s.parent_span_id == tool.span_id and within(s, tool) for s in sandbox_spans)
    call = only(spans, "POST /v1/sandboxes/{sandbox_id}/tools/{name}", "agentscope-sandbox")

    # the tool server's own span of the run, exported by the sandbox function for it
    run = only(spans, "execute_tool run_ipython_cell", "agentscope-sandbox-base")
    assert run.kind == "server" and run.parent_span_id == call.span_id and within(run, call)
    assert run.attributes["gen_ai.tool.name"] == "run_ipython_cell"
    assert run.attributes["agentscope.sandbox.id"]

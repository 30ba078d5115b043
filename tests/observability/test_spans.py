"""Spans of one function, in process, exported to a real OTLP/HTTP receiver on 127.0.0.1.

Each test points a function at its own receiver (the exporter is per endpoint) and the
receiver decodes the protobuf payloads the SDK's OTLP exporter sends.
"""

from __future__ import annotations

import base64
import copy
import json
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from functions.query.app import create_app as query_app
from functions.runtime import tracing
from functions.runtime.entrypoints import lambda_handler_for
from functions.runtime.settings import Settings
from local_emulator.tokens import mint_token
from tests.fakes.openai_server import (
    FAKE_API_KEY,
    FakeOpenAIServer,
    text_reply,
    tool_calls_reply,
)
from tests.fakes.otlp_receiver import OtlpReceiver, ReceivedSpan
from tests.fixtures.servers import serve_app

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"
EVENTS = Path(__file__).resolve().parents[1] / "fixtures" / "events"


@pytest.fixture
def receiver(monkeypatch) -> Iterator[OtlpReceiver]:
    """A receiver, and a batch processor that would wait 10 minutes to send anything on its
    own: what arrives, arrived by our flushes."""
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "600000")
    with OtlpReceiver() as found:
        yield found
    tracing.shutdown()


@pytest.fixture
def model(monkeypatch) -> Iterator[FakeOpenAIServer]:
    """Friday's model (it reads the process's settings): the fake OpenAI server."""
    from functions.runtime.settings import get_settings

    with FakeOpenAIServer(api_key=FAKE_API_KEY) as server:
        monkeypatch.setenv("MODEL_BASE_URL", server.base_url)
        monkeypatch.setenv("MODEL_API_KEY", FAKE_API_KEY)
        monkeypatch.setenv("MODEL_NAME", "fake-model")
        get_settings.cache_clear()
        yield server
    get_settings.cache_clear()


def settings_for(receiver: OtlpReceiver, tmp_path: Path, **more: object) -> Settings:
    return Settings(
        store_url=f"file://{tmp_path / 'store'}",
        otel_exporter_otlp_endpoint=receiver.url,
        **more,  # type: ignore[arg-type]
    )


def ask(url: str, text: str, **headers: str) -> dict:
    body = {"input": [{"role": "user", "content": [{"type": "text", "text": text}]}]}
    resp = httpx.post(f"{url}/process", json={**body, "stream": False}, headers=headers, timeout=60)
    assert resp.status_code == 200, resp.text
    return resp.json()


def one(spans: list[ReceivedSpan], name: str) -> ReceivedSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, f"{name}: {[s.name for s in spans]}"
    return found[0]


def test_a_turn_with_a_model_call_and_a_tool_call_under_the_callers_trace(
    receiver, model, tmp_path
):
    """The caller's traceparent is the root's parent; GenAI names and attributes; the model
    endpoint receives the chat span's traceparent; contents stay off by default."""
    model.push(
        tool_calls_reply([("call_7", "get_current_time", '{"timezone_name": "UTC"}')]),
        text_reply("It is noon."),
    )
    settings = settings_for(receiver, tmp_path)
    with serve_app(query_app(settings)) as url:
        final = ask(url, "What time is it? secret-word-7781", traceparent=TRACEPARENT)
        spans = receiver.wait_for(
            lambda got: (
                sum(s.name == "chat fake-model" for s in got) == 2
                and any(s.kind == "server" for s in got)
            )
        )
    spans = [s for s in spans if s.trace_id == CALLER_TRACE]
    server = one(spans, "POST /process")
    assert server.kind == "server" and server.parent_span_id == CALLER_SPAN
    assert server.service == "agentscope-query"
    assert server.attributes["http.route"] == "/process"
    assert server.attributes["http.response.status_code"] == 200

    turn = one(spans, "invoke_agent Friday")
    assert turn.parent_span_id == server.span_id
    assert turn.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert turn.attributes["gen_ai.agent.name"] == "Friday"
    assert turn.attributes["gen_ai.conversation.id"] == final["session_id"]
    assert turn.attributes["gen_ai.usage.input_tokens"] == 42 + 11
    assert turn.attributes["gen_ai.usage.output_tokens"] == 19 + 7

    chats = sorted((s for s in spans if s.name == "chat fake-model"), key=lambda s: s.start_ns)
    for chat in chats:
        assert chat.kind == "client" and chat.parent_span_id == turn.span_id
        assert chat.attributes["gen_ai.operation.name"] == "chat"
        assert chat.attributes["gen_ai.provider.name"] == "openai"
        assert chat.attributes["gen_ai.request.model"] == "fake-model"
        assert chat.attributes["gen_ai.response.model"] == "fake-model"
        assert chat.attributes["gen_ai.response.id"] == "chatcmpl-offline"  # the fake's ids
        assert chat.attributes["server.address"] == "127.0.0.1"
        assert chat.attributes["gen_ai.response.time_to_first_chunk"] > 0
    assert chats[0].attributes["gen_ai.response.finish_reasons"] == ["tool_calls"]
    assert chats[0].attributes["gen_ai.usage.input_tokens"] == 42
    assert chats[0].attributes["gen_ai.usage.output_tokens"] == 19
    assert chats[1].attributes["gen_ai.response.finish_reasons"] == ["stop"]

    tool = one(spans, "execute_tool get_current_time")
    assert tool.parent_span_id == turn.span_id
    assert tool.attributes["gen_ai.operation.name"] == "execute_tool"
    assert tool.attributes["gen_ai.tool.name"] == "get_current_time"
    assert tool.attributes["gen_ai.tool.call.id"] == "call_7"
    assert chats[0].end_ns <= tool.start_ns <= tool.end_ns <= chats[1].start_ns

    # each model request carried its own chat span as the parent
    sent = [r.headers["traceparent"] for r in model.requests]
    assert sent == [f"00-{CALLER_TRACE}-{chat.span_id}-01" for chat in chats]
    # no contents without OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT
    for span in spans:
        assert "secret-word-7781" not in json.dumps(span.attributes)
        assert not {
            "gen_ai.input.messages",
            "gen_ai.output.messages",
            "gen_ai.tool.call.arguments",
            "gen_ai.tool.call.result",
        } & set(span.attributes)


def test_content_capture_puts_messages_arguments_and_results_on_the_spans(
    receiver, model, tmp_path
):
    model.push(
        tool_calls_reply([("call_1", "get_current_time", '{"timezone_name": "UTC"}')]),
        text_reply("It is noon."),
    )
    settings = settings_for(
        receiver, tmp_path, otel_instrumentation_genai_capture_message_content="true"
    )
    with serve_app(query_app(settings)) as url:
        ask(url, "What time is it?")
        spans = receiver.wait_for(lambda got: any(s.name == "POST /process" for s in got))
    chats = sorted((s for s in spans if s.name == "chat fake-model"), key=lambda s: s.start_ns)
    first_input = json.loads(chats[0].attributes["gen_ai.input.messages"])
    assert first_input[-1] == {
        "role": "user",
        "parts": [{"type": "text", "content": "What time is it?"}],
    }
    first_output = json.loads(chats[0].attributes["gen_ai.output.messages"])
    assert first_output[0]["parts"][0]["type"] == "tool_call"
    assert first_output[0]["finish_reason"] == "tool_calls"
    second_output = json.loads(chats[1].attributes["gen_ai.output.messages"])
    assert second_output[0]["parts"] == [{"type": "text", "content": "It is noon."}]
    tool = one(spans, "execute_tool get_current_time")
    assert json.loads(tool.attributes["gen_ai.tool.call.arguments"]) == {"timezone_name": "UTC"}
    assert tool.attributes["gen_ai.tool.call.result"].endswith("+00:00")
    turn = one(spans, "invoke_agent Friday")
    assert "What time is it?" in turn.attributes["gen_ai.input.messages"]
    assert "It is noon." in turn.attributes["gen_ai.output.messages"]


def test_a_failed_model_call_marks_its_span_and_the_turn(receiver, model, tmp_path):
    from tests.fakes.openai_server import error_reply

    model.push(error_reply(400, "The model does not exist", code="model_not_found"))
    settings = settings_for(receiver, tmp_path)
    with serve_app(query_app(settings)) as url:
        final = ask(url, "hello")
        spans = receiver.wait_for(lambda got: any(s.name == "POST /process" for s in got))
    assert final["status"] == "failed"
    chat = one(spans, "chat fake-model")
    assert chat.status == 2 and chat.attributes["error.type"] == "model_bad_request"
    turn = one(spans, "invoke_agent Friday")
    assert turn.status == 2 and turn.attributes["error.type"] == "model_bad_request"


def test_under_lambda_handler_every_span_is_exported_before_it_returns(receiver, tmp_path):
    """No waiting: the receiver holds the invocation's spans the moment the handler returns
    (the batch processor alone would send them seconds later, or never on a frozen
    instance). The AWS X-Ray trace of the invocation is linked to the server span."""
    secret = "observability-tests-" + "k" * 32
    settings = settings_for(receiver, tmp_path, auth_mode="jwt", auth_jwt_secret=secret)
    handler = lambda_handler_for(query_app(settings))
    event = json.loads((EVENTS / "function_url_post_base64.json").read_text())
    body = {"input": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}
    event["body"] = base64.b64encode(json.dumps({**body, "stream": False}).encode()).decode()
    event["headers"].update(
        {
            "content-type": "application/json",
            "authorization": f"Bearer {mint_token(secret, 'alice')}",
            "traceparent": TRACEPARENT,
            "x-amzn-trace-id": "Root=1-5759e988-bd862e3fe1be46a994272793;"
            "Parent=53995c3f42cd8ad8;Sampled=1",
        }
    )
    context = SimpleNamespace(
        aws_request_id="req-1", function_name="query", get_remaining_time_in_millis=lambda: 30_000
    )
    for attempt in range(2):  # the first invocation also starts the app
        before = len(receiver.spans)
        answered = handler(copy.deepcopy(event), context)
        assert answered["statusCode"] == 200, answered
        exported = receiver.spans[before:]  # read at once: nothing may still be on its way
        names = sorted(s.name for s in exported)
        assert names == ["POST /process", "chat offline-demo", "invoke_agent Friday"], attempt
        assert {s.trace_id for s in exported} == {CALLER_TRACE}
    server = one(exported, "POST /process")
    assert server.links == [("5759e988bd862e3fe1be46a994272793", "53995c3f42cd8ad8")]
    assert server.attributes["aws.xray.trace_id"] == "1-5759e988-bd862e3fe1be46a994272793"


def test_a_served_function_flushes_once_idle(receiver, tmp_path):
    """FC / the Lambda Web Adapter: the response goes first, then the instance, idle, sends
    its spans in the background (the batch processor's own schedule is 10 minutes here)."""
    settings = settings_for(receiver, tmp_path, agent_app="tests.apps:echo_app")
    with serve_app(query_app(settings)) as url:
        ask(url, "hi", traceparent=TRACEPARENT)
        spans = receiver.wait_for(lambda got: any(s.name == "POST /process" for s in got))
    assert sorted(s.name for s in spans) == ["POST /process", "invoke_agent echo"]


def test_a_tool_servers_span_header_is_read_as_untrusted(receiver, tmp_path):
    """Times are clamped into the call's window, unknown attributes dropped, a bad service
    name replaced, and a span of a call that is not sampled is not made."""
    from opentelemetry import trace

    settings = settings_for(receiver, tmp_path)
    tracer = tracing.setup(settings, "sandbox")
    assert tracer is not None
    forged = {
        "name": "execute_tool run_shell_command",
        "start": 1,  # long before the call
        "end": 2**62,  # long after it
        "service": "bad name with spaces",
        "attributes": {"gen_ai.tool.name": "run_shell_command", "user.secret": "x"},
        "error": "tool_error",
    }
    with tracer.tracer.start_as_current_span("POST /v1/sandboxes/{sandbox_id}/tools/{name}"):
        sent = time.time_ns()
        received = sent + 5_000_000
        tracer.adopt_remote_span(
            json.dumps(forged), sent, received, "agentscope-sandbox-base", {"agentscope.x": 1}
        )
        parent = trace.get_current_span().get_span_context()
    tracing.force_flush()
    adopted = one(receiver.spans, "execute_tool run_shell_command")
    assert adopted.parent_span_id == format(parent.span_id, "016x")
    assert adopted.service == "agentscope-sandbox-base"
    assert (adopted.start_ns, adopted.end_ns) == (sent, received)
    assert adopted.attributes == {
        "gen_ai.tool.name": "run_shell_command",
        "agentscope.x": 1,
        "error.type": "tool_error",
    }
    assert adopted.status == 2
    # no span when the call was not traced, or the header is not a JSON object
    before = len(receiver.spans)
    tracer.adopt_remote_span(json.dumps(forged), sent, received, "agentscope-sandbox-base")
    with tracer.tracer.start_as_current_span("parent"):
        tracer.adopt_remote_span("[1, 2]", sent, received, "agentscope-sandbox-base")
        tracer.adopt_remote_span("not json", sent, received, "agentscope-sandbox-base")
    tracing.force_flush()
    assert [s.name for s in receiver.spans[before:]] == ["parent"]

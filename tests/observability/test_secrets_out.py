"""Secrets in errors stay out of what leaves: exported spans and the answers' error texts.

An exception's text may quote a model's API key (a provider's 401 does) or name the URL a
request went to, ``?api_key=`` and ``user:password@`` included (httpx's errors do). Spans
of an agent framework (agentscope's ``TracingMiddleware``, through the process's global
tracer provider, which is the query function's) record such exceptions; answers carry an
agent's or a tool's failure as text. Real servers: the query function on uvicorn, the fake
OpenAI-compatible model, the OTLP/HTTP receiver.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from functions.query.app import create_app as query_app
from functions.runtime import tracing
from functions.runtime.app import AgentApp
from functions.runtime.server import build_app
from functions.runtime.settings import Settings, get_settings
from functions.runtime.tools import Toolkit
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.otlp_receiver import OtlpReceiver
from tests.fixtures.servers import serve_app, serve_process

WRONG_KEY = "sk-proj-rotatedKEY0123456789abcdefXYZ"
QUERY_SECRET = "qs-secret-4711"
PASSWORD = "pw-secret-0815"


@pytest.fixture
def receiver(monkeypatch) -> Iterator[OtlpReceiver]:
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "600000")  # only our flushes send
    with OtlpReceiver() as found:
        yield found
    tracing.shutdown()


def ask(url: str) -> dict:
    body = {"input": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}
    resp = httpx.post(f"{url}/process", json={**body, "stream": False}, timeout=60)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _agentscope_traced_app() -> AgentApp:
    """agentscope 2.x's agent with agentscope's own TracingMiddleware on the model at
    MODEL_BASE_URL, sent MODEL_API_KEY."""
    from agentscope.agent import Agent, InjectionConfig
    from agentscope.credential import OpenAICredential
    from agentscope.middleware import TracingMiddleware
    from agentscope.model import OpenAIChatModel
    from agentscope.tool import Toolkit as AgentscopeToolkit

    from functions.runtime.adapters.agentscope import reply_inputs

    app = AgentApp(app_name="Traced")

    @app.query(framework="agentscope")
    async def reply(self: AgentApp, msgs: list, request: Any, **kwargs: Any):
        s = get_settings()
        assert s.model_api_key is not None and s.model_base_url
        credential = OpenAICredential(
            api_key=s.model_api_key.get_secret_value(), base_url=s.model_base_url
        )
        agent = Agent(
            name="Traced",
            system_prompt="You are terse.",
            model=OpenAIChatModel(credential=credential, model=s.model_name, stream=True),
            toolkit=AgentscopeToolkit(tools=[]),
            injection_config=InjectionConfig(inject_runtime_state=False),
            middlewares=[TracingMiddleware()],
        )
        async for item in agent.reply_stream(reply_inputs(agent, msgs), yield_final_msg=True):
            yield item

    return app


agentscope_traced_app = _agentscope_traced_app()


def traced_turn(
    receiver: OtlpReceiver, monkeypatch: Any, tmp_path: Any, key: str, model_key: str, **more: Any
) -> tuple[dict, list, FakeOpenAIServer]:
    """One turn of the agentscope-traced app against a fake model that takes ``model_key``,
    sent ``key``: the final response, the spans exported once the server span and a
    model span are in, and the model."""
    with FakeOpenAIServer(api_key=model_key) as model:
        monkeypatch.setenv("MODEL_BASE_URL", model.base_url)
        monkeypatch.setenv("MODEL_API_KEY", key)
        monkeypatch.setenv("MODEL_NAME", "fake-model")
        get_settings.cache_clear()
        try:
            settings = Settings(
                store_url=f"file://{tmp_path / 'store'}",
                otel_exporter_otlp_endpoint=receiver.url,
                agent_app=f"{__name__}:agentscope_traced_app",
                **more,
            )
            with serve_app(query_app(settings)) as url:
                final = ask(url)
                spans = receiver.wait_for(
                    lambda got: (
                        any(s.kind == "server" for s in got)
                        and any(s.name.startswith("chat") for s in got)
                    )
                )
        finally:
            get_settings.cache_clear()
    return final, spans, model


def test_an_agent_frameworks_exception_goes_out_without_the_key_its_text_quotes(
    receiver, monkeypatch, tmp_path
):
    """The model answers 401 quoting the key it was sent; agentscope records the exception
    on its spans (message, traceback, status description). What is exported names the
    exception's type and holds the key nowhere."""
    final, spans, model = traced_turn(
        receiver, monkeypatch, tmp_path, WRONG_KEY, "sk-the-current-key-0000000000000"
    )
    assert final["status"] == "failed" and final["error"]["code"] == "model_auth_error"
    assert model.requests  # the key did reach the model, which quoted it back
    recorded = [s for s in spans if any(name == "exception" for name, _ in s.events)]
    assert recorded, [s.name for s in spans]
    for span in recorded:
        for _, attributes in span.events:
            assert attributes["exception.type"].endswith("AuthenticationError")
            assert "exception.message" not in attributes
            assert "exception.stacktrace" not in attributes
        assert span.status == 2 and span.status_message == ""
    for payload in receiver.payloads:
        assert WRONG_KEY.encode() not in payload
        assert b"rotatedKEY" not in payload


CONTENT = {"gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.tool.call.result"}


@pytest.mark.parametrize("capture", ["", "true"], ids=["capture off", "capture on"])
def test_an_agent_frameworks_prompts_go_out_only_with_content_capture(
    receiver, monkeypatch, tmp_path, capture
):
    """agentscope's spans hold the prompt and the completion whatever the setting says;
    what is exported holds them only with OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT."""
    key = "sk-the-current-key-0000000000000"
    final, spans, _ = traced_turn(
        receiver,
        monkeypatch,
        tmp_path,
        key,
        key,
        otel_instrumentation_genai_capture_message_content=capture,
    )
    assert final["status"] == "completed"
    chats = [s for s in spans if s.name.startswith("chat")]
    held = {name for s in spans for name in s.attributes if name in CONTENT}
    if capture:
        assert "gen_ai.input.messages" in held and "gen_ai.output.messages" in held
    else:
        assert not {n for s in spans for n in s.attributes if n in CONTENT}
        assert all(s.attributes.get("gen_ai.request.model") == "fake-model" for s in chats)


def _leaky_url(receiver: OtlpReceiver) -> str:
    """A URL (the receiver's, which refuses a GET) with a password and a key in its query."""
    host = receiver.url.removeprefix("http://")
    return f"http://svc:{PASSWORD}@{host}/v1/traces?city=Paris&api_key={QUERY_SECRET}"


async def _fetch(url: str) -> str:
    async with httpx.AsyncClient() as http:
        answer = await http.get(url, timeout=10)
        answer.raise_for_status()  # 405: HTTPStatusError names the URL, query and all
    return answer.text


def _failing_app(url: str) -> AgentApp:
    app = AgentApp(app_name="Weather")

    @app.query(framework="text")
    async def reply(self: AgentApp, msgs: list, request: Any, **kwargs: Any):
        yield await _fetch(url)

    return app


async def _fetch_from_env(self: AgentApp, msgs: list, request: Any, **kwargs: Any):
    yield await _fetch(os.environ["LEAKY_URL"])


logged_app = AgentApp(app_name="Logged")
logged_app.query(framework="text")(_fetch_from_env)


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_an_agents_error_is_logged_without_the_credentials_of_the_url_it_names(
    receiver, tmp_path, log_format
):
    """The function as FC serves it, its log on stderr: the failure's line and its
    traceback name the URL without its password or query values."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
        "LOG_FORMAT": log_format,
        "AGENT_APP": f"{__name__}:logged_app",
        "LEAKY_URL": _leaky_url(receiver),
        "STORE_URL": f"file://{tmp_path / 'store'}",
    }
    log_file = tmp_path / "stderr.log"
    with serve_process(env, log_file) as url:
        assert ask(url)["status"] == "failed"
    written = log_file.read_text()
    assert "query failed: Client error '405 Method Not Allowed'" in written
    assert "HTTPStatusError" in written  # the traceback is there
    assert "/v1/traces?city=~&api_key=~" in written
    assert QUERY_SECRET not in written and PASSWORD not in written


def test_an_agents_error_answers_without_the_credentials_of_the_url_it_names(receiver, tmp_path):
    """An agent fails on an HTTP call: the failed response says what failed and where, but
    not the URL's password or query values."""
    settings = Settings(store_url=f"file://{tmp_path / 'store'}")
    app = build_app(_failing_app(_leaky_url(receiver)), settings)
    with serve_app(app) as url:
        final = ask(url)
    assert final["status"] == "failed", final
    message = final["error"]["message"]
    assert message.startswith("HTTPStatusError: Client error '405 Method Not Allowed'")
    assert "/v1/traces?city=~&api_key=~" in message and "svc" not in message
    assert QUERY_SECRET not in message and PASSWORD not in message


class BrokenBeneath(AgentApp):
    """An app whose stream itself breaks (a bug beneath the agent, not the agent's failure),
    on an error naming a URL with credentials."""

    def stream(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"GET https://svc:{PASSWORD}@h.example/x?api_key={QUERY_SECRET} broke")


def test_a_fault_beneath_the_agent_answers_without_the_credentials_of_the_url_it_names(tmp_path):
    settings = Settings(store_url=f"file://{tmp_path / 'store'}")
    with serve_app(build_app(BrokenBeneath(app_name="broken"), settings)) as url:
        final = ask(url)
    assert final["status"] == "failed" and final["error"]["code"] == "internal_error", final
    message = final["error"]["message"]
    assert message.startswith("RuntimeError: GET https://~@h.example/x?api_key=~"), message
    assert QUERY_SECRET not in message and PASSWORD not in message


async def test_a_tools_error_reaches_the_model_without_the_credentials_of_its_url(receiver):
    """A tool's failure is text the model (and the caller's stream) reads."""
    toolkit = Toolkit()
    url = _leaky_url(receiver)

    async def weather(city: str) -> str:
        """The weather in a city."""
        return await _fetch(url)

    toolkit.register(weather)
    output, is_error = await toolkit.call("weather", '{"city": "Paris"}')
    assert is_error
    assert output.startswith("weather failed: HTTPStatusError: Client error '405")
    assert "?city=~&api_key=~" in output
    assert QUERY_SECRET not in output and PASSWORD not in output


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "for url 'https://u:p@api.example.com/v1/x?a=1&api_key=k'\nmore",
            "for url 'https://~@api.example.com/v1/x?a=~&api_key=~'\nmore",
        ),
        (
            "callback https://app.example/cb#access_token=t&x=1",
            "callback https://app.example/cb#access_token=~&x=~",
        ),
        ("redis://:pw@cache:6379/0 refused", "redis://~@cache:6379/0 refused"),
        (
            "GET http://h/v1/sandboxes/s/desktop/vt/vnc.html",
            "GET http://h/v1/sandboxes/s/desktop/~/vnc.html",
        ),
        ("no URL, a=b", "no URL, a=b"),
        ("GET https://h/x?sk-bare-key&a=1&&flag failed", "GET https://h/x?~&a=~&&~ failed"),
        # the text's own punctuation after a URL stays, the query's values go
        ("failed (https://u:p@h:1/x?token=abc).", "failed (https://~@h:1/x?token=~)."),
        ("see https://h/a?b=c, then retry", "see https://h/a?b=~, then retry"),
        ("at https://h/wiki/Set_(maths)?k=v)", "at https://h/wiki/Set_(maths)?k=~)"),
        ("https://h/wiki/Set_(maths).", "https://h/wiki/Set_(maths)."),
        ("is it https://h/x?", "is it https://h/x?"),
    ],
)
def test_loggable_text(text, expected):
    from functions.runtime.redact import loggable_text

    assert loggable_text(text) == expected

"""Model clients through the official ``openai`` SDK against a real local fake server."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from functions.runtime.models import (
    ChatModel,
    ModelError,
    OfflineDemoModel,
    OpenAICompatModel,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    Usage,
    get_model,
)
from functions.runtime.models.openai_compat import _redact, model_error
from functions.runtime.settings import Settings
from tests.fakes.openai_server import (
    FAKE_API_KEY,
    FakeOpenAIServer,
    Reply,
    choice_chunk,
    closed_port_url,
    error_reply,
    fake_openai_fixture,  # noqa: F401 - provides the fake_openai fixture
    text_reply,
    tool_calls_reply,
)

REPO = Path(__file__).resolve().parents[2]
USER = [{"role": "user", "content": "What's the weather in Hangzhou and the time in Paris?"}]
WEATHER_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "description": "Local time in a time zone",
            "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}},
        },
    },
]
WEATHER_ARGS = json.dumps({"city": "Hangzhou", "units": "metric", "detail": ["wind", "rain"]})
TIME_ARGS = json.dumps({"tz": "Europe/Paris", "format": "%H:%M"})


# Models opened by a test, closed after it: a client's connection pool belongs to the test's
# event loop, and pytest-asyncio gives every test a new one.
_opened: list[ChatModel] = []


@pytest.fixture(autouse=True)
async def _close_models() -> AsyncIterator[None]:
    yield
    while _opened:
        await _opened.pop().aclose()


def opened(model: ChatModel) -> ChatModel:
    _opened.append(model)
    return model


def openai_model(base_url: str, api_key: str = FAKE_API_KEY, **kwargs: Any) -> OpenAICompatModel:
    options: dict[str, Any] = {"model": "qwen-plus", "timeout_s": 30.0, "max_retries": 0}
    options.update(kwargs)
    model = OpenAICompatModel(base_url, api_key, **options)
    _opened.append(model)
    return model


def model_for(server: FakeOpenAIServer, **kwargs: Any) -> OpenAICompatModel:
    return openai_model(server.base_url, **kwargs)


async def collect(model: ChatModel, messages: list[dict[str, Any]], **kwargs: Any) -> list[Any]:
    return [item async for item in model.stream(messages, **kwargs)]


async def failure(model: ChatModel, messages: list[dict[str, Any]] = USER) -> ModelError:
    with pytest.raises(ModelError) as caught:
        await collect(model, messages)
    return caught.value


def of_type(items: list[Any], kind: type) -> list[Any]:
    return [item for item in items if isinstance(item, kind)]


# --- streaming ---------------------------------------------------------------------------


async def test_text_deltas_concatenate_to_the_reply(fake_openai: FakeOpenAIServer) -> None:
    text = "Hello from the fake model! 你好 世界 🌏"
    fake_openai.push(text_reply(text, piece_chars=3))

    items = await collect(model_for(fake_openai), USER)

    deltas = of_type(items, TextDelta)
    assert len(deltas) > 3
    assert all(d.text for d in deltas), "empty content deltas must not reach the agent"
    assert "".join(d.text for d in deltas) == text
    assert items[-1] == Usage(input_tokens=11, output_tokens=7)
    assert not of_type(items, ToolCall)


@pytest.mark.parametrize("interleave", [False, True], ids=["sequential", "interleaved"])
async def test_parallel_tool_calls_are_assembled_in_index_order(
    fake_openai: FakeOpenAIServer, interleave: bool
) -> None:
    fake_openai.push(
        tool_calls_reply(
            [("call_w1", "get_weather", WEATHER_ARGS), ("call_t2", "get_time", TIME_ARGS)],
            piece_chars=3,
            interleave=interleave,
        )
    )

    items = await collect(model_for(fake_openai), USER, tools=WEATHER_TOOLS)

    assert of_type(items, ToolCall) == [
        ToolCall(id="call_w1", name="get_weather", arguments=WEATHER_ARGS),
        ToolCall(id="call_t2", name="get_time", arguments=TIME_ARGS),
    ]
    assert json.loads(items[0].arguments)["detail"] == ["wind", "rain"]
    assert items[-1] == Usage(input_tokens=42, output_tokens=19)
    assert not of_type(items, TextDelta)


async def test_tool_calls_without_a_tool_calls_finish_reason_or_any_finish(
    fake_openai: FakeOpenAIServer,
) -> None:
    # vLLM/Ollama may finish with "stop" after tool calls; a cut stream may not finish at all.
    calls = [("call_1", "get_weather", WEATHER_ARGS)]
    unfinished = tool_calls_reply(calls)
    unfinished.chunks.pop()
    fake_openai.push(tool_calls_reply(calls, finish_reason="stop"), unfinished)
    model = model_for(fake_openai)

    for _ in range(2):
        items = await collect(model, USER, tools=WEATHER_TOOLS)
        assert of_type(items, ToolCall) == [ToolCall("call_1", "get_weather", WEATHER_ARGS)]


def _fragments_reply(fragments: list[dict[str, Any]]) -> Reply:
    chunks = [choice_chunk({"tool_calls": [fragment]}) for fragment in fragments]
    return Reply(chunks=[*chunks, choice_chunk({}, "tool_calls")])


async def test_tool_calls_from_servers_that_number_them_oddly(
    fake_openai: FakeOpenAIServer,
) -> None:
    def fragment(call_id: str, name: str | None, arguments: str, **index: int) -> dict[str, Any]:
        return {"id": call_id, "function": {"name": name, "arguments": arguments}, **index}

    fake_openai.push(
        # every parallel call at index 0, told apart by id and name
        _fragments_reply(
            [
                fragment("call_a", "get_weather", '{"city":', index=0),
                fragment("call_a", None, ' "Hangzhou"}', index=0),
                fragment("call_b", "get_time", "", index=0),
                fragment("", None, "{}", index=0),
            ]
        ),
        # no index at all, id re-stamped on continuation fragments
        _fragments_reply(
            [
                fragment(
                    "call_c",
                    "get_time",
                    '{"tz": ',
                ),
                fragment("call_c", None, '"UTC"}'),
                fragment("call_d", "get_weather", ""),
            ]
        ),
    )
    model = model_for(fake_openai)

    first = await collect(model, USER, tools=WEATHER_TOOLS)
    second = await collect(model, USER, tools=WEATHER_TOOLS)

    assert of_type(first, ToolCall) == [
        ToolCall("call_a", "get_weather", '{"city": "Hangzhou"}'),
        ToolCall("call_b", "get_time", "{}"),
    ]
    assert of_type(second, ToolCall) == [
        ToolCall("call_c", "get_time", '{"tz": "UTC"}'),
        ToolCall("call_d", "get_weather", "{}"),  # no arguments streamed: an empty object
    ]


async def test_reasoning_streams_apart_and_before_the_answer(
    fake_openai: FakeOpenAIServer,
) -> None:
    reasoning = "The user greets me; a short friendly answer fits."
    fake_openai.push(text_reply("Hi there!", reasoning=reasoning))

    items = await collect(model_for(fake_openai), USER)

    thoughts = of_type(items, ReasoningDelta)
    assert len(thoughts) > 1
    assert "".join(t.text for t in thoughts) == reasoning
    assert "".join(d.text for d in of_type(items, TextDelta)) == "Hi there!"
    assert items.index(thoughts[-1]) < items.index(of_type(items, TextDelta)[0])


async def test_request_carries_messages_tools_params_and_key(
    fake_openai: FakeOpenAIServer,
) -> None:
    messages = [
        {"role": "system", "content": "You are Friday."},
        *USER,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [ToolCall("call_w1", "get_weather", WEATHER_ARGS).to_openai()],
        },
        {"role": "tool", "tool_call_id": "call_w1", "content": "Sunny, 24°C"},
    ]

    await collect(
        model_for(fake_openai),
        messages,
        tools=WEATHER_TOOLS,
        temperature=0.3,
        top_p=None,
        max_tokens=64,
        stop=["\n\n"],
        seed=7,
        frequency_penalty=None,
        presence_penalty=0.5,
        enable_thinking=False,  # provider-specific: forwarded as-is
    )

    sent = fake_openai.last_request
    assert sent.path == "/v1/chat/completions"
    assert sent.authorization == f"Bearer {FAKE_API_KEY}"
    body = sent.body
    assert body["model"] == "qwen-plus"
    assert body["messages"] == messages
    assert body["tools"] == WEATHER_TOOLS
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["temperature"] == 0.3
    assert body["max_tokens"] == 64
    assert body["stop"] == ["\n\n"]
    assert body["seed"] == 7
    assert body["presence_penalty"] == 0.5
    assert body["enable_thinking"] is False
    assert "top_p" not in body
    assert "frequency_penalty" not in body


async def test_no_tools_key_when_no_tools(fake_openai: FakeOpenAIServer) -> None:
    items = await collect(model_for(fake_openai), USER, tools=None)

    assert "tools" not in fake_openai.last_request.body
    assert "".join(d.text for d in of_type(items, TextDelta)) == f"Echo: {USER[0]['content']}"


async def test_server_rejecting_stream_options_is_retried_without_them() -> None:
    with FakeOpenAIServer(reject_stream_options=True) as server:
        model = model_for(server)
        first = await collect(model, USER)
        second = await collect(model, USER)

    assert [r.body.get("stream_options") for r in server.requests] == [
        {"include_usage": True},
        None,
        None,  # remembered: later turns do not pay for the refusal again
    ]
    for items in (first, second):
        assert "".join(d.text for d in of_type(items, TextDelta)).startswith("Echo: ")
        assert not of_type(items, Usage)


async def test_stopping_early_releases_the_stream(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.push(text_reply("one two three four five six", piece_chars=2))
    model = model_for(fake_openai)

    stream = model.stream(USER)
    first = await anext(stream)
    await stream.aclose()

    assert isinstance(first, TextDelta)
    items = await collect(model, USER)  # the connection pool is still usable
    assert of_type(items, TextDelta)


# --- errors ------------------------------------------------------------------------------


async def test_rejected_key_is_an_auth_error_that_does_not_leak_it(
    fake_openai: FakeOpenAIServer,
) -> None:
    wrong_key = "sk-wrong-9f8e7d6c5b4a39281706"
    model = model_for(fake_openai, api_key=wrong_key)

    error = await failure(model)

    assert error.code == "model_auth_error"
    assert error.status == 401
    assert fake_openai.last_request.authorization == f"Bearer {wrong_key}"
    for text in (str(error), repr(error), error.message, repr(model)):
        assert wrong_key not in text
        assert "9f8e7d6c" not in text


async def test_bad_request_keeps_the_providers_reason(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.push(
        error_reply(400, "The model `qwen-nope` does not exist.", code="model_not_found")
    )

    error = await failure(model_for(fake_openai))

    assert error.code == "model_bad_request"
    assert error.status == 400
    assert "does not exist" in error.message


@pytest.mark.parametrize(
    "echo",
    [
        "api_key=0123456789abcdefSECRET",  # without its prefix
        "key sk-fake-0123...CRET not allowed",  # masked around a fragment
        "account 456789abcd has no access",  # a piece of it
    ],
)
@pytest.mark.parametrize("status", [400, 404, 429, 500])
async def test_an_error_repeating_the_key_in_another_form_never_carries_it(
    fake_openai: FakeOpenAIServer, status: int, echo: str
) -> None:
    fake_openai.push(error_reply(status, f"Request refused: {echo}."))

    error = await failure(model_for(fake_openai))  # its key: FAKE_API_KEY

    assert "Request refused: " in error.message
    for fragment in ("012345", "6789ab", "abcdef", "SECRET", "0123.."):
        assert fragment not in error.message


async def test_an_agent_framework_s_model_error_is_masked_by_the_key_it_was_sent_with(
    fake_openai: FakeOpenAIServer,
) -> None:
    # an agentscope agent's own model client: the runtime is not told its key
    import openai

    fake_openai.push(error_reply(429, "quota exceeded for key 0123456789abcdefSECRET"))
    client = openai.AsyncOpenAI(base_url=fake_openai.base_url, api_key=FAKE_API_KEY, max_retries=0)
    with pytest.raises(openai.APIError) as raised:
        await client.chat.completions.create(model="m", messages=USER, stream=True)
    error = model_error(openai, raised.value, "the model")
    assert "quota exceeded for key ***" in error.message


def test_a_placeholder_key_of_a_local_server_masks_only_itself() -> None:
    said = "Field required: messages (ollama pull llama3; see /docs/required-fields)"
    for key in ("ollama", "sk-no-key-required", "not-needed-parameter"):
        assert _redact(said, key) == said
    assert _redact("bad key sk-no-key-required", "sk-no-key-required") == "bad key ***"


async def test_server_error_is_unavailable(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.push(error_reply(500, "The server had an error", type="server_error"))

    error = await failure(model_for(fake_openai))

    assert (error.code, error.status) == ("model_unavailable", 500)


async def test_server_error_is_retried_before_the_stream_starts(
    fake_openai: FakeOpenAIServer,
) -> None:
    fake_openai.push(
        error_reply(503, "overloaded", type="server_error", headers={"retry-after-ms": "1"}),
        text_reply("recovered"),
    )

    items = await collect(model_for(fake_openai, max_retries=1), USER)

    assert "".join(d.text for d in of_type(items, TextDelta)) == "recovered"
    assert len(fake_openai.requests) == 2


async def test_rate_limit_has_its_own_code(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.push(error_reply(429, "Rate limit reached", type="requests"))

    error = await failure(model_for(fake_openai))

    assert (error.code, error.status) == ("model_rate_limited", 429)


async def test_error_event_mid_stream(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.push(
        Reply(
            chunks=[
                choice_chunk({"role": "assistant", "content": "Par"}),
                {"error": {"message": "Output data may contain inappropriate content."}},
            ]
        )
    )
    model = model_for(fake_openai)
    seen: list[Any] = []

    with pytest.raises(ModelError) as caught:
        async for item in model.stream(USER):
            seen.append(item)

    assert seen == [TextDelta("Par")]
    assert caught.value.code == "model_error"
    assert "inappropriate" in caught.value.message


async def test_connection_refused_is_unavailable() -> None:
    model = openai_model(closed_port_url())

    error = await failure(model)

    assert error.code == "model_unavailable"
    assert FAKE_API_KEY not in str(error)


async def test_a_model_that_stops_talking_times_out(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.push(Reply(chunks=[choice_chunk({"role": "assistant", "content": ""})], hang=True))
    model = model_for(fake_openai, timeout_s=0.5)

    error = await failure(model)

    assert error.code == "model_timeout"


# --- choosing a model --------------------------------------------------------------------


def test_get_model_is_offline_without_a_base_url() -> None:
    # explicit None: a developer's own MODEL_* environment must not change the outcome
    assert isinstance(get_model(Settings(model_base_url=None)), OfflineDemoModel)
    assert isinstance(
        get_model(Settings(model_base_url=None, model_api_key="sk-x")), OfflineDemoModel
    )


async def test_get_model_talks_to_the_configured_endpoint(fake_openai: FakeOpenAIServer) -> None:
    settings = Settings(
        model_base_url=fake_openai.base_url, model_api_key=FAKE_API_KEY, model_name="qwen-max"
    )

    model = opened(get_model(settings))
    items = await collect(model, USER)

    assert isinstance(model, OpenAICompatModel)
    assert model.name == "qwen-max"
    assert of_type(items, TextDelta)
    assert fake_openai.last_request.body["model"] == "qwen-max"
    assert get_model(settings, "qwen-turbo").name == "qwen-turbo"


async def test_get_model_without_a_key_sends_a_placeholder() -> None:
    # vLLM and Ollama need no key, but the SDK refuses to run without one.
    with FakeOpenAIServer() as server:
        model = opened(
            get_model(
                Settings(model_base_url=server.base_url, model_api_key=None, model_name="llama3.2")
            )
        )
        await collect(model, USER)

    assert server.last_request.authorization == "Bearer EMPTY"


def test_importing_models_does_not_import_the_sdk() -> None:
    probe = (
        "import sys, functions.runtime.models\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('openai', 'httpx', 'httpx2', 'httpcore'))\n"
        "print(heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


# --- the offline demo model ---------------------------------------------------------------


async def test_offline_model_echoes_deterministically() -> None:
    messages = [{"role": "system", "content": "Be nice."}, {"role": "user", "content": "Hi!"}]

    first = await collect(OfflineDemoModel(), messages)
    second = await collect(OfflineDemoModel(), messages)

    assert first == second
    deltas = of_type(first, TextDelta)
    assert len(deltas) > 2
    assert "".join(d.text for d in deltas) == (
        '[offline demo model] You said: "Hi!" '
        "Set MODEL_BASE_URL, MODEL_API_KEY and MODEL_NAME to talk to a real model."
    )
    assert first[-1] == Usage(input_tokens=3, output_tokens=17)


async def test_offline_model_reads_text_parts() -> None:
    messages = [{"role": "user", "content": [{"type": "text", "text": "from parts"}]}]

    items = await collect(OfflineDemoModel(), messages)

    assert 'You said: "from parts"' in "".join(d.text for d in of_type(items, TextDelta))


async def test_offline_model_calls_a_tool_on_request() -> None:
    messages = [{"role": "user", "content": '/tool get_weather {"city": "Hangzhou"}'}]

    items = await collect(OfflineDemoModel(), messages, tools=WEATHER_TOOLS)

    call = ToolCall(id="call_offline_1", name="get_weather", arguments='{"city": "Hangzhou"}')
    assert items[0] == call
    assert not of_type(items, TextDelta)
    assert isinstance(items[-1], Usage)
    assert await collect(OfflineDemoModel(), messages, tools=WEATHER_TOOLS) == items


async def test_offline_model_replies_to_a_tool_result_and_numbers_calls() -> None:
    # a call's id is its position in the conversation: unique, even after a call that was
    # stopped (and so never reaches a later prompt)
    call = ToolCall(id="call_offline_1", name="get_weather", arguments='{"city": "Hangzhou"}')
    messages = [
        {"role": "user", "content": '/tool get_weather {"city": "Hangzhou"}'},
        {"role": "assistant", "content": None, "tool_calls": [call.to_openai()]},
        {"role": "tool", "tool_call_id": "call_offline_1", "content": "Sunny, 24°C"},
    ]

    items = await collect(OfflineDemoModel(), messages, tools=WEATHER_TOOLS)
    text = "".join(d.text for d in of_type(items, TextDelta))
    assert text == "[offline demo model] Tool get_weather returned: Sunny, 24°C"

    again = [*messages, {"role": "assistant", "content": text}]
    again.append({"role": "user", "content": '/tool get_time {"tz": "Europe/Paris"}'})
    items = await collect(OfflineDemoModel(), again, tools=WEATHER_TOOLS)
    assert of_type(items, ToolCall) == [
        ToolCall(id="call_offline_5", name="get_time", arguments='{"tz": "Europe/Paris"}')
    ]


@pytest.mark.parametrize(
    ("command", "tools", "expected"),
    [
        ("/tool get_weather {}", None, 'You said: "/tool get_weather {}"'),
        ("/tool nope {}", WEATHER_TOOLS, "no tool named nope; available: get_weather, get_time"),
        ("/tool get_time [1, 2]", WEATHER_TOOLS, "must be a JSON object, got: [1, 2]"),
    ],
    ids=["without-tools", "unknown-tool", "bad-arguments"],
)
async def test_offline_model_explains_unusable_tool_commands(
    command: str, tools: list[dict[str, Any]] | None, expected: str
) -> None:
    items = await collect(OfflineDemoModel(), [{"role": "user", "content": command}], tools=tools)

    assert not of_type(items, ToolCall)
    assert expected in "".join(d.text for d in of_type(items, TextDelta))

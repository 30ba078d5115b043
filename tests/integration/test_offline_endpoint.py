"""The offline demo model as the emulator serves it: an OpenAI-compatible endpoint, read by the
official ``openai`` client and by the runtime's own model client."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest

from functions.runtime.models import OfflineDemoModel, OpenAICompatModel, TextDelta, ToolCall
from local_emulator.chat_completions import offline_model_app
from tests.fixtures.servers import serve_app

CODE_TOOL = {
    "type": "function",
    "function": {
        "name": "execute_python_code",
        "description": "Run Python.",
        "parameters": {"type": "object", "properties": {"code": {"type": "string"}}},
    },
}
ASK = [{"role": "user", "content": "What is the capital of France?"}]
RUN = [{"role": "user", "content": "Run this:\n```python\nprint(6 * 7)\n```"}]


@pytest.fixture
def base_url() -> Iterator[str]:
    with serve_app(offline_model_app()) as url:
        yield f"{url}/v1"


async def test_the_openai_client_streams_the_offline_answer_with_usage(base_url):
    client = openai.AsyncOpenAI(base_url=base_url, api_key="anything")
    chunks = [
        chunk
        async for chunk in await client.chat.completions.create(
            model="offline-demo",
            messages=ASK,
            stream=True,
            stream_options={"include_usage": True},
        )
    ]
    await client.close()
    pieces = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    expected = OfflineDemoModel().reply(ASK)
    assert len(pieces) > 3 and "".join(pieces) == expected
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == len(expected.split())


async def test_a_fenced_code_block_is_a_streamed_tool_call(base_url):
    client = openai.AsyncOpenAI(base_url=base_url, api_key="anything")
    stream = await client.chat.completions.create(
        model="m", messages=RUN, tools=[CODE_TOOL], stream=True
    )
    fragments = [
        call
        async for chunk in stream
        for choice in chunk.choices
        for call in choice.delta.tool_calls or ()
    ]
    whole = await client.chat.completions.create(model="m", messages=RUN, tools=[CODE_TOOL])
    await client.close()
    assert fragments[0].function.name == "execute_python_code" and fragments[0].id
    arguments = "".join(f.function.arguments or "" for f in fragments)
    assert json.loads(arguments) == {"code": "print(6 * 7)\n"}
    (call,) = whole.choices[0].message.tool_calls
    assert json.loads(call.function.arguments) == {"code": "print(6 * 7)\n"}
    assert whole.choices[0].finish_reason == "tool_calls" and whole.usage.total_tokens > 0


@pytest.mark.parametrize("messages, tools", [(ASK, None), (RUN, [CODE_TOOL])])
async def test_the_runtime_client_through_it_streams_what_the_builtin_model_does(
    base_url, messages, tools
):
    model = OpenAICompatModel(base_url, "offline", "offline-demo", max_retries=0)
    through = [item async for item in model.stream(messages, tools=tools)]
    await model.aclose()
    direct = [item async for item in OfflineDemoModel().stream(messages, tools=tools)]
    assert [i for i in through if isinstance(i, ToolCall)] == [
        i for i in direct if isinstance(i, ToolCall)
    ]
    text = "".join(i.text for i in through if isinstance(i, TextDelta))
    assert text == "".join(i.text for i in direct if isinstance(i, TextDelta))
    assert through[-1] == direct[-1]  # the same usage


async def test_an_unreadable_body_is_openais_400(base_url):
    client = openai.AsyncOpenAI(base_url=base_url, api_key="anything", max_retries=0)
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(model="m", messages="not a list")  # type: ignore[arg-type]
    await client.close()
    assert "messages" in str(caught.value)

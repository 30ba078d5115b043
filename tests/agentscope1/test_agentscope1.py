"""framework="agentscope" with agentscope 1.x (in .venv-agentscope1): the seed's agents.

A real 1.x ``ReActAgent`` streams from ``OpenAIChatModel`` against the emulator's Chat
Completions endpoint (scripted per test) on 127.0.0.1; the handler yields the ``(msg,
last)`` pairs of ``stream_printing_messages`` as in the AgentScope Runtime README, and its
memory is ``AgentScopeSessionHistoryMemory`` over a durable history service.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from agentscope.agent import ReActAgent
from agentscope.formatter import DashScopeChatFormatter
from agentscope.message import Msg, TextBlock
from agentscope.model import OpenAIChatModel
from agentscope.pipeline import stream_printing_messages
from agentscope.tool import Toolkit, ToolResponse

from functions.runtime.adapters import get_inbound
from functions.runtime.adapters.agentscope import major
from functions.runtime.adapters.agentscope.memory import AgentScopeSessionHistoryMemory
from functions.runtime.adapters.agentscope.tool import as_tool_result, execute_python_code
from functions.runtime.app import AgentApp
from functions.runtime.protocol import AgentRequest, Event
from functions.runtime.services import InMemorySessionHistoryService, InMemoryStateService
from functions.runtime.sse import sse_encode
from functions.runtime.tools import ToolError
from tests.agentscope.stream import data_of, deltas_of, events_of, messages
from tests.fakes.openai_server import FakeOpenAIServer, text_reply, tool_calls_reply

ADD_ARGS = '{"a": 1, "b": 2}'


def add(a: int, b: int) -> ToolResponse:
    """Add two integers.

    Args:
        a (int): The first.
        b (int): The second.
    """
    return ToolResponse(content=[TextBlock(type="text", text=str(a + b))])


def seed_app(base_url: str, fail: bool = False) -> AgentApp:
    """The README's handler shape: state and history services, 1.x agent, (msg, last)."""
    app = AgentApp(app_name="Friday")

    @app.init
    async def init(self: AgentApp) -> None:
        self.state_service = InMemoryStateService()
        self.session_service = InMemorySessionHistoryService()
        await self.state_service.start()
        await self.session_service.start()

    @app.query(framework="agentscope")
    async def query(self: AgentApp, msgs: Any, request: AgentRequest = None, **kwargs: Any):
        state = await self.state_service.export_state(
            session_id=request.session_id, user_id=request.user_id
        )
        toolkit = Toolkit()
        toolkit.register_tool_function(add)
        agent = ReActAgent(
            name="Friday",
            model=OpenAIChatModel(
                "fake-model", api_key="sk-test", stream=True, client_kwargs={"base_url": base_url}
            ),
            sys_prompt="You are Friday.",
            toolkit=toolkit,
            memory=AgentScopeSessionHistoryMemory(
                service=self.session_service,
                session_id=request.session_id,
                user_id=request.user_id,
            ),
            formatter=DashScopeChatFormatter(),
        )
        agent.set_console_output_enabled(enabled=False)
        if state:
            agent.load_state_dict(state)
        count = 0
        async for msg, last in stream_printing_messages(agents=[agent], coroutine_task=agent(msgs)):
            yield msg, last
            count += 1
            if fail and count == 2:
                raise RuntimeError("deliberate failure mid-reply")
        await self.state_service.save_state(
            user_id=request.user_id, session_id=request.session_id, state=agent.state_dict()
        )

    return app


@pytest.fixture
def model() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


async def turn(app: AgentApp, text: str, session_id: str = "s1") -> list[dict]:
    request = AgentRequest.model_validate(
        {
            "session_id": session_id,
            "user_id": "u1",
            "input": [{"role": "user", "content": [{"type": "text", "text": text}]}],
        }
    )
    events: list[Event] = [e async for e in app.stream(request)]
    return events_of("".join(sse_encode(e).decode() for e in events))


def test_this_is_agentscope_1():
    assert major() == 1


async def test_pairs_stream_as_deltas_a_tool_call_and_its_output(model):
    model.push(
        tool_calls_reply([("call_1", "add", ADD_ARGS)], piece_chars=3),
        text_reply("The answer is 3.", reasoning="1 plus 2", piece_chars=4),
    )
    events = await turn(seed_app(model.base_url), "What is 1 + 2?")

    (call,) = messages(events, "plugin_call")
    (output,) = messages(events, "plugin_call_output")
    assert data_of(call) == {"call_id": "call_1", "name": "add", "arguments": ADD_ARGS}
    assert data_of(output) == {"call_id": "call_1", "name": "add", "output": "3"}
    assert output["role"] == "tool"
    (reasoning,) = messages(events, "reasoning")
    assert reasoning["content"][0]["text"] == "1 plus 2"
    (answer,) = messages(events, "message")
    deltas = deltas_of(events, answer)
    assert len(deltas) == 4 and "".join(deltas) == "The answer is 3."
    assert [m["type"] for m in messages(events)] == [
        "plugin_call",
        "plugin_call_output",
        "reasoning",
        "message",
    ]
    assert events[-1]["object"] == "response" and events[-1]["status"] == "completed"
    tool_turn = model.requests[1].body["messages"][-1]
    assert tool_turn["role"] == "tool" and tool_turn["tool_call_id"] == "call_1"


async def test_a_second_turn_restores_the_agent_from_state_and_history(model):
    app = seed_app(model.base_url)
    model.push(text_reply("Paris."), text_reply("Rome."))
    await turn(app, "What is the capital of France?")
    events = await turn(app, "And of Italy?")
    assert events[-1]["status"] == "completed"
    said = [(m["role"], m["content"]) for m in model.last_request.body["messages"]]
    assert said == [
        ("system", "You are Friday."),
        ("user", "What is the capital of France?"),
        ("assistant", "Paris."),
        ("user", "And of Italy?"),
    ]
    # the history service holds the conversation as protocol messages
    session = await app.session_service.get_session("u1", "s1")
    texts = [m["content"][0]["text"] for m in session.messages]
    assert texts == ["What is the capital of France?", "Paris.", "And of Italy?", "Rome."]


async def test_a_handler_exception_ends_the_response_failed(model):
    model.push(text_reply("Starting to answer at length."))
    events = await turn(seed_app(model.base_url, fail=True), "hi")
    assert events[-1]["status"] == "failed"
    assert "deliberate failure mid-reply" in events[-1]["error"]["message"]


async def test_memory_keeps_hints_out_of_the_history_and_rewrites_on_delete():
    service = InMemorySessionHistoryService()
    memory = AgentScopeSessionHistoryMemory(service=service, session_id="s", user_id="u")
    first = Msg("user", "hello", "user")
    call = Msg(
        "Friday",
        [
            {"type": "text", "text": "let me"},
            {"type": "tool_use", "id": "c1", "name": "add", "input": {"a": 1}, "raw_input": ""},
        ],
        "assistant",
    )
    output = [{"type": "text", "text": "2"}]
    result = Msg(
        "system", [{"type": "tool_result", "id": "c1", "name": "add", "output": output}], "system"
    )
    hint = Msg("user", "<system-hint>go on</system-hint>", "user")
    await memory.add([first, call])
    await memory.add(result)
    await memory.add(hint, marks="hint")
    assert await memory.size() == 4
    stored = (await service.get_session("u", "s")).messages
    kinds = ["message", "message", "plugin_call", "plugin_call_output"]
    assert [m["type"] for m in stored] == kinds
    assert await memory.delete_by_mark("hint") == 1  # never stored: nothing rewritten
    assert len((await service.get_session("u", "s")).messages) == 4

    # a cold instance rebuilds the same messages from the history
    again = AgentScopeSessionHistoryMemory(service=service, session_id="s", user_id="u")
    loaded = await again.get_memory()
    assert [m.id for m in loaded] == [first.id, call.id, result.id]
    assert loaded[1].content[1]["type"] == "tool_use" and loaded[1].content[1]["id"] == "c1"
    assert loaded[2].role == "system" and loaded[2].content[0]["output"][0]["text"] == "2"

    assert await again.update_messages_mark("compressed", msg_ids=[first.id]) == 1
    assert await again.delete([call.id]) == 1
    third = AgentScopeSessionHistoryMemory(service=service, session_id="s", user_id="u")
    assert [m.id for m in await third.get_memory(exclude_mark="compressed")] == [result.id]
    assert [m.id for m in await third.get_memory(mark="compressed")] == [first.id]
    await third.clear()
    assert await third.size() == 0
    assert (await service.get_session("u", "s")).messages == []


def test_inbound_messages_are_1x_msgs_with_1x_blocks():
    request = AgentRequest.model_validate(
        {
            "input": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "see"},
                        {"type": "image", "image_url": "data:image/png;base64,iVBO"},
                    ],
                },
                {
                    "role": "assistant",
                    "type": "function_call",
                    "content": [
                        {
                            "type": "data",
                            "data": {"call_id": "c1", "name": "add", "arguments": ADD_ARGS},
                        }
                    ],
                },
                {
                    "role": "tool",
                    "type": "function_call_output",
                    "content": [
                        {"type": "data", "data": {"call_id": "c1", "name": "add", "output": "3"}}
                    ],
                },
            ]
        }
    )
    user, call, output = get_inbound("agentscope")(request.input)
    assert isinstance(user, Msg) and user.role == "user"
    assert user.content[0] == {"type": "text", "text": "see"}
    assert user.content[1]["type"] == "image"
    source = {"type": "base64", "media_type": "image/png", "data": "iVBO"}
    assert user.content[1]["source"] == source
    assert call.content[0]["type"] == "tool_use" and call.content[0]["input"] == {"a": 1, "b": 2}
    assert output.role == "system"  # where 1.x agents put tool results
    assert output.content[0]["output"] == [{"type": "text", "text": "3"}]


def test_sandbox_results_are_1x_tool_responses():
    response = as_tool_result(
        {
            "content": [
                {"type": "text", "text": "shot"},
                {"type": "image", "data": "iVBO", "mimeType": "image/png"},
            ],
            "isError": False,
        }
    )
    assert isinstance(response, ToolResponse)
    assert response.content[0] == {"type": "text", "text": "shot"}
    assert response.content[1]["source"]["data"] == "iVBO"
    with pytest.raises(ToolError, match="boom"):
        as_tool_result({"content": [{"type": "text", "text": "boom"}], "isError": True})
    schema = Toolkit()
    schema.register_tool_function(execute_python_code)
    (tool,) = schema.get_json_schemas()
    assert tool["function"]["name"] == "execute_python_code"
    assert tool["function"]["parameters"]["required"] == ["code"]
    assert json.dumps(tool)  # a JSON schema the model API takes

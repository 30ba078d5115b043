"""framework="agentscope" with agentscope 2.x: real agents, a real model server, over HTTP.

The agent is agentscope's own ``Agent`` streaming from ``OpenAIChatModel``, which talks to the
emulator's Chat Completions endpoint (scripted by each test) on 127.0.0.1; the app is served
by the runtime's ``/process`` under uvicorn, and the events are read off the wire.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from functions.runtime.server import build_app
from functions.runtime.settings import Settings
from functions.runtime.storage.memory import MemoryStore
from tests.agentscope.apps import agentscope_app
from tests.agentscope.stream import data_of, deltas_of, events_of, messages
from tests.fakes.openai_server import (
    FakeOpenAIServer,
    error_reply,
    text_reply,
    tool_calls_reply,
)
from tests.fixtures.servers import serve_app

ADD_ARGS = '{"a": 1, "b": 2}'


def say(url: str, text: str, session_id: str = "s1", **fields: Any) -> list[dict]:
    body = {
        "session_id": session_id,
        "user_id": "u1",
        "input": [{"role": "user", "content": [{"type": "text", "text": text}]}],
        **fields,
    }
    resp = httpx.post(f"{url}/process", json=body, timeout=60)
    assert resp.status_code == 200, resp.text
    return events_of(resp.text)


@pytest.fixture
def model() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def serve():
    store = MemoryStore()

    @contextlib.contextmanager
    def _serve(app) -> Iterator[str]:
        with serve_app(build_app(app, Settings(store_url="memory://"), store=store)) as url:
            yield url

    return _serve


def test_reply_streams_text_reasoning_a_tool_call_and_usage(model, serve):
    model.push(
        tool_calls_reply([("call_1", "add", ADD_ARGS)], piece_chars=3, usage=(42, 19)),
        text_reply("The answer is 3.", reasoning="1 plus 2", piece_chars=4, usage=(11, 7)),
    )
    with serve(agentscope_app(model.base_url)) as url:
        events = say(url, "What is 1 + 2?")

    (call,) = messages(events, "plugin_call")
    (output,) = messages(events, "plugin_call_output")
    assert data_of(call) == {"call_id": "call_1", "name": "add", "arguments": ADD_ARGS}
    assert data_of(output) == {"call_id": "call_1", "name": "add", "output": "3"}
    assert call["role"] == "assistant" and output["role"] == "tool"
    assert call["usage"] == {"input_tokens": 42, "output_tokens": 19, "total_tokens": 61}
    (reasoning,) = messages(events, "reasoning")
    assert reasoning["content"][0]["text"] == "1 plus 2"
    (answer,) = messages(events, "message")
    assert answer["role"] == "assistant"
    deltas = deltas_of(events, answer)
    assert len(deltas) == 4 and "".join(deltas) == "The answer is 3."
    assert answer["content"][0]["text"] == "The answer is 3."
    assert answer["usage"] == {"input_tokens": 11, "output_tokens": 7, "total_tokens": 18}
    # the stream's order: the call, its output, then the model's second turn
    order = [m["type"] for m in messages(events)]
    assert order == ["plugin_call", "plugin_call_output", "reasoning", "message"]
    final = events[-1]
    assert final["object"] == "response" and final["status"] == "completed"
    assert final["usage"] == {"input_tokens": 53, "output_tokens": 26, "total_tokens": 79}
    assert [m["type"] for m in final["output"]] == order
    # the model saw the tool's result, under the call's id
    tool_turn = model.requests[1].body["messages"][-1]
    assert tool_turn == {"role": "tool", "tool_call_id": "call_1", "content": "3", "name": "add"}


def test_a_second_turn_restores_the_agents_state(model, serve):
    model.push(text_reply("Paris."), text_reply("Rome."))
    with serve(agentscope_app(model.base_url)) as url:
        say(url, "What is the capital of France?")
        events = say(url, "And of Italy?")
    assert events[-1]["status"] == "completed"
    sent = [(m["role"], m["content"]) for m in model.last_request.body["messages"]]
    said = [(role, c[0]["text"] if isinstance(c, list) else c) for role, c in sent]
    assert said == [
        ("system", "You are Friday."),
        ("user", "What is the capital of France?"),
        ("assistant", "Paris."),
        ("user", "And of Italy?"),
    ]


def test_a_handler_exception_ends_the_response_failed(model, serve):
    model.push(text_reply("Starting to answer at length."))
    with serve(agentscope_app(model.base_url, fail_after=4)) as url:
        events = say(url, "hi")
    final = events[-1]
    assert final["object"] == "response" and final["status"] == "failed"
    assert final["error"]["code"] == "agent_error"
    assert "deliberate failure mid-reply" in final["error"]["message"]
    # what was said before the failure is closed, not left streaming
    assert all(m["status"] != "in_progress" for m in final.get("output") or [])


def test_a_rejected_model_key_fails_without_leaking_it(serve):
    wrong = "sk-wrong-9f8e7d6c5b4a39281706"
    with FakeOpenAIServer(api_key="sk-right-0000000000") as strict:
        with serve(agentscope_app(strict.base_url, api_key=wrong)) as url:
            resp = httpx.post(
                f"{url}/process",
                json={"input": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]},
                timeout=60,
            )
    final = events_of(resp.text)[-1]
    assert final["status"] == "failed"
    assert final["error"]["code"] == "model_auth_error"
    assert "9f8e7d6c" not in resp.text


def test_a_model_error_mid_reply_is_reported_with_the_providers_reason(model, serve):
    model.push(error_reply(400, "Model fake-model does not exist.", code="model_not_found"))
    with serve(agentscope_app(model.base_url)) as url:
        final = say(url, "hi")[-1]
    assert final["status"] == "failed"
    assert final["error"]["code"] == "model_bad_request"
    assert "does not exist" in final["error"]["message"]


def test_a_tool_awaiting_permission_ends_incomplete_and_yes_resumes_it(model, serve):
    model.push(tool_calls_reply([("call_9", "add", ADD_ARGS)]), text_reply("It is 3."))
    with serve(agentscope_app(model.base_url, allow=False)) as url:
        first = say(url, "What is 1 + 2?")
        second = say(url, "yes, go ahead")

    final = first[-1]
    assert final["object"] == "response" and final["status"] == "incomplete"
    assert final["error"]["code"] == "user_confirmation_required"
    question = messages(first)[-1]
    assert question["type"] == "message" and question["role"] == "assistant"
    text, data = question["content"]
    assert "Allow add" in text["text"] and ADD_ARGS in text["text"]
    assert data["data"]["event"] == "REQUIRE_USER_CONFIRM"
    assert data["data"]["tool_calls"] == [
        {"call_id": "call_9", "name": "add", "arguments": ADD_ARGS}
    ]
    assert final["error"]["message"] == text["text"]
    assert not messages(first, "plugin_call_output")  # the tool did not run

    # the next turn's "yes" is the confirmation the parked reply waits for
    assert second[-1]["status"] == "completed"
    (output,) = messages(second, "plugin_call_output")
    assert data_of(output)["output"] == "3" and data_of(output)["call_id"] == "call_9"
    assert messages(second, "message")[-1]["content"][0]["text"] == "It is 3."
    assert len(model.requests) == 2  # the second turn did not re-ask the model for the call


def test_a_denied_tool_is_reported_to_the_model(model, serve):
    model.push(tool_calls_reply([("call_5", "add", ADD_ARGS)]), text_reply("Fine, I won't."))
    with serve(agentscope_app(model.base_url, allow=False)) as url:
        say(url, "What is 1 + 2?")
        second = say(url, "no")
    (output,) = messages(second, "plugin_call_output")
    assert output["metadata"] == {"tool_result_state": "denied"}
    assert "denied" in data_of(output)["output"]
    assert second[-1]["status"] == "completed"


def test_ask_user_ends_incomplete_with_the_question_and_the_answer_resumes(model, serve):
    from agentscope.tool import AskUser

    questions = {
        "questions": [
            {
                "question": "Which unit should I use?",
                "header": "Unit",
                "options": [
                    {"label": "Metric", "description": "metres and kilograms"},
                    {"label": "Imperial", "description": "feet and pounds"},
                ],
            }
        ]
    }
    model.push(
        tool_calls_reply([("call_ask", "AskUser", json.dumps(questions))]),
        text_reply("Imperial it is."),
    )
    with serve(agentscope_app(model.base_url, tools=lambda: [AskUser()])) as url:
        first = say(url, "Convert 3 m")
        second = say(url, "2")

    final = first[-1]
    assert final["status"] == "incomplete" and final["error"]["code"] == "user_input_required"
    text = messages(first)[-1]["content"][0]["text"]
    assert "Which unit should I use?" in text
    assert "1. Metric: metres and kilograms" in text and "2. Imperial" in text

    assert second[-1]["status"] == "completed"
    (output,) = messages(second, "plugin_call_output")
    assert data_of(output)["call_id"] == "call_ask"
    tool_turn = model.last_request.body["messages"][-1]
    assert tool_turn["role"] == "tool" and tool_turn["content"] == "2"


@contextlib.contextmanager
def mcp_server() -> Iterator[str]:
    """A real MCP server (mcp 2.x, streamable HTTP, stateless) with one tool."""
    from mcp.server import MCPServer
    from starlette.applications import Starlette
    from starlette.routing import Mount

    server = MCPServer("calc")

    @server.tool()
    async def multiply(a: int, b: int) -> int:
        """Multiply two integers."""
        return a * b

    mcp_app = server.streamable_http_app(
        streamable_http_path="/", stateless_http=True, json_response=True
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        async with server.session_manager.run():
            yield

    with serve_app(Starlette(routes=[Mount("/mcp", mcp_app)], lifespan=lifespan)) as url:
        yield f"{url}/mcp/"


def test_an_mcp_tool_streams_as_mcp_call_and_output(model, serve):
    from agentscope.mcp import HttpMCPConfig, MCPClient

    with mcp_server() as mcp_url:

        def mcps() -> list[Any]:
            config = HttpMCPConfig(url=mcp_url)
            return [MCPClient(name="calc", is_stateful=False, mcp_config=config)]

        model.push(
            tool_calls_reply([("call_m", "mcp__calc__multiply", '{"a": 6, "b": 7}')]),
            text_reply("42."),
        )
        app = agentscope_app(model.base_url, tools=lambda: [], mcps=mcps, bypass=True)
        with serve(app) as url:
            events = say(url, "6 * 7?")

    (call,) = messages(events, "mcp_call")
    (output,) = messages(events, "mcp_call_output")
    assert data_of(call)["call_id"] == data_of(output)["call_id"] == "call_m"
    assert data_of(call)["server_label"] == "calc" and data_of(call)["tool"] == "multiply"
    assert data_of(output)["output"] == "42"
    assert events[-1]["status"] == "completed"


def test_a_handler_yielding_something_else_fails_with_what_it_must_yield(serve):
    from functions.runtime.app import AgentApp

    app = AgentApp(app_name="wrong")

    @app.query(framework="agentscope")
    async def query(self, msgs, request, **kwargs):
        yield "plain text"

    with serve(app) as url:
        final = say(url, "hi")[-1]
    assert final["status"] == "failed"
    assert "reply_stream" in final["error"]["message"]

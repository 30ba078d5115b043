"""An agent's MCP tools (``mcp_tools.McpServer`` in a ``Toolkit``): the Friday example's loop
on a scripted OpenAI-compatible model, with a real MCP server (the ``mcp`` package's
``MCPServer``) on 127.0.0.1 over Streamable HTTP, or as a stdio child process."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator

import httpx
import pytest
from openai import OpenAI

from examples import friday
from functions.runtime.app import AgentApp
from functions.runtime.mcp_tools import McpServer, call_kind
from functions.runtime.models import OpenAICompatModel
from functions.runtime.server import build_app
from functions.runtime.settings import Settings
from functions.runtime.tools import Toolkit
from tests.agentscope.stream import data_of, events_of, messages
from tests.fakes.mcp_server_sdk import server as sdk_server
from tests.fakes.openai_server import (
    FAKE_API_KEY,
    FakeOpenAIServer,
    fake_openai_fixture,  # noqa: F401 - provides the fake_openai fixture
    text_reply,
    tool_calls_reply,
)
from tests.fixtures.servers import ROOT, serve_app


@pytest.fixture(scope="module")
def mcp_url() -> Iterator[str]:
    """The SDK test server (add, shout, png) over Streamable HTTP on 127.0.0.1."""
    app = sdk_server().streamable_http_app(streamable_http_path="/mcp")
    with serve_app(app) as url:
        yield f"{url}/mcp"


def friday_with_mcp(fake: FakeOpenAIServer, mcp_url: str) -> AgentApp:
    """The Friday example's handler, its model on the fake server, an MCP server's tools in
    its toolkit (connected at init, closed at shutdown)."""
    app = AgentApp(app_name="Friday")

    @app.init
    async def init(self: AgentApp) -> None:
        self.model = OpenAICompatModel(fake.base_url, FAKE_API_KEY, "fake-model", 30)
        self.toolkit = Toolkit()
        self.calc = McpServer("calc", url=mcp_url)
        await self.toolkit.add_mcp_server(self.calc)

    @app.shutdown
    async def shutdown(self: AgentApp) -> None:
        await self.calc.close()

    app.query(framework="native")(friday.query_func)
    return app


def test_an_agent_s_mcp_tool_streams_as_mcp_call_and_output(fake_openai, mcp_url, tmp_path):
    fake_openai.push(
        tool_calls_reply([("call_7", "mcp__calc__add", '{"a": 20, "b": 22}')]),
        text_reply("It is 42."),
    )
    app = build_app(friday_with_mcp(fake_openai, mcp_url), Settings(store_url="memory://"))
    with serve_app(app) as url:
        body = {"input": [{"role": "user", "content": [{"type": "text", "text": "20+22?"}]}]}
        events = events_of(httpx.post(f"{url}/process", json=body, timeout=60).text)

    offered = {t["function"]["name"]: t["function"] for t in fake_openai.requests[0].body["tools"]}
    assert offered["mcp__calc__add"]["parameters"]["required"] == ["a", "b"]
    assert offered["mcp__calc__add"]["description"] == "Add two integers."
    assert {"mcp__calc__shout", "mcp__calc__png", "execute_python_code"} <= set(offered)
    (call,) = messages(events, "mcp_call")
    (output,) = messages(events, "mcp_call_output")
    assert data_of(call) == {
        "call_id": "call_7",
        "name": "mcp__calc__add",
        "arguments": '{"a": 20, "b": 22}',
        "server_label": "calc",
        "tool": "add",
    }
    assert data_of(output)["call_id"] == "call_7" and data_of(output)["output"] == "42"
    assert data_of(output)["server_label"] == "calc" and data_of(output)["tool"] == "add"
    assert not messages(events, "plugin_call")
    tool_message = fake_openai.requests[1].body["messages"][-1]
    assert tool_message == {"role": "tool", "tool_call_id": "call_7", "content": "42"}
    assert events[-1]["status"] == "completed"


def test_the_responses_api_shows_it_as_an_mcp_call_item(fake_openai, mcp_url):
    fake_openai.push(
        tool_calls_reply([("call_8", "mcp__calc__shout", '{"text": "hi"}')]),
        text_reply("HI it is."),
    )
    app = build_app(friday_with_mcp(fake_openai, mcp_url), Settings(store_url="memory://"))
    with serve_app(app) as url:
        client = OpenAI(base_url=f"{url}/compatible-mode/v1", api_key="unused", max_retries=0)
        response = client.responses.create(model="m", input="shout hi")
    tool, answer = response.output
    assert answer.type == "message"
    assert tool.type == "mcp_call" and tool.server_label == "calc"
    assert tool.name == "mcp__calc__shout" and json.loads(tool.arguments) == {"text": "hi"}
    assert tool.output == "HI" and tool.status == "completed"
    assert response.output_text == "HI it is."


async def test_a_stdio_server_s_tools_in_a_toolkit():
    server = McpServer(
        "sdk",
        command=sys.executable,
        args=["-m", "tests.fakes.mcp_server_sdk"],
        env={"PYTHONPATH": str(ROOT)},
    )
    toolkit = Toolkit()
    async with server:
        names = await toolkit.add_mcp_server(server)
        assert sorted(names) == ["mcp__sdk__add", "mcp__sdk__png", "mcp__sdk__shout"]
        assert await toolkit.call("mcp__sdk__add", '{"a": 1, "b": 2}') == ("3", False)
        image, failed = await toolkit.call("mcp__sdk__png", "{}")
        assert image == "[image: image/png, 75 bytes]" and failed is False
        text, failed = await toolkit.call("mcp__sdk__add", '{"a": "x", "b": 2}')
        assert failed is True and "validation error" in text.lower()
    text, failed = await toolkit.call("mcp__sdk__add", '{"a": 1, "b": 2}')
    assert failed is True and "not connected" in text


def test_call_kind_tells_mcp_tools_from_plugins():
    assert call_kind("mcp__calc__add") == (
        "mcp_call",
        "mcp_call_output",
        {"server_label": "calc", "tool": "add"},
    )
    assert call_kind("get_current_time") == ("plugin_call", "plugin_call_output", {})
    assert call_kind("mcp__x")[0] == "plugin_call"
    with pytest.raises(ValueError):
        McpServer("bad name", url="http://127.0.0.1:1/mcp")
    with pytest.raises(ValueError):
        McpServer("both", url="http://127.0.0.1:1/mcp", command="x")

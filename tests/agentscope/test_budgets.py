"""Turn budgets over agentscope 2.x: its agent calls its model and tools with its own clients,
and the adapter reports each call from the agent's events, so the same TURN_MAX_* bound it.

The model (the emulator's endpoint on 127.0.0.1) answers every request with another call
of ``add``; agentscope's own iteration cap is left at its default, above the budgets.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import httpx
import pytest

from functions.runtime.server import build_app
from functions.runtime.settings import Settings
from functions.runtime.storage.memory import MemoryStore
from tests.agentscope.apps import agentscope_app
from tests.agentscope.stream import events_of, messages
from tests.fakes.openai_server import FakeOpenAIServer, text_reply, tool_calls_reply
from tests.fixtures.servers import serve_app


@pytest.fixture
def model() -> Iterator[FakeOpenAIServer]:
    ids = itertools.count(1)
    with FakeOpenAIServer(
        respond=lambda _body: tool_calls_reply([(f"call_{next(ids)}", "add", '{"a": 1, "b": 2}')])
    ) as server:
        yield server


def turn(url: str, text: str) -> list[dict]:
    body = {
        "session_id": "s1",
        "input": [{"role": "user", "content": [{"type": "text", "text": text}]}],
    }
    resp = httpx.post(f"{url}/process", json=body, timeout=60)
    assert resp.status_code == 200, resp.text
    return events_of(resp.text)


@pytest.mark.parametrize(
    ("setting", "value", "model_calls", "tool_runs"),
    [
        ("turn_max_tool_calls", 2, 3, 2),  # the third call is asked for, never run
        ("turn_max_model_calls", 2, 2, 2),  # the third model call is never sent
        ("turn_max_output_tokens", 30, 2, 1),  # 19 tokens a call: spent after the second
    ],
)
def test_an_agentscope_agent_that_never_stops_calling_tools_is_stopped_by_the_budget(
    model, setting, value, model_calls, tool_runs
):
    settings = Settings(store_url="memory://", **{setting: value})
    app = build_app(agentscope_app(model.base_url), settings, store=MemoryStore())
    with serve_app(app) as url:
        events = turn(url, "add forever")
        model.push(text_reply("I stop."))
        after = turn(url, "enough")
    final = events[-1]
    assert final["status"] == "incomplete", final
    assert final["error"]["code"] == "budget_exceeded"
    assert final["error"]["message"].startswith(setting.upper() + ": ")
    assert len(messages(events, "plugin_call_output")) == tool_runs
    assert len(model.requests) == model_calls + 1  # and the next turn's one
    assert after[-1]["status"] == "completed"
    assert messages(after, "message")[-1]["content"][0]["text"] == "I stop."

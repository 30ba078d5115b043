"""Turn budgets (TURN_MAX_*) on real servers: a model that never stops asking for tools, a
handler that never finishes, on /process and on the Responses API (the official client).

The model is the emulator's Chat Completions endpoint answering every request with another
tool call; the app runs every call it is asked for, with no step limit of its own
(``tests.apps.tool_loop_app``). Only a budget ends its turns: each must end ``incomplete``
with ``budget_exceeded`` naming the budget, keep what the turn produced, and leave the
session free for the next turn.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Iterator

import httpx
import pytest
from openai import OpenAI

from functions.runtime.server import build_app
from functions.runtime.services import SessionHistoryService
from functions.runtime.settings import Settings
from functions.runtime.storage import open_store
from tests.apps import slow, slow_app, tool_loop_app
from tests.fakes.openai_server import FakeOpenAIServer, text_reply, tool_calls_reply
from tests.fixtures.servers import serve_app


@pytest.fixture(autouse=True)
def _reset_slow():
    slow.reset()
    yield


@pytest.fixture
def looping_model() -> Iterator[FakeOpenAIServer]:
    """Answers every request with a call of ``ping`` (19 output tokens each)."""
    ids = itertools.count(1)
    with FakeOpenAIServer(
        respond=lambda _body: tool_calls_reply([(f"call_{next(ids)}", "ping", "{}")])
    ) as server:
        yield server


@pytest.fixture
def store_url(tmp_path) -> str:
    return f"file://{tmp_path}/store"


def serve(app, store_url: str, **settings):
    return serve_app(build_app(app, Settings(store_url=store_url, **settings)))


def events_of(text: str) -> list[dict]:
    return [json.loads(x[6:]) for x in text.splitlines() if x.startswith("data: ")]


def ask(url: str, session_id: str, text: str, stream: bool = True) -> dict:
    """The final response of a /process turn (streamed: the last event)."""
    body = {
        "session_id": session_id,
        "stream": stream,
        "input": [{"role": "user", "content": [{"type": "text", "text": text}]}],
    }
    resp = httpx.post(f"{url}/process", json=body, timeout=60)
    assert resp.status_code == 200, resp.text
    return events_of(resp.text)[-1] if stream else resp.json()


def history(store_url: str, session_id: str) -> list[dict]:
    async def load() -> list[dict]:
        store = open_store(store_url)
        try:
            session = await SessionHistoryService(store).get_session("default", session_id)
            return session.messages if session else []
        finally:
            await store.close()

    return asyncio.run(load())


def of_type(messages: list[dict], kind: str) -> list[dict]:
    return [m for m in messages if m.get("type") == kind]


def test_tool_calls_budget_ends_the_turn_keeps_its_output_and_the_session_goes_on(
    looping_model, store_url
):
    with serve(tool_loop_app(looping_model.base_url), store_url, turn_max_tool_calls=3) as url:
        final = ask(url, "s1", "keep pinging")
        assert final["status"] == "incomplete"
        assert final["error"]["code"] == "budget_exceeded"
        assert final["error"]["message"].startswith("TURN_MAX_TOOL_CALLS: ")
        # three calls ran; the model asked for a fourth, which never ran
        assert len(of_type(final["output"], "plugin_call_output")) == 3
        assert len(of_type(final["output"], "plugin_call")) == 4
        assert len(looping_model.requests) == 4

        looping_model.push(text_reply("done pinging"))
        after = ask(url, "s1", "now stop")  # the session is free and continues
    assert after["status"] == "completed"
    assert after["output"][-1]["content"][0]["text"] == "done pinging"
    said = history(store_url, "s1")
    assert said[0]["content"][0]["text"] == "keep pinging"
    assert len(of_type(said, "plugin_call_output")) == 3
    # the next turn's model saw the three answered calls, not the refused one
    sent = looping_model.last_request.body["messages"]
    assert [m["role"] for m in sent].count("tool") == 3


def test_model_calls_budget_refuses_the_call_before_it_is_sent(looping_model, store_url):
    with serve(tool_loop_app(looping_model.base_url), store_url, turn_max_model_calls=2) as url:
        final = ask(url, "s2", "keep pinging", stream=False)
    assert final["status"] == "incomplete"
    assert final["error"]["code"] == "budget_exceeded"
    assert "TURN_MAX_MODEL_CALLS" in final["error"]["message"]
    assert len(looping_model.requests) == 2
    assert len(of_type(final["output"], "plugin_call_output")) == 2
    assert final["usage"]["output_tokens"] == 2 * 19
    assert len(of_type(history(store_url, "s2"), "plugin_call_output")) == 2


def test_output_tokens_budget_stops_once_the_calls_reported_that_many(looping_model, store_url):
    app = tool_loop_app(looping_model.base_url)
    with serve(app, store_url, turn_max_output_tokens=30) as url:
        final = ask(url, "s3", "keep pinging")
    assert final["status"] == "incomplete"
    assert final["error"]["code"] == "budget_exceeded"
    assert "TURN_MAX_OUTPUT_TOKENS" in final["error"]["message"]
    # 19 tokens: one more call allowed; 38: spent, so neither its tool nor a third call ran
    assert len(looping_model.requests) == 2
    assert len(of_type(final["output"], "plugin_call_output")) == 1


def test_seconds_budget_stops_a_handler_that_never_finishes(store_url):
    with serve(slow_app, store_url, turn_max_seconds=0.5) as url:
        final = ask(url, "s4", "slow")
        assert final["status"] == "incomplete"
        assert final["error"]["code"] == "budget_exceeded"
        assert final["error"]["message"].startswith("TURN_MAX_SECONDS: ")
        assert final["output"][0]["content"][0]["text"] == "working: "
        assert slow.finished.is_set()  # its tool was cancelled, not left running
        after = ask(url, "s4", "hello")
    assert after["status"] == "completed"
    said = history(store_url, "s4")
    assert said[1]["status"] == "incomplete" and said[1]["content"][0]["text"] == "working: "


def client(url: str) -> OpenAI:
    return OpenAI(base_url=f"{url}/compatible-mode/v1", api_key="unused", max_retries=0)


def test_responses_api_shows_the_budget_as_an_incomplete_response(looping_model, store_url):
    with serve(tool_loop_app(looping_model.base_url), store_url, turn_max_tool_calls=2) as url:
        openai = client(url)
        response = openai.responses.create(model="any", input="keep pinging")
        events = list(openai.responses.create(model="any", input="again", stream=True))
        kept = openai.responses.retrieve(response.id)
        looping_model.push(text_reply("done"))
        after = openai.responses.create(
            model="any", input="now stop", previous_response_id=response.id
        )
    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "budget_exceeded"
    assert response.error.code == "budget_exceeded"
    assert "TURN_MAX_TOOL_CALLS" in response.error.message
    calls = [item for item in response.output if item.type == "mcp_call"]
    assert [c.output for c in calls] == ["pong", "pong", None]  # the third never ran
    assert kept.status == "incomplete" and kept.error.code == "budget_exceeded"

    assert events[0].type == "response.created"
    assert events[-1].type == "response.incomplete"
    assert events[-1].response.incomplete_details.reason == "budget_exceeded"
    assert after.status == "completed" and after.output_text == "done"


def test_responses_api_names_the_output_token_budget_max_output_tokens(looping_model, store_url):
    app = tool_loop_app(looping_model.base_url)
    with serve(app, store_url, turn_max_output_tokens=10) as url:
        response = client(url).responses.create(model="any", input="keep pinging")
    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.error.code == "budget_exceeded"


def test_ag_ui_ends_a_run_cut_by_a_budget_cancelled_and_says_why(looping_model, store_url):
    from ag_ui.core import EventType

    from tests.integration.test_agui import run, run_input

    with serve(tool_loop_app(looping_model.base_url), store_url, turn_max_tool_calls=1) as url:
        events = run(url, run_input("t1", [{"id": "u1", "role": "user", "content": "ping"}]))
    custom, finished = events[-2:]
    assert custom.type == EventType.CUSTOM and custom.name == "budget_exceeded"
    assert custom.value["message"].startswith("TURN_MAX_TOOL_CALLS: ")
    assert finished.type == EventType.RUN_FINISHED and finished.outcome.type == "cancelled"
    results = [e for e in events if e.type == EventType.TOOL_CALL_RESULT]
    assert [r.content for r in results] == ["pong"]


def endless_app(awaits: bool):
    """Streams text for ever, its pieces always ready (``awaits``: giving the loop a turn
    between them): only the output budget ends its turns."""
    from functions.runtime.app import AgentApp

    app = AgentApp(app_name="endless")

    @app.query(framework="text")
    async def endless(self, msgs, request, **kwargs):
        if "hello" in str(msgs):
            yield "hi"
            return
        while True:
            yield "e" * 1000
            if awaits:
                await asyncio.sleep(0)

    return app


@pytest.mark.parametrize("awaits", [False, True], ids=["ready", "awaiting"])
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "json"])
def test_output_chars_budget_ends_a_turn_that_never_stops_talking(store_url, awaits, stream):
    limit = 50_000
    with serve(endless_app(awaits), store_url, turn_max_output_chars=limit) as url:
        final = ask(url, "s5", "talk", stream=stream)
        assert final["status"] == "incomplete"
        assert final["error"]["code"] == "budget_exceeded"
        assert final["error"]["message"].startswith("TURN_MAX_OUTPUT_CHARS: ")
        kept = final["output"][0]["content"][0]["text"]
        # stopped at the delta that passed the limit (a run of ready text is one delta)
        assert limit < len(kept) <= limit + 65_536 and set(kept) == {"e"}
        after = ask(url, "s5", "hello")
    assert after["status"] == "completed"
    said = history(store_url, "s5")
    assert said[1]["status"] == "incomplete" and said[1]["content"][0]["text"] == kept

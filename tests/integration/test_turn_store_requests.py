"""The store requests of one ``/process`` turn (issue 23): a fresh session <= 4, a continued
one <= 5, on whichever instance the turn lands, and its history readable by the state
function's routes afterwards. Real uvicorn servers on 127.0.0.1 over one shared store."""

from __future__ import annotations

import json
from typing import Any

import httpx

from functions.runtime.server import build_app
from functions.runtime.services import CountingStore
from functions.runtime.settings import Settings
from functions.runtime.storage.memory import MemoryStore
from functions.state.app import create_app as create_state_app
from tests.apps import echo_app
from tests.fixtures.servers import serve_app


def say(text: str, session_id: str) -> dict[str, Any]:
    return {
        "session_id": session_id,
        "input": [{"role": "user", "content": [{"type": "text", "text": text}]}],
    }


def final_text(answer: httpx.Response) -> str:
    events = [json.loads(x[6:]) for x in answer.text.splitlines() if x.startswith("data: ")]
    assert events[-1]["status"] == "completed", events[-1]
    return events[-1]["output"][0]["content"][0]["text"]


def test_a_fresh_turn_costs_four_requests_and_a_continued_one_five_on_any_instance():
    shared = MemoryStore()
    a, b = CountingStore(shared), CountingStore(shared)  # two instances of the query function
    settings = Settings(store_url="memory://")
    with (
        serve_app(build_app(echo_app, settings, store=a)) as url_a,
        serve_app(build_app(echo_app, settings, store=b)) as url_b,
    ):
        a.reset()
        assert final_text(httpx.post(f"{url_a}/process", json=say("one", "s1"))) == "turn 1: one"
        assert a.total <= 4, a.counts
        b.reset()  # the next turn lands on the other instance: nothing of a's is assumed
        assert final_text(httpx.post(f"{url_b}/process", json=say("two", "s1"))) == (
            "turn 2: two | before: one"
        )
        assert b.total <= 5, b.counts
        a.reset()
        final_text(httpx.post(f"{url_a}/process", json=say("three", "s1")))
        assert a.total <= 5, a.counts
        a.reset()
        created = httpx.post(f"{url_a}/process", json={"input": say("new", "x")["input"]})
        final_text(created)
        assert a.total <= 3, a.counts  # an id made for the request: nothing to read


def test_turns_written_this_way_are_what_the_state_function_serves():
    store = MemoryStore()
    settings = Settings(store_url="memory://")
    with (
        serve_app(build_app(echo_app, settings, store=store)) as query,
        serve_app(create_state_app(settings, store=store)) as state,
    ):
        for text in ("one", "two"):
            final_text(httpx.post(f"{query}/process", json={**say(text, "s1"), "user_id": "u"}))
        sessions = httpx.get(f"{state}/v1/users/u/sessions").json()
        assert [s["id"] for s in sessions["items"]] == ["s1"]
        messages = httpx.get(f"{state}/v1/users/u/sessions/s1/messages").json()["items"]
        said = [m["content"][0]["text"] for m in messages]
        assert said == ["one", "turn 1: one", "two", "turn 2: two | before: one"]
        appended = httpx.post(
            f"{state}/v1/users/u/sessions/s1/messages",
            json={"role": "user", "content": [{"type": "text", "text": "by hand"}]},
        )
        assert appended.status_code == 201, appended.text
        answer = httpx.post(f"{query}/process", json={**say("three", "s1"), "user_id": "u"})
        assert final_text(answer) == "turn 4: three | before: one / two / by hand"
        assert httpx.delete(f"{state}/v1/users/u/sessions/s1").status_code == 204
        assert httpx.get(f"{state}/v1/users/u/sessions").json()["items"] == []


def test_a_responses_turn_costs_a_process_turn_and_its_stored_response():
    """A Responses API turn costs what a ``/process`` turn does, plus the write of its
    stored response; continuing one by ``previous_response_id`` reads it first, and the
    turn checks where the conversation stands in the session it loads anyway."""
    shared = MemoryStore()
    a, b = CountingStore(shared), CountingStore(shared)
    settings = Settings(store_url="memory://")
    with (
        serve_app(build_app(echo_app, settings, store=a)) as url_a,
        serve_app(build_app(echo_app, settings, store=b)) as url_b,
    ):
        responses = f"{url_a}/compatible-mode/v1/responses"
        a.reset()
        first = httpx.post(responses, json={"model": "m", "input": "one"}).json()
        assert first["status"] == "completed" and a.total <= 3 + 1, a.counts  # an id made
        a.reset()
        given = httpx.post(responses, json={"model": "m", "input": "x", "session_id": "s9"})
        assert given.json()["status"] == "completed" and a.total <= 4 + 1, a.counts
        b.reset()
        second = httpx.post(
            f"{url_b}/compatible-mode/v1/responses",
            json={"model": "m", "input": "two", "previous_response_id": first["id"]},
        ).json()
        assert second["output"][0]["content"][0]["text"] == "turn 2: two | before: one"
        assert b.total <= 1 + 5 + 1, b.counts
        b.reset()
        kept = httpx.get(f"{url_b}/compatible-mode/v1/responses/{second['id']}").json()
        assert kept == second and b.total <= 1, b.counts

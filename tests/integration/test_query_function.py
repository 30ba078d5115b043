"""The query function's /process under a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.parse

import httpx
import pytest

from functions.runtime.server import build_app
from functions.runtime.services.lock import lock_key
from functions.runtime.settings import Settings
from functions.runtime.storage.memory import MemoryStore
from tests.apps import echo_app, failing_app, gate, gated_app
from tests.fixtures.servers import serve_app

SEED_BODY = {
    "input": [
        {"role": "user", "content": [{"type": "text", "text": "What is the capital of France?"}]}
    ]
}


def events_of(text: str) -> list[dict]:
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


@pytest.fixture
def store():
    return MemoryStore()


@pytest.fixture
def serve(store):
    def _serve(app, **settings):
        return serve_app(build_app(app, Settings(store_url="memory://", **settings), store=store))

    return _serve


@pytest.fixture(autouse=True)
def _open_gate():
    gate.reset()
    yield
    gate.release.set()


def test_seed_curl_body_streams_events_in_order(serve):
    with serve(echo_app) as url:
        resp = httpx.post(f"{url}/process", json=SEED_BODY)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/event-stream")
    frames = resp.text.split("\n\n")
    assert frames[-1] == "" and all(f.startswith("data: ") for f in frames[:-1])
    events = events_of(resp.text)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    kinds = [(e["object"], e["status"]) for e in events]
    n_deltas = len(kinds) - 6
    assert n_deltas >= 2
    assert kinds == [
        ("response", "created"),
        ("response", "in_progress"),
        ("message", "in_progress"),
        *[("content", "in_progress")] * n_deltas,
        ("content", "completed"),
        ("message", "completed"),
        ("response", "completed"),
    ]
    text = "turn 1: What is the capital of France?"
    deltas = [e for e in events if e["object"] == "content" and e.get("delta")]
    assert "".join(e["text"] for e in deltas) == text
    assert events[-3]["text"] == text and events[-3]["delta"] is False
    session_id = resp.headers["x-session-id"]
    assert events[0]["session_id"] == session_id == events[-1]["session_id"]
    assert events[-1]["output"][0]["content"][0]["text"] == text


@pytest.mark.parametrize(
    "body, where",
    [
        (b"{not json", None),
        (b'{"input": []}', "input"),
        (b'{"input": [{"role": "user", "content": "x"}]}', "input"),
        (json.dumps({**SEED_BODY, "session_id": "x" * 257}).encode(), "session_id"),
        (json.dumps({**SEED_BODY, "user_id": "tab\tin"}).encode(), "user_id"),
        (json.dumps({**SEED_BODY, "temperature": "hot"}).encode(), "temperature"),
    ],
)
def test_malformed_body_is_422_json_before_any_stream(serve, body, where):
    with serve(echo_app) as url:
        resp = httpx.post(
            f"{url}/process", content=body, headers={"content-type": "application/json"}
        )
    assert resp.status_code == 422
    assert resp.headers["content-type"] == "application/json"
    payload = resp.json()
    assert payload["code"] == "invalid_request" and payload["detail"]
    if where:
        assert any(where in map(str, err["loc"]) for err in payload["detail"])


def test_handler_exception_ends_with_failed(serve):
    with serve(failing_app) as url:
        resp = httpx.post(f"{url}/process", json=SEED_BODY)
    assert resp.status_code == 200
    events = events_of(resp.text)
    final = events[-1]
    assert final["object"] == "response" and final["status"] == "failed"
    assert final["error"]["code"] == "agent_error"
    assert "deliberate failure" in final["error"]["message"]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))


def test_stream_false_returns_final_response_json(serve):
    with serve(echo_app) as url:
        resp = httpx.post(f"{url}/process", json={**SEED_BODY, "stream": False})
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/json"
    body = resp.json()
    assert body["object"] == "response" and body["status"] == "completed"
    assert body["output"][0]["content"][0]["text"] == "turn 1: What is the capital of France?"
    assert body["session_id"] == resp.headers["x-session-id"]


def test_the_session_header_decodes_to_the_session_id(serve):
    """Percent-decoding ``X-Session-Id`` gives the id back, whatever it holds: ids that
    differ get headers that differ (a ``%`` in an id, spaces at its ends, non-ASCII)."""
    ids = ["é", "%C3%A9", " x ", "x", "100%", "a b", "chat-1"]
    with serve(echo_app) as url:
        headers = [
            httpx.post(
                f"{url}/process", json={**SEED_BODY, "session_id": sid, "stream": False}
            ).headers["x-session-id"]
            for sid in ids
        ]
    assert [urllib.parse.unquote(h) for h in headers] == ids
    assert headers[-2:] == ["a b", "chat-1"]  # plain ASCII goes as it is


def test_given_session_id_is_used_and_remembered(serve):
    body = {**SEED_BODY, "session_id": "chat-1", "user_id": "alice"}
    with serve(echo_app) as url:
        httpx.post(f"{url}/process", json=body)
        second = httpx.post(
            f"{url}/process",
            json={
                **body,
                "input": [{"role": "user", "content": [{"type": "text", "text": "again"}]}],
            },
        )
    assert second.headers["x-session-id"] == "chat-1"
    final = events_of(second.text)[-1]
    assert final["output"][0]["content"][0]["text"] == (
        "turn 2: again | before: What is the capital of France?"
    )


def test_keep_alive_pings_while_handler_is_silent(serve):
    with (
        serve(gated_app, sse_ping_interval_s=0.05) as url,
        httpx.stream("POST", f"{url}/process", json=SEED_BODY, timeout=30) as resp,
    ):
        seen = []
        for line in resp.iter_lines():
            seen.append(line)
            if line == ": ping":
                gate.release.set()  # the handler stays silent until we have seen a ping
    assert ": ping" in seen
    events = [json.loads(x[6:]) for x in seen if x.startswith("data: ")]
    assert events[-1]["status"] == "completed"
    assert events[-1]["output"][0]["content"][0]["text"] == "waiting released"
    first_ping = seen.index(": ping")
    assert any(x.startswith("data: ") and '"waiting "' in x for x in seen[:first_ping])


def test_fifty_concurrent_requests_without_session_all_complete(serve):
    async def run(url):
        async with httpx.AsyncClient(timeout=60) as client:

            async def one(i):
                body = {"input": [{"role": "user", "content": [{"type": "text", "text": f"q{i}"}]}]}
                resp = await client.post(f"{url}/process", json=body)
                return resp.status_code, resp.headers["x-session-id"], events_of(resp.text)[-1]

            return await asyncio.gather(*(one(i) for i in range(50)))

    with serve(echo_app) as url:
        results = asyncio.run(run(url))
    assert all(status == 200 for status, _, _ in results)
    assert len({sid for _, sid, _ in results}) == 50
    for i, (_, _, final) in enumerate(results):
        assert final["status"] == "completed"
        assert final["output"][0]["content"][0]["text"] == f"turn 1: q{i}"


def test_concurrent_request_on_a_busy_session_gets_409(serve):
    body = {**SEED_BODY, "session_id": "busy-1"}
    with serve(gated_app) as url:
        results = {}

        def first():
            results["first"] = httpx.post(f"{url}/process", json=body, timeout=30)

        t = threading.Thread(target=first)
        t.start()
        assert gate.entered.wait(10)
        second = httpx.post(f"{url}/process", json=body)
        gate.release.set()
        t.join(10)
        gate.reset()
        gate.release.set()
        third = httpx.post(f"{url}/process", json=body, timeout=30)
    assert second.status_code == 409
    assert second.json()["code"] == "session_busy" and "busy-1" in second.json()["detail"]
    assert events_of(results["first"].text)[-1]["status"] == "completed"
    assert third.status_code == 200 and events_of(third.text)[-1]["status"] == "completed"


def test_client_disconnect_frees_the_session_and_records_what_was_said(serve, store):
    body = {**SEED_BODY, "session_id": "cut-1", "user_id": "bob"}
    with serve(gated_app) as url:
        with httpx.stream("POST", f"{url}/process", json=body, timeout=30) as resp:
            for line in resp.iter_lines():
                if line.startswith("data: ") and '"waiting "' in line:
                    break  # leave mid-stream: the handler is still running
        assert gate.cleaned_up.wait(10), "the handler was not cancelled after the disconnect"
        gate.reset()
        gate.release.set()
        # the lease is released right after the handler's cleanup; wait for that state
        lease = lock_key("bob", "cut-1")
        for _ in range(500):
            if asyncio.run(store.get(lease)) is None:
                break
            threading.Event().wait(0.01)
        again = httpx.post(f"{url}/process", json=body, timeout=30)
    assert again.status_code == 200
    assert events_of(again.text)[-1]["status"] == "completed"
    from functions.runtime.services import SessionHistoryService

    session = asyncio.run(SessionHistoryService(store).get_session("bob", "cut-1"))
    first_turn = session.messages[:2]
    assert first_turn[0]["role"] == "user"
    assert first_turn[1]["status"] == "incomplete"
    assert first_turn[1]["content"][0]["text"] == "waiting "


def test_health(serve):
    with serve(echo_app) as url:
        assert httpx.get(f"{url}/health").json() == {"status": "ok", "app": "echo"}


def test_store_down_is_503_json_before_any_stream(unreachable_store_settings):
    with serve_app(build_app(echo_app, unreachable_store_settings)) as url:
        resp = httpx.post(f"{url}/process", json={**SEED_BODY, "session_id": "s1"}, timeout=30)
    assert resp.status_code == 503
    assert resp.headers["content-type"].startswith("application/json")
    assert resp.json()["code"] == "store_unavailable"


def test_the_request_id_names_the_response(serve):
    with serve(echo_app) as url:
        resp = httpx.post(f"{url}/process", json={**SEED_BODY, "id": "req-42"})
        plain = httpx.post(f"{url}/process", json={**SEED_BODY, "id": "req-43", "stream": False})
    responses = [e for e in events_of(resp.text) if e["object"] == "response"]
    assert [e["id"] for e in responses] == ["req-42"] * 3
    assert plain.json()["id"] == "req-43"

"""A store that refuses writes (full disk, read-only, S3/OSS 5xx after retries): every write
route of the query and state functions answers 503 JSON ``store_unavailable``, a stream in
flight ends ``failed``, ``/health`` says the store is unwritable, reads still answer, and
everything works again once the store does. (The sandbox function: tests/sandbox.)"""

from __future__ import annotations

import json

import httpx
import pytest

from functions.runtime.server import build_app
from functions.state.app import create_app as state_app
from tests.apps import echo_app, gate, gated_app
from tests.fixtures.servers import serve_app
from tests.fixtures.store_faults import RefusingStore

U = "/v1/users/u"
MESSAGE = {"role": "user", "content": [{"type": "text", "text": "hi"}]}
SEED = {"input": [MESSAGE]}


def assert_unavailable(resp: httpx.Response, code: str = "store_unavailable") -> None:
    assert resp.status_code == 503, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    assert resp.json()["code"] == code


def events_of(text: str) -> list[dict]:
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


def test_every_write_of_the_state_function_is_503_json(refusing_store: RefusingStore):
    with serve_app(state_app(refusing_store.settings)) as base, httpx.Client(base_url=base) as c:
        c.post(f"{U}/sessions", json={"session_id": "s"}).raise_for_status()
        c.post(f"{U}/sessions/s/messages", json=MESSAGE).raise_for_status()
        c.put(f"{U}/sessions/s/state", json={"n": 1}).raise_for_status()
        c.post(f"{U}/memory", json={"messages": MESSAGE, "session_id": "s"}).raise_for_status()
        assert c.get("/health").json() == {"status": "ok"}

        refusing_store.refuse()
        writes = [
            c.post(f"{U}/sessions", json={"session_id": "t"}),
            c.post(f"{U}/sessions", json={}),
            c.post(f"{U}/sessions/s/messages", json=MESSAGE),
            c.post(f"{U}/sessions/s/messages", json=[MESSAGE, MESSAGE]),
            c.put(f"{U}/sessions/s/state", json={"n": 2}),
            c.post(f"{U}/sessions/s/state", json={"n": 2}, params={"round_id": 1}),
            c.post(f"{U}/memory", json={"messages": MESSAGE, "session_id": "s"}),
        ]
        for resp in writes:
            assert_unavailable(resp)
        if refusing_store.refuses_deletes:  # a full disk still takes deletes
            assert_unavailable(c.delete(f"{U}/memory", params={"session_id": "s"}))
            assert_unavailable(c.delete(f"{U}/memory"))
            assert_unavailable(c.delete(f"{U}/sessions/s"))
        assert_unavailable(c.get("/health"), "store_unwritable")
        # reads still answer, and nothing half-written shows
        assert [m["content"] for m in c.get(f"{U}/sessions/s").json()["messages"]] == [
            MESSAGE["content"]
        ]
        assert c.get(f"{U}/sessions/s/state").json() == {"round_id": 1, "state": {"n": 1}}
        assert c.post(f"{U}/memory/search", json={"query": "hi"}).status_code == 200

        refusing_store.allow()
        assert c.get("/health").json() == {"status": "ok"}  # a failure is never cached
        assert c.put(f"{U}/sessions/s/state", json={"n": 2}).json() == {"round_id": 2}
        assert c.delete(f"{U}/sessions/s").status_code == 204


def test_process_is_503_json_before_any_stream(refusing_store: RefusingStore):
    with serve_app(build_app(echo_app, refusing_store.settings)) as base:
        assert httpx.get(f"{base}/health").json()["status"] == "ok"
        refusing_store.refuse()
        for body in (SEED, {**SEED, "session_id": "s1"}, {**SEED, "stream": False}):
            assert_unavailable(httpx.post(f"{base}/process", json=body, timeout=30))
        assert_unavailable(httpx.get(f"{base}/health"), "store_unwritable")
        refusing_store.allow()
        final = events_of(httpx.post(f"{base}/process", json=SEED, timeout=30).text)[-1]
        assert final["status"] == "completed"


@pytest.fixture
def _open_gate():
    gate.reset()
    yield
    gate.release.set()


def test_a_stream_in_flight_ends_failed_when_the_store_stops_taking_writes(
    refusing_store: RefusingStore, _open_gate
):
    app = build_app(gated_app, refusing_store.settings)
    with serve_app(app) as base, httpx.Client(timeout=30) as client:
        body = {**SEED, "session_id": "s1"}
        with client.stream("POST", f"{base}/process", json=body) as resp:
            assert resp.status_code == 200
            lines = resp.iter_lines()
            seen = []
            for line in lines:
                if line.startswith("data: "):
                    seen.append(json.loads(line[6:]))
                if gate.entered.is_set():
                    break
            gate.entered.wait(30)
            refusing_store.refuse()
            gate.release.set()
            seen += [json.loads(line[6:]) for line in lines if line.startswith("data: ")]
        final = seen[-1]
        assert final["object"] == "response" and final["status"] == "failed", final
        assert final["error"]["code"] == "store_unavailable"
        refusing_store.allow()
        # (a lease the store would not let go of expires: see the lease tests)
        again = httpx.post(f"{base}/process", json={**SEED, "stream": False}, timeout=30)
        assert again.status_code == 200 and again.json()["status"] == "completed"

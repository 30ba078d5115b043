"""Stop and resume across query-function instances on one store, and the lease heartbeat.

Instance A streams a turn whose tool never ends on its own; the stop request goes to
instance B. Waits are on events and conditions with deadlines, never on the clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from ag_ui.core import Event, EventType
from openai import OpenAI
from pydantic import TypeAdapter

from functions.runtime.server import build_app
from functions.runtime.services import SessionHistoryService
from functions.runtime.services.lock import lock_key
from functions.runtime.settings import Settings
from functions.runtime.storage import open_store
from local_emulator.tokens import mint_token
from tests.apps import slow, slow_app
from tests.fixtures.servers import query_function_process, serve_app
from tests.integration.test_agui import run_input

DEADLINE_S = 30.0


@pytest.fixture(autouse=True)
def _reset_slow():
    slow.reset()
    yield


@pytest.fixture
def store_url(tmp_path):
    return f"file://{tmp_path}/store"


@pytest.fixture
def two_instances(store_url):
    """Two query-function instances (own Instance, own store client) on one store."""
    settings = Settings(store_url=store_url, stop_poll_interval_s=0.1)
    with (
        serve_app(build_app(slow_app, settings)) as a,
        serve_app(build_app(slow_app, settings)) as b,
    ):
        yield a, b


def events_of(text: str) -> list[dict]:
    return [json.loads(x[6:]) for x in text.splitlines() if x.startswith("data: ")]


def history(
    store_url: str, session_id: str, user_id: str = "default", settings: Settings | None = None
) -> list[dict]:
    async def load() -> list[dict]:
        store = open_store(store_url, settings)
        try:
            session = await SessionHistoryService(store).get_session(user_id, session_id)
            return session.messages if session else []
        finally:
            await store.close()

    return asyncio.run(load())


def wait_for(condition, what: str, deadline_s: float = DEADLINE_S):
    """Poll ``condition`` until it is truthy (a deadline, not a timing assumption)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


@contextlib.contextmanager
def posted_then_gone(url: str, body: bytes) -> Iterator[None]:
    """``POST /process`` with ``body`` on a raw connection, which closes when the block
    ends: a client that leaves without reading the answer."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            f"POST /process HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        yield


def say(url: str, session_id: str, text: str) -> httpx.Response:
    body = {
        "session_id": session_id,
        "stream": False,
        "input": [{"role": "user", "content": [{"type": "text", "text": text}]}],
    }
    return httpx.post(f"{url}/process", json=body, timeout=30)


def test_stop_on_another_instance_cancels_the_stream_and_the_session_resumes(
    two_instances, store_url
):
    a, b = two_instances
    sid = uuid.uuid4().hex
    body = {
        "session_id": sid,
        "input": [{"role": "user", "content": [{"text": "slow", "type": "text"}]}],
    }
    with ThreadPoolExecutor(1) as pool:
        streaming = pool.submit(lambda: httpx.post(f"{a}/process", json=body, timeout=60))
        assert slow.started.wait(DEADLINE_S)
        stopped = httpx.post(f"{b}/process/stop", json={"session_id": sid})
        resp = streaming.result(timeout=DEADLINE_S)
    assert stopped.status_code == 202 and stopped.json() == {
        "session_id": sid,
        "status": "stopping",
    }
    events = events_of(resp.text)
    final = events[-1]
    assert final["object"] == "response" and final["status"] == "canceled"
    assert final["output"][0]["status"] == "incomplete"
    assert final["output"][0]["content"][0]["text"] == "working: "
    assert slow.finished.is_set()  # the tool was cancelled, not left running
    said = history(store_url, sid)
    assert [(m["role"], m["status"]) for m in said] == [
        ("user", "completed"),
        ("assistant", "incomplete"),
    ]
    assert said[1]["content"][0]["text"] == "working: "
    nxt = say(b, sid, "next")
    assert nxt.status_code == 200 and nxt.json()["status"] == "completed"
    assert nxt.json()["output"][0]["content"][0]["text"] == "turn 2: quick reply to next"
    gone = httpx.post(f"{a}/process/stop", json={"session_id": sid})
    assert gone.status_code == 404 and gone.json()["code"] == "no_running_turn"


def test_a_handler_whose_text_is_always_ready_is_stopped(two_instances, store_url):
    a, b = two_instances
    sid = uuid.uuid4().hex
    body = {
        "session_id": sid,
        "input": [{"role": "user", "content": [{"text": "flood", "type": "text"}]}],
    }
    with ThreadPoolExecutor(1) as pool:
        streaming = pool.submit(lambda: httpx.post(f"{a}/process", json=body, timeout=60))
        assert slow.started.wait(DEADLINE_S)
        assert httpx.post(f"{b}/process/stop", json={"session_id": sid}).status_code == 202
        resp = streaming.result(timeout=DEADLINE_S)
    events = events_of(resp.text)
    final = events[-1]
    assert final["object"] == "response" and final["status"] == "canceled"
    streamed = "".join(e["text"] for e in events if e["object"] == "content" and e["delta"])
    kept = final["output"][0]["content"][0]["text"]
    assert streamed and kept == streamed and set(kept) == {"a"}
    said = history(store_url, sid)
    assert said[1]["status"] == "incomplete" and said[1]["content"][0]["text"] == kept


def test_a_stream_false_turn_whose_client_left_is_stopped(two_instances, store_url):
    a, b = two_instances
    sid = uuid.uuid4().hex
    body = json.dumps(
        {
            "session_id": sid,
            "stream": False,
            "input": [{"role": "user", "content": [{"type": "text", "text": "slow"}]}],
        }
    ).encode()
    with posted_then_gone(a, body):
        assert slow.started.wait(DEADLINE_S)
    # the client is gone: the turn stops, keeps what it said, and frees the session
    assert slow.finished.wait(DEADLINE_S)
    nxt = wait_for(lambda: (r := say(b, sid, "next")).status_code == 200 and r, "the session")
    assert nxt.json()["output"][0]["content"][0]["text"] == "turn 2: quick reply to next"
    said = history(store_url, sid)
    assert [(m["role"], m["status"]) for m in said][:2] == [
        ("user", "completed"),
        ("assistant", "incomplete"),
    ]


def test_a_responses_stream_is_stopped_and_continued(two_instances):
    a, b = two_instances
    client = OpenAI(base_url=f"{a}/compatible-mode/v1", api_key="unused", max_retries=0)
    with client.responses.create(model="m", input="slow", stream=True) as stream:
        events = [next(stream), next(stream)]
        sid = events[0].response.model_extra["session_id"]
        assert slow.started.wait(DEADLINE_S)
        assert httpx.post(f"{b}/process/stop", json={"session_id": sid}).status_code == 202
        events += list(stream)
    final = events[-1]
    assert final.type == "response.incomplete" and final.response.status == "cancelled"
    assert final.response.output[0].status == "incomplete"
    kept = OpenAI(base_url=f"{b}/compatible-mode/v1", api_key="unused").responses
    assert kept.retrieve(final.response.id).status == "cancelled"
    after = kept.create(model="m", input="next", previous_response_id=final.response.id)
    assert after.output_text == "turn 2: quick reply to next"


def test_an_agui_run_is_cancelled_by_a_stop(two_instances):
    a, b = two_instances
    thread = uuid.uuid4().hex
    body = run_input(thread, [{"id": "u1", "role": "user", "content": "slow"}])
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(lambda: httpx.post(f"{a}/ag-ui", json=body, timeout=60))
        assert slow.started.wait(DEADLINE_S)
        assert httpx.post(f"{b}/process/stop", json={"session_id": thread}).status_code == 202
        resp = running.result(timeout=DEADLINE_S)
    adapter = TypeAdapter(Event)
    events = [
        adapter.validate_json(x[6:]) for x in resp.text.splitlines() if x.startswith("data: ")
    ]
    assert [e.type for e in events] == [
        EventType.RUN_STARTED,
        EventType.TEXT_MESSAGE_START,
        EventType.TEXT_MESSAGE_CONTENT,
        EventType.TEXT_MESSAGE_END,
        EventType.RUN_FINISHED,
    ]
    assert events[-1].outcome.type == "cancelled"


def test_stop_is_for_the_owner_only(store_url):
    secret = "stop-test-secret-0123456789abcdef"
    settings = Settings(store_url=store_url, auth_mode="jwt", auth_jwt_secret=secret)
    alice = {"Authorization": f"Bearer {mint_token(secret, 'alice')}"}
    bob = {"Authorization": f"Bearer {mint_token(secret, 'bob')}"}
    sid = uuid.uuid4().hex
    body = {
        "session_id": sid,
        "input": [{"role": "user", "content": [{"type": "text", "text": "slow"}]}],
    }
    with serve_app(build_app(slow_app, settings)) as url, ThreadPoolExecutor(1) as pool:
        running = pool.submit(
            lambda: httpx.post(f"{url}/process", json=body, headers=alice, timeout=60)
        )
        assert slow.started.wait(DEADLINE_S)
        as_bob = httpx.post(f"{url}/process/stop", json={"session_id": sid}, headers=bob)
        for_alice = httpx.post(
            f"{url}/process/stop", json={"session_id": sid, "user_id": "alice"}, headers=bob
        )
        mine = httpx.post(f"{url}/process/stop", json={"session_id": sid}, headers=alice)
        resp = running.result(timeout=DEADLINE_S)
    assert as_bob.status_code == 404  # bob has no turn running on a session of that name
    assert for_alice.status_code == 403
    assert mine.status_code == 202
    assert events_of(resp.text)[-1]["status"] == "canceled"


def test_busy_session_answers_409_with_retry_after(two_instances):
    a, b = two_instances
    sid = uuid.uuid4().hex
    body = {
        "session_id": sid,
        "input": [{"role": "user", "content": [{"type": "text", "text": "slow"}]}],
    }
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(lambda: httpx.post(f"{a}/process", json=body, timeout=60))
        assert slow.started.wait(DEADLINE_S)
        busy = say(b, sid, "next")
        httpx.post(f"{b}/process/stop", json={"session_id": sid})
        running.result(timeout=DEADLINE_S)
    assert busy.status_code == 409 and busy.json()["code"] == "session_busy"
    assert 1 <= int(busy.headers["retry-after"]) <= 30


def test_a_killed_instance_frees_its_session_within_the_lease_ttl(tmp_path, store_url):
    """The lease of a running turn is renewed (it outlives its first expiry), and when the
    instance is SIGKILLed mid-stream the session frees itself once the lease lapses."""
    env = {
        "AGENT_APP": "tests.apps:slow_app",
        "STORE_URL": store_url,
        "SESSION_LOCK_TTL_S": "3",
        "STOP_POLL_INTERVAL_S": "0.2",
    }
    sid = uuid.uuid4().hex
    with query_function_process(env) as (proc, url):
        body = {
            "session_id": sid,
            "input": [{"role": "user", "content": [{"type": "text", "text": "slow"}]}],
        }
        started = threading.Event()

        def stream() -> None:
            try:
                with httpx.stream("POST", f"{url}/process", json=body, timeout=60) as resp:
                    for line in resp.iter_lines():
                        if '"working: "' in line:
                            started.set()
            except httpx.TransportError:  # the instance is killed mid-stream
                pass

        reader = threading.Thread(target=stream, daemon=True)
        reader.start()
        assert started.wait(DEADLINE_S)
        store = open_store(store_url)

        def expires_at() -> float:
            found = asyncio.run(store.get(lock_key("default", sid)))
            return json.loads(found[0])["expires_at"] if found else 0.0

        first = expires_at()
        assert first > 0
        wait_for(lambda: expires_at() > first, "the heartbeat to renew the lease")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    settings = Settings(store_url=store_url, session_lock_ttl_s=3)
    answers: list[httpx.Response] = []
    with serve_app(build_app(slow_app, settings)) as other:

        def free() -> bool:
            answers.append(say(other, sid, "next"))
            return answers[-1].status_code == 200

        wait_for(free, "the session to be freed", deadline_s=60)
    busy = [r for r in answers if r.status_code == 409]
    assert all(r.headers.get("retry-after") for r in busy)
    assert answers[-1].json()["output"][0]["content"][0]["text"].endswith("quick reply to next")


def test_a_client_gone_while_its_turn_is_written_leaves_the_session_held_until_it_is(
    store_url_for, fault_proxy
):
    # S3 behind a proxy that holds the turn's commit (the session's snapshot) in flight while
    # the client leaves: the write is not cut short, the lease is not deleted before it has
    # landed, and then the session holds the turn and is free
    config = store_url_for("s3")
    proxy = fault_proxy(config.settings.s3_endpoint_url)
    settings = config.settings.model_copy(update={"s3_endpoint_url": proxy.url})
    sid = uuid.uuid4().hex
    body = json.dumps(
        {
            "session_id": sid,
            "input": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        }
    ).encode()

    def lease_deleted() -> bool:
        return any(m == "DELETE" and "/leases/" in path for m, path in list(proxy.arrived))

    with serve_app(build_app(slow_app, settings)) as url:
        proxy.hold_writes_to = "session-index"
        with posted_then_gone(url, body):
            assert proxy.holding.wait(DEADLINE_S)  # the commit is in flight
        # the client is gone (noticed within sse.WATCH_AFTER_S): no lease is deleted while
        # the write is held - a bound, on code that must never do it, not a timing guess
        end = time.monotonic() + 2.0
        while time.monotonic() < end and not lease_deleted():
            time.sleep(0.02)
        assert not lease_deleted(), "the session was released before its turn was written"
        proxy.release.set()
        nxt = wait_for(lambda: (r := say(url, sid, "next")).status_code == 200 and r, "the session")
        assert nxt.json()["status"] == "completed"
    said = history(config.url, sid, settings=config.settings)
    assert [m["role"] for m in said] == ["user", "assistant", "user", "assistant"]

"""A turn ends cleanly before the platform's deadline: persisted, its final event sent, its
session released - under ``lambda_handler`` (the Lambda context's time left), behind the
Lambda Web Adapter (its ``x-amzn-lambda-context`` deadline) and on FC (FUNCTION_TIMEOUT_S).

The agent is ``tests.apps.slow_app``, whose "slow" turn waits for something that never comes
(``asyncio.sleep(3600)``, cut only by a stop); its other turns answer at once.
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from functions.runtime.entrypoints import lambda_handler_for
from functions.runtime.server import build_app
from functions.runtime.services import SessionHistoryService
from functions.runtime.settings import Settings
from functions.runtime.storage import open_store
from tests.apps import slow, slow_app
from tests.entrypoints.test_lambda_handler import SECRET, process_event, sse_events
from tests.fixtures.servers import serve_app


class LambdaContext:
    """What Lambda's Python runtime passes a handler, counting down from ``seconds`` left."""

    def __init__(self, seconds: float) -> None:
        self.aws_request_id = "deadline-test"
        self.function_name = "query"
        self._deadline = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@pytest.fixture(autouse=True)
def _reset_slow():
    slow.reset()
    yield


def ask(text: str, session_id: str = "d1") -> dict:
    return {
        "session_id": session_id,
        "input": [{"role": "user", "content": [{"type": "text", "text": text}]}],
    }


def saved(store_url: str, user_id: str, session_id: str) -> list[dict]:
    async def load() -> list[dict]:
        store = open_store(store_url)
        try:
            session = await SessionHistoryService(store).get_session(user_id, session_id)
            return session.messages if session else []
        finally:
            await store.close()

    return asyncio.run(load())


def test_under_lambda_handler_a_slow_turn_ends_before_the_deadline(tmp_path):
    store_url = f"file://{tmp_path / 'store'}"
    settings = Settings(
        store_url=store_url, auth_mode="jwt", auth_jwt_secret=SECRET, stop_poll_interval_s=0.1
    )
    handler = lambda_handler_for(build_app(slow_app, settings))
    context = LambdaContext(seconds=2.0)
    answer = handler(process_event(ask("slow"), base64_body=False), context)
    assert context.get_remaining_time_in_millis() > 0  # returned before Lambda would kill it
    assert answer["statusCode"] == 200
    events = sse_events(answer["body"])
    final = events[-1]
    assert final["object"] == "response" and final["status"] == "incomplete"
    assert final["error"]["code"] == "deadline_exceeded"
    assert final["output"][0]["content"][0]["text"] == "working: "
    assert slow.finished.is_set()

    # the session was released: the next invocation runs on it at once
    again = handler(process_event(ask("hello"), base64_body=False), LambdaContext(30.0))
    assert sse_events(again["body"])[-1]["status"] == "completed"
    said = saved(store_url, "alice", "d1")  # (asyncio.run: after the handler's last use)
    assert [m["role"] for m in said] == ["user", "assistant", "user", "assistant"]
    assert said[1]["status"] == "incomplete"
    assert said[1]["content"][0]["text"] == "working: "


def test_behind_the_lambda_web_adapter_the_context_header_says_the_deadline(tmp_path):
    settings = Settings(store_url=f"file://{tmp_path / 'store'}")
    context = {"request_id": "r1", "deadline": int((time.time() + 2.0) * 1000)}
    with serve_app(build_app(slow_app, settings)) as url:
        resp = httpx.post(
            f"{url}/process",
            json={**ask("slow"), "stream": False},
            headers={"x-amzn-lambda-context": json.dumps(context)},
            timeout=30,
        )
        assert time.time() * 1000 < context["deadline"]
        after = httpx.post(f"{url}/process", json={**ask("hi"), "stream": False}, timeout=30)
    final = resp.json()
    assert final["status"] == "incomplete" and final["error"]["code"] == "deadline_exceeded"
    assert after.json()["status"] == "completed"


def test_on_fc_the_function_timeout_counts_from_the_request(tmp_path):
    settings = Settings(store_url=f"file://{tmp_path / 'store'}", function_timeout_s=2.0)
    with serve_app(build_app(slow_app, settings)) as url:
        resp = httpx.post(f"{url}/process", json=ask("slow"), timeout=30)
    final = sse_events(resp.text)[-1]
    assert final["status"] == "incomplete" and final["error"]["code"] == "deadline_exceeded"
    assert "FUNCTION_TIMEOUT_S" in final["error"]["message"]

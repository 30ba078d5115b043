"""A2A 1.0 ``SendMessage`` taken before a2a-sdk's JSON-RPC dispatcher
(``a2a_server.send_message_call``) answers exactly as the dispatcher does.

Every body below goes to one query-function instance twice: with ``A2A-Version: 1.0``
(the front takes what it recognizes) and with ``1.0.0`` (the same protocol version to the
SDK, which the front leaves to the dispatcher). The two answers must be the same but for
the ids and times each call makes.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from functions.runtime.protocols import a2a_server
from functions.runtime.server import build_app
from functions.runtime.services.layout import a2a_task_key
from functions.runtime.settings import Settings
from functions.runtime.storage import open_store
from tests.apps import echo_app
from tests.fixtures.servers import serve_app

DEADLINE_S = 30.0
FRONT, DISPATCHER = "1.0", "1.0.0"
# what each call makes afresh: task, context and message ids, artifact ids, times
MADE = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|msg_[0-9a-f-]+"
    r"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"
)


def text(value: str) -> dict[str, Any]:
    return {"messageId": "m-1", "role": "ROLE_USER", "parts": [{"text": value}]}


def send(params: Any, **envelope: Any) -> Callable[[], dict[str, Any]]:
    """A SendMessage body, made anew for each call (a context id must be fresh)."""

    def make() -> dict[str, Any]:
        fresh = params() if callable(params) else params
        return {"jsonrpc": "2.0", "id": 7, "method": "SendMessage", "params": fresh, **envelope}

    return make


def in_context(**message: Any) -> Callable[[], dict[str, Any]]:
    return lambda: {"message": {**text("hi"), "contextId": str(uuid.uuid4()), **message}}


BODIES: dict[str, Callable[[], Any]] = {
    "text": send({"message": text("hello")}),
    "two parts": send({"message": {**text("a"), "parts": [{"text": "a"}, {"text": "b"}]}}),
    "string id": send({"message": text("x")}, id="call-1"),
    "in a context": send(in_context()),
    "data, url and file parts": send(
        {
            "message": {
                **text("x"),
                "parts": [
                    {"data": {"k": [1, 2]}},
                    {"url": "https://example.com/a.png", "mediaType": "image/png"},
                    {"raw": "aGk=", "filename": "hi.txt"},
                ],
            }
        }
    ),
    "metadata and unknown fields": send(
        {"message": {**text("x"), "metadata": {"k": "v"}, "unknown": 1}, "metadata": {"a": 1}}
    ),
    "history length 0": send({"message": text("x"), "configuration": {"historyLength": 0}}),
    "return immediately": send(
        {"message": text("x"), "configuration": {"returnImmediately": True}}
    ),
    "snake_case names": send({"message": {"message_id": "m", "role": 1, "parts": [{"text": "s"}]}}),
    "no message id": send({"message": {"role": "ROLE_USER", "parts": [{"text": "x"}]}}),
    "no parts": send({"message": {"messageId": "m", "role": "ROLE_USER"}}),
    "no message": send({}),
    "a bad context id": send(in_context(contextId="bad\x00context")),
    "an unknown task": send(in_context(taskId="no-such-task")),
    "a negative history length": send(
        {"message": text("x"), "configuration": {"historyLength": -1}}
    ),
    "an unknown role": send({"message": {**text("x"), "role": "ROLE_ROBOT"}}),
    "a role number no role has": send({"message": {**text("x"), "role": 9}}),
    "params of the wrong type": send({"message": {"messageId": 5, "parts": "x"}}),
    "params a list": send(["x"]),
    "a bool id": send({"message": text("x")}, id=True),
    "a float id": send({"message": text("x")}, id=1.5),
    "no id": lambda: {"jsonrpc": "2.0", "method": "SendMessage", "params": {"message": text("x")}},
    "jsonrpc 1.0": send({"message": text("x")}, jsonrpc="1.0"),
    "an extra member": send({"message": text("x")}, extra=1),
}


def normalized(answer: httpx.Response) -> tuple[int, str, Any]:
    body = MADE.sub("<made>", answer.text)
    return answer.status_code, answer.headers["content-type"], body


@pytest.fixture(scope="module")
def store_url(tmp_path_factory) -> str:
    return f"file://{tmp_path_factory.mktemp('send-message') / 'store'}"


@pytest.fixture(scope="module")
def url(store_url) -> Any:
    with serve_app(build_app(echo_app, Settings(store_url=store_url))) as base:
        yield base


@pytest.mark.parametrize("case", sorted(BODIES))
def test_the_front_answers_as_the_dispatcher(url, case):
    answers = {}
    for version in (FRONT, DISPATCHER):
        answers[version] = httpx.post(
            f"{url}/a2a",
            json=BODIES[case](),
            headers={"A2A-Version": version},
            timeout=DEADLINE_S,
        )
    assert normalized(answers[FRONT]) == normalized(answers[DISPATCHER])
    assert answers[FRONT].status_code == 200


def test_a_fault_below_the_handler_is_answered_as_the_dispatcher_answers_it(url, store_url):
    # not an A2A error (a task in the store that is not one): JSON-RPC's internal error
    asyncio.run(open_store(store_url).put(a2a_task_key("default", "broken"), b"\xffnot a task"))
    answers = [
        httpx.post(
            f"{url}/a2a",
            json=send(in_context(taskId="broken"))(),
            headers={"A2A-Version": version},
            timeout=DEADLINE_S,
        )
        for version in (FRONT, DISPATCHER)
    ]
    assert normalized(answers[0]) == normalized(answers[1])
    error = answers[0].json()["error"]
    assert error["code"] == -32603 and "data" not in error


def test_a_plain_send_is_answered_by_the_front_and_the_rest_by_the_dispatcher(monkeypatch):
    # the counterpart of the comparison above: it compares two paths only if these differ
    dispatched: list[str] = []
    original = a2a_server.JsonRpcDispatcher.handle_requests

    async def counted(self: Any, request: Any) -> Any:
        dispatched.append(request.headers.get("a2a-version", ""))
        return await original(self, request)

    monkeypatch.setattr(a2a_server.JsonRpcDispatcher, "handle_requests", counted)
    app = build_app(echo_app, Settings(store_url="memory://"))
    with serve_app(app) as base:
        for version in (FRONT, DISPATCHER):
            answer = httpx.post(
                f"{base}/a2a",
                json=BODIES["text"](),
                headers={"A2A-Version": version},
                timeout=DEADLINE_S,
            )
            assert answer.json()["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
        extensions = {"A2A-Version": FRONT, "A2A-Extensions": "https://example.com/ext"}
        httpx.post(f"{base}/a2a", json=BODIES["text"](), headers=extensions, timeout=DEADLINE_S)
    assert dispatched == [DISPATCHER, FRONT]  # the 1.0 call with extensions went to the SDK

"""A2A on the query function, through the official a2a-sdk client over HTTP.

Each instance is the query function under uvicorn on 127.0.0.1 (``build_app`` with its own
``Instance`` and store client); two instances share one store, as two FaaS instances do.
Waits are on events and conditions with deadlines, never on the clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from a2a.client import A2ACardResolver, ClientConfig, ClientFactory
from a2a.client.client import Client
from a2a.client.errors import A2AClientError
from a2a.helpers.proto_helpers import get_artifact_text, new_text_message
from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    GetTaskRequest,
    ListTasksRequest,
    Message,
    Role,
    SendMessageRequest,
    StreamResponse,
    SubscribeToTaskRequest,
    Task,
    TaskState,
    TaskStatus,
)
from a2a.utils.errors import (
    InternalError,
    InvalidParamsError,
    TaskNotFoundError,
    UnsupportedOperationError,
)
from google.protobuf import json_format

from functions.runtime.app import AgentApp
from functions.runtime.protocols import a2a_server
from functions.runtime.server import build_app
from functions.runtime.services import CountingStore, SessionHistoryService, quotas
from functions.runtime.services.layout import a2a_task_key, a2a_tasks_prefix
from functions.runtime.services.lock import lock_key, lost_after_s
from functions.runtime.settings import Settings
from functions.runtime.storage import StoreUnavailable, open_store
from local_emulator.tokens import mint_token
from tests.apps import echo_app, failing_app, gate, gated_app, slow_app
from tests.fixtures.servers import ROOT, query_function_process, serve_app

DEADLINE_S = 30.0
MINUTE = 1_800_000_000  # a Unix minute boundary
SECRET = "a2a-tests-" + "s" * 32
COMPLETED, WORKING = TaskState.TASK_STATE_COMPLETED, TaskState.TASK_STATE_WORKING
CANCELED, FAILED = TaskState.TASK_STATE_CANCELED, TaskState.TASK_STATE_FAILED

tool_app = AgentApp(app_name="calculator", app_description="adds numbers with a tool")


@tool_app.query(framework="native")
async def use_tool(self, msgs, request, **kwargs):
    call = {"call_id": "c1", "name": "add", "arguments": '{"a": 1, "b": 1}'}
    yield {"type": "plugin_call", "role": "assistant", "content": [{"type": "data", "data": call}]}
    result = {"call_id": "c1", "name": "add", "output": "2"}
    output = [{"type": "data", "data": result}]
    yield {"type": "plugin_call_output", "role": "tool", "content": output}
    yield "1 + 1 = 2"


@pytest.fixture(autouse=True)
def _open_gate() -> Iterator[None]:
    gate.reset()
    yield
    gate.release.set()


@pytest.fixture
def store_url(tmp_path) -> str:
    return f"file://{tmp_path}/store"


@contextlib.contextmanager
def instance(app: AgentApp, store_url: str, **settings: Any) -> Iterator[str]:
    """One query-function instance on ``store_url``; yields its base URL."""
    with serve_app(build_app(app, Settings(store_url=store_url, **settings))) as url:
        yield url


@contextlib.asynccontextmanager
async def a2a(
    url: str, *, streaming: bool = True, token: str | None = None
) -> AsyncIterator[Client]:
    """The official client for the agent at ``url``, made from its card."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(timeout=DEADLINE_S, headers=headers) as http:
        card = await A2ACardResolver(http, url).get_agent_card()
        client = ClientFactory(ClientConfig(httpx_client=http, streaming=streaming)).create(card)
        yield client


def user_message(text: str, context_id: str | None = None) -> Message:
    message = new_text_message(text, role=Role.ROLE_USER)
    if context_id:
        message.context_id = context_id
    return message


async def send(client: Client, text: str, context_id: str | None = None) -> Task:
    """Send one message without streaming; the task it ended as."""
    request = SendMessageRequest(message=user_message(text, context_id))
    answers = [ev async for ev in client.send_message(request)]
    assert len(answers) == 1 and answers[0].HasField("task"), answers
    return answers[0].task


def answer(task: Task) -> str:
    return "".join(get_artifact_text(a, delimiter="") for a in task.artifacts)


async def eventually(condition, what: str) -> Any:
    """Poll ``condition`` (an async callable) until it is truthy, within the deadline."""
    loop = asyncio.get_running_loop()
    end = loop.time() + DEADLINE_S
    while loop.time() < end:
        value = await condition()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


# -- the card -----------------------------------------------------------------------------------


async def test_agent_card_names_the_app_and_advertises_streaming_and_both_versions(store_url):
    with instance(tool_app, store_url) as url:
        async with httpx.AsyncClient() as http:
            card = await A2ACardResolver(http, url).get_agent_card()
            fetched = await http.get(f"{url}/.well-known/agent-card.json")
            raw = fetched.json()
    # it names the Host it was asked on: no shared cache may hand it to another Host
    assert fetched.headers["vary"] == "Host" and fetched.headers["cache-control"] == "no-store"
    assert card.name == "calculator" and card.description == "adds numbers with a tool"
    assert card.capabilities.streaming and not card.capabilities.push_notifications
    versions = {(i.protocol_binding, i.protocol_version, i.url) for i in card.supported_interfaces}
    assert versions == {("JSONRPC", "1.0", f"{url}/a2a"), ("JSONRPC", "0.3", f"{url}/a2a")}
    assert [(s.id, s.name, s.description) for s in card.skills] == [
        ("calculator", "calculator", "adds numbers with a tool")
    ]
    assert not card.security_requirements
    # a 0.3 client reads the same card through the fields 0.3 had
    assert raw["url"] == f"{url}/a2a" and raw["protocolVersion"] == "0.3"


async def test_card_skills_and_public_url_come_from_settings(store_url):
    skills = [
        {"id": "sum", "name": "Sum", "description": "adds", "tags": ["math"], "examples": ["1+1"]},
        {"id": "chat", "name": "Chat", "description": "talks", "tags": ["chat"]},
    ]
    public = "https://agents.example.com/calc"
    with instance(tool_app, store_url, a2a_public_url=public, a2a_skills=skills) as url:
        async with httpx.AsyncClient() as http:
            card = await A2ACardResolver(http, url).get_agent_card()
            fetched = await http.get(f"{url}/.well-known/agent-card.json")
    assert {i.url for i in card.supported_interfaces} == {f"{public}/a2a"}
    assert "vary" not in fetched.headers  # the same card whoever asks: cacheable
    assert [json_format.MessageToDict(s) for s in card.skills] == skills


# -- sending and streaming ----------------------------------------------------------------------


async def test_send_message_returns_the_completed_task_with_the_answer(store_url):
    with instance(echo_app, store_url) as url:
        async with a2a(url, streaming=False) as client:
            task = await send(client, "hello agent")
    assert task.status.state == COMPLETED
    assert answer(task) == "turn 1: hello agent"
    assert [m.parts[0].text for m in task.history] == ["hello agent"]
    assert task.history[0].role == Role.ROLE_USER and task.context_id


async def test_streamed_answer_arrives_as_artifact_updates_before_the_task_completes(store_url):
    with instance(gated_app, store_url) as url:
        async with a2a(url) as client:
            request = SendMessageRequest(message=user_message("go"))
            seen: list[StreamResponse] = []
            async for event in client.send_message(request):
                seen.append(event)
                if event.HasField("artifact_update") and not gate.release.is_set():
                    # the agent is still held at its gate: this update came while it writes
                    assert event.artifact_update.artifact.parts[0].text == "waiting "
                    assert not event.artifact_update.last_chunk
                    gate.release.set()
    kinds = [e.WhichOneof("payload") for e in seen]
    assert kinds[0] == "task" and seen[0].task.status.state == WORKING
    assert kinds[1:] == ["artifact_update"] * 3 + ["status_update"]
    chunks = [e.artifact_update for e in seen[1:4]]
    assert [c.append for c in chunks] == [False, True, True]
    assert [c.last_chunk for c in chunks] == [False, False, True]
    assert "".join(p.text for c in chunks for p in c.artifact.parts) == "waiting released"
    assert seen[-1].status_update.status.state == COMPLETED


async def test_a_second_message_in_the_context_sees_the_first_turn(store_url):
    with instance(echo_app, store_url) as url:
        async with a2a(url, streaming=False) as client:
            first = await send(client, "my name is Ada")
            second = await send(client, "what is my name?", first.context_id)
    assert second.context_id == first.context_id and second.id != first.id
    assert answer(second) == "turn 2: what is my name? | before: my name is Ada"
    # the context is the session: /process and the state API see the same conversation
    store = open_store(store_url)
    try:
        session = await SessionHistoryService(store).get_session("default", first.context_id)
    finally:
        await store.close()
    assert session is not None
    texts = [c["text"] for m in session.messages for c in m["content"]]
    assert texts == [
        "my name is Ada",
        "turn 1: my name is Ada",
        "what is my name?",
        "turn 2: what is my name? | before: my name is Ada",
    ]


async def test_tool_calls_and_results_are_status_messages_with_data_parts(store_url):
    with instance(tool_app, store_url) as url:
        async with a2a(url) as client:
            request = SendMessageRequest(message=user_message("1+1?"))
            events = [ev async for ev in client.send_message(request)]
            task = await client.get_task(GetTaskRequest(id=events[0].task.id))
    steps = [
        e.status_update.status.message
        for e in events
        if e.HasField("status_update") and e.status_update.status.HasField("message")
    ]
    assert [json_format.MessageToDict(m.metadata)["type"] for m in steps] == [
        "plugin_call",
        "plugin_call_output",
    ]
    assert all(m.role == Role.ROLE_AGENT for m in steps)
    data = [json_format.MessageToDict(m.parts[0].data) for m in steps]
    assert data == [
        {"call_id": "c1", "name": "add", "arguments": '{"a": 1, "b": 1}'},
        {"call_id": "c1", "name": "add", "output": "2"},
    ]
    assert task.status.state == COMPLETED and answer(task) == "1 + 1 = 2"
    # the steps moved into the task's history as later status messages replaced them
    assert [m.message_id for m in task.history[1:]] == [m.message_id for m in steps]


async def test_a_failing_agent_fails_the_task_with_its_error(store_url):
    with instance(failing_app, store_url) as url:
        async with a2a(url, streaming=False) as client:
            task = await send(client, "please fail")
    assert task.status.state == FAILED
    error = json_format.MessageToDict(task.status.message.metadata)["error"]
    assert error["code"] == "agent_error" and "deliberate failure" in error["message"]
    assert "deliberate failure" in task.status.message.parts[0].text
    assert answer(task) == "starting "  # what it said before it broke is kept


async def stored_tasks(store_url: str, user: str = "default") -> list[str]:
    """The keys of ``user``'s task objects in the store."""
    store = open_store(store_url)
    try:
        return await store.list(a2a_tasks_prefix(user))
    finally:
        await store.close()


async def all_tasks(client: Client) -> list[Task]:
    return list((await client.list_tasks(ListTasksRequest())).tasks)


async def test_a_message_on_a_busy_context_is_an_error_and_makes_no_task(store_url):
    with instance(gated_app, store_url) as url:
        async with a2a(url) as client:
            stream = client.send_message(SendMessageRequest(message=user_message("hold")))
            first = (await anext(stream)).task
            assert gate.entered.wait(DEADLINE_S)
            for streaming in (False, True):
                async with a2a(url, streaming=streaming) as other:
                    busy = other.send_message(
                        SendMessageRequest(message=user_message("me too", first.context_id))
                    )
                    with pytest.raises(A2AClientError, match="-32000: session_busy: "):
                        await anext(busy)
            tasks = await all_tasks(client)
            gate.release.set()
            rest = [ev async for ev in stream]
            gate.reset()
            gate.release.set()
            async with a2a(url, streaming=False) as other:
                after = await send(other, "now", first.context_id)
    assert [t.id for t in tasks] == [first.id]  # the refused messages left nothing
    assert rest[-1].status_update.status.state == COMPLETED
    assert after.status.state == COMPLETED and after.context_id == first.context_id
    assert len(await stored_tasks(store_url)) == 2


@pytest.fixture
def clock(monkeypatch) -> Any:
    """The clock ``USER_MAX_TURNS_PER_MINUTE`` reads, pinned inside one minute."""
    pinned = SimpleNamespace(now=MINUTE + 15)
    monkeypatch.setattr(quotas, "time", SimpleNamespace(time=lambda: pinned.now))
    return pinned


async def test_over_the_turn_quota_a_message_is_an_error_and_makes_no_task(store_url, clock):
    with instance(echo_app, store_url, user_max_turns_per_minute=2) as url:
        async with a2a(url, streaming=False) as client, a2a(url) as streaming:
            allowed = [await send(client, "one"), await send(client, "two")]
            for refused_client in (client, streaming):
                refused = refused_client.send_message(SendMessageRequest(message=user_message("3")))
                with pytest.raises(A2AClientError, match="-32000: quota_exceeded: USER_MAX_TURNS"):
                    await anext(refused)
            tasks = await all_tasks(client)
            clock.now = MINUTE + 60  # the next minute has room again
            later = await send(client, "three")
    assert all(t.status.state == COMPLETED for t in allowed)
    assert sorted(t.id for t in tasks) == sorted(t.id for t in allowed)
    assert later.status.state == COMPLETED and answer(later) == "turn 1: three"
    assert len(await stored_tasks(store_url)) == 3


TEXT = {"messageId": "m-1", "role": "ROLE_USER", "parts": [{"text": "hi"}]}


def rpc_message(method: str, request_id: Any, text: str) -> dict[str, Any]:
    """A raw JSON-RPC send of ``text``: 1.0's ``SendMessage``/``SendStreamingMessage`` or
    0.3's ``message/send``/``message/stream``."""
    if "/" in method:
        parts: list[dict[str, Any]] = [{"kind": "text", "text": text}]
        message = {"kind": "message", "messageId": str(uuid.uuid4()), "role": "user"}
    else:
        parts = [{"text": text}]
        message = {"messageId": str(uuid.uuid4()), "role": "ROLE_USER"}
    params = {"message": {**message, "parts": parts}}
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}


def test_quota_refusals_carry_our_code_detail_and_retry_after_in_both_versions(store_url, clock):
    methods = ["message/send", "message/stream", "SendMessage", "SendStreamingMessage"]
    with instance(echo_app, store_url, user_max_turns_per_minute=1) as url:
        ok = httpx.post(f"{url}/a2a", json=rpc_message("message/send", 1, "in"), timeout=30)
        refused = {
            method: httpx.post(
                f"{url}/a2a",
                json=rpc_message(method, f"id-{method}", "over"),
                headers={"A2A-Version": "0.3" if "/" in method else "1.0"},
                timeout=DEADLINE_S,
            )
            for method in methods
        }
    assert ok.json()["result"]["status"]["state"] == "completed"
    for method, resp in refused.items():
        assert resp.status_code == 200, resp.text  # JSON-RPC answers errors with 200
        assert resp.headers["content-type"] == "application/json", method  # not a stream
        assert resp.headers["retry-after"] == "45"
        body = resp.json()
        assert body["id"] == f"id-{method}" and "result" not in body
        error = body["error"]
        assert error["code"] == -32000
        assert error["message"].startswith("quota_exceeded: USER_MAX_TURNS_PER_MINUTE: ")
        expected = {"code": "quota_exceeded", "detail": error["message"][16:], "status": 429}
        if "/" in method:  # 0.3: data is our body
            assert error["data"] == {**expected, "retryAfter": 45}
        else:  # 1.0: data is a list of typed details
            (info,) = error["data"]
            assert info["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
            assert info["reason"] == "QUOTA_EXCEEDED"
            assert info["metadata"] == {
                **{k: str(v) for k, v in expected.items()},
                "retryAfter": "45",
            }
    assert len(asyncio.run(stored_tasks(store_url))) == 1


async def test_bad_messages_are_json_rpc_errors(store_url):
    with instance(echo_app, store_url) as url:
        async with a2a(url, streaming=False) as client:
            done = await send(client, "hi")
            naming_a_task = user_message("again", done.context_id)
            naming_a_task.task_id = done.id
            with pytest.raises(UnsupportedOperationError, match="contextId"):
                await anext(client.send_message(SendMessageRequest(message=naming_a_task)))
            unknown = user_message("again")
            unknown.task_id = "no-such-task"
            with pytest.raises(TaskNotFoundError):
                await anext(client.send_message(SendMessageRequest(message=unknown)))
            with pytest.raises(InvalidParamsError, match="contextId"):
                await send(client, "hi", context_id="bad\x00context")


def test_an_enum_value_that_does_not_exist_is_invalid_params_not_its_zero(store_url):
    # the SDK's parser would take it as the enum's zero: ListTasks would list every task
    def call(method: str, params: dict[str, Any]) -> Any:
        body = {"jsonrpc": "2.0", "id": 3, "method": method, "params": params}
        return httpx.post(f"{url}/a2a", json=body, headers={"A2A-Version": "1.0"}, timeout=30)

    with instance(echo_app, store_url) as url:
        assert call("SendMessage", {"message": {**TEXT, "contextId": "c"}}).json()["result"]
        listed = call("ListTasks", {"status": "TASK_STATE_COMPLETED"}).json()["result"]
        wrong = {
            "a status name": ("ListTasks", {"status": "TASK_STATE_DONE"}, "params.status"),
            "a status number": ("ListTasks", {"status": 42}, "params.status"),
            "a fractional one": ("ListTasks", {"status": 1.5}, "params.status"),  # not 1
            "a role": ("SendMessage", {"message": {**TEXT, "role": "ROLE_ROBOT"}}, "role"),
            "a streamed role": (
                "SendStreamingMessage",
                {"message": {**TEXT, "role": "ROLE_ROBOT"}},
                "params.message.role",
            ),
        }
        answers = {case: call(method, params) for case, (method, params, _) in wrong.items()}
        assert len(call("ListTasks", {}).json()["result"]["tasks"]) == 1
    assert len(listed["tasks"]) == 1
    for case, answer in answers.items():
        assert answer.status_code == 200, case
        error = answer.json()["error"]
        assert error["code"] == -32602, case
        assert wrong[case][2] in error["message"] and "is not a" in error["message"], case
    assert len(asyncio.run(stored_tasks(store_url))) == 1  # none of them made a task


def test_a_0_3_file_part_whose_bytes_are_not_base64_is_invalid_params(store_url):
    """The SDK's 0.3 adapter answered an internal error (logged with its traceback).
    Base64 as the adapter takes it (broken into lines) still passes."""
    part = {"kind": "file", "file": {"bytes": "abc", "name": "x.bin"}}
    message = {"messageId": "m1", "role": "user", "parts": [{"kind": "text", "text": "hi"}, part]}
    with instance(echo_app, store_url) as url:
        answers = [
            httpx.post(
                f"{url}/a2a",
                json={"jsonrpc": "2.0", "id": 7, "method": method, "params": {"message": message}},
                timeout=30,
            )
            for method in ("message/send", "message/stream")
        ]
        wrapped = {**part, "file": {"bytes": "aGVsbG8g\nd29ybGQ=", "name": "x.txt"}}
        taken = httpx.post(
            f"{url}/a2a",
            json={
                "jsonrpc": "2.0",
                "id": 8,
                "method": "message/send",
                "params": {"message": {**message, "parts": [wrapped]}},
            },
            timeout=30,
        )
    for answer in answers:
        assert answer.headers["content-type"].startswith("application/json"), answer.text
        error = answer.json()["error"]
        assert error["code"] == -32602 and "parts[1].file.bytes: not base64" in error["message"]
    assert "result" in taken.json(), taken.text
    assert len(asyncio.run(stored_tasks(store_url))) == 1  # the refused made no task


# -- other instances ----------------------------------------------------------------------------


async def test_get_task_from_a_second_instance_on_the_same_store(store_url):
    with instance(echo_app, store_url) as a, instance(echo_app, store_url) as b:
        async with a2a(a) as client:
            request = SendMessageRequest(message=user_message("hi"))
            events = [ev async for ev in client.send_message(request)]
        task_id = events[0].task.id
        async with a2a(b) as client:
            task = await client.get_task(GetTaskRequest(id=task_id))
            listed = await client.list_tasks(
                ListTasksRequest(context_id=task.context_id, include_artifacts=True)
            )
    assert task.status.state == COMPLETED and answer(task) == "turn 1: hi"
    assert [t.id for t in listed.tasks] == [task_id] and answer(listed.tasks[0]) == "turn 1: hi"


async def test_a_blocking_send_that_ends_at_once_writes_its_task_once(store_url):
    # its caller learns the task's id from the answer: nobody can ask for the task sooner,
    # so it is written when the turn ends, beside the turn's own requests
    counted = CountingStore(open_store(store_url))
    settings = Settings(store_url=store_url, a2a_save_interval_s=60)
    with serve_app(build_app(echo_app, settings, store=counted)) as url:
        async with a2a(url, streaming=False) as client:
            counted.reset()
            task = await send(client, "hi")
            assert counted.counts == {"put": 3, "delete": 1}  # lease, session, task; release
            stored = await client.get_task(GetTaskRequest(id=task.id))
    assert task.status.state == COMPLETED == stored.status.state
    assert answer(stored) == "turn 1: hi"


async def test_a_blocking_send_still_running_is_listed_elsewhere_after_the_save_interval(
    store_url,
):
    quick = {"a2a_save_interval_s": 0.05}
    with instance(gated_app, store_url, **quick) as a, instance(gated_app, store_url) as b:
        async with a2a(a, streaming=False) as on_a, a2a(b) as on_b:
            sent = asyncio.ensure_future(send(on_a, "slow", "blocking-ctx"))
            assert await asyncio.to_thread(gate.entered.wait, DEADLINE_S)

            async def listed() -> list[Task]:
                found = await on_b.list_tasks(ListTasksRequest(context_id="blocking-ctx"))
                return list(found.tasks)

            (running,) = await eventually(listed, "the running task in another listing")
            assert running.status.state == WORKING
            gate.release.set()
            task = await sent
            stored = await on_b.get_task(GetTaskRequest(id=task.id))
    assert task.id == running.id and task.status.state == COMPLETED == stored.status.state
    assert answer(stored) == "waiting released"


async def test_a_blocking_send_stopped_before_its_task_was_written_is_stored_canceled(store_url):
    slow = {"a2a_save_interval_s": 60, "stop_poll_interval_s": 0.1}
    with instance(gated_app, store_url, **slow) as a, instance(gated_app, store_url) as b:
        async with a2a(a, streaming=False) as on_a, a2a(b) as on_b:
            sent = asyncio.ensure_future(send(on_a, "slow", "stopped-ctx"))
            assert await asyncio.to_thread(gate.entered.wait, DEADLINE_S)
            assert not (await on_b.list_tasks(ListTasksRequest(context_id="stopped-ctx"))).tasks
            async with httpx.AsyncClient(timeout=DEADLINE_S) as http:
                stop = await http.post(f"{b}/process/stop", json={"session_id": "stopped-ctx"})
            assert stop.status_code == 202
            task = await sent
            stored = await on_b.get_task(GetTaskRequest(id=task.id))
    assert task.status.state == CANCELED == stored.status.state
    assert answer(stored) == "waiting "


class FailingTaskWrites(CountingStore):
    """The store, but writes of A2A tasks refused (as a store that is down) while ``fail``."""

    fail = False

    async def put(self, key: str, data: bytes, **conditions: Any) -> str:
        if self.fail and "/a2a-tasks/" in key:
            raise StoreUnavailable(f"put {key}: refused")
        return await super().put(key, data, **conditions)


async def test_a_blocking_send_whose_task_could_not_be_saved_is_an_error_not_an_answer(
    store_url,
):
    store = FailingTaskWrites(open_store(store_url))
    settings = Settings(store_url=store_url, a2a_save_interval_s=60, store_retry_attempts=1)
    with serve_app(build_app(gated_app, settings, store=store)) as url:
        async with a2a(url, streaming=False) as client:
            sent = asyncio.ensure_future(send(client, "slow", "unsaved-ctx"))
            assert await asyncio.to_thread(gate.entered.wait, DEADLINE_S)
            store.fail = True
            gate.release.set()
            with pytest.raises(InternalError, match="broke before its end was saved"):
                await sent  # never "completed" for what is not stored
            store.fail = False
            listed = await client.list_tasks(ListTasksRequest(context_id="unsaved-ctx"))
    assert not listed.tasks


class FailingCompletedTaskWrites(CountingStore):
    """The store, but the next ``failures`` writes of a completed A2A task refused (a store
    blip just as the task ends)."""

    failures = 0

    async def put(self, key: str, data: bytes, **conditions: Any) -> str:
        if (
            self.failures
            and "/a2a-tasks/" in key
            and Task.FromString(data).status.state == COMPLETED
        ):
            self.failures -= 1
            raise StoreUnavailable(f"put {key}: refused")
        return await super().put(key, data, **conditions)


async def test_a_task_whose_end_could_not_be_written_is_recorded_failed(store_url):
    # the end was applied to the task before its write failed: the task must not stay
    # "working" in the store for good (it is recorded failed, as any run that broke)
    store = FailingCompletedTaskWrites(open_store(store_url))
    settings = Settings(store_url=store_url, a2a_save_interval_s=0, store_retry_attempts=1)
    with serve_app(build_app(gated_app, settings, store=store)) as url:
        async with a2a(url, streaming=False) as client:
            request = SendMessageRequest(message=user_message("slow"))
            request.configuration.return_immediately = True
            (answer,) = [ev async for ev in client.send_message(request)]
            assert await asyncio.to_thread(gate.entered.wait, DEADLINE_S)
            store.failures = 1  # the end's write
            gate.release.set()

            async def ended() -> Task | None:
                task = await client.get_task(GetTaskRequest(id=answer.task.id))
                return task if task.status.state != WORKING else None

            task = await eventually(ended, "the task's end")
    assert task.status.state == FAILED
    metadata = json_format.MessageToDict(task.status.message.metadata)
    assert metadata["error"]["code"] == "internal_error"


async def test_a_stream_whose_task_could_not_be_created_lets_its_context_go(store_url):
    # its turn had begun (lease taken) when the task's first write failed: its events never
    # ran, so the executor itself must let the session go for the next message to start
    store = FailingTaskWrites(open_store(store_url))
    settings = Settings(store_url=store_url, store_retry_attempts=1)
    with serve_app(build_app(echo_app, settings, store=store)) as url:
        async with a2a(url) as client:
            store.fail = True
            stream = client.send_message(SendMessageRequest(message=user_message("a", "ctx-1")))
            with pytest.raises(InternalError, match="refused"):
                [ev async for ev in stream]
            store.fail = False
        async with a2a(url, streaming=False) as client:
            after = await send(client, "b", "ctx-1")
    assert after.status.state == COMPLETED and answer(after) == "turn 1: b"


async def test_a_run_ended_by_a_cancel_from_another_instance_is_no_longer_tracked(
    store_url, monkeypatch
):
    monkeypatch.setattr(a2a_server, "CANCEL_WAIT_S", 0.0)  # b records it canceled itself
    slow_watch = Settings(store_url=store_url, stop_poll_interval_s=60, session_lock_ttl_s=180)
    app_a = build_app(gated_app, slow_watch)
    with serve_app(app_a) as a, instance(gated_app, store_url) as b:
        async with a2a(a) as on_a, a2a(b) as on_b:
            stream = on_a.send_message(SendMessageRequest(message=user_message("slow")))
            task_id = (await anext(stream)).task.id
            assert await asyncio.to_thread(gate.entered.wait, DEADLINE_S)
            canceled = await on_b.cancel_task(CancelTaskRequest(id=task_id))
            gate.release.set()
            rest = [ev async for ev in stream]
        tracked = app_a.state.a2a_server.tasks._written  # what a's task store still holds
    assert canceled.status.state == CANCELED == rest[-1].task.status.state
    assert task_id not in tracked


async def test_cancel_through_another_instance_stops_the_running_turn(store_url):
    fast = {"stop_poll_interval_s": 0.1}
    with instance(gated_app, store_url, **fast) as a, instance(gated_app, store_url, **fast) as b:
        async with a2a(a) as on_a, a2a(b) as on_b:
            stream = on_a.send_message(SendMessageRequest(message=user_message("slow")))
            task_id = (await anext(stream)).task.id
            assert gate.entered.wait(DEADLINE_S)
            canceled = await on_b.cancel_task(CancelTaskRequest(id=task_id))
            rest = [ev async for ev in stream]
            stored = await on_b.get_task(GetTaskRequest(id=task_id))
    assert canceled.status.state == CANCELED
    assert rest[-1].status_update.status.state == CANCELED
    assert stored.status.state == CANCELED
    assert answer(stored) == "waiting "  # what it said before the stop is kept
    assert gate.cleaned_up.wait(DEADLINE_S)  # the handler itself was cancelled
    # the session is free again, with the cut-off answer kept as incomplete
    store = open_store(store_url)
    try:
        session = await SessionHistoryService(store).get_session("default", stored.context_id)
    finally:
        await store.close()
    assert [m["status"] for m in session.messages] == ["completed", "incomplete"]


async def test_cancel_on_the_instance_running_the_task(store_url):
    with instance(gated_app, store_url) as url:
        async with a2a(url) as client:
            stream = client.send_message(SendMessageRequest(message=user_message("slow")))
            task_id = (await anext(stream)).task.id
            assert gate.entered.wait(DEADLINE_S)
            canceled = await client.cancel_task(CancelTaskRequest(id=task_id))
            rest = [ev async for ev in stream]
    assert canceled.status.state == CANCELED == rest[-1].status_update.status.state


async def test_subscribe_on_another_instance_follows_the_task_to_its_end(store_url):
    with instance(gated_app, store_url) as a, instance(gated_app, store_url) as b:
        async with a2a(a) as on_a, a2a(b) as on_b:
            stream = on_a.send_message(SendMessageRequest(message=user_message("go")))
            task_id = (await anext(stream)).task.id
            assert gate.entered.wait(DEADLINE_S)

            async def said_waiting() -> bool:
                task = await on_b.get_task(GetTaskRequest(id=task_id))
                return answer(task) == "waiting "

            await eventually(said_waiting, "the first words in the store")
            followed = on_b.subscribe(SubscribeToTaskRequest(id=task_id))
            first = await anext(followed)
            gate.release.set()
            rest = [ev async for ev in followed]
            [ev async for ev in stream]
    assert first.task.id == task_id and first.task.status.state == WORKING
    assert answer(first.task) == "waiting "
    updates = [e.artifact_update for e in rest if e.HasField("artifact_update")]
    text = "".join(p.text for u in updates for p in u.artifact.parts)
    assert text == "released"
    assert rest[-1].status_update.status.state == COMPLETED


async def store_unfinished_task(store_url: str, context_id: str) -> Task:
    """A ``working`` task of the default user on ``context_id``, written straight to the
    store, as an instance that died mid-task leaves it."""
    task = Task(id=str(uuid.uuid4()), context_id=context_id, status=TaskStatus(state=WORKING))
    store = open_store(store_url)
    try:
        await store.put(a2a_task_key("default", task.id), task.SerializeToString())
    finally:
        await store.close()
    return task


async def test_cancel_of_a_task_left_by_a_dead_instance_never_stops_the_next_turn_on_its_context(
    store_url,
):
    # what an instance that died mid-task leaves once the next message took the context: the
    # task working, and the context's lease naming another task (the running turn's)
    lost = await store_unfinished_task(store_url, "ctx-1")
    fast = {"stop_poll_interval_s": 0.1}  # a stop mark would reach the running turn at once
    with instance(gated_app, store_url, **fast) as a, instance(gated_app, store_url) as b:
        async with a2a(a) as on_a, a2a(b) as on_b:
            stream = on_a.send_message(SendMessageRequest(message=user_message("go", "ctx-1")))
            running_id = (await anext(stream)).task.id
            assert gate.entered.wait(DEADLINE_S)
            canceled = await on_b.cancel_task(CancelTaskRequest(id=lost.id))
            assert gate.cleaned_up.is_set() is False  # the running turn was not stopped
            gate.release.set()
            rest = [ev async for ev in stream]
    assert canceled.id == lost.id and canceled.status.state == CANCELED
    assert rest[-1].status_update.task_id == running_id
    assert rest[-1].status_update.status.state == COMPLETED


async def kill_mid_task(store_url: str, context_id: str) -> str:
    """Start a task on ``context_id`` on an instance (2 s leases), SIGKILL that instance once
    the task's first words are stored; the task's id."""
    env = {
        "AGENT_APP": "tests.apps:slow_app",
        "STORE_URL": store_url,
        "SESSION_LOCK_TTL_S": "2",
        "STOP_POLL_INTERVAL_S": "0.2",
    }
    with query_function_process(env) as (proc, doomed):
        async with a2a(doomed) as client:
            request = SendMessageRequest(message=user_message("slow", context_id))
            stream = client.send_message(request)
            task_id = (await anext(stream)).task.id

            async def said_working() -> bool:
                task = await client.get_task(GetTaskRequest(id=task_id))
                return answer(task) == "working: "

            await eventually(said_working, "the first words in the store")
            proc.send_signal(signal.SIGKILL)
            await asyncio.to_thread(proc.wait, 10)
            with contextlib.suppress(Exception):
                await stream.aclose()
    return task_id


@pytest.mark.parametrize("finder", ["get_task", "list_tasks", "subscriber"])
async def test_a_task_whose_instance_died_mid_turn_is_recorded_failed(store_url, finder):
    """SIGKILL the instance running a task: once its lease has lapsed (and one more TTL, for
    an end still being written), GetTask, ListTasks or a subscriber following it on another instance
    records the task failed, keeping what it said, and the context takes the next message."""
    task_id = await kill_mid_task(store_url, "ctx-1")
    # a lease one TTL past its expiry, two store calls of at most 0.2 s each later
    quick = {"session_lock_ttl_s": 1, "stop_poll_interval_s": 0.2}
    quick |= {"store_timeout_s": 0.1, "store_retry_attempts": 1}
    with instance(slow_app, store_url, **quick) as other:
        async with a2a(other) as client:
            if finder == "subscriber":
                followed = [ev async for ev in client.subscribe(SubscribeToTaskRequest(id=task_id))]
                assert followed[-1].status_update.status.state == FAILED
            else:

                async def recorded_failed() -> bool:
                    if finder == "list_tasks":
                        listed = await client.list_tasks(ListTasksRequest(context_id="ctx-1"))
                        (task,) = listed.tasks  # without its artifacts (includeArtifacts)
                    else:
                        task = await client.get_task(GetTaskRequest(id=task_id))
                    return task.status.state == FAILED

                await eventually(recorded_failed, "the task to be recorded failed")
            ended = await client.get_task(GetTaskRequest(id=task_id))
        async with a2a(other, streaming=False) as client:
            after = await send(client, "next", "ctx-1")
    error = json_format.MessageToDict(ended.status.message.metadata)["error"]
    assert error["code"] == "instance_lost"
    assert answer(ended) == "working: "
    # the dead turn never saved the session: the next message is its first turn
    assert after.status.state == COMPLETED and answer(after) == "turn 1: quick reply to next"


@pytest.mark.parametrize("retry_by", ["a2a", "process"])
async def test_a_task_whose_instance_died_is_recorded_failed_when_the_next_turn_takes_its_context(
    store_url, retry_by
):
    """SIGKILL the instance running a task; once its lease has lapsed for longer than a live
    instance could still be writing the task's end, send the next message on its context,
    before anyone reads the task: the turn that takes over the lease (by A2A or
    ``/process``) records the task failed as it starts, so it never stays ``working`` once
    its context has moved on (the next turn ends, its lease goes: nothing else tells)."""
    task_id = await kill_mid_task(store_url, "ctx-1")
    quick = {"session_lock_ttl_s": 1, "stop_poll_interval_s": 0.2}
    quick |= {"store_timeout_s": 0.1, "store_retry_attempts": 1}
    lost_after = lost_after_s(Settings(store_url=store_url, **quick))

    async def lapsed_long_enough() -> bool:
        store = open_store(store_url)
        try:
            found = await store.get(lock_key("default", "ctx-1"))
        finally:
            await store.close()
        return found is not None and json.loads(found[0])["expires_at"] + lost_after < time.time()

    await eventually(lapsed_long_enough, "the dead turn's lease to lapse")
    with instance(slow_app, store_url, **quick) as other:
        async with a2a(other, streaming=False) as client, httpx.AsyncClient() as http:
            if retry_by == "process":
                body = {
                    "session_id": "ctx-1",
                    "input": [{"role": "user", "content": [{"type": "text", "text": "next"}]}],
                }
                sent = await http.post(f"{other}/process", json=body, timeout=DEADLINE_S)
                assert sent.status_code == 200, sent.text
            else:
                assert (await send(client, "next", "ctx-1")).status.state == COMPLETED
            ended = await client.get_task(GetTaskRequest(id=task_id))
    assert ended.status.state == FAILED
    error = json_format.MessageToDict(ended.status.message.metadata)["error"]
    assert error["code"] == "instance_lost"
    assert answer(ended) == "working: "


async def store_lease(store_url: str, context_id: str, response_id: str, started_at: float) -> None:
    """The lease of ``context_id`` (default user) as a live turn writing ``response_id`` holds
    it, taken at ``started_at``."""
    now = time.time()
    lease = {"token": "t", "expires_at": now + 30, "user_id": "default"}
    lease |= {"session_id": context_id, "started_at": started_at, "instance": "other"}
    lease["response_id"] = response_id
    store = open_store(store_url)
    try:
        await store.put(lock_key("default", context_id), json.dumps(lease).encode())
    finally:
        await store.close()


@pytest.mark.parametrize("taken_s_ago", [0, 3600])
async def test_a_task_whose_context_another_turn_took_long_ago_is_recorded_failed(
    store_url, taken_s_ago
):
    """An unfinished task whose context a later turn has held for longer than an end takes
    to be written (its instance died after letting the context go, before writing the end)
    is recorded failed when read; one whose context was taken just now is left as it is
    (its end may still be on its way)."""
    lost = await store_unfinished_task(store_url, "ctx-1")
    await store_lease(store_url, "ctx-1", "response_later", time.time() - taken_s_ago)
    with instance(slow_app, store_url) as url:
        async with a2a(url, streaming=False) as client:
            read = await client.get_task(GetTaskRequest(id=lost.id))
    assert read.status.state == (FAILED if taken_s_ago else WORKING)


class HeldLeaseDeletes(CountingStore):
    """The store, but deleting a lease waits (a store that hangs on it) until ``resume``."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.resume = threading.Event()

    async def delete(self, key: str) -> None:
        if key.startswith("leases/"):
            assert await asyncio.to_thread(self.resume.wait, DEADLINE_S)
        await super().delete(key)


class LapsedLeaseReads(CountingStore):
    """The store, noting when a read finds a lease lapsed by more than ``by_s``."""

    def __init__(self, inner: Any, by_s: float) -> None:
        super().__init__(inner)
        self.by_s = by_s
        self.seen = threading.Event()

    async def get(self, key: str) -> Any:
        found = await super().get(key)
        if found is not None and key.startswith("leases/"):
            if json.loads(found[0])["expires_at"] + self.by_s < time.time():
                self.seen.set()
        return found


async def test_a_task_whose_instance_is_slow_to_let_its_context_go_is_not_taken_for_lost(
    store_url,
):
    # the turn has ended, but the store hangs on deleting its lease (within one store call's
    # bound): the lease lapses, a TTL passes and another instance reads it; the task's end
    # comes after, and it stands
    quick = {"session_lock_ttl_s": 1, "stop_poll_interval_s": 0.1, "store_retry_attempts": 1}
    hanging = HeldLeaseDeletes(open_store(store_url))
    watching = LapsedLeaseReads(open_store(store_url), by_s=1)
    settings_b = Settings(store_url=store_url, store_timeout_s=5, **quick)
    with (
        serve_app(build_app(gated_app, Settings(store_url=store_url, **quick), store=hanging)) as a,
        serve_app(build_app(gated_app, settings_b, store=watching)) as b,
    ):
        async with a2a(a) as on_a, a2a(b, streaming=False) as on_b:
            stream = on_a.send_message(SendMessageRequest(message=user_message("go", "ctx-1")))
            task_id = (await anext(stream)).task.id
            assert await asyncio.to_thread(gate.entered.wait, DEADLINE_S)
            gate.release.set()  # the turn ends; its lease's delete hangs

            async def read_lapsed() -> bool:
                task = await on_b.get_task(GetTaskRequest(id=task_id))
                assert task.status.state == WORKING, task.status
                return watching.seen.is_set()

            await eventually(read_lapsed, "another instance to read the lapsed lease")
            hanging.resume.set()
            rest = [ev async for ev in stream]
            stored = await on_b.get_task(GetTaskRequest(id=task_id))
    assert rest[-1].status_update.status.state == COMPLETED
    assert stored.status.state == COMPLETED and answer(stored) == "waiting released"


class FailingLeaseReads(CountingStore):
    """The store, but every read of a session lease refused (as a store half down)."""

    async def get(self, key: str) -> Any:
        if key.startswith("leases/"):
            raise StoreUnavailable(f"get {key}: refused")
        return await super().get(key)


async def test_a_store_fault_while_checking_for_a_dead_instance_leaves_the_task_as_read(
    store_url,
):
    # an unfinished task on another context, whose lease cannot be read: reading or listing
    # tasks still answers, with that task as stored
    unfinished = await store_unfinished_task(store_url, "ctx-2")
    faulty = FailingLeaseReads(open_store(store_url))
    with serve_app(build_app(echo_app, Settings(store_url=store_url), store=faulty)) as url:
        async with a2a(url, streaming=False) as client:
            done = await send(client, "hi", "ctx-1")
            of_ctx_1 = await client.list_tasks(ListTasksRequest(context_id="ctx-1"))
            every = await client.list_tasks(ListTasksRequest())
            read = await client.get_task(GetTaskRequest(id=unfinished.id))
    assert [t.id for t in of_ctx_1.tasks] == [done.id]
    states = {t.id: t.status.state for t in every.tasks}
    assert states == {done.id: COMPLETED, unfinished.id: WORKING}
    assert read.status.state == WORKING


# -- A2A 0.3 ------------------------------------------------------------------------------------


def test_a_0_3_message_send_gets_a_0_3_shaped_task(store_url):
    body = {
        "jsonrpc": "2.0",
        "id": "req-1",
        "method": "message/send",
        "params": {
            "message": {
                "kind": "message",
                "messageId": str(uuid.uuid4()),
                "role": "user",
                "parts": [{"kind": "text", "text": "old client"}],
            }
        },
    }
    with instance(echo_app, store_url) as url:
        resp = httpx.post(f"{url}/a2a", json=body, timeout=DEADLINE_S)
        assert resp.status_code == 200
        result = resp.json()["result"]
        get = {"jsonrpc": "2.0", "id": 2, "method": "tasks/get", "params": {"id": result["id"]}}
        again = httpx.post(f"{url}/a2a", json=get, timeout=DEADLINE_S).json()["result"]
        cancel = {**get, "method": "tasks/cancel"}
        late = httpx.post(f"{url}/a2a", json=cancel, timeout=DEADLINE_S).json()
    assert resp.json()["id"] == "req-1"
    assert late["error"]["code"] == -32002  # 0.3's TaskNotCancelableError: it had completed
    assert result["kind"] == "task" and result["status"]["state"] == "completed"
    assert result["artifacts"][0]["parts"] == [{"kind": "text", "text": "turn 1: old client"}]
    assert result["history"][0]["role"] == "user"
    assert again["id"] == result["id"] and again["status"]["state"] == "completed"


def test_a_0_3_message_stream_streams_0_3_events(store_url):
    body = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "message/stream",
        "params": {
            "message": {
                "kind": "message",
                "messageId": str(uuid.uuid4()),
                "role": "user",
                "parts": [{"kind": "text", "text": "stream me"}],
            }
        },
    }
    with instance(echo_app, store_url) as url:
        resp = httpx.post(f"{url}/a2a", json=body, timeout=DEADLINE_S)
    lines = resp.text.splitlines()
    events = [json.loads(line[5:])["result"] for line in lines if line.startswith("data:")]
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "task" and kinds[-1] == "status-update"
    assert "artifact-update" in kinds and events[-1]["final"] is True
    assert events[-1]["status"]["state"] == "completed"


# -- identity -----------------------------------------------------------------------------------


def test_jwt_calls_need_a_token_but_the_card_is_public(store_url):
    with instance(echo_app, store_url, auth_mode="jwt", auth_jwt_secret=SECRET) as url:
        card = httpx.get(f"{url}/.well-known/agent-card.json")
        body = {"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": "x"}}
        anonymous = httpx.post(f"{url}/a2a", json=body, headers={"A2A-Version": "1.0"})
    assert card.status_code == 200
    assert card.json()["securitySchemes"]["bearer"]["httpAuthSecurityScheme"] == {
        "scheme": "Bearer",
        "bearerFormat": "JWT",
    }
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "unauthorized"


async def test_a_task_is_visible_only_to_its_owner(store_url):
    alice, mallory = mint_token(SECRET, "alice"), mint_token(SECRET, "mallory")
    with instance(echo_app, store_url, auth_mode="jwt", auth_jwt_secret=SECRET) as url:
        async with a2a(url, streaming=False, token=alice) as client:
            task = await send(client, "alice's secret")
            assert (await client.get_task(GetTaskRequest(id=task.id))).id == task.id
        async with a2a(url, token=mallory) as client:
            with pytest.raises(TaskNotFoundError):
                await client.get_task(GetTaskRequest(id=task.id))
            with pytest.raises(TaskNotFoundError):
                await client.cancel_task(CancelTaskRequest(id=task.id))
            with pytest.raises(TaskNotFoundError):
                await anext(client.subscribe(SubscribeToTaskRequest(id=task.id)))
            assert not (await client.list_tasks(ListTasksRequest())).tasks
        async with a2a(url, streaming=False, token=mallory) as client:
            # her message in alice's context is her own session: it sees nothing of alice's
            hers = await send(client, "what did alice say?", task.context_id)
    assert answer(hers) == "turn 1: what did alice say?"
    store = open_store(store_url)
    try:
        sessions = SessionHistoryService(store)
        assert await sessions.get_session("alice", task.context_id) is not None
        assert await sessions.get_session("mallory", task.context_id) is not None
    finally:
        await store.close()


def test_building_the_query_app_does_not_import_the_a2a_sdk(store_url):

    probe = (
        "import sys; from functions.runtime.server import build_app; "
        "from functions.runtime.settings import Settings; from tests.apps import echo_app; "
        f"build_app(echo_app, Settings(store_url={store_url!r})); "
        "print(sorted(m for m in sys.modules if m == 'a2a' or m.startswith('a2a.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"

"""Friday on /process with an OpenAI-compatible model (the fake server, which refuses what
OpenAI refuses): orphan tool outputs, file and audio parts, parts no chat model takes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest

from functions.runtime.server import build_app
from functions.runtime.settings import Settings, get_settings
from functions.runtime.storage.memory import MemoryStore
from tests.fakes.openai_server import FAKE_API_KEY, FakeOpenAIServer
from tests.fixtures.servers import serve_app


def events_of(text: str) -> list[dict]:
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


def user(*parts: dict) -> dict:
    return {"role": "user", "type": "message", "content": list(parts)}


def text(value: str) -> dict:
    return {"type": "text", "text": value}


ORPHAN = {
    "role": "assistant",
    "type": "plugin_call_output",
    "content": [{"type": "data", "data": {"call_id": "gone", "output": "x"}}],
}


@pytest.fixture
def model(monkeypatch) -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(api_key=FAKE_API_KEY) as server:
        monkeypatch.setenv("MODEL_BASE_URL", server.base_url)
        monkeypatch.setenv("MODEL_API_KEY", FAKE_API_KEY)
        monkeypatch.setenv("MODEL_NAME", "fake-model")
        get_settings.cache_clear()  # Friday's init reads the process settings
        yield server
    get_settings.cache_clear()


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def friday(model, store) -> Iterator[str]:
    from examples.friday import agent_app

    with serve_app(build_app(agent_app, Settings(store_url="memory://"), store=store)) as url:
        yield url


def post(url: str, body: dict) -> httpx.Response:
    return httpx.post(f"{url}/process", json=body, timeout=60)


def test_an_orphan_tool_output_never_reaches_the_model_nor_breaks_later_turns(friday, model):
    body = {"session_id": "s1", "input": [user(text("one")), ORPHAN, user(text("two"))]}
    for turn in (body, {"session_id": "s1", "input": [user(text("three"))]}):
        final = events_of(post(friday, turn).text)[-1]
        assert final["status"] == "completed", final
        sent = model.last_request.body["messages"]
        assert all(m["role"] != "tool" for m in sent)
    assert [m["content"] for m in sent if m["role"] == "user"] == ["one", "two", "three"]


def test_file_and_audio_parts_reach_the_model_in_its_format(friday, model):
    pdf = "data:application/pdf;base64,JVBERi0xLjQK"
    parts = [
        text("summarise"),
        {"type": "file", "file_data": pdf, "filename": "a.pdf"},
        {"type": "audio", "data": "UklGRiQAAABXQVZF", "format": "wav"},
    ]
    final = events_of(post(friday, {"input": [user(*parts)]}).text)[-1]
    assert final["status"] == "completed", final
    (sent,) = [m for m in model.last_request.body["messages"] if m["role"] == "user"]
    assert sent["content"] == [
        {"type": "text", "text": "summarise"},
        {"type": "file", "file": {"file_data": pdf, "filename": "a.pdf"}},
        {"type": "input_audio", "input_audio": {"data": "UklGRiQAAABXQVZF", "format": "wav"}},
    ]


@pytest.mark.parametrize("stream", [True, False])
def test_a_part_no_chat_model_takes_is_422_naming_it_and_nothing_is_stored(
    friday, model, store, stream
):
    video = {"type": "video", "video_url": "https://example.com/v.mp4"}
    body = {"session_id": "s2", "stream": stream, "input": [user(text("watch"), video)]}
    resp = post(friday, body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["code"] == "unsupported_content"
    assert resp.json()["detail"].startswith("input[0].content[1]: a video part")
    assert model.requests == []
    assert asyncio.run(store.list("")) == []  # no session, no history, no lease left


def tool_step(kind: str, data: dict) -> dict:
    return {"role": "assistant", "type": kind, "content": [{"type": "data", "data": data}]}


@pytest.mark.parametrize(
    ("extra", "where"),
    [
        # a call named by an object or a list: stored, it failed every later turn
        ({"input": [tool_step("function_call", {"call_id": {"a": 1}, "name": "f"})]}, "call_id"),
        ({"input": [tool_step("plugin_call", {"call_id": [1], "name": "f"})]}, "call_id"),
        ({"input": [tool_step("function_call", {"call_id": "c", "name": ["f"]})]}, "name"),
        ({"input": [tool_step("function_call", {"call_id": "c", "arguments": "{}"})]}, "name"),
        ({"input": [tool_step("function_call_output", {"call_id": 5, "output": "r"})]}, "call_id"),
        ({"tools": [{"type": "function", "function": {"name": {"n": 1}}}]}, "name"),
        ({"tools": [{"function": {"description": "no name"}}]}, "name"),
        ({"tools": [{"type": "function", "name": "flat"}]}, "name"),  # not the chat shape
    ],
)
def test_a_tool_call_or_tool_of_the_wrong_type_is_422_and_nothing_is_stored(
    friday, model, store, extra, where
):
    body = {"session_id": "s3", "stream": False, "input": [user(text("hi"))]}
    body = {**body, **extra, "input": [*extra.get("input", []), user(text("hi"))]}
    resp = post(friday, body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["code"] == "invalid_request"
    (problem,) = resp.json()["detail"]
    section = "tools" if "tools" in extra else "input"
    assert problem["loc"][:2] == ["body", section] and problem["loc"][-1] == where
    assert model.requests == []
    assert asyncio.run(store.list("")) == []  # no session, no history, no lease left

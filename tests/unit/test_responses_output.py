"""The Responses API translator on its own: event shapes for cases hard to reach over HTTP."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from functions.runtime.protocol import DataContent, Error, Message, ResponseBuilder, RunStatus
from functions.runtime.protocols.responses_output import ResponsesStream
from functions.runtime.services.responses import ResponseStore
from functions.runtime.storage.memory import MemoryStore


def _compact(data: bytes, value: Any) -> None:
    """``data`` is ``value`` as compact UTF-8 JSON: the same value, no spaces, no escapes of
    text a UTF-8 reader takes as it is."""
    assert json.loads(data) == value
    assert data.decode("utf-8") == json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def test_a_final_built_before_a_failed_save_turns_into_response_failed():
    builder = ResponseBuilder(session_id="s", response_id="resp_1")
    out = ResponsesStream("resp_1", {"model": "m"}, "agent")
    for event in [builder.created(), builder.in_progress()]:
        out.feed(event)
    final = builder.completed()[-1]
    built = out.feed(final)  # by the finalizer, before the history append
    assert built[-1]["type"] == "response.completed"
    final.status = RunStatus.Failed  # the append failed: the turn says so
    final.error = Error(code="store_unavailable", message="down")
    settled = out.feed(final)
    assert settled[-1]["type"] == "response.failed"
    assert settled[-1]["response"]["status"] == "failed"
    assert settled[-1]["response"]["error"] == {"code": "store_unavailable", "message": "down"}
    assert [e["sequence_number"] for e in settled] == [e["sequence_number"] for e in built]


def test_a_call_whose_output_never_came_is_done_incomplete_before_the_end():
    builder = ResponseBuilder(session_id="s", response_id="resp_2")
    out = ResponsesStream("resp_2", {"model": "m"}, "agent")
    events = out.feed(builder.created()) + out.feed(builder.in_progress())
    call = Message(
        role="assistant",
        type="plugin_call",
        status="completed",
        content=[DataContent(data={"call_id": "c", "name": "run", "arguments": "{}"})],
    )
    events += out.feed(call)
    for event in builder.finish(RunStatus.Canceled):
        events += out.feed(event)
    kinds = [e["type"] for e in events]
    assert kinds[-2:] == ["response.output_item.done", "response.incomplete"]
    assert events[-2]["item"]["type"] == "mcp_call" and events[-2]["item"]["status"] == "incomplete"
    assert events[-1]["response"]["status"] == "cancelled"


def test_events_encode_as_json_dumps_with_each_response_encoded_once():
    builder = ResponseBuilder(session_id="s\u00e9", response_id="resp_3")
    out = ResponsesStream("resp_3", {"model": "m", "metadata": {"k": 'v\n"ü'}}, "agent")
    events = out.feed(builder.created()) + out.feed(builder.in_progress())
    message, opened = builder.open_message()
    for event in [*opened, message.text_delta("pöng\n"), *message.complete()]:
        events += out.feed(event)
    call = Message(
        role="assistant",
        type="function_call",
        status="completed",
        content=[DataContent(data={"call_id": "c", "name": "f", "arguments": {"x": 1.5}})],
    )
    events += out.feed(call)
    events += out.feed(builder.completed({"input_tokens": 3, "output_tokens": 2})[-1])
    for event in events:
        _compact(out.encode(event), event)
    created, in_progress, final = events[0], events[1], events[-1]
    assert final["type"] == "response.completed" and final["response"] is out.final
    # in_progress repeats created's Response: its JSON is reused, as the final's is by the store
    assert out.encode_response(in_progress["response"]) is out.encode_response(created["response"])
    assert out.encode_response(out.final) is out.encode_response(out.final)


def test_a_settled_final_is_encoded_again():
    builder = ResponseBuilder(session_id="s", response_id="resp_4")
    out = ResponsesStream("resp_4", {"model": "m"}, "agent")
    out.feed(builder.created())
    final = builder.completed()[-1]
    before = out.encode(out.feed(final)[-1])
    assert b'"status":"completed"' in before
    final.status = RunStatus.Failed
    final.error = Error(code="store_unavailable", message="down")
    settled = out.feed(final)[-1]
    _compact(out.encode(settled), settled)
    assert b'"type":"response.failed"' in out.encode(settled)


def test_a_stored_record_is_the_same_with_or_without_the_encoded_response():
    response = {"id": "resp_5", "object": "response", "status": "completed", "note": "ü\n"}

    async def stored(**encoded: bytes) -> bytes:
        memory = MemoryStore()
        await ResponseStore(memory).save("u", response, "sé", 4, **encoded)
        keys = await memory.list("")
        found = await memory.get(keys[0])
        assert found is not None
        return found[0]

    plain = asyncio.run(stored())
    given = asyncio.run(stored(encoded=ResponsesStream("r", {}, "a").encode_response(response)))
    assert plain == given
    _compact(plain, {"response": response, "session_id": "sé", "end": 4})

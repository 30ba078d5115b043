"""The Responses API translator on its own: event shapes for cases hard to reach over HTTP."""

from __future__ import annotations

from functions.runtime.protocol import DataContent, Error, Message, ResponseBuilder, RunStatus
from functions.runtime.protocols.responses_output import ResponsesStream


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

"""AG-UI at POST /ag-ui: the event stream parses into the ag-ui-protocol package's models."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from ag_ui.core import Event, EventType, RunAgentInput
from pydantic import TypeAdapter

from functions.runtime.server import build_app
from functions.runtime.settings import Settings
from tests.apps import echo_app, failing_app
from tests.fakes.openai_server import (
    fake_openai_fixture,  # noqa: F401 - provides the fake_openai fixture
    text_reply,
    tool_calls_reply,
)
from tests.fixtures.servers import serve_app
from tests.integration.test_responses_api import friday_on

EVENTS = TypeAdapter(Event)


@pytest.fixture
def serve(tmp_path):
    def _serve(app, **settings):
        store_url = f"file://{tmp_path}/store"
        return serve_app(build_app(app, Settings(store_url=store_url, **settings)))

    return _serve


def run_input(thread_id: str, messages: list[dict], **fields) -> dict:
    """A RunAgentInput as a front end sends it (built and dumped with the package's model)."""
    run = RunAgentInput(
        thread_id=thread_id,
        run_id=uuid.uuid4().hex,
        messages=messages,
        tools=fields.pop("tools", []),
        context=[],
        state={},
        forwarded_props={},
    )
    return run.model_dump(mode="json", by_alias=True, exclude_none=True)


def run(url: str, body: dict) -> list:
    resp = httpx.post(f"{url}/ag-ui", json=body, timeout=30)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/event-stream")
    return [EVENTS.validate_json(x[6:]) for x in resp.text.splitlines() if x.startswith("data: ")]


def test_text_reply_events_in_order_and_the_thread_continues(serve):
    thread = uuid.uuid4().hex
    with serve(echo_app) as url:
        first_input = run_input(thread, [{"id": "u1", "role": "user", "content": "hello"}])
        first = run(url, first_input)
        types = [e.type for e in first]
        n = types.count(EventType.TEXT_MESSAGE_CONTENT)
        assert n >= 2
        assert types == [
            EventType.RUN_STARTED,
            EventType.TEXT_MESSAGE_START,
            *[EventType.TEXT_MESSAGE_CONTENT] * n,
            EventType.TEXT_MESSAGE_END,
            EventType.RUN_FINISHED,
        ]
        assert first[0].thread_id == thread and first[0].run_id == first_input["runId"]
        reply_id = first[1].message_id
        assert {e.message_id for e in first[1:-1]} == {reply_id}
        text = "".join(e.delta for e in first if e.type == EventType.TEXT_MESSAGE_CONTENT)
        assert text == "turn 1: hello"
        # the front end sends the whole conversation again: only the new message is input
        history = [
            {"id": "u1", "role": "user", "content": "hello"},
            {"id": reply_id, "role": "assistant", "content": text},
            {"id": "u2", "role": "user", "content": "again"},
        ]
        second = run(url, run_input(thread, history))
    said = "".join(e.delta for e in second if e.type == EventType.TEXT_MESSAGE_CONTENT)
    assert said == "turn 2: again | before: hello"
    assert second[-1].outcome is None or second[-1].outcome.type == "success"


def test_a_message_under_a_reused_id_that_says_something_else_is_new(serve):
    """The client's own ids mark what it sent before only while they say the same: a
    front end that numbers its messages per page load sends "1" again for a new one."""
    thread = uuid.uuid4().hex
    with serve(echo_app) as url:
        first = run(url, run_input(thread, [{"id": "1", "role": "user", "content": "hello"}]))
        reply = next(e for e in first if e.type == EventType.TEXT_MESSAGE_START)
        again = [
            {"id": "1", "role": "user", "content": "hello"},
            {"id": reply.message_id, "role": "assistant", "content": "turn 1: hello"},
            {"id": "1", "role": "user", "content": "a different question"},
        ]
        second = run(url, run_input(thread, again))
    said = "".join(e.delta for e in second if e.type == EventType.TEXT_MESSAGE_CONTENT)
    assert said == "turn 2: a different question | before: hello"


@pytest.mark.parametrize(
    ("answers", "tool_message_id"),
    [(("yes", "no"), None), (("ok", "ok"), "call_0")],
    ids=["new answer", "same answer, client reuses its ids"],
)
def test_a_call_id_the_model_uses_again_gets_its_new_answer(
    serve, fake_openai, answers, tool_message_id
):
    """Models that number calls per response (call_0) ask again under an answered id: the
    new answer is input - even the same words under an id the client used before - while
    the echoed first answer is not stored twice."""
    tool = {"name": "confirm", "description": "Ask", "parameters": {"type": "object"}}
    fake_openai.push(
        tool_calls_reply([("call_0", "confirm", "{}")]),
        text_reply("Done once."),
        tool_calls_reply([("call_0", "confirm", "{}")]),
        text_reply("Done twice."),
    )
    thread, kept = uuid.uuid4().hex, [{"id": "u1", "role": "user", "content": "go"}]
    with serve(friday_on(fake_openai)) as url:
        for answer, follow_up in zip(answers, ("again", None), strict=True):
            asked = run(url, run_input(thread, kept, tools=[tool]))
            start = next(e for e in asked if e.type == EventType.TOOL_CALL_START)
            call = {"id": "call_0", "type": "function", "function": {"name": "confirm"}}
            call["function"]["arguments"] = "{}"
            kept += [
                {"id": start.parent_message_id, "role": "assistant", "toolCalls": [call]},
                {
                    "id": tool_message_id or uuid.uuid4().hex,
                    "role": "tool",
                    "toolCallId": "call_0",
                    "content": answer,
                },
            ]
            answered = run(url, run_input(thread, kept, tools=[tool]))
            reply = next(e for e in answered if e.type == EventType.TEXT_MESSAGE_START)
            said = "".join(e.delta for e in answered if e.type == EventType.TEXT_MESSAGE_CONTENT)
            kept.append({"id": reply.message_id, "role": "assistant", "content": said})
            if follow_up:
                kept.append({"id": uuid.uuid4().hex, "role": "user", "content": follow_up})
    last = fake_openai.requests[3].body["messages"]
    assert [m.get("content") for m in last if m["role"] == "tool"] == list(answers)
    assert last[-1] == {"role": "tool", "tool_call_id": "call_0", "content": answers[1]}
    assert [len(m.get("tool_calls", ())) for m in last if m["role"] == "assistant"] == [1, 0, 1]


def stored_session(tmp_path, thread: str):
    """The thread's session as the ``serve`` fixture's store holds it."""
    from functions.runtime.instance import Instance

    async def load():
        instance = Instance(Settings(store_url=f"file://{tmp_path}/store"))
        try:
            return await instance.history.get_session("default", thread)
        finally:
            await instance.close()

    return asyncio.run(load())


def test_tool_calls_stream_as_tool_call_events(serve, fake_openai, tmp_path):
    fake_openai.push(
        tool_calls_reply([("call_t", "get_current_time", '{"timezone_name": "UTC"}')]),
        text_reply("It is noon."),
        text_reply("You are welcome."),
    )
    thread, user = uuid.uuid4().hex, {"id": "u", "role": "user", "content": "t?"}
    with serve(friday_on(fake_openai)) as url:
        events = run(url, run_input(thread, [user]))
        # the next run brings the thread back as a client keeps it: the call in an
        # assistant message of its own, its result, the reply, then the new message
        call, sent_args, _, result = [e for e in events if e.type.name.startswith("TOOL_CALL")]
        reply = next(e for e in events if e.type == EventType.TEXT_MESSAGE_START)
        kept = [
            user,
            {
                "id": call.parent_message_id,
                "role": "assistant",
                "toolCalls": [
                    {
                        "id": "call_t",
                        "type": "function",
                        "function": {"name": call.tool_call_name, "arguments": sent_args.delta},
                    }
                ],
            },
            {
                "id": result.message_id,
                "role": "tool",
                "toolCallId": "call_t",
                "content": result.content,
            },
            {"id": reply.message_id, "role": "assistant", "content": "It is noon."},
            {"id": "u2", "role": "user", "content": "thanks"},
        ]
        run(url, run_input(thread, kept))
    seen = fake_openai.requests[2].body["messages"]
    assert [m["role"] for m in seen] == ["system", "user", "assistant", "tool", "assistant", "user"]
    assert [c["id"] for c in seen[2]["tool_calls"]] == ["call_t"]
    held = stored_session(tmp_path, thread).messages
    assert [m["type"] for m in held].count("plugin_call") == 1, held
    assert [m["type"] for m in held].count("function_call") == 0, held
    types = [e.type for e in events]
    start = types.index(EventType.TOOL_CALL_START)
    assert types[start : start + 4] == [
        EventType.TOOL_CALL_START,
        EventType.TOOL_CALL_ARGS,
        EventType.TOOL_CALL_END,
        EventType.TOOL_CALL_RESULT,
    ]
    call, args, _, result = events[start : start + 4]
    assert call.tool_call_id == args.tool_call_id == result.tool_call_id == "call_t"
    assert call.tool_call_name == "get_current_time"
    assert args.delta == '{"timezone_name": "UTC"}'
    assert result.content.startswith("20") and result.role == "tool"
    assert types[0] == EventType.RUN_STARTED and types[-1] == EventType.RUN_FINISHED
    assert types.index(EventType.TEXT_MESSAGE_START) > start + 3
    (usage,) = events[-1].usage  # both model calls of the run: (42, 19) + (11, 7)
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (53, 26, 79)


def test_front_end_tool_call_ends_the_run_and_its_result_continues(serve, fake_openai):
    tool = {
        "name": "confirm",
        "description": "Ask the user to confirm",
        "parameters": {"type": "object", "properties": {"question": {"type": "string"}}},
    }
    fake_openai.push(
        tool_calls_reply([("call_c", "confirm", '{"question": "Go?"}')]),
        text_reply("Going."),
    )
    thread = uuid.uuid4().hex
    with serve(friday_on(fake_openai)) as url:
        user = {"id": "u1", "role": "user", "content": "go ahead?"}
        asked = run(url, run_input(thread, [user], tools=[tool]))
        start = next(e for e in asked if e.type == EventType.TOOL_CALL_START)
        assert start.tool_call_name == "confirm"
        assert EventType.TOOL_CALL_RESULT not in [e.type for e in asked]
        finished = asked[-1]
        assert finished.type == EventType.RUN_FINISHED
        assert finished.outcome.pending_tool_call_ids == ["call_c"]
        history = [
            user,
            {
                "id": start.parent_message_id,
                "role": "assistant",
                "toolCalls": [
                    {
                        "id": "call_c",
                        "type": "function",
                        "function": {"name": "confirm", "arguments": '{"question": "Go?"}'},
                    }
                ],
            },
            {"id": "t1", "role": "tool", "toolCallId": "call_c", "content": "yes"},
        ]
        answered = run(url, run_input(thread, history, tools=[tool]))
    said = "".join(e.delta for e in answered if e.type == EventType.TEXT_MESSAGE_CONTENT)
    assert said == "Going."
    messages = fake_openai.requests[1].body["messages"]
    assert messages[-1] == {"role": "tool", "tool_call_id": "call_c", "content": "yes"}
    # the call the client echoed is the one the session holds: the model sees it once
    assert [c["id"] for c in messages[-2]["tool_calls"]] == ["call_c"]
    assert messages[-2]["tool_calls"][0]["function"]["name"] == "confirm"
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool"]


def test_failure_is_run_error(serve):
    with serve(failing_app) as url:
        events = run(
            url, run_input(uuid.uuid4().hex, [{"id": "u", "role": "user", "content": "x"}])
        )
    assert events[0].type == EventType.RUN_STARTED
    assert events[-1].type == EventType.RUN_ERROR and events[-1].code == "agent_error"
    assert EventType.RUN_FINISHED not in [e.type for e in events]


def test_malformed_input_is_422(serve):
    with serve(echo_app) as url:
        missing = httpx.post(f"{url}/ag-ui", json={"threadId": "t"})
        bad_thread = httpx.post(
            f"{url}/ag-ui", json=run_input("tab\tin", [{"id": "u", "role": "user", "content": "x"}])
        )
    assert missing.status_code == 422 and missing.json()["code"] == "invalid_request"
    assert bad_thread.status_code == 422


def test_an_unnamed_call_or_tool_is_422_naming_the_ag_ui_field(serve):
    """A tool call, tool result or tool named by an empty string is refused in AG-UI's
    own terms (``messages[i].toolCalls[j].id``, not ``/process``'s ``input[k]``), and the
    thread it was sent on takes its next run."""
    thread = uuid.uuid4().hex
    user = {"id": "u1", "role": "user", "content": "hi"}
    calls = {
        "id": "a1",
        "role": "assistant",
        "toolCalls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
            {"id": "", "type": "function", "function": {"name": "", "arguments": "{}"}},
        ],
    }
    result = {"id": "t1", "role": "tool", "toolCallId": "", "content": "out"}
    tools = [{"name": "", "description": "d", "parameters": {"type": "object"}}]
    with serve(echo_app) as url:
        bad = httpx.post(f"{url}/ag-ui", json=run_input(thread, [user, calls, result], tools=tools))
        assert bad.status_code == 422, bad.text
        locs = [e["loc"] for e in bad.json()["detail"]]
        assert locs == [
            ["body", "messages", 1, "toolCalls", 1, "id"],
            ["body", "messages", 1, "toolCalls", 1, "function", "name"],
            ["body", "messages", 2, "toolCallId"],
            ["body", "tools", 0, "name"],
        ]
        events = run(url, run_input(thread, [user]))
    assert events[-1].type == EventType.RUN_FINISHED


def test_building_the_query_app_does_not_import_ag_ui():
    """ag-ui-protocol's models take a fifth of a second to import: only /ag-ui pays it."""
    import subprocess
    import sys

    from tests.fixtures.servers import ROOT

    probe = (
        "import sys\n"
        "from functions.runtime.server import build_app\n"
        "from functions.runtime.settings import Settings\n"
        "from tests.apps import echo_app\n"
        "build_app(echo_app, Settings(store_url='memory://'))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'ag_ui'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"

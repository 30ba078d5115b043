"""The OpenAI Responses API of the query function, through the official ``openai`` client
over HTTP against real uvicorn servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import threading

import httpx
import openai
import pytest
from openai import OpenAI

from examples import friday
from functions.runtime.app import AgentApp
from functions.runtime.models import OpenAICompatModel
from functions.runtime.server import build_app
from functions.runtime.services import SessionHistoryService
from functions.runtime.services.lock import lock_key
from functions.runtime.settings import Settings
from functions.runtime.storage import open_store
from functions.runtime.tools import Toolkit
from local_emulator.tokens import mint_token
from tests.apps import echo_app, failing_app, gate, gated_app, stateful_app
from tests.fakes.openai_server import (
    FAKE_API_KEY,
    FakeOpenAIServer,
    fake_openai_fixture,  # noqa: F401 - provides the fake_openai fixture
    text_reply,
    tool_calls_reply,
)
from tests.fixtures.servers import serve_app

SECRET = "responses-test-secret-0123456789abcdef"


@pytest.fixture
def store_url(tmp_path):
    return f"file://{tmp_path}/store"


@pytest.fixture
def serve(store_url):
    """Serves an app as one query-function instance on the shared store (each call: another)."""

    def _serve(app, **settings):
        return serve_app(build_app(app, Settings(store_url=store_url, **settings)))

    return _serve


def client(url: str, key: str = "unused") -> OpenAI:
    return OpenAI(base_url=f"{url}/compatible-mode/v1", api_key=key, max_retries=0)


def _part(part: dict) -> dict:
    """A user message of the one content part."""
    return {"role": "user", "content": [part]}


def friday_on(fake: FakeOpenAIServer) -> AgentApp:
    """The Friday example's handler, its model on the fake OpenAI server."""
    app = AgentApp(app_name="Friday")

    @app.init
    async def init(self: AgentApp) -> None:
        self.model = OpenAICompatModel(fake.base_url, FAKE_API_KEY, "fake-model", 30)
        self.toolkit = Toolkit()
        self.toolkit.register(friday.get_current_time)

    app.query(framework="native")(friday.query_func)
    return app


def test_create_returns_a_response_object(serve):
    with serve(echo_app) as url:
        resp = client(url).responses.create(
            model="any_name", input="What is the capital of France?", metadata={"k": "v"}
        )
    assert resp.object == "response" and resp.status == "completed"
    assert resp.id.startswith("resp_") and resp.model == "any_name"
    assert resp.output_text == "turn 1: What is the capital of France?"
    (item,) = resp.output
    assert item.type == "message" and item.role == "assistant" and item.status == "completed"
    assert resp.metadata == {"k": "v"}


def test_stream_true_yields_the_documented_event_order(serve):
    with serve(echo_app) as url:
        events = list(client(url).responses.create(model="m", input="hello", stream=True))
    kinds = [e.type for e in events]
    deltas = kinds.count("response.output_text.delta")
    assert deltas >= 2
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * deltas,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert len({e.response.id for e in events if hasattr(e, "response")}) == 1
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == events[-1].response.output_text == "turn 1: hello"


def test_stream_helper_and_get_final_response(serve):
    with serve(echo_app) as url, client(url).responses.stream(model="m", input="hi") as stream:
        texts = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(texts) == final.output_text == "turn 1: hi"
    assert final.status == "completed"


def test_previous_response_id_continues_on_another_instance_and_retrieve(serve):
    with serve(echo_app) as url_a:
        first = client(url_a).responses.create(model="m", input="first")
    with serve(echo_app) as url_b:  # a second instance on the same store
        second = client(url_b).responses.create(
            model="m", input="second", previous_response_id=first.id
        )
        got = client(url_b).responses.retrieve(second.id)
        missing = httpx.get(f"{url_b}/compatible-mode/v1/responses/resp_nothing")
        # a replay of its events is for a response made in the background: none is here
        with pytest.raises(openai.BadRequestError) as replay:
            client(url_b).responses.retrieve(second.id, stream=True)
        missing_replay = httpx.get(
            f"{url_b}/compatible-mode/v1/responses/resp_nothing", params={"stream": "true"}
        )
        odd = httpx.get(f"{url_b}/compatible-mode/v1/responses/{second.id}?stream=maybe")
    assert replay.value.body["code"] == "not_streamable"
    assert "background" in replay.value.body["message"]  # OpenAI's error object
    assert missing_replay.status_code == 404
    assert odd.status_code == 422 and odd.json()["code"] == "invalid_request"
    assert second.output_text == "turn 2: second | before: first"
    assert got.id == second.id and got.output_text == second.output_text
    assert got.previous_response_id == first.id
    assert missing.status_code == 404 and missing.json()["code"] == "response_not_found"


def test_continuing_an_older_response_forks_the_conversation(serve):
    with serve(echo_app) as url:
        c = client(url)
        first = c.responses.create(model="m", input="first")
        c.responses.create(model="m", input="second", previous_response_id=first.id)
        branch = c.responses.create(model="m", input="other", previous_response_id=first.id)
        on_branch = c.responses.create(model="m", input="next", previous_response_id=branch.id)
    assert branch.output_text == "turn 2: other | before: first"
    assert on_branch.output_text == "turn 3: next | before: first / other"


def test_a_branch_starts_from_the_state_its_response_s_turn_left(serve):
    """An agent that keeps its context in the state service (as the agentscope 2.x example
    does) finds, on a branch, the state as the continued response's turn left it: not
    none (the branch would forget the conversation), not the latest (it would know what
    came after)."""
    with serve(stateful_app) as url:
        c = client(url)
        first = c.responses.create(model="m", input="one")
        second = c.responses.create(model="m", input="two", previous_response_id=first.id)
        c.responses.create(model="m", input="three", previous_response_id=second.id)
        branch = c.responses.create(model="m", input="b", previous_response_id=first.id)
        on_branch = c.responses.create(model="m", input="c", previous_response_id=branch.id)
        from_second = c.responses.create(model="m", input="d", previous_response_id=second.id)
        hidden = c.responses.create(
            model="m", input="e", previous_response_id=first.id, store=False
        )
    assert [r.output_text for r in (first, second, branch, on_branch, from_second, hidden)] == [
        "count 1",
        "count 2",
        "count 2",
        "count 3",
        "count 3",
        "count 2",
    ]


def test_a_continuation_refused_or_forked_leaves_the_session_free(serve):
    """A refused continuation (404) holds no session, and a fork - whose turn checks the
    original session under its lease, then moves - lets it go: its next turn is not busy."""
    with serve(echo_app) as url:
        c = client(url)
        first = c.responses.create(model="m", input="first")
        latest = c.responses.create(model="m", input="second", previous_response_id=first.id)
        hidden = c.responses.create(
            model="m", input="off the record", previous_response_id=latest.id, store=False
        )
        for missing in (hidden.id, "resp_nothing", "hello", first.id[:-1] + "~", ""):
            with pytest.raises(openai.NotFoundError) as refused:
                c.responses.create(model="m", input="x", previous_response_id=missing)
            assert refused.value.body["code"] == "previous_response_not_found", missing
        branch = c.responses.create(model="m", input="other", previous_response_id=first.id)
        after = c.responses.create(
            model="m", input="third", extra_body={"session_id": first.model_extra["session_id"]}
        )
    assert branch.output_text == "turn 2: other | before: first"
    assert branch.model_extra["session_id"] != first.model_extra["session_id"]
    assert after.output_text.startswith("turn 4: third | before: first / second / off")


def test_a_branch_from_an_older_response_runs_while_its_session_is_busy(serve, store_url):
    """Continuing an older response forks the conversation: the turn running on the
    original session does not hold it up. Continuing the latest one waits its turn (409)."""
    hold, holding = threading.Event(), threading.Event()
    app = AgentApp(app_name="holder")

    @app.query(framework="text")
    async def answer(self, msgs, request, **kwargs):
        text = msgs[-1].get_text_content()
        if text == "hold":
            holding.set()
            await asyncio.to_thread(hold.wait, 30)
        yield f"said {text}"

    with serve(app) as url:
        c = client(url)
        first = c.responses.create(model="m", input="one")
        second = c.responses.create(model="m", input="two", previous_response_id=first.id)
        held: dict[str, object] = {}

        def run_long() -> None:
            held["answer"] = client(url).responses.create(
                model="m", input="hold", previous_response_id=second.id
            )

        long_turn = threading.Thread(target=run_long)
        long_turn.start()
        try:
            assert holding.wait(10), "the long turn did not start"
            with pytest.raises(openai.ConflictError) as busy:
                c.responses.create(model="m", input="x", previous_response_id=second.id)
            branch = c.responses.create(model="m", input="branch", previous_response_id=first.id)
        finally:
            hold.set()
            long_turn.join(30)
    assert busy.value.body["code"] == "session_busy"
    session_id = first.model_extra["session_id"]
    assert branch.status == "completed" and branch.model_extra["session_id"] != session_id
    assert held["answer"].output_text == "said hold"
    history = SessionHistoryService(open_store(store_url))
    fork = asyncio.run(history.get_session("default", branch.model_extra["session_id"]))
    said = [m["content"][0]["text"] for m in fork.messages]
    assert said == ["one", "said one", "branch", "said branch"]


def test_a_client_that_leaves_mid_stream_gets_its_response_kept_cancelled(serve, store_url):
    """The turn is cut off when its client leaves; its Response is kept with it, cancelled,
    holding what was said, and the session is free for the next request."""
    store = open_store(store_url)
    gate.reset()  # another test may have left it open
    with serve(gated_app) as url:
        body = {"model": "m", "input": "hi", "stream": True}
        with httpx.stream("POST", f"{url}/compatible-mode/v1/responses", json=body) as resp:
            session_id = resp.headers["x-session-id"]
            for line in resp.iter_lines():
                if line.startswith("data: ") and '"response.created"' in line:
                    response_id = json.loads(line[6:])["response"]["id"]
                if line.startswith("data: ") and '"delta":"waiting "' in line:
                    break  # leave mid-stream: the handler is still running
        assert gate.cleaned_up.wait(10), "the handler was not cancelled after the client left"
        gate.reset()
        gate.release.set()
        lease = lock_key("default", session_id)
        for _ in range(500):  # released right after the cut-off turn is written
            if asyncio.run(store.get(lease)) is None:
                break
            threading.Event().wait(0.01)
        kept = client(url).responses.retrieve(response_id)
        then = client(url).responses.create(model="m", input="x", previous_response_id=kept.id)
    assert kept.status == "cancelled"
    assert kept.output_text == "waiting "
    assert then.status == "completed" and then.model_extra["session_id"] == session_id


def test_store_false_is_not_kept(serve):
    with serve(echo_app) as url:
        c = client(url)
        resp = c.responses.create(model="m", input="secret", store=False)
        with pytest.raises(openai.NotFoundError):
            c.responses.retrieve(resp.id)
        with pytest.raises(openai.NotFoundError) as chained:
            c.responses.create(model="m", input="more", previous_response_id=resp.id)
    assert chained.value.body["code"] == "previous_response_not_found"


def test_instructions_reach_the_agent_for_one_request_only(serve, store_url):
    seen: list[list[str]] = []
    app = AgentApp(app_name="listener")

    @app.query(framework="text")
    async def listen(self, msgs, request, **kwargs):
        seen.append([f"{m.role}:{m.get_text_content()}" for m in msgs])
        yield "ok"

    with serve(app) as url:
        c = client(url)
        first = c.responses.create(model="m", input="hi", instructions="Answer in French.")
        c.responses.create(model="m", input="again", previous_response_id=first.id)
    assert seen == [["system:Answer in French.", "user:hi"], ["user:again"]]
    assert first.instructions == "Answer in French."
    history = SessionHistoryService(open_store(store_url))
    session_id = first.model_extra["session_id"]
    stored = asyncio.run(history.get_session("default", session_id))
    assert [m["role"] for m in stored.messages] == ["user", "assistant", "user", "assistant"]


def test_input_items_with_images_and_function_call_output(serve):
    seen = []
    app = AgentApp(app_name="listener")

    @app.query(framework="text")
    async def listen(self, msgs, request, **kwargs):
        seen.extend(m.model_dump(exclude_none=True) for m in msgs)
        yield "ok"

    with serve(app) as url:
        client(url).responses.create(
            model="m",
            input=[
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "what is this?"},
                        {"type": "input_image", "image_url": "data:image/png;base64,AAAA"},
                    ],
                },
                {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c1", "output": "42"},
            ],
        )
    user, call, output = seen
    assert [p["type"] for p in user["content"]] == ["text", "image"]
    assert user["content"][1]["image_url"] == "data:image/png;base64,AAAA"
    assert call["type"] == "function_call" and call["content"][0]["data"]["name"] == "f"
    assert output["type"] == "function_call_output"
    assert output["content"][0]["data"] == {"call_id": "c1", "output": "42"}


def test_client_function_tool_round_trip(serve, fake_openai):
    weather = {
        "type": "function",
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
    fake_openai.push(
        tool_calls_reply([("call_w", "get_weather", '{"city": "Paris"}')]),
        text_reply("It is sunny in Paris."),
    )
    with serve(friday_on(fake_openai)) as url:
        c = client(url)
        with c.responses.stream(model="m", input="Weather in Paris?", tools=[weather]) as s:
            for _ in s:
                pass
            asked = s.get_final_response()
        (call,) = asked.output
        assert call.type == "function_call" and call.name == "get_weather"
        assert json.loads(call.arguments) == {"city": "Paris"} and call.call_id == "call_w"
        answer = c.responses.create(
            model="m",
            previous_response_id=asked.id,
            input=[{"type": "function_call_output", "call_id": "call_w", "output": "sunny"}],
            tools=[weather],
        )
    assert answer.output_text == "It is sunny in Paris."
    offered = fake_openai.requests[0].body["tools"]
    assert "get_weather" in [t["function"]["name"] for t in offered]
    messages = fake_openai.requests[1].body["messages"]
    assert messages[-2]["tool_calls"][0]["id"] == "call_w"
    assert messages[-1] == {"role": "tool", "tool_call_id": "call_w", "content": "sunny"}
    assert answer.usage.input_tokens == 11 and answer.usage.output_tokens == 7
    assert answer.usage.total_tokens == 18


def test_the_response_and_every_event_are_valid_by_the_clients_own_types(serve, fake_openai):
    """The official client builds its objects without validating them, so a field it
    requires that is missing only shows as None: validated here, the Response (with usage)
    and each stream event, against the openai package's pydantic types."""
    from openai.types.responses import Response, ResponseStreamEvent
    from pydantic import TypeAdapter

    fake_openai.push(text_reply("Hello."), text_reply("Hello again."))
    events = TypeAdapter(ResponseStreamEvent)
    with serve(friday_on(fake_openai)) as url:
        plain = httpx.post(f"{url}/compatible-mode/v1/responses", json={"input": "hi"})
        with client(url).responses.with_streaming_response.create(
            model="m", input="hi", stream=True
        ) as streamed:
            data = [line[6:] for line in streamed.iter_lines() if line.startswith("data: ")]
    answer = Response.model_validate(plain.json(), strict=False)
    assert answer.usage is not None and answer.usage.input_tokens_details.cache_write_tokens == 0
    kinds = [events.validate_json(item).type for item in data]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    final = events.validate_json(data[-1])
    assert final.response.usage.input_tokens_details.cached_tokens == 0


# a client's function tool (its schema does not matter to a scripted model)
WEATHER = {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}


def test_items_a_client_sends_back_are_not_held_twice(serve, fake_openai, store_url):
    """A client that keeps the conversation itself sends the response's output items back
    beside what is new (the function_call with its output, an assistant message, a
    server-run mcp_call), here with previous_response_id too: what the session already
    holds is not added again, so the model sees each call once, answered once."""
    fake_openai.push(
        text_reply("Let me check."),
        tool_calls_reply([("call_w", "get_weather", '{"city": "Paris"}')]),
        text_reply("It is sunny in Paris."),
    )
    with serve(friday_on(fake_openai)) as url:
        c = client(url)
        first = c.responses.create(model="m", input="Weather in Paris?", tools=[WEATHER])
        asked = c.responses.create(
            model="m", input="go on", previous_response_id=first.id, tools=[WEATHER]
        )
        echoed = [item.model_dump(exclude_none=True) for item in (*first.output, *asked.output)]
        answer = c.responses.create(
            model="m",
            previous_response_id=asked.id,
            input=[
                *echoed,
                {"type": "function_call_output", "call_id": "call_w", "output": "sunny"},
            ],
            tools=[WEATHER],
        )
        again = c.responses.create(  # the output answered already: not a second answer
            model="m",
            previous_response_id=answer.id,
            input=[
                {"type": "function_call_output", "call_id": "call_w", "output": "sunny"},
                {"role": "user", "content": "thanks"},
            ],
            tools=[WEATHER],
        )
    assert answer.output_text == "It is sunny in Paris." and again.status == "completed"
    messages = fake_openai.requests[2].body["messages"]
    assert [m["role"] for m in messages] == [
        "system",
        "user",
        "assistant",
        "user",
        "assistant",
        "tool",
    ]
    assert [c["id"] for c in messages[4]["tool_calls"]] == ["call_w"]
    assert messages[4]["content"] is None  # the call alone: "Let me check." was said once
    last = fake_openai.requests[3].body["messages"]
    assert [m.get("content") for m in last].count("Let me check.") == 1
    assert [m.get("tool_call_id") for m in last].count("call_w") == 1


def test_server_run_tools_are_items_the_client_need_not_answer(serve, fake_openai):
    fake_openai.push(
        tool_calls_reply([("call_t", "get_current_time", "{}")]),
        text_reply("It is noon."),
    )
    with serve(friday_on(fake_openai)) as url:
        events = list(client(url).responses.create(model="m", input="time?", stream=True))
        with client(url).responses.stream(model="m", input="time?") as s:
            fake_openai.push(
                tool_calls_reply([("call_u", "get_current_time", "{}")]),
                text_reply("Noon."),
            )
            for _ in s:
                pass
            helper_final = s.get_final_response()
    final = events[-1].response
    assert final.status == "completed"
    tool, message = final.output
    assert tool.type == "mcp_call" and tool.name == "get_current_time"
    assert tool.status == "completed" and tool.output.startswith("20")
    assert tool.server_label == "Friday"
    assert message.type == "message" and final.output_text == "It is noon."
    assert not [i for i in helper_final.output if i.type == "function_call"]
    kinds = [e.type for e in events]
    assert kinds.index("response.mcp_call.completed") < kinds.index("response.output_text.delta")


def test_a_call_id_asked_again_takes_its_new_output(serve, fake_openai):
    """A model that numbers its calls per response asks call_0 again: the output sent
    for it is new input, not taken for the first answer sent back."""
    fake_openai.push(
        tool_calls_reply([("call_0", "get_weather", "{}")]),
        text_reply("got: sunny"),
        tool_calls_reply([("call_0", "get_weather", "{}")]),
        text_reply("got: rainy"),
    )
    with serve(friday_on(fake_openai)) as url:
        c = client(url)
        previous = c.responses.create(model="m", input="weather?", tools=[WEATHER])
        for output, then in (("sunny", "and tomorrow?"), ("rainy", None)):
            answer = {"type": "function_call_output", "call_id": "call_0", "output": output}
            previous = c.responses.create(
                model="m", previous_response_id=previous.id, input=[answer], tools=[WEATHER]
            )
            if then:
                previous = c.responses.create(
                    model="m", previous_response_id=previous.id, input=then, tools=[WEATHER]
                )
    assert previous.output_text == "got: rainy"
    last = fake_openai.requests[3].body["messages"]
    assert [m.get("content") for m in last if m["role"] == "tool"] == ["sunny", "rainy"]


OWN_CALL = [
    {
        "type": "function_call",
        "call_id": "call_0",
        "name": "lookup_weather",
        "arguments": '{"city": "Paris"}',
    },
    {"type": "function_call_output", "call_id": "call_0", "output": "sunny, 21C"},
]


@pytest.mark.parametrize("sent_back", ["its mcp_call item", "a call of the client's own"])
def test_beside_a_server_run_call(serve, fake_openai, sent_back):
    """After a call the server ran (call_0): its mcp_call item sent back as context is the
    call the session holds (the model sees it once); the client's own call_0 - another
    tool, other arguments - with its output is new input, not taken for that one."""
    fake_openai.push(
        tool_calls_reply([("call_0", "get_current_time", "{}")]),
        text_reply("It is noon."),
        text_reply("Noted."),
    )
    with serve(friday_on(fake_openai)) as url:
        c = client(url)
        first = c.responses.create(model="m", input="time?")
        items = [i.model_dump(exclude_none=True) for i in first.output]
        extra = items if sent_back == "its mcp_call item" else OWN_CALL
        question = {"role": "user", "content": "and?"}
        c.responses.create(model="m", previous_response_id=first.id, input=[*extra, question])
    seen = fake_openai.requests[2].body["messages"]
    calls = [c["function"]["name"] for m in seen for c in m.get("tool_calls", ())]
    if sent_back == "its mcp_call item":
        assert [m["role"] for m in seen] == [
            "system",
            "user",
            "assistant",
            "tool",
            "assistant",
            "user",
        ]
        assert calls == ["get_current_time"]
    else:
        assert calls == ["get_current_time", "lookup_weather"]
        assert [m["content"] for m in seen if m["role"] == "tool"][-1] == "sunny, 21C"


def test_failure_is_response_failed(serve):
    with serve(failing_app) as url:
        c = client(url)
        events = list(c.responses.create(model="m", input="x", stream=True))
        plain = c.responses.create(model="m", input="x")
    assert events[-1].type == "response.failed"
    failed = events[-1].response
    assert failed.status == "failed" and failed.error.code == "agent_error"
    assert "deliberate failure" in failed.error.message
    assert failed.output[0].status == "incomplete"  # what it said before failing is kept
    assert plain.status == "failed" and plain.error.code == "agent_error"


@pytest.mark.parametrize(
    "body, where",
    [
        ({"model": "m"}, "input"),
        ({"input": "x", "tools": [{"type": "web_search"}]}, "tools"),
        ({"input": "x", "conversation": "conv_1"}, "conversation"),
        ({"input": [{"type": "item_reference", "id": "x"}]}, "input"),
        ({"input": "x", "session_id": "a\x00b"}, "session_id"),
        ({"input": "x", "temperature": True}, "temperature"),  # a boolean is no number
        ({"input": "x", "max_output_tokens": True}, "max_output_tokens"),
        # fields the API types as strings, given as other JSON: refused, never stored
        ({"input": [{"type": "function_call", "call_id": {"a": 1}, "name": "f"}]}, "call_id"),
        ({"input": [{"type": "function_call", "call_id": "c", "name": ["f"]}]}, "name"),
        ({"input": [{"type": "function_call_output", "call_id": [1], "output": "r"}]}, "call_id"),
        ({"input": [{"type": "mcp_call", "id": 7, "name": "f"}]}, "id"),
        ({"input": [_part({"type": "input_file", "file_data": {"a": 1}})]}, "file_data"),
        ({"input": [_part({"type": "input_file", "file_url": "u", "filename": 5})]}, "filename"),
        ({"input": [_part({"type": "input_image", "image_url": ["u"]})]}, "image_url"),
        ({"input": [_part({"type": "input_text", "text": {"t": 1}})]}, "text"),
        ({"input": "x", "tools": [{"type": "function", "name": {"n": 1}}]}, "name"),
        ({"input": "x", "tool_choice": {"type": "function", "name": 3}}, "tool_choice"),
    ],
)
def test_bad_requests_are_422_naming_the_field(serve, body, where):
    with serve(echo_app) as url:
        resp = httpx.post(f"{url}/compatible-mode/v1/responses", json=body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["code"] == "invalid_request"
    assert any(where in map(str, e["loc"]) for e in resp.json()["detail"])


def test_errors_reach_the_openai_client_with_their_text(serve):
    """Every error under /compatible-mode/v1 carries OpenAI's ``error`` object beside our
    ``code`` and ``detail``: the client's exception says what went wrong (it was only
    "Error code: 404"), whoever answered it (a route, validation, authentication)."""
    with serve(echo_app, auth_mode="jwt", auth_jwt_secret=SECRET) as url:
        key = mint_token(SECRET, "alice")
        with pytest.raises(openai.NotFoundError) as missing:
            client(url, key).responses.retrieve("resp_nope")
        with pytest.raises(openai.UnprocessableEntityError) as invalid:
            client(url, key).responses.create(model="m", input="x", tools=[{"type": "web_search"}])
        with pytest.raises(openai.AuthenticationError) as anonymous:
            client(url, "not-a-token").responses.create(model="m", input="x")
        process = httpx.post(f"{url}/process", json={"input": []})
    assert "no stored response 'resp_nope'" in str(missing.value)
    assert missing.value.code == "response_not_found"
    assert missing.value.type == "invalid_request_error" and missing.value.param is None
    assert invalid.value.param == "tools[0].type" and invalid.value.code == "invalid_request"
    assert str(invalid.value).startswith("Error code: 422 - tools[0].type: ")
    assert anonymous.value.code == "unauthorized" and str(anonymous.value) != "Error code: 401"
    body = missing.value.response.json()  # ours stays as it was
    assert body["code"] == "response_not_found" and body["detail"].startswith("no stored")
    assert "error" not in process.json()  # the seed's routes keep the seed's shape


def test_a_bug_s_500_reaches_the_openai_client_in_its_shape_too(store_url):
    """A fault of ours (here a store that breaks in a way no store should) is answered by
    Starlette outside every middleware: its 500 carries OpenAI's error object all the same."""
    from functions.runtime.storage.memory import MemoryStore

    class Broken(MemoryStore):
        async def get(self, key: str):  # type: ignore[override]
            raise RuntimeError("a bug, not a store fault")

    app = build_app(echo_app, Settings(store_url=store_url), store=Broken())
    with serve_app(app) as url, pytest.raises(openai.InternalServerError) as failed:
        client(url).responses.retrieve("resp_any")
    assert failed.value.code == "internal_error" and failed.value.type == "server_error"
    assert str(failed.value) == "Error code: 500 - internal error"  # no internals
    assert failed.value.response.json()["detail"] == "internal error"


def test_a_response_is_visible_to_its_owner_only(serve):
    alice, bob = mint_token(SECRET, "alice"), mint_token(SECRET, "bob")
    admin = mint_token(SECRET, "ops", admin=True)
    with serve(echo_app, auth_mode="jwt", auth_jwt_secret=SECRET) as url:
        resp = client(url, alice).responses.create(model="m", input="mine")
        with pytest.raises(openai.NotFoundError):
            client(url, bob).responses.retrieve(resp.id)
        with pytest.raises(openai.NotFoundError):
            client(url, bob).responses.create(model="m", input="x", previous_response_id=resp.id)
        with pytest.raises(openai.PermissionDeniedError):  # acting for another user: 403
            client(url, bob).responses.retrieve(resp.id, extra_query={"user_id": "alice"})
        assert client(url, alice).responses.retrieve(resp.id).output_text == "turn 1: mine"
        as_admin = client(url, admin).responses.retrieve(resp.id, extra_query={"user_id": "alice"})
        unauthenticated = httpx.post(
            f"{url}/compatible-mode/v1/responses", json={"input": "x", "model": "m"}
        )
    assert as_admin.id == resp.id
    assert unauthenticated.status_code == 401

import asyncio
import gc

import pytest

from functions.runtime.app import AgentApp
from functions.runtime.protocol import AgentRequest, DataContent, Message, TextContent


def request(text="hi", **kw):
    return AgentRequest.model_validate(
        {"input": [{"role": "user", "content": [{"type": "text", "text": text}]}], **kw}
    )


async def collect(app, req, **kw):
    return [e async for e in app.stream(req, **kw)]


async def test_lifecycle_init_once_state_on_self_and_shutdown():
    app = AgentApp(app_name="t")
    calls = []

    @app.init
    async def init(self):
        calls.append("init")
        self.greeting = "hello"

    @app.shutdown
    def shutdown(self):
        calls.append("shutdown")

    @app.query(framework="text")
    async def handler(self, msgs, request, **kwargs):
        yield f"{self.greeting}, {msgs[0].get_text_content()}"

    results = await asyncio.gather(*(collect(app, request(str(i))) for i in range(5)))
    assert calls == ["init"]
    assert results[3][-1].output[0].text == "hello, 3"
    await app.close()
    assert calls == ["init", "shutdown"]


async def test_handler_exception_becomes_failed_response():
    app = AgentApp()

    @app.query()
    async def handler(self, msgs, request, **kwargs):
        yield "partial "
        raise ValueError("the tool broke")

    events = await collect(app, request())
    final = events[-1]
    assert final.object == "response" and final.status == "failed"
    assert final.error.code == "agent_error"
    assert "ValueError" in final.error.message and "the tool broke" in final.error.message
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert final.output[0].status == "incomplete" and final.output[0].text == "partial "


async def test_errors_with_their_own_code_keep_it():
    app = AgentApp()

    class ModelDown(Exception):
        code = "model_unavailable"

    @app.query()
    async def handler(self, msgs, request, **kwargs):
        raise ModelDown("cannot reach the model")
        yield  # pragma: no cover

    final = (await collect(app, request()))[-1]
    assert final.error.code == "model_unavailable"
    assert final.error.message == "cannot reach the model"


async def test_text_framework_refuses_non_str():
    app = AgentApp()

    @app.query(framework="text")
    async def handler(self, msgs, request, **kwargs):
        yield {"not": "text"}

    final = (await collect(app, request()))[-1]
    assert final.status == "failed" and 'framework="native"' in final.error.message


def test_unknown_framework_fails_at_registration():
    app = AgentApp()
    with pytest.raises(ValueError, match="unknown framework"):
        app.query(framework="nonesuch")


async def test_native_cumulative_snapshots_become_deltas():
    app = AgentApp()

    msg = Message(role="assistant", content=[TextContent(text="Par")])

    @app.query(framework="native")
    async def handler(self, msgs, request, **kwargs):
        yield msg, False
        msg.content[0].text = "Paris is"
        yield msg, False
        msg.content[0].text = "Paris is the capital."
        yield msg, True
        yield Message(
            role="assistant",
            type="plugin_call",
            content=[DataContent(data={"call_id": "c1", "name": "f", "arguments": "{}"})],
        )
        yield "done"

    events = await collect(app, request())
    deltas = [e.text for e in events if e.object == "content" and e.delta]
    assert deltas == ["Par", "is is", " the capital.", "done"]
    assert "".join(deltas[:3]) == "Paris is the capital."
    final = events[-1]
    assert [m.type for m in final.output] == ["message", "plugin_call", "message"]
    assert final.output[0].text == "Paris is the capital."
    assert final.output[1].content[0].data["call_id"] == "c1"
    assert final.output[2].text == "done"
    # the text message's id is the handler's own, so clients can correlate
    assert events[2].object == "message" and events[2].id == msg.id
    assert [e.sequence_number for e in events] == list(range(len(events)))


async def test_coroutine_handler_returning_one_item():
    app = AgentApp()

    @app.query(framework="text")
    async def handler(self, msgs, request, **kwargs):
        return "just this"

    assert (await collect(app, request()))[-1].output[0].text == "just this"


async def test_run_query_returns_final_response():
    app = AgentApp()

    @app.query()
    async def handler(self, msgs, request, **kwargs):
        yield "a"
        yield "b"

    resp = await app.run_query(request())
    assert resp.status == "completed" and resp.output[0].text == "ab"


async def test_ready_text_deltas_become_one_delta_event_with_the_same_text():
    app = AgentApp()

    @app.query(framework="text")
    async def handler(self, msgs, request, **kwargs):
        for char in "hello ":
            yield char
        await asyncio.sleep(0)  # a suspension: what came before is handed on first
        for char in "world":
            yield char

    events = await collect(app, request())
    deltas = [e.text for e in events if e.object == "content" and e.delta]
    assert deltas == ["hello ", "world"]
    assert events[-1].status == "completed" and events[-1].output[0].text == "hello world"
    assert [e.sequence_number for e in events] == list(range(len(events)))


async def test_native_ready_text_deltas_keep_their_order_around_messages():
    app = AgentApp()

    @app.query(framework="native")
    async def handler(self, msgs, request, **kwargs):
        yield "a"
        yield "b"
        yield Message(role="assistant", content=[TextContent(text="whole")])
        yield "c"

    final = (await collect(app, request()))[-1]
    assert [m.text for m in final.output] == ["ab", "whole", "c"]


async def test_a_stream_dropped_while_the_handler_awaits_closes_the_handler(caplog):
    # handed its text while it awaits, the handler is inside an ``await`` when the consumer
    # goes; the loop's finalizer of the dropped generators must still reach its cleanup
    app = AgentApp()
    cleaned = asyncio.Event()

    @app.query(framework="text")
    async def handler(self, msgs, request, **kwargs):
        try:
            yield "thinking"
            await asyncio.sleep(3600)
        finally:
            cleaned.set()

    stream = app.stream(request())
    async for event in stream:
        if event.object == "content":
            break
    await stream.aclose()
    del stream, event
    gc.collect()
    await asyncio.wait_for(cleaned.wait(), 30)  # a hang guard, not a timing
    assert not [r for r in caplog.records if r.levelname == "ERROR"]

"""The per-turn call hooks (``calls.py``): what model clients and toolkits report, what a
watcher sees, and that a watcher can refuse a call before it is made (a turn budget)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import pytest

from functions.runtime.calls import CURRENT, ModelCall, ToolExecution, TurnCalls, model_call
from functions.runtime.models import OfflineDemoModel, OpenAICompatModel
from functions.runtime.tools import Toolkit
from tests.fakes.openai_server import FAKE_API_KEY, FakeOpenAIServer, text_reply


class BudgetExceeded(Exception):
    code = "budget_exceeded"


class Recorder:
    """A watcher as a turn budget would write one: counts, and refuses past a limit."""

    def __init__(self, calls: TurnCalls, max_model_calls: int = 10) -> None:
        self.calls = calls
        self.max_model_calls = max_model_calls
        self.seen: list[object] = []
        self.bound_in: list[object] = []

    def bound(self) -> None:
        self.bound_in.append(CURRENT.get())

    @contextlib.contextmanager
    def model_call(self, call: ModelCall) -> Iterator[None]:
        if self.calls.model_calls >= self.max_model_calls:  # the calls made before this one
            raise BudgetExceeded(f"more than {self.max_model_calls} model calls")
        call.headers["x-watched"] = "1"
        yield
        self.seen.append(("model", call.model, call.input_tokens, call.output_tokens))

    @contextlib.contextmanager
    def tool_call(self, run: ToolExecution) -> Iterator[None]:
        yield
        self.seen.append(("tool", run.name, run.call_id, run.result, run.is_error))


def in_turn(calls: TurnCalls, coro_fn) -> object:
    async def agent() -> object:
        calls.bind()  # as Turn._produce does, in the agent's task
        return await coro_fn()

    return asyncio.run(agent())


async def drain(stream) -> list:
    return [item async for item in stream]


def test_outside_a_turn_nothing_is_reported():
    with model_call("m") as call:
        assert call is None
    toolkit = Toolkit()
    toolkit.register(lambda: "ok", name="ping")
    assert asyncio.run(toolkit.call("ping", "{}", call_id="c1")) == ("ok", False)


def test_a_turn_counts_its_calls_and_shows_each_to_its_watchers():
    calls = TurnCalls()
    recorder = Recorder(calls)
    calls.watchers.append(recorder)
    toolkit = Toolkit()

    def fails() -> str:
        raise RuntimeError("no")

    toolkit.register(lambda: "pong", name="ping")
    toolkit.register(fails)
    model = OfflineDemoModel()

    async def agent() -> None:
        await drain(model.stream([{"role": "user", "content": "one two three"}]))
        await toolkit.call("ping", "{}", call_id="c1")
        await toolkit.call("fails", "{}", call_id="c2")
        await toolkit.call("nope", "{}")

    in_turn(calls, agent)
    assert recorder.bound_in == [calls]
    assert recorder.seen[0][:2] == ("model", "offline-demo")
    assert recorder.seen[1:] == [
        ("tool", "ping", "c1", "pong", False),
        ("tool", "fails", "c2", "fails failed: RuntimeError: no", True),
        ("tool", "nope", None, "unknown tool 'nope'; available: ping, fails", True),
    ]
    assert (calls.model_calls, calls.tool_calls) == (1, 3)
    assert calls.input_tokens == 3 and calls.output_tokens == recorder.seen[0][3] > 0


def test_a_watcher_refuses_a_model_call_before_it_is_sent_and_sees_the_headers_go_out():
    calls = TurnCalls()
    calls.watchers.append(Recorder(calls, max_model_calls=1))
    with FakeOpenAIServer(api_key=FAKE_API_KEY) as server:
        server.push(text_reply("first"), text_reply("second"))
        model = OpenAICompatModel(server.base_url, FAKE_API_KEY, "fake-model")

        async def agent() -> None:
            await drain(model.stream([{"role": "user", "content": "hi"}]))
            await drain(model.stream([{"role": "user", "content": "again"}]))

        with pytest.raises(BudgetExceeded):
            in_turn(calls, agent)
        assert len(server.requests) == 1  # the second call never left
        assert server.requests[0].headers["x-watched"] == "1"
    assert calls.model_calls == 1 and (calls.input_tokens, calls.output_tokens) == (11, 7)

"""coalesce.coalesced: runs of ready text joined, handed on when the producer would suspend."""

from __future__ import annotations

import asyncio
import contextvars

import pytest

from functions.runtime.coalesce import coalesced
from functions.runtime.models.base import Usage

HANG_GUARD_S = 30  # a broken coalescer waits forever; the guard turns that into a failure


async def ready(*items):
    for item in items:
        yield item


async def collect(items, **kw):
    return [item async for item in coalesced(items, **kw)]


async def test_ready_deltas_arrive_as_one_run():
    assert await collect(ready(*"hello")) == ["hello"]


async def test_a_suspension_hands_the_run_on_and_order_is_kept():
    async def producer():
        yield "a"
        yield "b"
        await asyncio.sleep(0)
        yield "c"
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        yield "d"
        yield "e"

    assert await collect(producer()) == ["ab", "c", "de"]


async def test_the_run_is_handed_on_before_the_producer_waits():
    # the producer waits for the consumer to have seen "hel": holding it back for more
    # text would deadlock
    seen = asyncio.Event()

    async def producer():
        yield "he"
        yield "l"
        await seen.wait()
        yield "lo"

    out = []
    async with asyncio.timeout(HANG_GUARD_S):
        async for item in coalesced(producer()):
            out.append(item)
            seen.set()
    assert out == ["hel", "lo"]


async def test_other_items_split_runs_in_place_and_empty_text_vanishes():
    usage, other = Usage(1, 2), object()
    got = await collect(ready("", "a", "b", usage, "c", "", other, "", "d"))
    assert got == ["ab", usage, "c", other, "d"]
    assert await collect(ready("", "")) == []


async def test_str_subclasses_arrive_as_text():
    class Name(str):
        pass

    assert await collect(ready(Name("x"), "y")) == ["xy"]


async def test_text_before_an_exception_comes_first():
    async def producer():
        yield "par"
        yield "tial"
        raise ValueError("the tool broke")

    out = []
    with pytest.raises(ValueError, match="the tool broke"):
        async for item in coalesced(producer()):
            out.append(item)
    assert out == ["partial"]


@pytest.mark.parametrize("before", [[], ["a"]])
async def test_a_type_error_of_the_producer_is_not_taken_for_an_item(before):
    async def producer():
        for item in before:
            yield item
        raise TypeError("the producer's own")

    out = []
    with pytest.raises(TypeError, match="the producer's own"):
        async for item in coalesced(producer()):
            out.append(item)
    assert out == before


async def test_an_exception_the_loop_throws_in_reaches_the_producer():
    future = asyncio.get_running_loop().create_future()

    async def producer():
        yield "a"
        try:
            await future
        except KeyError:
            yield "handled"

    out = []
    async for item in coalesced(producer()):
        out.append(item)
        if not future.done():
            future.set_exception(KeyError("x"))
    assert out == ["a", "handled"]


async def test_a_cap_bounds_runs_and_gives_the_loop_a_turn():
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    try:
        got = await collect(ready(*["abc"] * 10), run_chars=6)
    finally:
        task.cancel()
    assert got == ["abcabc"] * 5
    assert ticks >= 4  # the always-ready producer let another task run between its runs


@pytest.mark.timeout(HANG_GUARD_S)
async def test_an_endless_ready_producer_is_cancelled():
    async def endless():
        while True:
            yield "a"

    received = 0
    streaming = asyncio.Event()

    async def consume():
        nonlocal received
        async for item in coalesced(endless(), run_chars=1024):
            received += len(item)
            if received >= 10 * 1024:
                streaming.set()

    task = asyncio.create_task(consume())
    await streaming.wait()  # this task runs only if the endless producer lets the loop turn
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_cancelling_while_the_producer_awaits_cancels_the_producer():
    started, cleaned = asyncio.Event(), asyncio.Event()

    async def producer():
        yield "a"
        started.set()
        try:
            await asyncio.sleep(3600)
        finally:
            cleaned.set()
        yield "never"

    out = []

    async def consume():
        async for item in coalesced(producer()):
            out.append(item)

    task = asyncio.create_task(consume())
    async with asyncio.timeout(HANG_GUARD_S):
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert cleaned.is_set() and out == ["a"]


async def test_closing_while_the_producer_awaits_closes_the_producer():
    cleaned = asyncio.Event()

    async def producer():
        try:
            yield "a"
            await asyncio.sleep(3600)
            yield "never"
        finally:
            cleaned.set()

    items = producer()
    stream = coalesced(items)
    assert await anext(stream) == "a"  # handed on while the producer sleeps
    await stream.aclose()
    assert cleaned.is_set()
    await items.aclose()  # already closed: no "already running"


async def test_the_setting_holds_while_the_producer_runs_in_any_task():
    var: contextvars.ContextVar[str | None] = contextvars.ContextVar("var", default=None)
    seen = []

    async def producer():
        for _ in range(3):
            seen.append(var.get())
            yield "x"
            await asyncio.sleep(0)
        seen.append(var.get())

    stream = coalesced(producer(), setting=(var, "set"))
    # each step in a task of its own, none of which has the variable set
    got = [await asyncio.create_task(anext(stream)) for _ in range(3)]
    with pytest.raises(StopAsyncIteration):
        await asyncio.create_task(anext(stream))
    assert got == ["x"] * 3
    assert seen == ["set"] * 4
    assert var.get() is None


async def test_a_producer_closed_while_awaiting_may_await_its_cleanup():
    cleaned = asyncio.Event()

    async def producer():
        try:
            yield "a"
            await asyncio.sleep(3600)
        finally:
            await asyncio.sleep(0)
            cleaned.set()

    stream = coalesced(producer())
    assert await anext(stream) == "a"
    async with asyncio.timeout(HANG_GUARD_S):
        await stream.aclose()
    assert cleaned.is_set()

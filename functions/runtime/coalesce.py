"""Text deltas a handler already has ready, joined into one before they become events.

A handler that yields text faster than it is read (a cached or echoed reply, a tokenizer's
output, a model client's buffered chunks) would otherwise cost one protocol event per
delta: ten million events for a 10 MB reply made of 1-byte deltas. ``coalesced`` pulls
items while the producer has them ready - its ``__anext__`` completes without suspending -
and joins each run of ``str`` items into one. The run is handed on the moment the producer
would suspend, before the future it awaits goes to the event loop, so nothing ever waits
for more text: coalescing adds no latency, and a producer that suspends between deltas
(a model streaming over the network) streams exactly as before, one item per delta.

A run is also handed on once it holds ``run_chars`` characters, and the event loop then
gets a turn (``asyncio.sleep(0)``): a producer that is always ready - an endless one
included - still streams in bounded pieces, and a stop (``Turn.stop`` cancels the task
running it) or another request is served meanwhile.

The items keep their order; only consecutive strings merge, so the concatenated text is
the same. Text the producer gave before raising is handed on before its exception.
A consumer must not await anything else between taking an item and asking for the next:
while it holds a run handed on at a suspension, the producer is still inside its ``await``
(``Turn`` and ``AgentApp.run_query`` hand each event on synchronously).
"""

from __future__ import annotations

import asyncio
import io
import types
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine, Generator
from contextvars import ContextVar
from typing import Any

RUN_CHARS = 1 << 16  # characters in a run before it is handed on and the loop gets a turn

_FULL = object()  # the run reached run_chars
_END = object()  # the producer is exhausted
_NONE = object()


async def coalesced(
    items: AsyncIterator[Any],
    run_chars: int = RUN_CHARS,
    setting: tuple[ContextVar[Any], Any] | None = None,
) -> AsyncGenerator[Any, None]:
    """``items`` as they come, except that each run of ``str`` items the producer had
    ready at once arrives joined into one ``str`` (never an empty one).

    ``setting`` ``(variable, value)``: the context variable holds ``value`` whenever the
    producer runs (each of its steps may run in another task's context).
    """
    buffer = io.StringIO(newline="")
    while True:
        drain = _Drain(_drain(items, buffer.write, run_chars), setting)
        try:
            suspended, outcome = drain.step(None)
            while suspended:  # the producer awaits ``outcome``: hand on what it gave first
                if buffer.tell():
                    yield _take(buffer)
                suspended, outcome = await _waiting(drain, outcome)
        except Exception:
            if buffer.tell():
                yield _take(buffer)
            raise
        finally:
            await drain.aclose()  # a consumer gone while the producer waits: closed there
        if buffer.tell():
            yield _take(buffer)
        if outcome is _END:
            return
        if outcome is _FULL:
            await asyncio.sleep(0)
        else:
            yield outcome


async def _drain(items: AsyncIterator[Any], write: Callable[[str], int], limit: int) -> Any:
    """Write ``str`` items while they come (awaiting as the producer does) until ``limit``
    characters (``_FULL``), the end (``_END``) or a non-``str`` item (returned)."""
    item: Any = _NONE
    size = 0
    try:
        # the hot loop of a fast producer: one C call per item beyond the iteration itself
        async for item in items:
            size += write(item)
            if size >= limit:
                return _FULL
    except TypeError:
        if item is _NONE or isinstance(item, str):
            raise  # the producer's own
        return item  # StringIO.write refused it: not text
    return _END


class _Drain:
    """A ``_drain`` coroutine, resumed by hand (with ``setting`` in force while it runs)."""

    __slots__ = ("coroutine", "setting")

    def __init__(
        self,
        coroutine: Coroutine[Any, Any, Any],
        setting: tuple[ContextVar[Any], Any] | None,
    ) -> None:
        self.coroutine = coroutine
        self.setting = setting

    def step(self, value: Any, error: BaseException | None = None) -> tuple[bool, Any]:
        """Send ``value`` (or throw ``error``): ``(True, what it yields)`` if the producer
        suspends again, ``(False, its result)`` if it ends; its exceptions propagate."""
        try:
            if error is not None:
                return True, self._run(self.coroutine.throw, error)
            return True, self._run(self.coroutine.send, value)
        except StopIteration as stop:
            return False, stop.value

    def _run(self, resume: Callable[[Any], Any], value: Any) -> Any:
        if self.setting is None:
            return resume(value)
        variable, setting = self.setting
        token = variable.set(setting)
        try:
            return resume(value)
        finally:
            variable.reset(token)

    async def aclose(self) -> None:
        """End the drain. A producer inside an ``await`` gets ``GeneratorExit`` there, as
        ``aclose()`` gives it at a ``yield``, and may await its cleanup: closing the drain
        coroutine would not reach it (that only marks the awaited ``__anext__`` closed,
        leaving the generator running forever)."""
        awaited = getattr(self.coroutine, "cr_await", None)  # what the drain awaits now
        try:
            if awaited is None:  # not started, or over
                return
            try:
                yielded = self._run(awaited.throw, GeneratorExit())
            except (GeneratorExit, StopIteration, StopAsyncIteration):
                return
            suspended = True  # the producer awaits in its cleanup: carry it through
            while suspended:
                suspended, yielded = await _waiting(self, yielded)
        except GeneratorExit:
            pass
        finally:
            self.coroutine.close()


@types.coroutine
def _waiting(drain: _Drain, yielded: Any) -> Generator[Any, Any, tuple[bool, Any]]:
    """Hand ``yielded`` (what the producer awaits) to the event loop as the producer's own
    ``await`` would, then resume the drain with what the loop sends or throws back
    (a result, a cancellation)."""
    try:
        sent = yield yielded
    except GeneratorExit:
        raise
    except BaseException as exc:
        return drain.step(None, exc)
    return drain.step(sent)


def _take(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text

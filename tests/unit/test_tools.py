"""The toolkit's calls: what the model gets back, and that sync tools leave the loop free."""

from __future__ import annotations

import asyncio
import threading

from functions.runtime.tools import Toolkit


def test_a_blocking_tool_runs_off_the_event_loop():
    """While a sync tool blocks, other work on the loop (here: what unblocks it) goes on."""
    released = threading.Event()
    toolkit = Toolkit()

    @toolkit.register
    def wait_for_release() -> str:
        """Block until released (5 s at most)."""
        return str(released.wait(timeout=5))

    async def release() -> None:
        released.set()

    async def scenario() -> tuple[str, bool]:
        called, _ = await asyncio.gather(toolkit.call("wait_for_release", "{}"), release())
        return called

    assert asyncio.run(scenario()) == ("True", False)


def test_async_and_coroutine_returning_tools_are_awaited():
    toolkit = Toolkit()

    @toolkit.register
    async def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    def later(text: str):
        async def value() -> str:
            return text.upper()

        return value()

    toolkit.register(later, description="Upper-case, later.")
    assert asyncio.run(toolkit.call("add", '{"a": 2, "b": 3}')) == ("5", False)
    assert asyncio.run(toolkit.call("later", '{"text": "hi"}')) == ("HI", False)


def test_bad_calls_are_answered_as_text_not_raised():
    toolkit = Toolkit()

    @toolkit.register
    def boom() -> str:
        """Fail."""
        raise RuntimeError("no")

    assert asyncio.run(toolkit.call("boom", "{}")) == ("boom failed: RuntimeError: no", True)
    assert asyncio.run(toolkit.call("nope", "{}"))[1] is True
    text, failed = asyncio.run(toolkit.call("boom", "[1]"))
    assert failed and "must be a JSON object" in text

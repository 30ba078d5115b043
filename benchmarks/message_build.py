"""Building one streamed message from text deltas: linear in its size (issue 16, item 14).

A handler yields the reply as ``str`` deltas; ``AgentApp`` joins the deltas the handler has
ready at once (``coalesce.coalesced``: nothing waits, a run is handed on when the handler
would suspend or at ``RUN_CHARS``) and the adapter (``framework="text"``) turns each run
into a content delta event through ``MessageBuilder.text_delta``, which also keeps the
message's text for the final ``completed`` events and the stored history. Measured here,
through ``AgentApp.stream`` (handler -> coalescing -> adapter -> builder; no HTTP): messages
of 1, 2, 5 and 10 MB, from 1-byte deltas (the worst case) and from 1 KiB deltas (a
realistic model stream), until the response's ``completed`` event. Linear means the time
per MB stays flat as the size grows.

Budget: a 10 MB message from 1-byte deltas in <= 1 s. Next to it the floor: a bare
``async for`` over the same handler's ten million deltas, doing nothing with them - what
Python's async generator protocol alone costs, which no consumer can go below.

Run: .venv/bin/python benchmarks/message_build.py [--sizes 1,2,5,10]
Writes benchmarks/results/message_build.txt as well as printing.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from support import publish

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from functions.runtime.app import AgentApp  # noqa: E402
from functions.runtime.protocol import AgentRequest, Response  # noqa: E402

MB = 1 << 20  # MiB: a whole number of 1 KiB deltas
BUDGET_S = 1.0
REQUEST = AgentRequest.model_validate(
    {"input": [{"role": "user", "content": [{"type": "text", "text": "say it"}]}]}
)


def _app(total: int, size: int) -> AgentApp:
    app = AgentApp(app_name="message-build")

    @app.query(framework="text")
    async def reply(self: Any, msgs: Any, request: Any, **kwargs: Any) -> AsyncIterator[str]:
        piece = "a" * size
        for _ in range(total // size):
            yield piece

    return app


async def build(total: int, size: int) -> tuple[float, float, int]:
    """Seconds (wall clock, CPU) to turn ``total`` bytes of ``size``-byte deltas into one
    completed message, and how many content delta events carried them."""
    app = _app(total, size)
    gc.collect()
    start, cpu = time.perf_counter(), time.process_time()
    final, deltas = None, 0
    async for event in app.stream(REQUEST):
        final = event
        deltas += getattr(event, "delta", False) is True
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert isinstance(final, Response) and final.status == "completed", final
    (message,) = final.output or []
    assert len(message.text) == total, "the message lost text"
    return elapsed, cpu, deltas


async def floor(total: int, size: int) -> tuple[float, float]:
    """Seconds (wall clock, CPU) a bare ``async for`` takes over the same handler's deltas."""
    app = _app(total, size)
    gc.collect()
    start, cpu = time.perf_counter(), time.process_time()
    async for _ in app._handler(app, [], REQUEST):  # type: ignore[misc]
        pass
    return time.perf_counter() - start, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1,2,5,10", help="message sizes in MB")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    lines = [
        "one message from text deltas (AgentApp.stream: coalescing + adapter + "
        "MessageBuilder), seconds, s/MB, delta events"
    ]
    ten: tuple[float, float, float, float] | None = None
    for delta in (1, 1024):
        lines.append(f"  {delta}-byte deltas")
        for mb in sizes:
            seconds, cpu, events = asyncio.run(build(mb * MB, delta))
            lines.append(
                f"    {mb:>3} MB  {seconds:8.3f} s  {seconds / mb:7.3f} s/MB  {events:>6} deltas"
                f"  (CPU {cpu:.3f} s)"
            )
            if delta == 1 and mb == 10:
                ten = seconds, cpu, *asyncio.run(floor(mb * MB, delta))
    if ten is not None:
        seconds, cpu, bare, bare_cpu = ten
        verdict = "PASS" if seconds <= BUDGET_S else "FAIL"
        lines.append(
            f"  budget: 10 MB from 1-byte deltas <= {BUDGET_S:.0f} s: {seconds:.2f} s "
            f"(CPU {cpu:.2f} s) {verdict}"
        )
        lines.append(
            f"  floor: a bare async for over the handler's {10 * MB:,} deltas alone takes "
            f"{bare:.2f} s (CPU {bare_cpu:.2f} s); the runtime adds CPU {cpu - bare_cpu:.2f} s "
            f"({(cpu - bare_cpu) / (10 * MB) * 1e9:.0f} ns a delta)"
        )
    publish("message_build", "\n".join(lines))


if __name__ == "__main__":
    main()

"""Building one streamed message from text deltas: linear in its size (issue 16, item 14).

A handler yields the reply as ``str`` deltas; the adapter (``framework="text"``) turns each
into a content delta event through ``MessageBuilder.text_delta``, which also keeps the
message's text for the final ``completed`` events and the stored history. Measured here:
messages of 1, 2, 5 and 10 MB, from 1-byte deltas (the worst case: one event per byte) and
from 1 KiB deltas (a realistic model stream), timing the adapter from the first delta to the
message's ``completed`` event. Linear means the time per MB stays flat as the size grows.

Budget: a 10 MB message from 1-byte deltas in <= 1 s.

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

from support import publish

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from functions.runtime.adapters.text import adapt  # noqa: E402
from functions.runtime.protocol import ResponseBuilder  # noqa: E402

MB = 1 << 20  # MiB: a whole number of 1 KiB deltas
BUDGET_S = 1.0


async def _deltas(total: int, size: int) -> AsyncIterator[str]:
    piece = "a" * size
    for _ in range(total // size):
        yield piece


async def build(total: int, size: int) -> float:
    """Seconds to turn ``total`` bytes of ``size``-byte deltas into one completed message."""
    builder = ResponseBuilder()
    gc.collect()
    start = time.perf_counter()
    events = 0
    async for _ in adapt(_deltas(total, size), builder):
        events += 1
    elapsed = time.perf_counter() - start
    (message,) = builder.response.output or []
    text = message.content[0].text if message.content else None
    assert text is not None and len(text) == total, "the message lost text"
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1,2,5,10", help="message sizes in MB")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    lines = ["one message from text deltas (adapter + MessageBuilder), seconds and s/MB"]
    ten_byte_deltas: float | None = None
    for delta in (1, 1024):
        lines.append(f"  {delta}-byte deltas")
        for mb in sizes:
            seconds = asyncio.run(build(mb * MB, delta))
            lines.append(f"    {mb:>3} MB  {seconds:8.3f} s  {seconds / mb:7.3f} s/MB")
            if delta == 1 and mb == 10:
                ten_byte_deltas = seconds
    if ten_byte_deltas is not None:
        verdict = "PASS" if ten_byte_deltas <= BUDGET_S else "FAIL"
        lines.append(
            f"  budget: 10 MB from 1-byte deltas <= {BUDGET_S:.0f} s: "
            f"{ten_byte_deltas:.2f} s {verdict}"
        )
    publish("message_build", "\n".join(lines))


if __name__ == "__main__":
    main()

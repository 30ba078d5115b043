"""Bounded output: a tool never returns (or holds in memory) more than the limit."""

from __future__ import annotations

import os
from typing import BinaryIO

DEFAULT_LIMIT = 65536


def output_limit() -> int:
    return int(os.environ.get("TOOLSERVER_OUTPUT_LIMIT", DEFAULT_LIMIT))


def cut_marker(omitted: int) -> str:
    return f"\n[... output truncated: {omitted} more bytes not shown ...]"


def read_capped(stream: BinaryIO, limit: int) -> str:
    """Read ``stream`` to its end, keeping the first ``limit`` bytes and counting the rest."""
    kept = bytearray()
    omitted = 0
    while chunk := stream.read(65536):
        room = limit - len(kept)
        kept += chunk[:room]
        omitted += max(0, len(chunk) - room)
    text = kept.decode("utf-8", errors="replace")
    return text + cut_marker(omitted) if omitted else text

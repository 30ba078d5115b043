"""Reading an event stream in the agentscope suites (both majors: imports no agentscope)."""

from __future__ import annotations

import json


def events_of(text: str) -> list[dict]:
    """The events of an SSE body, checked to be numbered 0, 1, 2, ... without a gap."""
    events = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    return events


def messages(events: list[dict], kind: str | None = None) -> list[dict]:
    """The finished messages of a stream (of one ``type`` when given), in order."""
    done = [e for e in events if e["object"] == "message" and e["status"] != "in_progress"]
    return [m for m in done if kind is None or m["type"] == kind]


def data_of(message: dict) -> dict:
    """The one data part of a call or output message."""
    part = message["content"][0]
    assert part["type"] == "data"
    return part["data"]


def deltas_of(events: list[dict], message: dict) -> list[str]:
    """The text deltas streamed for ``message``."""
    return [
        e["text"]
        for e in events
        if e["object"] == "content" and e.get("delta") and e["msg_id"] == message["id"]
    ]

"""Building and reading history messages in the tests' shorthand: one text part each."""

from __future__ import annotations

from typing import Any


def msg(text: str, role: str = "user") -> dict[str, Any]:
    return {"role": role, "type": "message", "content": [{"type": "text", "text": text}]}


def texts(messages: list[dict[str, Any]]) -> list[str]:
    return [m["content"][0]["text"] for m in messages]

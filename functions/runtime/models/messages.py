"""Protocol messages (the seed's shape, live or from stored history) -> OpenAI chat messages."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

_CALL_TYPES = ("plugin_call", "function_call", "mcp_call")
_OUTPUT_TYPES = ("plugin_call_output", "function_call_output", "mcp_call_output")


def _as_dict(msg: Any) -> dict[str, Any]:
    if hasattr(msg, "model_dump"):
        return msg.model_dump(mode="json", exclude_none=True)
    return msg


def _content(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for part in parts:
        kind = part.get("type")
        if kind == "text":
            out.append({"type": "text", "text": part.get("text") or ""})
        elif kind == "image" and part.get("image_url"):
            out.append({"type": "image_url", "image_url": {"url": part["image_url"]}})
        elif kind == "data":
            out.append({"type": "text", "text": json.dumps(part.get("data"), ensure_ascii=False)})
    if all(p["type"] == "text" for p in out):
        return "".join(p["text"] for p in out)
    return out


def to_openai_messages(messages: Iterable[Any]) -> list[dict[str, Any]]:
    """Convert history + input to chat messages a chat-completions endpoint accepts.

    Tool calls become an assistant message's ``tool_calls`` (merged with the assistant text
    before them); calls with no recorded output (a turn cut off mid-call) are dropped,
    because chat APIs reject a tool call that has no answer.
    """
    items = [_as_dict(m) for m in messages]
    answered = {
        (c.get("data") or {}).get("call_id")
        for m in items
        if m.get("type") in _OUTPUT_TYPES
        for c in m.get("content") or ()
    }
    out: list[dict[str, Any]] = []
    for msg in items:
        kind = msg.get("type", "message")
        parts = msg.get("content") or []
        if kind in _CALL_TYPES:
            calls = []
            for part in parts:
                data = part.get("data") or {}
                if data.get("call_id") not in answered:
                    continue
                arguments = data.get("arguments", "{}")
                if not isinstance(arguments, str):
                    arguments = json.dumps(arguments, ensure_ascii=False)
                calls.append(
                    {
                        "id": data["call_id"],
                        "type": "function",
                        "function": {"name": data.get("name", ""), "arguments": arguments},
                    }
                )
            if not calls:
                continue
            last = out[-1] if out else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).extend(calls)
            else:
                out.append({"role": "assistant", "content": None, "tool_calls": calls})
        elif kind in _OUTPUT_TYPES:
            for part in parts:
                data = part.get("data") or {}
                output = data.get("output", "")
                if not isinstance(output, str):
                    output = json.dumps(output, ensure_ascii=False)
                out.append({"role": "tool", "tool_call_id": data.get("call_id"), "content": output})
        elif kind == "message" and msg.get("role") in ("user", "assistant", "system"):
            content = _content(parts)
            if msg["role"] == "assistant" and not content:
                continue
            out.append({"role": msg["role"], "content": content})
    return out

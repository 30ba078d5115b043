"""What a client sends back of a conversation its session already holds.

A client that keeps the conversation itself (AG-UI's always do; a Responses API client
that resends a response's output items) sends the session's own messages again beside
what is new. Those must not be added again: a call stored twice reaches the model as two
calls with one answer, and a message twice as said twice. Nor may anything new be lost.
:func:`new_messages` keeps a message unless the session holds it:

* the same id, and either it is what the agent said (an assistant message, a result of a
  tool the server ran: ids of ours, echoed) or it says the same (a client that reuses its
  own id for a new message is sending a new message);
* a tool call whose call id a held call has (the one id both sides share: a client may
  carry a call in a message of its own);
* a result of a call echoed here under an id of its own (an ``mcp_call`` item: the call
  and its output in one), which the session holds under the call's own id.

A result (a ``function_call_output``) is never told by its call id alone: models that
number their calls per response (``call_0``) ask again under an id already answered.
"""

from __future__ import annotations

from typing import Any

from ..protocol import CALL_TYPES, OUTPUT_TYPES, Message, MessageType

# results of tools the server ran: their ids are ours, as an assistant message's are
_SERVER_OUTPUTS = (MessageType.PLUGIN_CALL_OUTPUT, MessageType.MCP_TOOL_CALL_OUTPUT)
# the fields of a content part that say something (protocol.py's content types)
_SAYING = frozenset(
    {"type", "text", "refusal", "data", "image_url", "video_url", "format"}
    | {"file_url", "file_id", "file_data", "filename"}
)


def new_messages(messages: list[Message], held: list[dict[str, Any]]) -> list[Message]:
    """Of ``messages`` (a run's input), those ``held`` (the session's messages, as stored)
    does not hold, in order (see the module's docstring)."""
    if not held:  # a new session: everything is new (and no turn pays for the check)
        return messages
    by_id: dict[Any, list[dict[str, Any]]] = {}
    held_calls: set[str] = set()
    for m in held:
        by_id.setdefault(m.get("id"), []).append(m)
        key = call_key(m.get("type"), m.get("content"))
        if key is not None and not key[0]:
            held_calls.add(key[1])
    kept: list[Message] = []
    echoed_calls: set[str] = set()
    for message in messages:
        content = [c.model_dump() for c in message.content or ()]
        key = call_key(message.type, content)
        is_result, call_id = key if key is not None else (False, None)
        call = call_id if not is_result else None
        if _held(message, content, by_id.get(message.id, ())) or call in held_calls:
            if call is not None:
                echoed_calls.add(call)
            continue
        if is_result and call_id in echoed_calls and call_id not in held_calls:
            continue  # the output half of an echoed server-run call (mcp_call)
        kept.append(message)
    return kept


def _held(message: Message, content: list[dict[str, Any]], same_id: Any) -> bool:
    for stored in same_id:
        if stored.get("role") == "assistant" or stored.get("type") in _SERVER_OUTPUTS:
            return True
        if stored.get("type") == message.type and _said(stored.get("content")) == _said(content):
            return True
    return False


def _said(content: Any) -> list[Any]:
    """What a message's parts say, comparable: a stored part and the same part parsed
    again differ only in fields left at their defaults."""
    if not isinstance(content, list):
        return []
    return [
        {k: v for k, v in part.items() if k in _SAYING and v is not None}
        if isinstance(part, dict)
        else part
        for part in content
    ]


def call_key(kind: Any, content: Any) -> tuple[bool, str] | None:
    """(whether it is a result, the call id) of a tool call or result message, else None."""
    if (kind not in CALL_TYPES and kind not in OUTPUT_TYPES) or not isinstance(content, list):
        return None
    for part in content:
        data = part.get("data") if isinstance(part, dict) else None
        if isinstance(data, dict) and data.get("call_id"):
            return kind in OUTPUT_TYPES, str(data["call_id"])
    return None

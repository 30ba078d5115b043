"""What a client sends back of a conversation its session already holds.

A client that keeps the conversation itself (AG-UI's always do; a Responses API client
that resends a response's output items) sends the session's own messages again beside
what is new. Those must not be added again: a call stored twice reaches the model as two
calls with one answer, and a message twice as said twice. :func:`new_messages` keeps
what the session does not hold, told by message id (ours, echoed) and, for a tool call
or its result, by call id as well (the one id both sides share: a client may carry a
call in a message of its own).
"""

from __future__ import annotations

from typing import Any

from ..protocol import Message, MessageType

CALLS = (MessageType.FUNCTION_CALL, MessageType.PLUGIN_CALL, MessageType.MCP_TOOL_CALL)
OUTPUTS = (
    MessageType.FUNCTION_CALL_OUTPUT,
    MessageType.PLUGIN_CALL_OUTPUT,
    MessageType.MCP_TOOL_CALL_OUTPUT,
)


def new_messages(messages: list[Message], held: list[dict[str, Any]]) -> list[Message]:
    """Of ``messages``, those not in ``held`` (the session's messages, as stored): not of a
    held id, not a call whose id a held call has, not a result of a call that a held
    result answers, nor one of a call left out here (a call echoed with its result)."""
    if not held:  # a new session: everything is new (and no turn pays for the check)
        return messages
    ids = {m.get("id") for m in held}
    calls = {key for m in held if (key := call_key(m.get("type"), m.get("content"))) is not None}
    kept: list[Message] = []
    dropped_calls: set[str] = set()
    for message in messages:
        key = None
        if message.type in CALLS or message.type in OUTPUTS:
            key = call_key(message.type, [c.model_dump() for c in message.content or ()])
        if message.id in ids or key in calls:
            if key is not None and not key[0]:
                dropped_calls.add(key[1])
            continue
        if key is not None and key[0] and key[1] in dropped_calls and (False, key[1]) not in calls:
            continue  # the result of an echoed call the session never held as such
        kept.append(message)
    return kept


def call_key(kind: Any, content: Any) -> tuple[bool, str] | None:
    """(whether it is a result, the call id) of a tool call or result message, else None."""
    if kind not in (*CALLS, *OUTPUTS) or not isinstance(content, list):
        return None
    for part in content:
        data = part.get("data") if isinstance(part, dict) else None
        if isinstance(data, dict) and data.get("call_id"):
            return kind in OUTPUTS, str(data["call_id"])
    return None

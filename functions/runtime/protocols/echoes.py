"""What a client sends back of a conversation its session already holds.

A client that keeps the conversation itself (AG-UI's always do; a Responses API client
that resends a response's output items) sends the session's own messages again beside
what is new. Those must not be added again: a call stored twice reaches the model as two
calls with one answer, and a message twice as said twice. Nor may anything new be lost.

:func:`new_messages` pairs each message sent with at most one held message it echoes (a
held message is echoed once: a client that sends "1: yes" twice sent it twice). A message
echoes a held one when:

* they share an id, and the held one is what the agent said (an assistant message, a
  result of a tool the server ran: ids of ours, sent back) or they say the same (a client
  that reuses its own id for a new message is sending a new message);
* both are tool calls of the same call id, tool name and arguments (a client may carry a
  call in a message of its own; models that number calls per response reuse ``call_0``
  for another call);
* both are results of the same call id saying the same.

The last result sent for a call the session still waits on (its latest call has no result
yet) is always new: a model may ask ``call_0`` again and get the same answer again. And
the output half of a server-run call sent back as one item (an ``mcp_call``), under the
item's id rather than the call's, goes with its call.
"""

from __future__ import annotations

import json
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
    by_id: dict[Any, list[int]] = {}
    by_call: dict[tuple[bool, str], list[int]] = {}
    awaited: set[str] = set()  # calls whose latest one has no result yet
    for index, m in enumerate(held):
        by_id.setdefault(m.get("id"), []).append(index)
        key = call_key(m.get("type"), m.get("content"))
        if key is not None:
            by_call.setdefault(key, []).append(index)
            (awaited.discard if key[0] else awaited.add)(key[1])
    sent: list[tuple[Message, list[dict[str, Any]], tuple[bool, str] | None]] = []
    for message in messages:
        content = [c.model_dump() for c in message.content or ()]
        sent.append((message, content, call_key(message.type, content)))
    last_result = {key[1]: i for i, (_, _, key) in enumerate(sent) if key is not None and key[0]}
    echoed: set[int] = set()
    echoed_calls: set[str] = set()
    kept: list[Message] = []
    for i, (message, content, key) in enumerate(sent):
        if key is not None and key[0] and key[1] in awaited and last_result[key[1]] == i:
            kept.append(message)  # the answer the session waits for
            continue
        candidates = [*by_id.get(message.id, ()), *(by_call.get(key, ()) if key else ())]
        found = next(
            (j for j in candidates if j not in echoed and _echoes(message, content, key, held[j])),
            None,
        )
        if found is not None:
            echoed.add(found)
            if key is not None and not key[0]:
                echoed_calls.add(key[1])
            continue
        if key is not None and key[0] and key[1] in echoed_calls and (False, key[1]) not in by_call:
            continue  # the output half of a server-run call sent back (mcp_call)
        kept.append(message)
    return kept


def _echoes(
    message: Message, content: list[dict[str, Any]], key: Any, stored: dict[str, Any]
) -> bool:
    if stored.get("id") == message.id:
        if stored.get("role") == "assistant" or stored.get("type") in _SERVER_OUTPUTS:
            return True
        return stored.get("type") == message.type and _said(stored.get("content")) == _said(content)
    return (
        key is not None
        and call_key(stored.get("type"), stored.get("content")) == key
        and _call_said(stored.get("content")) == _call_said(content)
    )


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


def _call_said(content: Any) -> tuple[Any, ...]:
    """A call's tool name and arguments, or a result's output, of its first data part;
    JSON text as the value it spells (a client may write the same arguments anew)."""
    for part in content if isinstance(content, list) else ():
        data = part.get("data") if isinstance(part, dict) else None
        if isinstance(data, dict) and data.get("call_id"):
            return tuple(_value(data.get(k)) for k in ("name", "arguments", "output"))
    return ()


def _value(value: Any) -> Any:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def call_key(kind: Any, content: Any) -> tuple[bool, str] | None:
    """(whether it is a result, the call id) of a tool call or result message, else None."""
    if (kind not in CALL_TYPES and kind not in OUTPUT_TYPES) or not isinstance(content, list):
        return None
    for part in content:
        data = part.get("data") if isinstance(part, dict) else None
        if isinstance(data, dict) and data.get("call_id"):
            return kind in OUTPUT_TYPES, str(data["call_id"])
    return None

"""agentscope 1.x: the ``(Msg, last)`` pairs ``stream_printing_messages`` yields -> protocol.

Each pair is a cumulative snapshot: the same ``Msg`` id grows until ``last`` is true. A 1.x
``Msg`` mixes kinds of blocks that the protocol keeps in separate messages, so each snapshot
is split into protocol snapshots, one per kind, with ids derived from the ``Msg``'s:

* ``thinking`` blocks -> a ``reasoning`` message, streamed;
* ``text`` blocks (and ``image`` / ``audio`` / ``video``) -> an assistant ``message``;
* each ``tool_use`` block -> a ``plugin_call`` message ``{call_id, name, arguments}``, once
  the ``Msg`` is final (before that its arguments are partial JSON);
* each ``tool_result`` block (1.x prints them in ``system`` messages) -> a
  ``plugin_call_output`` message, role ``tool``, ``{call_id, name, output}``.

The native adapter then does what it does for any cumulative snapshots: text growth becomes
content deltas (from the difference with what was sent), other parts go out whole when the
message is final. A part is finished, and sent final, as soon as a later kind starts
(thinking stops growing once the text begins), so the protocol's one-message-at-a-time order
holds. 1.x messages carry no token usage (its agents drop the model's), so none is reported.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from ...protocol import (
    AgentContent,
    Event,
    Message,
    MessageType,
    ResponseBuilder,
    RunStatus,
    TextContent,
)
from .. import native
from .message import v1_media, v1_tool_message


def _split(msg: Any, last: bool) -> list[tuple[str, Message, bool]]:
    """``(key, protocol snapshot, final)`` for each kind of block in a 1.x snapshot, in order."""
    content = msg.content
    if isinstance(content, str):
        content = [{"type": "text", "text": content}]
    status = RunStatus.Completed if last else RunStatus.InProgress
    thinking = [b.get("thinking", "") for b in content if b.get("type") == "thinking"]
    said = [b for b in content if b.get("type") in ("text", "image", "audio", "video")]
    out: list[tuple[str, Message, bool]] = []
    if thinking:
        done = last or bool(said) or any(b.get("type") == "tool_use" for b in content)
        text = TextContent(text="\n".join(thinking))
        reasoning = Message(
            id=f"{msg.id}-reasoning",
            role="assistant",
            type=MessageType.REASONING,
            status=status,
            content=[text],
        )
        out.append(("reasoning", reasoning, done))
    if said:
        parts: list[AgentContent] = [
            TextContent(text=b.get("text", ""))
            if b.get("type") == "text"
            else v1_media(b["type"], b.get("source") or {})
            for b in said
        ]
        done = last or any(b.get("type") == "tool_use" for b in content)
        message = Message(id=msg.id, role=msg.role, status=status, content=parts)
        out.append(("message", message, done))
    if not last:
        return out
    for block in content:
        if block.get("type") in ("tool_use", "tool_result"):
            part = "call" if block["type"] == "tool_use" else "output"
            key = f"{part}-{block.get('id', '')}"
            out.append((key, v1_tool_message(block, id=f"{msg.id}-{key}"), True))
    return out


async def protocol_snapshots(items: AsyncIterator[Any]) -> AsyncIterator[tuple[Message, bool]]:
    """The 1.x pairs as protocol ``(Message, last)`` snapshots, each sent while it changes."""
    sent: dict[tuple[str, str], str] = {}  # (msg id, key) -> JSON of what was last sent
    finished: set[tuple[str, str]] = set()
    async for item in items:
        if not (isinstance(item, tuple) and len(item) in (2, 3)):
            raise TypeError(
                'a framework="agentscope" handler on agentscope 1.x must yield the (msg, last) '
                f"pairs stream_printing_messages yields, got {type(item).__name__}"
            )
        msg, last = item[0], bool(item[1])
        if getattr(msg, "role", None) == "user":
            continue  # hints an agent prints to itself, not part of the answer
        for key, snapshot, done in _split(msg, last):
            ident = (msg.id, key)
            if ident in finished:
                continue
            body = snapshot.model_dump_json(include={"content"})
            if body == sent.get(ident) and not done:
                continue
            sent[ident] = body
            if done:
                finished.add(ident)
            yield snapshot, done


async def adapt(items: AsyncIterator[Any], builder: ResponseBuilder) -> AsyncIterator[Event]:
    async for event in native.adapt(protocol_snapshots(items), builder):
        yield event

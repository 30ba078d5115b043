"""``framework="native"``: the handler yields protocol messages.

Accepted items, mirroring what the seed's agentscope streams carry:
- ``(Message, last)`` pairs, where each ``Message`` is the cumulative snapshot of a message
  identified by its id and ``last`` says it is final: text growth streams as deltas, other
  parts are emitted whole when the message is final;
- a ``Message`` (or a dict in its shape) alone: a finished message;
- a ``str``: a text delta of the current assistant message;
- a ``models.Usage``: a model call's tokens, counted into the response's usage.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from ..models.base import Usage
from ..protocol import Event, Message, MessageBuilder, ResponseBuilder, RunStatus, TextContent


class _Tracker:
    """What has been emitted of the message currently streaming."""

    def __init__(self, builder: MessageBuilder, source_id: str | None) -> None:
        self.builder = builder
        self.source_id = source_id
        self.text_sent: dict[int, tuple[int, str]] = {}  # snapshot part -> (our index, text)
        self.whole_sent: set[int] = set()


def _as_message(item: Any) -> Message:
    if isinstance(item, Message):
        return item
    if isinstance(item, dict):
        return Message.model_validate(item)
    raise TypeError(
        'a framework="native" handler must yield Message, (Message, last) or str, '
        f"got {type(item).__name__}"
    )


async def adapt(items: AsyncIterator[Any], builder: ResponseBuilder) -> AsyncIterator[Event]:
    current: _Tracker | None = None

    def open_for(msg: Message | None) -> tuple[_Tracker, list[Event]]:
        kwargs: dict[str, Any] = {}
        if msg is not None:
            kwargs = {"role": msg.role or "assistant", "type": msg.type, "message_id": msg.id}
            if msg.metadata:
                kwargs["metadata"] = msg.metadata
        mb, events = builder.open_message(**kwargs)
        return _Tracker(mb, msg.id if msg is not None else None), events

    async for item in items:
        if isinstance(item, Usage):
            builder.add_usage(item.input_tokens, item.output_tokens)
            continue
        if isinstance(item, str):
            if current is None or current.source_id is not None:
                current, events = open_for(None)
                for event in events:
                    yield event
            if item:
                yield current.builder.text_delta(item)
            continue

        if isinstance(item, tuple) and len(item) == 2:
            msg, last = _as_message(item[0]), bool(item[1])
        else:
            msg, last = _as_message(item), True

        if current is None or current.source_id != msg.id:
            current, events = open_for(msg)
            for event in events:
                yield event
        tracker = current
        for i, part in enumerate(msg.content or ()):
            if isinstance(part, TextContent):
                index, sent = tracker.text_sent.get(i, (None, ""))
                text = part.text or ""
                # A snapshot normally extends what was sent; if it rewrote it, send it whole.
                piece = text[len(sent) :] if text.startswith(sent) else text
                if piece:
                    event = tracker.builder.text_delta(piece, index, new=index is None)
                    assert event.index is not None
                    tracker.text_sent[i] = (event.index, text)
                    yield event
            elif last and i not in tracker.whole_sent and i not in tracker.text_sent:
                tracker.whole_sent.add(i)
                for event in tracker.builder.add_content(part):
                    yield event
        if last:
            status = msg.status if msg.status == RunStatus.Incomplete else RunStatus.Completed
            for event in tracker.builder.complete(status):
                yield event
            current = None
    if current is not None:
        for event in current.builder.complete():
            yield event

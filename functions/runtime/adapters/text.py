"""``framework="text"``: the handler yields ``str`` deltas of one assistant message (and
``models.Usage`` items, counted into the response's usage).

Each ``str`` item is one content delta; ``AgentApp`` joins the deltas a handler had ready
at once (``coalesce``), so a fast handler costs one delta per run, not per item.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from ..models.base import Usage
from ..protocol import Event, MessageBuilder, ResponseBuilder


async def adapt(items: AsyncIterator[Any], builder: ResponseBuilder) -> AsyncIterator[Event]:
    message: MessageBuilder | None = None
    async for item in items:
        if isinstance(item, str):
            if not item:
                continue
            if message is None:
                message, events = builder.open_message()
                for event in events:
                    yield event
            yield message.text_delta(item)
        elif isinstance(item, Usage):
            builder.add_usage(item.input_tokens, item.output_tokens)
        else:
            raise TypeError(
                f'a framework="text" handler must yield str, got {type(item).__name__}; '
                'use framework="native" to yield protocol messages'
            )
    if message is not None:
        for event in message.complete():
            yield event

"""``framework="text"``: the handler yields ``str`` deltas of one assistant message (and
``models.Usage`` items, counted into the response's usage)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from ..models.base import Usage
from ..protocol import Event, ResponseBuilder


async def adapt(items: AsyncIterator[Any], builder: ResponseBuilder) -> AsyncIterator[Event]:
    message = None
    async for item in items:
        if isinstance(item, Usage):
            builder.add_usage(item.input_tokens, item.output_tokens)
            continue
        if not isinstance(item, str):
            raise TypeError(
                f'a framework="text" handler must yield str, got {type(item).__name__}; '
                'use framework="native" to yield protocol messages'
            )
        if not item:
            continue
        if message is None:
            message, events = builder.open_message()
            for event in events:
                yield event
        yield message.text_delta(item)
    if message is not None:
        for event in message.complete():
            yield event

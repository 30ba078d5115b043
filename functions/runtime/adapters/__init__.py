"""Framework adapters: turn what a query handler yields into protocol events.

Each adapter is a module exposing ``adapt(items, builder)`` and, when the framework wants
the request's input in its own message type, ``inbound(messages)``; it is imported only
when an app declares that framework, so agent frameworks never weigh on the cold start of
others.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from ..protocol import Event, Message, ResponseBuilder

Adapt = Callable[[AsyncIterator[Any], ResponseBuilder], AsyncIterator[Event]]
Inbound = Callable[[list[Message]], Any]

FRAMEWORKS = ("text", "native", "agentscope")


@functools.cache  # one per framework; asked for on every turn
def _module(framework: str) -> Any:
    if framework not in FRAMEWORKS:
        raise ValueError(
            f"unknown framework {framework!r}; expected one of {', '.join(FRAMEWORKS)}"
        )
    return importlib.import_module(f"{__name__}.{framework}")


def get_adapter(framework: str) -> Adapt:
    return _module(framework).adapt


def get_inbound(framework: str) -> Inbound:
    """What the handler's ``msgs`` are made from the request's input (the messages as-is
    unless the framework has its own message type)."""
    return getattr(_module(framework), "inbound", _as_is)


def _as_is(messages: list[Message]) -> list[Message]:
    return messages

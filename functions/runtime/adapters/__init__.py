"""Framework adapters: turn what a query handler yields into protocol events.

Each adapter is a module exposing ``adapt(items, builder)``; it is imported only when an app
declares that framework, so agent frameworks never weigh on the cold start of others.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from ..protocol import Event, ResponseBuilder

Adapt = Callable[[AsyncIterator[Any], ResponseBuilder], AsyncIterator[Event]]

FRAMEWORKS = ("text", "native")


def get_adapter(framework: str) -> Adapt:
    if framework not in FRAMEWORKS:
        raise ValueError(
            f"unknown framework {framework!r}; expected one of {', '.join(FRAMEWORKS)}"
        )
    return importlib.import_module(f"{__name__}.{framework}").adapt

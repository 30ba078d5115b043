"""Wire protocols over the same turn machinery: one module each, each exposing ``router``.

A protocol maps its requests onto an ``AgentRequest``, runs it as a ``Turn``
(``functions.runtime.turn``) and writes the turn's events in its own wire format (SSE
frames through ``functions.runtime.sse``), so a fix to a turn fixes every protocol. The
query function mounts the routers of ``PROTOCOLS``.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from fastapi import APIRouter

# the seed's /process first: it is what `AgentApp.run` and the emulator announce
PROTOCOLS = ("process", "responses", "agui", "a2a")


def routers(names: Iterable[str] = PROTOCOLS) -> list[APIRouter]:
    """The routers of the named protocol modules, in order."""
    return [importlib.import_module(f"{__name__}.{name}").router for name in names]


def public_paths(names: Iterable[str] = PROTOCOLS) -> frozenset[str]:
    """Paths the named protocols serve to anyone (a module's ``PUBLIC_PATHS``)."""
    modules = (importlib.import_module(f"{__name__}.{name}") for name in names)
    return frozenset().union(*(getattr(m, "PUBLIC_PATHS", ()) for m in modules))


def lapse_handlers(names: Iterable[str] = PROTOCOLS) -> list[Callable[..., Awaitable[None]]]:
    """The named protocols' ``on_lapsed_turn`` (``Instance.lapse_handlers``), in order."""
    modules = (importlib.import_module(f"{__name__}.{name}") for name in names)
    found: list[Any] = [getattr(m, "on_lapsed_turn", None) for m in modules]
    return [handler for handler in found if handler is not None]

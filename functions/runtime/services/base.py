"""The lifecycle every service shares, named as in the seed (start / stop / health).

A service does not own the store it is given: several services (and the session lock)
share one store per process, and whoever opened it closes it. The seed's ``InMemory*``
classes make their own private store, so they own it and close it on ``stop``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..storage.base import ObjectStore, StoreError
from ..storage.keys import validate_id
from .layout import DEFAULT_SESSION_ID
from .log import DEFAULT_COMPACT_AFTER, SegmentLog


class StoreService:
    """Base for the services: holds the store and answers the lifecycle calls."""

    def __init__(self, store: ObjectStore, *, owns_store: bool = False) -> None:
        self.store = store
        self._owns_store = owns_store

    async def start(self) -> None:
        """Nothing to warm up: the store client connects on first use."""

    async def stop(self) -> None:
        if self._owns_store:
            await self.store.close()

    async def health(self) -> bool:
        """True when the store answers a one-key LIST (needs no object to exist)."""
        try:
            await self.store.list("users/", limit=1)
        except StoreError:
            return False
        return True

    async def __aenter__(self) -> Any:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class LogBackedService(StoreService):
    """A service keeping one segment log per (user, session) under ``log_prefix``."""

    log_prefix: Callable[[str, str], str]

    def __init__(
        self,
        store: ObjectStore,
        *,
        compact_after: int = DEFAULT_COMPACT_AFTER,
        owns_store: bool = False,
    ) -> None:
        super().__init__(store, owns_store=owns_store)
        self.compact_after = compact_after

    def _log(self, user_id: str, session_id: str) -> SegmentLog:
        prefix = type(self).log_prefix(user_id, session_id)
        return SegmentLog(self.store, prefix, compact_after=self.compact_after)


def session_or_default(session_id: str | None) -> str:
    """The seed treats a missing session id as the session "default"."""
    return validate_id(DEFAULT_SESSION_ID if session_id is None else session_id, "session_id")


def normalize_messages(message: Any) -> list[dict[str, Any]]:
    """One message or a list of them -> JSON-ready dicts (pydantic models are dumped).

    Messages are kept as the protocol's JSON rather than re-validated into models, so a
    field this runtime does not know yet survives a round trip through the store.
    """
    items = message if isinstance(message, (list, tuple)) else [message]
    out: list[dict[str, Any]] = []
    for item in items:
        if item is None:
            continue
        if hasattr(item, "model_dump"):
            out.append(item.model_dump(mode="json", exclude_none=True))
        elif isinstance(item, dict):
            out.append(dict(item))
        else:
            raise TypeError(f"a message must be a dict or a pydantic model, not {type(item)!r}")
    return out

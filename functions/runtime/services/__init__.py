"""State, session history and long-term memory on an ObjectStore, with the seed's names.

Agent code written for AgentScope Runtime reads the same::

    history = InMemorySessionHistoryService()          # or SessionHistoryService(store)
    session = await history.create_session("u1")
    await history.append_message(session, {"role": "user", "content": [...]})
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .base import StoreService, normalize_messages
    from .counting import CountingStore
    from .history import (
        InMemorySessionHistoryService,
        Page,
        Session,
        SessionHistoryService,
        SessionNotFound,
    )
    from .log import LogContention, LogNotFound, SegmentLog
    from .memory import InMemoryMemoryService, MemoryService, bm25_rank, message_text, tokenize
    from .state import (
        InMemoryStateService,
        StateConflict,
        StateNotFound,
        StateService,
        check_round_id,
    )

# name -> the module defining it: imported when first asked for, so that a function needing
# one service module (the sandbox function's quotas) does not load them all at its cold start
_MODULES = {
    "StoreService": "base",
    "normalize_messages": "base",
    "CountingStore": "counting",
    "InMemorySessionHistoryService": "history",
    "Page": "history",
    "Session": "history",
    "SessionHistoryService": "history",
    "SessionNotFound": "history",
    "LogContention": "log",
    "LogNotFound": "log",
    "SegmentLog": "log",
    "InMemoryMemoryService": "memory",
    "MemoryService": "memory",
    "bm25_rank": "memory",
    "message_text": "memory",
    "tokenize": "memory",
    "InMemoryStateService": "state",
    "StateConflict": "state",
    "StateNotFound": "state",
    "StateService": "state",
    "check_round_id": "state",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "CountingStore",
    "InMemoryMemoryService",
    "InMemorySessionHistoryService",
    "InMemoryStateService",
    "LogContention",
    "LogNotFound",
    "MemoryService",
    "Page",
    "SegmentLog",
    "Session",
    "SessionHistoryService",
    "SessionNotFound",
    "StateConflict",
    "StateNotFound",
    "StateService",
    "StoreService",
    "bm25_rank",
    "check_round_id",
    "message_text",
    "normalize_messages",
    "tokenize",
]

"""State, session history and long-term memory on an ObjectStore, with the seed's names.

Agent code written for AgentScope Runtime reads the same::

    history = InMemorySessionHistoryService()          # or SessionHistoryService(store)
    session = await history.create_session("u1")
    await history.append_message(session, {"role": "user", "content": [...]})
"""

from __future__ import annotations

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

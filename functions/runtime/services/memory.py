"""Long-term memory: the seed's MemoryService, ranked by BM25 instead of "contains a word".

Storage: one :class:`~.log.SegmentLog` per (user, session) at ``users/{user}/memory/{session}/``
-- the same append-only, compacted log as session history, so ``add_memory`` is one
create-only put and concurrent adds never lose an item -- plus a marker per session under
``users/{user}/memory-index/`` so a user's memory sessions can be enumerated cheaply.

Cost: search and list read every memory session of the user, each at most ``2 + 7``
requests however many items it holds, i.e. O(sessions) requests, not O(items). Ranking is
done in process; memories are plain text and a user's memory fits in a function's RAM.
A global per-user index would make search O(1) requests, at the price of a shared object
every add must update; not needed until users keep memory in thousands of sessions.

Deleting a session's memory deletes its log; deleting a user's memory deletes all of them.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections import Counter
from typing import Any

from ..storage.base import PreconditionFailed
from ..storage.keys import id_from_segment, validate_id
from .base import LogBackedService, normalize_messages, session_or_default
from .layout import memory_index_key, memory_index_prefix, memory_prefix
from .log import LogContention, LogNotFound, LogView, after_lost_race, dumps, gather_bounded

BM25_K1 = 1.2
BM25_B = 0.75
# an add whose log a delete takes away starts a new log: this many times, then a 503
MAX_ADD_ATTEMPTS = 16

# CJK scripts have no spaces between words: each character is its own term there,
# elsewhere a term is a run of letters/digits.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"


@functools.cache
def _token() -> re.Pattern[str]:
    # compiled when first searched, not at start: its Unicode classes take 3 ms to compile
    return re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+")


def tokenize(text: str) -> list[str]:
    return _token().findall(text.casefold())


def message_text(message: Any) -> str:
    """The searchable text of a protocol message (its text parts), or of a plain string;
    "" for anything else (an item stored before the state API checked messages may be of
    any shape: one such item must not break every search of its user)."""
    if isinstance(message, str):
        return message
    if hasattr(message, "model_dump"):
        message = message.model_dump(mode="json", exclude_none=True)
    if not isinstance(message, dict):
        return ""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    parts: list[str] = []
    for item in content:
        if isinstance(item, dict) and isinstance(item.get("text"), str):
            parts.append(item["text"])
    return " ".join(parts)


def bm25_rank(query: str, docs: list[str], top_k: int | None = None) -> list[int]:
    """Indexes of ``docs`` that share a term with ``query``, best first (Okapi BM25).

    Ties keep document order, so the ranking is deterministic.
    """
    terms = set(tokenize(query))
    if not terms or not docs:
        return []
    tfs = [Counter(tokenize(d)) for d in docs]
    lengths = [sum(tf.values()) for tf in tfs]
    avg = (sum(lengths) / len(lengths)) or 1.0
    n = len(docs)
    idf = {}
    for term in terms:
        df = sum(1 for tf in tfs if term in tf)
        idf[term] = math.log(1 + (n - df + 0.5) / (df + 0.5))
    scored = []
    for i, (tf, length) in enumerate(zip(tfs, lengths, strict=True)):
        score = 0.0
        for term in terms:
            f = tf.get(term, 0)
            if f:
                norm = BM25_K1 * (1 - BM25_B + BM25_B * length / avg)
                score += idf[term] * f * (BM25_K1 + 1) / (f + norm)
        if score > 0:
            scored.append((-score, i))
    scored.sort()
    ranked = [i for _, i in scored]
    return ranked if top_k is None else ranked[: max(0, top_k)]


def _filter_int(filters: dict[str, Any] | None, name: str, default: int | None) -> int | None:
    value = (filters or {}).get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"filter {name} must be a positive int, got {value!r}")
    return value


class MemoryService(LogBackedService):
    """Long-term memory per user, grouped by the session it came from (seed method names)."""

    log_prefix = staticmethod(memory_prefix)

    async def add_memory(self, user_id: str, messages: Any, session_id: str | None = None) -> None:
        """Remember ``messages`` (one or a list; dicts or models) as one create-only object."""
        validate_id(user_id, "user_id")
        sid = session_or_default(session_id)
        records = normalize_messages(messages)
        if not records:
            return
        log = self._log(user_id, sid)
        found_none = False  # this add saw no log: a delete may race it (below)
        for attempt in range(MAX_ADD_ATTEMPTS):
            loaded = await log.load()
            view: LogView | None
            found_none = found_none or loaded is None
            if loaded is not None:
                view = loaded[0]
            else:
                # Marker first: a marker without a log is skipped by readers, while a log
                # without a marker (a crash between the two puts) would never be searched.
                await self._put_marker(user_id, sid)
                view = await log.create({"user_id": user_id, "session_id": sid})
                if view is None:  # created concurrently: load theirs
                    await after_lost_race(attempt)
                    continue
            try:
                await log.append(view, records)
            except LogNotFound:  # deleted while we appended: start a new log
                await after_lost_race(attempt)
                continue
            if found_none:
                # and again: a delete racing this one may have taken the marker away
                # after the first put found it still there (delete_memory's other half)
                await self._put_marker(user_id, sid)
            return
        # deletes keep racing it: a 503 saying so (a LookupError would be a 500)
        raise LogContention(f"could not add to {log.prefix}: deleted {MAX_ADD_ATTEMPTS} times")

    async def _put_marker(self, user_id: str, sid: str) -> None:
        try:
            await self.store.put(
                memory_index_key(user_id, sid), dumps({"id": sid}), if_none_match=True
            )
        except PreconditionFailed:
            pass

    async def _sessions(self, user_id: str) -> list[str]:
        """The ids of the user's sessions with memory (a hashed key's id is in its marker)."""
        prefix = memory_index_prefix(user_id)
        ids: list[str] = []
        for key in await self.store.list(prefix):
            found = id_from_segment(key[len(prefix) :])
            if found is None:
                body = await self.store.get(key)
                found = json.loads(body[0])["id"] if body is not None else None
            if found is not None:
                ids.append(found)
        return ids

    async def _all_items(self, user_id: str) -> list[dict[str, Any]]:
        """Every memory item of the user: sessions in id order, items in the order added."""
        validate_id(user_id, "user_id")
        sessions = await self._sessions(user_id)
        loaded = await gather_bounded(self._log(user_id, sid).load() for sid in sessions)
        items: list[dict[str, Any]] = []
        for found in loaded:
            if found is not None:
                items.extend(found[1])
        return items

    async def search_memory(
        self, user_id: str, messages: Any, filters: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Memory items ranked by BM25 against the query; ``filters={"top_k": n}`` caps them.

        The query is the text of the last message that has text (as the seed uses the
        latest user turn), or ``messages`` itself when it is a string.
        """
        top_k = _filter_int(filters, "top_k", None)
        if isinstance(messages, str):
            query = messages
        else:
            candidates = messages if isinstance(messages, (list, tuple)) else [messages]
            texts = [t for t in (message_text(m) for m in candidates) if t.strip()]
            query = texts[-1] if texts else ""
        if not tokenize(query):
            return []
        items = await self._all_items(user_id)
        ranked = bm25_rank(query, [message_text(m) for m in items], top_k)
        return [items[i] for i in ranked]

    async def list_memory(
        self, user_id: str, filters: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """One page of memory items: ``filters={"page_num": 1, "page_size": 10}`` (1-based)."""
        page_num = _filter_int(filters, "page_num", 1) or 1
        page_size = _filter_int(filters, "page_size", 10) or 10
        items = await self._all_items(user_id)
        start = (page_num - 1) * page_size
        return items[start : start + page_size]

    async def delete_memory(self, user_id: str, session_id: str | None = None) -> None:
        """Forget one session's memory, or (``session_id=None``) all of the user's."""
        validate_id(user_id, "user_id")
        if session_id is not None:
            sessions = [validate_id(session_id, "session_id")]
        else:
            sessions = await self._sessions(user_id)
        for sid in sessions:
            log = self._log(user_id, sid)
            await log.delete()
            await self.store.delete(memory_index_key(user_id, sid))
            # an add that made a new log after the first delete, and put its marker before
            # the second, must not be left without one (never searched, never deleted)
            if await log.load() is not None:
                await self._put_marker(user_id, sid)


class InMemoryMemoryService(MemoryService):
    """The seed's in-memory service: the same code over a private memory store."""

    def __init__(self) -> None:
        from ..storage.memory import MemoryStore

        super().__init__(MemoryStore(), owns_store=True)

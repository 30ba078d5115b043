"""Session history: the seed's SessionHistoryService, one append-only log per session.

A session is a :class:`~.log.SegmentLog` (see that module for why appends never lose a
message and why reads stay cheap) whose segments are under
``users/{user}/sessions/{session}/history/seg/`` and whose snapshot is the session's entry in
``users/{user}/session-index/``: one object both lists the session (one LIST of the index
enumerates exactly one key per session) and holds its compacted history, so creating a
session is one create-only put. Sessions written before this layout (the snapshot at
``.../history/snapshot``, a marker ``{id, created_at}`` at the index) are still read and
written where they are, at one more GET per load.

Costs, in store requests (``t`` = tail segments not yet compacted, kept below 8):

* ``get_session``: 1 when the session does not exist, otherwise ``2 + t`` (at most 9).
* ``append_message``: 1 put for a Session object that came from this service; +1 put every
  8th append (compaction, from data the Session already holds); +2 per lost race.
* ``create_session``: 1 put.
* ``list_sessions``: 1 LIST + one GET per session returned (of its snapshot).

A turn of the query function (``turn.py``), which holds the session's lease, uses the two
calls made for it: ``open_session`` (``2 + t`` for a session that exists, where ``t`` counts
only segments appended outside turns; 1 GET for one that does not; nothing for an id just
made) and ``commit_turn`` (1 put: the snapshot rewritten holding the turn,
``log.SegmentLog.commit``, or for a new session the create-only put that starts it with the
turn in it). With the lease's put and delete: 4 requests for a turn that starts a session
(3 when its id was just made), 5 for one that continues it.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field, PrivateAttr

from ..errors import ApiError
from ..storage.keys import InvalidId, id_from_segment, is_segment, validate_id
from .base import LogBackedService, normalize_messages
from .layout import history_prefix, session_index_key, session_index_prefix
from .log import LogNotFound, LogView, NotALog, SegmentLog, gather_bounded

T = TypeVar("T")
HEADER_READ_BYTES = 4096  # a snapshot's header line fits, whatever history follows it


class Page(list[T], Generic[T]):
    """A plain list (as seed code expects) that also knows where the next page starts."""

    next_cursor: str | None = None

    def __init__(self, items: Any = (), next_cursor: str | None = None) -> None:
        super().__init__(items)
        self.next_cursor = next_cursor


class SessionNotFound(ApiError, LookupError):
    """A session that was never created (or was deleted) (HTTP 404)."""

    status = 404
    code = "session_not_found"

    def __init__(self, user_id: str, session_id: str) -> None:
        super().__init__(f"session {session_id!r} of user {user_id!r} does not exist")
        self.user_id, self.session_id = user_id, session_id


class Session(BaseModel):
    """A conversation: its messages are the protocol's message JSON, kept as dicts."""

    id: str
    user_id: str
    # the factories are Python functions: for a builtin one pydantic parses the text of its
    # signature, and the first parse compiles the tokenizer's patterns (1.6 ms of a start)
    created_at: float = Field(default_factory=lambda: time.time())
    updated_at: float | None = None
    messages: list[dict[str, Any]] = Field(default_factory=lambda: [])

    # The writer's handle on the stored log: lets append_message go straight to a
    # create-only put and compact from bytes it already holds.
    _view: LogView | None = PrivateAttr(default=None)
    # opened for a turn and not in the store yet: the turn's commit (or an earlier
    # append_message) creates it
    _pending: bool = PrivateAttr(default=False)
    # the log ``_view`` is of (a session written before this layout has its snapshot elsewhere)
    _stored: SegmentLog | None = PrivateAttr(default=None)

    @property
    def exists(self) -> bool:
        """False for a session opened for a turn that is not in the store (the turn's
        commit creates it)."""
        return not self._pending


def new_session_id() -> str:
    return str(uuid.uuid4())


class SessionHistoryService(LogBackedService):
    """Sessions and their messages in the object store (seed method names)."""

    log_prefix = staticmethod(history_prefix)

    def _log(self, user_id: str, session_id: str, *, before: bool = False) -> SegmentLog:
        """The session's log; ``before``: as the layout before this one kept it (its
        snapshot at ``.../history/snapshot``, a marker ``{id, created_at}`` at the index)."""
        prefix = history_prefix(user_id, session_id)
        return SegmentLog(
            self.store,
            prefix,
            compact_after=self.compact_after,
            snapshot_key=None if before else session_index_key(user_id, session_id),
        )

    async def _load(
        self, user_id: str, session_id: str, *, compact: bool = True
    ) -> tuple[SegmentLog, tuple[LogView, list[Any]] | None]:
        """The session's log and what it holds (None: no such session)."""
        log = self._log(user_id, session_id)
        try:
            return log, await log.load(compact=compact)
        except NotALog:  # the index holds a marker: written before this layout (1 more GET)
            log = self._log(user_id, session_id, before=True)
            return log, await log.load(compact=compact)

    def _log_of(self, session: Session) -> SegmentLog:
        log = session._stored
        if log is None or log.prefix != history_prefix(session.user_id, session.id):
            log = self._log(session.user_id, session.id)
        return log

    @staticmethod
    def _session(
        log: SegmentLog, user_id: str, session_id: str, view: LogView, messages: list[Any]
    ) -> Session:
        session = Session(
            id=session_id,
            user_id=user_id,
            created_at=view.created_at,
            updated_at=view.updated_at,
            messages=messages,
        )
        session._view, session._stored = view, log
        return session

    async def create_session(self, user_id: str, session_id: str | None = None) -> Session:
        """A new session (id generated when None); for an existing id, that session.

        Unlike the seed's in-memory version, re-creating an existing id never wipes its
        history: retries of a create must be safe in a function that may run twice.
        """
        session, _ = await self._create(user_id, session_id)
        return session

    async def ensure_session(
        self, user_id: str, session_id: str | None = None
    ) -> tuple[Session, bool]:
        """Load the session, creating it when missing; ``(session, created)``.

        Reads first, because on the hot path the session usually exists: ``2 + t``
        requests for an existing session, 2 for a new one.
        """
        if session_id is not None:
            found = await self.get_session(user_id, session_id)
            if found is not None:
                return found, False
        return await self._create(user_id, session_id)

    async def _create(self, user_id: str, session_id: str | None) -> tuple[Session, bool]:
        session_id = validate_id(
            new_session_id() if session_id is None else session_id, "session_id"
        )
        validate_id(user_id, "user_id")
        log = self._log(user_id, session_id)
        for _ in range(3):
            view = await log.create({"user_id": user_id, "session_id": session_id})
            if view is not None:
                return self._session(log, user_id, session_id, view, []), True
            log, loaded = await self._load(user_id, session_id)  # may be one written before
            if loaded is not None:
                return self._session(log, user_id, session_id, *loaded), False
        raise SessionNotFound(user_id, session_id)  # created and deleted under us, repeatedly

    async def open_session(self, user_id: str, session_id: str, *, new: bool = False) -> Session:
        """The session a turn runs on, read once (``2 + t`` requests; the tail is left for
        the turn's commit to fold). One that does not exist - or, with ``new`` (an id just
        made), is known not to, read nothing - comes back empty and is created by the
        turn's :meth:`commit_turn`, with the turn in it."""
        validate_id(user_id, "user_id")
        if not new:
            log, loaded = await self._load(user_id, session_id, compact=False)
            if loaded is not None:
                return self._session(log, user_id, session_id, *loaded)
        session = Session(id=validate_id(session_id, "session_id"), user_id=user_id)
        session._pending = True
        return session

    async def commit_turn(self, session: Session, message: Any) -> None:
        """Persist a turn's messages in one write (``log.SegmentLog.commit``), for a session
        from :meth:`open_session` whose lease the caller holds; a new session is created
        holding them (1 create-only put). ``SessionNotFound`` when the session was
        deleted while the turn ran."""
        records = normalize_messages(message)
        if session._pending:
            log = self._log(session.user_id, session.id)
            meta = {"user_id": session.user_id, "session_id": session.id}
            view = await log.create(meta, records, created_at=session.created_at)
            if view is not None:
                session._view, session._stored, session._pending = view, log, False
                session.messages.extend(records)
                session.updated_at = view.updated_at
                return
            await self._adopt_stored(session)  # created meanwhile (out of turn): commit to it
        log, view = self._log_of(session), session._view
        if view is None or view.prefix != log.prefix:
            log, loaded = await self._load(session.user_id, session.id, compact=False)
            if loaded is None:
                raise SessionNotFound(session.user_id, session.id)
            view, session._view, session._stored = loaded[0], loaded[0], log
        if records:
            try:
                await log.commit(view, records)
            except LogNotFound:
                raise SessionNotFound(session.user_id, session.id) from None
        session.messages.extend(records)
        session.updated_at = view.updated_at

    async def _adopt_stored(self, session: Session) -> None:
        """A pending session's stored log (another writer created it: its messages come
        first), or a new empty one."""
        stored, _ = await self._create(session.user_id, session.id)
        session._view, session._stored, session._pending = stored._view, stored._stored, False
        session.created_at = stored.created_at
        session.messages[:0] = stored.messages

    async def get_session(self, user_id: str, session_id: str) -> Session | None:
        """The session with all its messages, or None (1 request when it does not exist)."""
        validate_id(user_id, "user_id")
        log, loaded = await self._load(user_id, session_id)
        if loaded is None:
            return None
        return self._session(log, user_id, session_id, *loaded)

    async def list_sessions(
        self, user_id: str, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[Session]:
        """The user's sessions in id order, without messages; ``.next_cursor`` pages on.

        ``updated_at`` is None here: knowing it would mean reading every session's tail.
        Costs 1 LIST + one ranged GET per session returned (the first ``HEADER_READ_BYTES``
        of its snapshot: the header line, not the history after it).
        """
        prefix = session_index_prefix(user_id)
        if cursor is not None and not is_segment(cursor):
            raise InvalidId(f"cursor must be a next_cursor this listing returned, got {cursor!r}")
        start = prefix + cursor if cursor is not None else None
        keys = await self.store.list(
            prefix, start_after=start, limit=None if limit is None else limit + 1
        )
        more = limit is not None and len(keys) > limit
        keys = keys[:limit] if limit is not None else keys
        heads = await gather_bounded(self._header_of(k) for k in keys)
        items: list[Session] = []
        for key, head in zip(keys, heads, strict=True):
            if head is None:  # deleted between LIST and GET
                continue
            info = json.loads(head)  # a snapshot's header, or a marker
            meta = info.get("meta") or {}
            items.append(
                Session(
                    id=meta.get("session_id")
                    or info.get("id")
                    or id_from_segment(key[len(prefix) :])
                    or "",
                    user_id=user_id,
                    created_at=float(info.get("created_at", 0.0)),
                )
            )
        next_cursor = keys[-1][len(prefix) :] if more and keys else None
        return Page(items, next_cursor)

    async def _header_of(self, key: str) -> bytes | None:
        """The first line of the object at ``key``: a ranged read of its start, so listing
        a session does not fetch its history; the whole object when the line is longer."""
        head = await self.store.get_first(key, HEADER_READ_BYTES)
        if head is not None and b"\n" not in head and len(head) == HEADER_READ_BYTES:
            got = await self.store.get(key)
            head = None if got is None else got[0]
        return None if head is None else head.partition(b"\n")[0]

    async def delete_session(self, user_id: str, session_id: str) -> bool:
        """Remove the session's history (its listing is its snapshot); True when it existed."""
        validate_id(user_id, "user_id")
        # a session written before this layout: its snapshot first, as a log's delete does
        await self.store.delete(self._log(user_id, session_id, before=True).snapshot_key)
        return await self._log(user_id, session_id).delete()

    async def append_message(self, session: Session, message: Any) -> int | None:
        """Append one message or a list as ONE create-only object; returns its sequence.

        ``message``: dict, pydantic model, or a list of either. The messages are also added
        to ``session.messages``, as the seed does. Raises :class:`SessionNotFound` for a
        session that is not in the store (the seed only printed a warning: here a message
        that could not be stored is an error, not a silent loss).
        """
        records = normalize_messages(message)
        if not records:
            return None
        if session._pending:  # opened for a turn that has not committed yet: create it now
            await self._adopt_stored(session)
        log, view = self._log_of(session), session._view
        if view is None or view.prefix != log.prefix:
            log, loaded = await self._load(session.user_id, session.id)
            if loaded is None:
                raise SessionNotFound(session.user_id, session.id)
            view, session._view, session._stored = loaded[0], loaded[0], log
        try:
            seq = await log.append(view, records)
        except LogNotFound:
            raise SessionNotFound(session.user_id, session.id) from None
        session.messages.extend(records)
        session.updated_at = view.updated_at
        return seq


class InMemorySessionHistoryService(SessionHistoryService):
    """The seed's in-memory service: the same code over a private memory store."""

    def __init__(self) -> None:
        from ..storage.memory import MemoryStore

        super().__init__(MemoryStore(), owns_store=True)

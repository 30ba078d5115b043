"""Session history: the seed's SessionHistoryService, one append-only log per session.

A session is a :class:`~.log.SegmentLog` at ``users/{user}/sessions/{session}/history/``
(see that module for why appends never lose a message and why reads stay cheap), plus a
marker under ``users/{user}/session-index/`` so sessions can be listed without walking
every message object.

Costs, in store requests (``t`` = tail segments not yet compacted, kept below 8):

* ``get_session``: 1 when the session does not exist, otherwise ``2 + t`` (at most 9).
* ``append_message``: 1 put for a Session object that came from this service; +1 put every
  8th append (compaction, from data the Session already holds); +2 per lost race.
* ``create_session``: 2 puts (snapshot, then listing marker).

The query function's turn is therefore: ``get_session`` (or ``ensure_session``) once, then
one ``append_message(session, [*input, *output])`` -- or two appends if the input must be
durable before the agent runs.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field, PrivateAttr

from ..errors import ApiError
from ..storage.base import PreconditionFailed
from ..storage.keys import InvalidId, id_from_segment, is_segment, validate_id
from .base import LogBackedService, normalize_messages
from .layout import history_prefix, session_index_key, session_index_prefix
from .log import LogNotFound, LogView, dumps, gather_bounded

T = TypeVar("T")


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
    created_at: float = Field(default_factory=time.time)
    updated_at: float | None = None
    messages: list[dict[str, Any]] = Field(default_factory=list)

    # The writer's handle on the stored log: lets append_message go straight to a
    # create-only put and compact from bytes it already holds.
    _view: LogView | None = PrivateAttr(default=None)


def new_session_id() -> str:
    return str(uuid.uuid4())


class SessionHistoryService(LogBackedService):
    """Sessions and their messages in the object store (seed method names)."""

    log_prefix = staticmethod(history_prefix)

    @staticmethod
    def _session(user_id: str, session_id: str, view: LogView, messages: list[Any]) -> Session:
        session = Session(
            id=session_id,
            user_id=user_id,
            created_at=view.created_at,
            updated_at=view.updated_at,
            messages=messages,
        )
        session._view = view
        return session

    async def create_session(self, user_id: str, session_id: str | None = None) -> Session:
        """A new session (id generated when None); for an existing id, that session.

        Unlike the seed's in-memory version, re-creating an existing id never wipes its
        history: retries of a create must be safe in a function that may run twice.
        """
        session, _ = await self._create(user_id, session_id, heal_marker=True)
        return session

    async def ensure_session(
        self, user_id: str, session_id: str | None = None
    ) -> tuple[Session, bool]:
        """Load the session, creating it when missing; ``(session, created)``.

        Reads first, because on the hot path the session usually exists: ``2 + t``
        requests for an existing session, 3 for a new one.
        """
        if session_id is not None:
            found = await self.get_session(user_id, session_id)
            if found is not None:
                return found, False
        return await self._create(user_id, session_id, heal_marker=False)

    async def _create(
        self, user_id: str, session_id: str | None, *, heal_marker: bool
    ) -> tuple[Session, bool]:
        session_id = validate_id(
            new_session_id() if session_id is None else session_id, "session_id"
        )
        validate_id(user_id, "user_id")
        log = self._log(user_id, session_id)
        for _ in range(3):
            view = await log.create({"user_id": user_id, "session_id": session_id})
            if view is not None:
                await self._put_marker(user_id, session_id, view.created_at)
                return self._session(user_id, session_id, view, []), True
            loaded = await log.load()
            if loaded is not None:
                if heal_marker:  # a crash between the two puts of a create left it unlisted
                    await self._put_marker(user_id, session_id, loaded[0].created_at)
                return self._session(user_id, session_id, *loaded), False
        raise SessionNotFound(user_id, session_id)  # created and deleted under us, repeatedly

    async def _put_marker(self, user_id: str, session_id: str, created_at: float) -> None:
        body = dumps({"id": session_id, "created_at": created_at})
        try:
            await self.store.put(session_index_key(user_id, session_id), body, if_none_match=True)
        except PreconditionFailed:
            pass

    async def get_session(self, user_id: str, session_id: str) -> Session | None:
        """The session with all its messages, or None (1 request when it does not exist)."""
        validate_id(user_id, "user_id")
        loaded = await self._log(user_id, session_id).load()
        if loaded is None:
            return None
        return self._session(user_id, session_id, *loaded)

    async def list_sessions(
        self, user_id: str, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[Session]:
        """The user's sessions in id order, without messages; ``.next_cursor`` pages on.

        ``updated_at`` is None here: knowing it would mean reading every session's log.
        Costs 1 LIST + one small GET per session returned.
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
        bodies = await gather_bounded(self.store.get(k) for k in keys)
        items: list[Session] = []
        for key, body in zip(keys, bodies, strict=True):
            if body is None:  # deleted between LIST and GET
                continue
            info = json.loads(body[0])
            items.append(
                Session(
                    id=info.get("id") or id_from_segment(key[len(prefix) :]) or "",
                    user_id=user_id,
                    created_at=float(info.get("created_at", 0.0)),
                )
            )
        next_cursor = keys[-1][len(prefix) :] if more and keys else None
        return Page(items, next_cursor)

    async def delete_session(self, user_id: str, session_id: str) -> bool:
        """Remove the session's history and listing; True when it existed."""
        validate_id(user_id, "user_id")
        existed = await self._log(user_id, session_id).delete()
        await self.store.delete(session_index_key(user_id, session_id))
        return existed

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
        log = self._log(session.user_id, session.id)
        view = session._view
        if view is None or view.prefix != log.prefix:
            loaded = await log.load()
            if loaded is None:
                raise SessionNotFound(session.user_id, session.id)
            view = session._view = loaded[0]
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

"""Agent state: the seed's StateService, one create-only object per saved round.

Objects per (user, session)::

    state/rounds/{round}   the state dict of one round, JSON
    state/head             {"round": n}: a lower bound on the latest round

Decisions
---------
* ``save_state(round_id=None)`` takes the next free round: one above the highest round
  that exists, written create-only. Two concurrent saves that pick the same number cannot
  both win; the loser LISTs past its number and tries the next. N concurrent saves give N
  distinct rounds and no state is overwritten.
* ``save_state(round_id=r)`` writes round r on purpose. If r does not exist it is created
  create-only; if it does it is replaced with ``if_match`` = the etag just read. Two saves of
  the same round that overlap in time give one winner and one :class:`StateConflict` (HTTP
  409), never a silent lost write. Saves that do not overlap simply apply in order.
* Finding the latest round is O(1) requests: GET the head, LIST the rounds after it (the
  head may lag behind rounds whose writers have not advanced it yet, or died before doing
  so), GET the newest. The head only moves forward: it is advanced by compare-and-set and a
  writer that finds it already past its round leaves it alone. Its lagging is harmless (the
  LIST catches up); it moving backwards would not be, so it never does.
* The head is advanced only once it lags ``HEAD_LAG`` rounds behind, so most saves are 3
  requests with one write, and the LIST after the head stays a handful of keys.
* Rounds are never deleted one by one, so round numbers stay occupied and a stale writer
  can never re-create a round that readers have moved past.
"""

from __future__ import annotations

import json
from typing import Any

from ..current import note_state_round
from ..errors import ApiError
from ..storage.base import ObjectStore, PreconditionFailed
from ..storage.keys import validate_id
from .base import StoreService, session_or_default
from .layout import MAX_SEQ, parse_seq, state_head_key, state_round_key, state_rounds_prefix
from .log import LogContention, after_lost_race, dumps, gather_bounded

MAX_SAVE_ATTEMPTS = 64
MAX_HEAD_ATTEMPTS = 8
HEAD_LAG = 4  # rounds the head may trail the newest before a save moves it


class StateConflict(ApiError):
    """Two explicit saves of the same round overlapped; this one lost (HTTP 409)."""

    status = 409
    code = "state_conflict"

    def __init__(self, round_id: int) -> None:
        super().__init__(
            f"round {round_id} was written concurrently by another save; reload and retry"
        )
        self.round_id = round_id


class StateNotFound(ApiError):
    """No state saved for the session (or no such round) (HTTP 404)."""

    status = 404
    code = "state_not_found"


# A caller names rounds up to here: the rounds a save numbers itself then run on far past
# any it can name (to MAX_SEQ, the widest the keys hold), so "the next round" always exists.
MAX_ROUND_ID = 2**31 - 1


class RoundsExhausted(ApiError):
    """The session's rounds reached the widest number the store's keys hold (HTTP 409)."""

    status = 409
    code = "rounds_exhausted"


def check_round_id(round_id: object, limit: int = MAX_ROUND_ID) -> int:
    """Round ids are the ints 1..``limit``; anything else is a caller error (HTTP 422)."""
    if isinstance(round_id, bool) or not isinstance(round_id, int) or not 1 <= round_id <= limit:
        raise ValueError(f"round_id must be an int in 1..{limit}, got {round_id!r}")
    return round_id


class StateService(StoreService):
    """Saved agent state per (user, session, round) in the object store."""

    def __init__(self, store: ObjectStore, *, owns_store: bool = False) -> None:
        super().__init__(store, owns_store=owns_store)

    async def save_state(
        self,
        user_id: str,
        state: dict[str, Any],
        session_id: str | None = None,
        round_id: int | None = None,
    ) -> int:
        """Store ``state`` and return its round id (next free round when ``round_id`` is None).

        3 requests for a new round (GET head, LIST, create-only PUT), plus a head update
        every ``HEAD_LAG`` rounds; 2 for an explicit round (GET, conditional PUT), plus a GET
        of the head (and its update when the new round is far past it) when it creates one.
        """
        validate_id(user_id, "user_id")
        sid = session_or_default(session_id)
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict, not {type(state)!r}")
        body = dumps(state)
        if round_id is not None:
            return await self._save_round(user_id, sid, body, check_round_id(round_id))

        head, head_etag = await self._head(user_id, sid)
        latest = await self._latest_after(user_id, sid, head)
        candidate = latest + 1
        for attempt in range(MAX_SAVE_ATTEMPTS):
            if candidate > MAX_SEQ:
                raise RoundsExhausted(f"session {sid!r} has no round left after {MAX_SEQ}")
            try:
                await self.store.put(
                    state_round_key(user_id, sid, candidate), body, if_none_match=True
                )
            except PreconditionFailed:
                await after_lost_race(attempt)
                candidate = await self._latest_after(user_id, sid, candidate) + 1
                continue
            note_state_round(user_id, sid, candidate)
            if candidate - head >= HEAD_LAG:
                await self._advance_head(user_id, sid, candidate, head, head_etag)
            return candidate
        # no round was named, so no 409: the store is too contended to take one now
        raise LogContention(
            f"no free state round of session {sid!r} after {MAX_SAVE_ATTEMPTS} tries"
        )

    async def _save_round(self, user_id: str, sid: str, body: bytes, round_id: int) -> int:
        key = state_round_key(user_id, sid, round_id)
        current = await self.store.get(key)
        try:
            if current is None:
                await self.store.put(key, body, if_none_match=True)
            else:
                await self.store.put(key, body, if_match=current[1])
        except PreconditionFailed:
            raise StateConflict(round_id) from None
        note_state_round(user_id, sid, round_id)
        if current is None:
            head, head_etag = await self._head(user_id, sid)
            if round_id - head >= HEAD_LAG:
                await self._advance_head(user_id, sid, round_id, head, head_etag)
        return round_id

    async def export_state(
        self, user_id: str, session_id: str | None = None, round_id: int | None = None
    ) -> dict[str, Any] | None:
        """The state of ``round_id`` (the latest round when None), or None if there is none."""
        found = await self.export_round(user_id, session_id, round_id)
        return None if found is None else found[1]

    async def export_round(
        self, user_id: str, session_id: str | None = None, round_id: int | None = None
    ) -> tuple[int, dict[str, Any]] | None:
        """Like ``export_state`` but also says which round it is: ``(round_id, state)``.

        1 GET for an explicit round; 3 requests for the latest (GET head, LIST after it,
        GET round), 2 when the session has no state; 2 more when the head names a round
        that was deleted.
        """
        validate_id(user_id, "user_id")
        sid = session_or_default(session_id)
        latest = round_id is None
        if round_id is None:
            head, _ = await self._head(user_id, sid)
            round_id = await self._latest_after(user_id, sid, head)
            if round_id == 0:
                return None
        # stored rounds run to MAX_SEQ (numbered by saves); callers name up to MAX_ROUND_ID
        got = await self.store.get(state_round_key(user_id, sid, check_round_id(round_id, MAX_SEQ)))
        if got is None and latest:
            # the head named a round a delete took away (a save racing the delete can
            # leave the head behind, or put it back): every round is listed instead
            round_id = await self._latest_after(user_id, sid, 0)
            if round_id == 0:
                return None
            got = await self.store.get(state_round_key(user_id, sid, round_id))
        if got is None:
            return None
        note_state_round(user_id, sid, round_id)
        return round_id, json.loads(got[0])

    async def list_rounds(self, user_id: str, session_id: str | None = None) -> list[int]:
        """Every saved round id, ascending."""
        validate_id(user_id, "user_id")
        prefix = state_rounds_prefix(user_id, session_or_default(session_id))
        keys = await self.store.list(prefix)
        return [r for k in keys if (r := parse_seq(k, prefix)) is not None]

    async def delete_state(self, user_id: str, session_id: str | None = None) -> bool:
        """Remove every round of a session (not in the seed; the HTTP DELETE of a session
        uses it); whether it had any.

        Rounds are listed first and the head removed first, so a save racing with the delete
        either lands before the listing (and is deleted) or after it (and survives whole).
        """
        validate_id(user_id, "user_id")
        sid = session_or_default(session_id)
        keys = await self.store.list(state_rounds_prefix(user_id, sid))
        await self.store.delete(state_head_key(user_id, sid))
        await gather_bounded(self.store.delete(k) for k in keys)
        return bool(keys)

    # --- the head pointer ---------------------------------------------------------------

    async def _head(self, user_id: str, sid: str) -> tuple[int, str | None]:
        got = await self.store.get(state_head_key(user_id, sid))
        if got is None:
            return 0, None
        return int(json.loads(got[0]).get("round", 0)), got[1]

    async def _latest_after(self, user_id: str, sid: str, known: int) -> int:
        """The highest round that exists, given that ``known`` exists (or is 0)."""
        prefix = state_rounds_prefix(user_id, sid)
        start = state_round_key(user_id, sid, known) if known else None
        keys = await self.store.list(prefix, start_after=start)
        rounds = [r for k in keys if (r := parse_seq(k, prefix)) is not None]
        return max(rounds, default=known)

    async def _advance_head(
        self, user_id: str, sid: str, target: int, head: int, etag: str | None
    ) -> None:
        """Move the head forward to ``target`` by compare-and-set; never backwards.

        Best effort: if it keeps losing to other writers it stops, since the LIST in
        ``_latest_after`` finds rounds the head does not know about.
        """
        key = state_head_key(user_id, sid)
        body = dumps({"round": target})
        for _ in range(MAX_HEAD_ATTEMPTS):
            if head >= target:
                return
            try:
                if etag is None:
                    await self.store.put(key, body, if_none_match=True)
                else:
                    await self.store.put(key, body, if_match=etag)
                return
            except PreconditionFailed:
                head, etag = await self._head(user_id, sid)


class InMemoryStateService(StateService):
    """The seed's in-memory service: the same code over a private memory store."""

    def __init__(self) -> None:
        from ..storage.memory import MemoryStore

        super().__init__(MemoryStore(), owns_store=True)

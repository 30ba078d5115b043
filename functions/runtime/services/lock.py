"""A lease on a session, held in the object store for the length of one turn.

Any instance of the query function may receive any request, so "one turn per session at a
time" cannot be an in-process lock: the lease is an object created create-only. A crashed
instance cannot release its lease, so leases are short (``SESSION_LOCK_TTL_S``, 30 s) and
the turn holding one renews it while it runs (:meth:`SessionLock.check`, called by the
turn's watcher): a SIGKILLed instance frees its sessions within one TTL. An expired lease
is taken over by compare-and-set on its etag.

The lease object is also where a turn is told to stop: ``POST /process/stop`` (any
instance) sets ``stop`` in it by compare-and-set, and the watcher of the instance running
the turn reads the lease every ``STOP_POLL_INTERVAL_S`` and stops the turn. One object
for both keeps a stop and a renewal from overwriting each other: both are conditional
writes on the same etag.

The leases are also the deployment's registry of running turns: one object per running
turn, under one prefix (``leases/{user}/{session}``) so that an admin lists every running
turn, or a user's, with one LIST (:meth:`SessionLock.running`) and stops them through the
same stop mark - with no store request per turn beyond the lease itself. A crashed
instance's entries lapse with their leases.

Object body (JSON; times in Unix seconds)::

    {"token", "expires_at", "stop"?,
     "user_id", "session_id", "started_at", "instance", "response_id"}

Release deletes the lease only while it is certainly still ours (well before it expires),
because object stores offer no conditional delete: a lease that outlived its TTL is left for
its next owner to take over instead of being deleted from under them.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import time
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from ..errors import ApiError
from ..storage.base import ObjectStore, PreconditionFailed, StoreUnavailable
from ..storage.keys import id_segment
from .log import dumps

if TYPE_CHECKING:
    from ..settings import Settings


class SessionBusy(ApiError):
    """Another turn holds the session's lease (HTTP 409, ``Retry-After``: seconds until the
    lease lapses unless its holder renews it)."""

    status = 409
    code = "session_busy"

    def __init__(self, session_id: str, expires_at: float) -> None:
        wait = max(1, math.ceil(expires_at - time.time()))
        super().__init__(
            f"session {session_id!r} is busy with another request; retry when it has finished",
            headers={"Retry-After": str(wait)},
        )
        self.session_id = session_id
        self.expires_at = expires_at


class NoRunningTurn(ApiError):
    """A stop for a session on which no turn is running (HTTP 404)."""

    status = 404
    code = "no_running_turn"

    def __init__(self, session_id: str) -> None:
        super().__init__(f"no turn is running on session {session_id!r}")


@dataclass
class Lease:
    key: str
    token: str
    expires_at: float
    renewed_at: float = 0.0
    # the response id of the turn whose lapsed lease this one took over (that turn's
    # instance died, or lost the session), and when that lease lapsed (Unix seconds): its
    # record may need its end (``Turn.begin``)
    lapsed: str | None = None
    lapsed_at: float = 0.0


class LeaseState(Enum):
    """What :meth:`SessionLock.check` found."""

    HELD = "held"  # still ours (renewed if it was due)
    STOP = "stop"  # still ours, and someone asked the turn to stop
    LOST = "lost"  # gone or someone else's: the turn no longer owns the session


@dataclass
class RunningTurn:
    """A turn holding its session's lease, as :meth:`SessionLock.running` lists it."""

    user_id: str
    session_id: str
    started_at: float
    instance: str
    expires_at: float
    response_id: str | None = None
    stopping: bool = False


LEASES = "leases/"


def leases_prefix(user_id: str | None = None) -> str:
    """Where the leases of one user's sessions are, or of every user's."""
    return LEASES if user_id is None else f"{LEASES}{id_segment(user_id, 'user_id')}/"


def lock_key(user_id: str, session_id: str) -> str:
    return leases_prefix(user_id) + id_segment(session_id, "session_id")


class SessionLock:
    # Release only when at least this much of the lease is left: clock skew and slow
    # deletes must never remove a lease that already passed to someone else.
    SAFETY_MARGIN_S = 30.0
    STOP_ATTEMPTS = 10

    LIST_CONCURRENCY = 16  # leases read at once by running()

    def __init__(self, store: ObjectStore, ttl_s: float = 30.0, holder: str = "") -> None:
        self.store = store
        self.ttl_s = ttl_s
        self.holder = holder  # the instance taking leases, as running() names it

    @property
    def renew_every_s(self) -> float:
        """A third of the TTL: two renewals may fail before the lease lapses."""
        return self.ttl_s / 3

    async def acquire(self, user_id: str, session_id: str, response_id: str | None = None) -> Lease:
        """Take the session's lease for the turn writing ``response_id``; ``SessionBusy``
        (409) when another turn holds it."""
        key = lock_key(user_id, session_id)
        now = time.time()
        lease = Lease(key, os.urandom(16).hex(), now + self.ttl_s, renewed_at=now)
        held = {
            "token": lease.token,
            "expires_at": lease.expires_at,
            "user_id": user_id,
            "session_id": session_id,
            "started_at": now,
            "instance": self.holder,
            "response_id": response_id,
        }
        body = dumps(held)
        try:
            await self.store.put(key, body, if_none_match=True)
            return lease
        except PreconditionFailed:
            pass
        current = await self.store.get(key)
        try:
            if current is None:  # released between our put and get: try once more
                await self.store.put(key, body, if_none_match=True)
                return lease
            held = json.loads(current[0])
            expires_at = float(held.get("expires_at", 0))
            if expires_at > now:
                raise SessionBusy(session_id, expires_at)
            await self.store.put(key, body, if_match=current[1])  # take over an expired lease
            lapsed = held.get("response_id")
            lease.lapsed = lapsed if isinstance(lapsed, str) else None
            lease.lapsed_at = expires_at
            return lease
        except PreconditionFailed:
            raise SessionBusy(session_id, now + self.ttl_s) from None

    async def check(self, lease: Lease) -> LeaseState:
        """Read the lease: is it still ours, is a stop asked for; renew it when due.

        One GET, plus one conditional PUT every :attr:`renew_every_s`. A renewal that
        loses a race (a stop request wrote in between) is retried on the next check. A
        lease marked stopping is renewed all the same (the mark kept): a stopped turn
        still holds its session until it has saved what it said.
        """
        current = await self.store.get(lease.key)
        if current is None:
            return LeaseState.LOST
        held = json.loads(current[0])
        if held.get("token") != lease.token:
            return LeaseState.LOST
        state = LeaseState.STOP if held.get("stop") else LeaseState.HELD
        now = time.time()
        if now - lease.renewed_at >= self.renew_every_s:
            held["expires_at"] = now + self.ttl_s
            try:
                await self.store.put(lease.key, dumps(held), if_match=current[1])
            except PreconditionFailed:
                return state
            lease.expires_at, lease.renewed_at = held["expires_at"], now
        return state

    async def request_stop(
        self, user_id: str, session_id: str, response_id: str | None = None
    ) -> None:
        """Mark the session's running turn as stopping; ``NoRunningTurn`` (404) when none is
        - or, with ``response_id``, when the turn running there writes another response
        (a stop for one turn must not reach the next one on the same session).

        The turn's own instance notices on its next check and stops it.
        """
        key = lock_key(user_id, session_id)
        for _ in range(self.STOP_ATTEMPTS):
            current = await self.store.get(key)
            if current is None:
                break
            held = json.loads(current[0])
            if float(held.get("expires_at", 0)) <= time.time():
                break
            if response_id is not None and held.get("response_id") != response_id:
                break
            if held.get("stop"):
                return
            held["stop"] = True
            try:
                await self.store.put(key, dumps(held), if_match=current[1])
                return
            except PreconditionFailed:
                continue  # renewed or released meanwhile: look again
        else:  # a lease rewritten this often is not being renewed (every TTL/3): a broken store
            raise StoreUnavailable(f"{key}: the lease kept changing; the stop was not recorded")
        raise NoRunningTurn(session_id)

    async def running(self, user_id: str | None = None) -> list[RunningTurn]:
        """The turns running now, of one user or of every user, oldest first: one LIST and
        a GET per lease (expired ones, left by crashed instances, are skipped)."""
        keys = await self.store.list(leases_prefix(user_id))
        gate = asyncio.Semaphore(self.LIST_CONCURRENCY)

        async def read(key: str) -> RunningTurn | None:
            async with gate:
                turn = await self._lease_at(key)
            return turn if turn is not None and turn.expires_at > time.time() else None

        found = await asyncio.gather(*(read(key) for key in keys))
        return sorted((t for t in found if t is not None), key=lambda t: t.started_at)

    async def lease_on(self, user_id: str, session_id: str) -> RunningTurn | None:
        """The session's lease as its turn wrote it, expired or not (one GET): an expired
        one was left by a turn whose instance stopped renewing it (a crash), or that ended
        too close to its expiry to delete it. None when there is none."""
        return await self._lease_at(lock_key(user_id, session_id))

    async def _lease_at(self, key: str) -> RunningTurn | None:
        found = await self.store.get(key)
        if found is None:
            return None
        try:
            held = json.loads(found[0])
            return RunningTurn(
                user_id=str(held["user_id"]),
                session_id=str(held["session_id"]),
                started_at=float(held.get("started_at", 0)),
                instance=str(held.get("instance") or ""),
                expires_at=float(held["expires_at"]),
                response_id=held.get("response_id"),
                stopping=bool(held.get("stop")),
            )
        except (ValueError, KeyError, TypeError):
            return None  # not a lease this code wrote

    async def release(self, lease: Lease) -> None:
        margin = min(self.SAFETY_MARGIN_S, self.ttl_s / 4)
        if time.time() < lease.expires_at - margin:
            await self.store.delete(lease.key)


def lost_after_s(settings: Settings) -> float:
    """How long past its expiry a turn's lease shows its instance died (seconds; A2A
    records such a turn's task failed, ``protocols/a2a.py``):
    ``SESSION_LOCK_TTL_S`` and nine of the longest store calls (``B``).

    Why nine, for a live instance whose store answers within ``B``: the turn's watcher
    renews its lease from the moment it is taken (``Turn.begin``), a stopped turn's too,
    until the turn ends. The expiry written when it was taken is counted from before the
    taking (up to ``3B``: a take-over reads and writes again), and the first renewal (a
    read, then a write: ``2B``) comes a poll after it; later ones come every third of a
    TTL. So while the watcher runs, the stored lease is never lapsed by more than ``5B`` and
    a poll. Then the turn ends, cancelling any renewal in flight, and the release (``B``),
    the answer's last artifact chunk (``B``), and the end itself, which waits for a held
    chunk's write (``B``) before its own (``B``), all land within ``9B`` and a poll past
    the expiry; ``TTL`` covers the poll.
    """
    from ..storage.retry import store_call_bound_s

    return settings.session_lock_ttl_s + 9 * store_call_bound_s(settings)

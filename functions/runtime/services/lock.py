"""A lease on a session, held in the object store for the length of one query.

Any instance of the query function may receive any request, so "one query per session at a
time" cannot be an in-process lock: the lease is an object created create-only. A crashed
instance cannot release its lease, so leases expire (``SESSION_LOCK_TTL_S``, longer than the
longest query) and an expired one is taken over by compare-and-set on its etag.

Release deletes the lease only while it is certainly still ours (well before it expires),
because object stores offer no conditional delete: a lease that outlived its TTL is left for
its next owner to take over instead of being deleted from under them.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass

from ..errors import ApiError
from ..storage.base import ObjectStore, PreconditionFailed
from ..storage.keys import id_segment, user_prefix


class SessionBusy(ApiError):
    """Another query holds the session's lease (HTTP 409)."""

    status = 409
    code = "session_busy"

    def __init__(self, session_id: str, expires_at: float) -> None:
        super().__init__(
            f"session {session_id!r} is busy with another request; retry when it has finished"
        )
        self.session_id = session_id
        self.expires_at = expires_at


@dataclass
class Lease:
    key: str
    token: str
    expires_at: float


def lock_key(user_id: str, session_id: str) -> str:
    return f"{user_prefix(user_id)}locks/{id_segment(session_id, 'session_id')}"


class SessionLock:
    # Release only when at least this much of the lease is left: clock skew and slow
    # deletes must never remove a lease that already passed to someone else.
    SAFETY_MARGIN_S = 30.0

    def __init__(self, store: ObjectStore, ttl_s: float = 900.0) -> None:
        self.store = store
        self.ttl_s = ttl_s

    async def acquire(self, user_id: str, session_id: str) -> Lease:
        key = lock_key(user_id, session_id)
        now = time.time()
        lease = Lease(key, secrets.token_hex(16), now + self.ttl_s)
        body = json.dumps({"token": lease.token, "expires_at": lease.expires_at}).encode()
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
            return lease
        except PreconditionFailed:
            raise SessionBusy(session_id, now + self.ttl_s) from None

    async def release(self, lease: Lease) -> None:
        margin = min(self.SAFETY_MARGIN_S, self.ttl_s / 4)
        if time.time() < lease.expires_at - margin:
            await self.store.delete(lease.key)

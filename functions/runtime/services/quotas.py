"""Per-user quotas, counted across instances in the object store (opt-in).

* ``USER_MAX_TURNS_PER_MINUTE`` (query function, :class:`TurnRate`): turns a user may start
  per calendar minute. One small object per user, ``users/{user}/quotas/turns`` =
  ``{"window": <Unix second the minute starts>, "count": n}``, raised by compare-and-set
  when a turn opens. The instance keeps the object's etag from its last write, so a user
  whose turns land on one warm instance costs one conditional PUT per turn; a write lost to
  another instance costs a GET and another try. A user over the quota costs nothing once
  this instance has seen the count reach it (counts only grow within a minute).
* ``USER_MAX_SANDBOXES`` (sandbox function): live sandboxes a user may hold, kept beside the
  sandbox registry (``functions/sandbox/quota.py``).

Refusals are :class:`QuotaExceeded`: 429 with ``Retry-After`` (seconds until the count can
have room again) and a body naming the quota.
"""

from __future__ import annotations

import json
import math
import time
from collections import OrderedDict
from typing import TYPE_CHECKING

from ..errors import ApiError
from ..storage.base import PreconditionFailed
from ..storage.keys import user_prefix

if TYPE_CHECKING:
    from ..storage.base import ObjectStore


class QuotaExceeded(ApiError):
    """A per-user quota is used up (HTTP 429; ``Retry-After`` in seconds; ``quota`` names
    the setting, as the ``detail`` does)."""

    status = 429
    code = "quota_exceeded"

    def __init__(self, quota: str, detail: str, retry_after_s: float) -> None:
        wait = max(1, math.ceil(retry_after_s))
        super().__init__(f"{quota}: {detail}", headers={"Retry-After": str(wait)})
        self.quota = quota
        self.retry_after_s = wait


WINDOW_S = 60
ATTEMPTS = 8  # compare-and-set tries before a turn is refused as contended
CACHED_USERS = 4096


def turns_key(user_id: str) -> str:
    return f"{user_prefix(user_id)}quotas/turns"


class TurnRate:
    """``USER_MAX_TURNS_PER_MINUTE``: :meth:`admit` counts a turn or refuses it."""

    QUOTA = "USER_MAX_TURNS_PER_MINUTE"

    def __init__(self, store: ObjectStore, limit: int | None) -> None:
        self.store = store
        self.limit = limit
        # user -> (window, count, etag) as this instance last wrote or read it
        self._seen: OrderedDict[str, tuple[int, int, str]] = OrderedDict()

    async def admit(self, user_id: str, now: float | None = None) -> None:
        """Count one turn of ``user_id`` in this minute; ``QuotaExceeded`` (429) when the
        minute's turns are used up. Nothing at all without a limit."""
        if self.limit is None:
            return
        now = time.time() if now is None else now
        window = int(now // WINDOW_S) * WINDOW_S
        key = turns_key(user_id)
        seen = self._seen.get(user_id)
        for _ in range(ATTEMPTS):
            if seen is None:
                found = await self.store.get(key)
                if found is None:
                    seen = (window, 0, "")
                else:
                    held = json.loads(found[0])
                    seen = (int(held.get("window", 0)), int(held.get("count", 0)), found[1])
            held_window, count, etag = seen
            if held_window > window:  # an instance whose clock is ahead began the next one
                window = held_window
            elif held_window != window:
                count = 0
            if count >= self.limit:
                self._remember(user_id, seen)
                raise self._refusal(window + WINDOW_S - now)
            body = json.dumps({"window": window, "count": count + 1}).encode()
            try:
                if etag:
                    new_etag = await self.store.put(key, body, if_match=etag)
                else:
                    new_etag = await self.store.put(key, body, if_none_match=True)
            except PreconditionFailed:
                seen = None  # another instance counted a turn meanwhile: read it again
                continue
            self._remember(user_id, (window, count + 1, new_etag))
            return
        raise QuotaExceeded(
            self.QUOTA, "too many turns are starting at once for this user; retry", 1
        )

    def _refusal(self, wait_s: float) -> QuotaExceeded:
        return QuotaExceeded(self.QUOTA, f"this user may start {self.limit} turns a minute", wait_s)

    def _remember(self, user_id: str, seen: tuple[int, int, str]) -> None:
        self._seen[user_id] = seen
        self._seen.move_to_end(user_id)
        while len(self._seen) > CACHED_USERS:
            self._seen.popitem(last=False)

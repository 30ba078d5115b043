"""``GET /health`` of every function: can the object store be read *and* written?

A store that answers reads but refuses writes (read-only, full, an S3 bucket policy, a
provider outage on PUT) breaks every turn, so a LIST alone would report it healthy. The
probe LISTs one key and PUTs one small object, ``health/probe`` (overwritten each time, so
the store holds one such object however often it runs). A write costs money on S3 and OSS
and health checks come often, so a success is trusted for ``interval_s``: at most one probe
per instance per interval whatever the checking rate. A failure is never trusted: the next
check probes again, so recovery shows at once; and a store failure any request of the
instance meets ends the trust (``forget``), so health never says ok past a failure seen.
"""

from __future__ import annotations

import asyncio
import json
import time

from .base import ObjectStore, StoreError

PROBE_KEY = "health/probe"


class StoreUnwritable(StoreError):
    """The store answers reads but refuses writes (HTTP 503)."""

    code = "store_unwritable"
    public_detail = "the object store refuses writes"


class StoreProbe:
    """One instance's health probe of its store, with successes cached for ``interval_s``."""

    def __init__(self, store: ObjectStore, interval_s: float) -> None:
        self.store = store
        self.interval_s = interval_s
        self._ok_until = 0.0
        self._lock = asyncio.Lock()  # concurrent checks share one probe

    async def check(self) -> None:
        """Return when the store can be read and written; else ``StoreUnavailable`` (no
        read) or ``StoreUnwritable`` (reads, no writes), both 503."""
        if time.monotonic() < self._ok_until:
            return
        async with self._lock:
            if time.monotonic() < self._ok_until:
                return
            await self.store.list("users/", limit=1)  # StoreUnavailable when unreadable
            body = json.dumps({"at": time.time()}).encode()
            try:
                await self.store.put(PROBE_KEY, body)
            except StoreError as exc:
                raise StoreUnwritable(f"health probe write failed: {exc}") from exc
            self._ok_until = time.monotonic() + self.interval_s

    def forget(self) -> None:
        """A request just saw the store fail: the next check probes again."""
        self._ok_until = 0.0

"""``USER_MAX_SANDBOXES``: live sandboxes one user may hold, across every instance (opt-in).

Each user with the quota on has one object, ``users/{user}/quotas/sandboxes`` =
``{"sandboxes": [id, ...]}``, their live sandboxes as the sandbox service made and removed
them, changed only by compare-and-set:

* :meth:`SandboxQuota.admit`, before a sandbox is made: one GET. At the limit, the listed
  sandboxes are looked up (a GET each: the limit is small): those gone are dropped, since
  the reaper removes sandboxes without passing here, and those past their TTL with no call
  in flight are ended first, as the reaper would end them (until then their containers
  run: merely uncounting them would let a user with a short ``ttl_s`` hold any number).
  Still at the limit, ``QuotaExceeded`` (429) with ``Retry-After`` until the first of them
  expires.
* :meth:`SandboxQuota.hold`, once it is made: one conditional PUT adding its id. A write
  lost to another instance means a sandbox was made or removed meanwhile: the count is read
  again, and if the user is now at the limit the new sandbox is refused (the service ends
  it), so two instances racing never leave a user over the limit.
* :meth:`SandboxQuota.release`, when a sandbox is removed: a GET and a conditional PUT.

Without the setting none of this runs: no request to the store at all.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from functions.runtime.services.quotas import QuotaExceeded
from functions.runtime.storage.base import ObjectStore, PreconditionFailed
from functions.runtime.storage.keys import user_prefix

from .registry import SandboxRecord

QUOTA = "USER_MAX_SANDBOXES"
ATTEMPTS = 8


def sandboxes_key(user_id: str) -> str:
    return f"{user_prefix(user_id)}quotas/sandboxes"


@dataclass
class Ticket:
    """What :meth:`SandboxQuota.admit` read: the user's live sandboxes and their etag."""

    user_id: str
    ids: list[str] = field(default_factory=list)
    etag: str | None = None


# a sandbox's record while its container is held; None once it is gone (one past its TTL
# with no call in flight is ended on the way: ``SandboxService.holding``)
Holding = Callable[[str], Awaitable[SandboxRecord | None]]


class SandboxQuota:
    def __init__(self, store: ObjectStore, holding: Holding, limit: int | None) -> None:
        self.store = store
        self.holding = holding
        self.limit = limit

    async def _read(self, user_id: str) -> Ticket:
        found = await self.store.get(sandboxes_key(user_id))
        if found is None:
            return Ticket(user_id)
        ids = [str(i) for i in json.loads(found[0]).get("sandboxes", [])]
        return Ticket(user_id, ids, found[1])

    async def _room(self, ticket: Ticket) -> None:
        """Drop ids of sandboxes that ended (ending those past their TTL);
        ``QuotaExceeded`` if the rest fill the quota."""
        assert self.limit is not None
        if len(ticket.ids) < self.limit:
            return
        records = await asyncio.gather(*(self.holding(i) for i in ticket.ids))
        live = [r for r in records if r is not None]
        ticket.ids = [r.id for r in live]
        if len(live) >= self.limit:
            now = time.time()
            first = min(r.expires_at for r in live)  # past for one a call keeps: 1 s
            raise QuotaExceeded(
                QUOTA,
                f"this user holds {len(live)} live sandboxes, the most allowed is {self.limit};"
                " delete one or wait for one to expire",
                first - now,
            )

    async def admit(self, user_id: str) -> Ticket | None:
        """Before making a sandbox for ``user_id``: None without the quota, else a ticket
        for :meth:`hold`; ``QuotaExceeded`` (429) when the user is at the limit."""
        if self.limit is None:
            return None
        ticket = await self._read(user_id)
        await self._room(ticket)
        return ticket

    async def hold(self, ticket: Ticket | None, sandbox_id: str) -> None:
        """Count the new sandbox ``sandbox_id``; ``QuotaExceeded`` if another instance filled
        the quota since :meth:`admit` (the caller then ends the sandbox)."""
        if ticket is None:
            return
        key = sandboxes_key(ticket.user_id)
        for _ in range(ATTEMPTS):
            body = json.dumps({"sandboxes": [*ticket.ids, sandbox_id]}).encode()
            try:
                if ticket.etag is None:
                    await self.store.put(key, body, if_none_match=True)
                else:
                    await self.store.put(key, body, if_match=ticket.etag)
                return
            except PreconditionFailed:
                ticket = await self._read(ticket.user_id)
                await self._room(ticket)
        raise QuotaExceeded(QUOTA, "too many sandboxes are changing at once; retry", 1)

    async def release(self, user_id: str, sandbox_id: str) -> None:
        """Uncount a removed sandbox (nothing without the quota, or if it was not counted)."""
        if self.limit is None:
            return
        key = sandboxes_key(user_id)
        for _ in range(ATTEMPTS):
            ticket = await self._read(user_id)
            if sandbox_id not in ticket.ids:
                return
            ids = [i for i in ticket.ids if i != sandbox_id]
            try:
                await self.store.put(
                    key, json.dumps({"sandboxes": ids}).encode(), if_match=ticket.etag
                )
                return
            except PreconditionFailed:
                continue
        # left counted: the next admit at the limit finds it gone and drops it

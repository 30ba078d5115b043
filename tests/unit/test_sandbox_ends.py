"""When a sandbox's end is decided, across instances sharing one store (the sandbox service
and its registry on a memory store; no container is started or stopped in these cases).

A sandbox past its TTL with no call in flight is ended by whichever instance sees it first
(``live``, the reaper, a quota or capacity count). That decision must never end one that a
renewal or a call keeps: the end is claimed by a compare-and-set of the record read, and a
long call renews its sandbox before its marker goes.
"""

from __future__ import annotations

import json
import time
from typing import Any

from functions.runtime.sandbox.launchers.docker import DockerLauncher
from functions.runtime.settings import Settings
from functions.runtime.storage.memory import MemoryStore
from functions.sandbox.registry import CALLS, Registry, SandboxRecord, record_key
from functions.sandbox.service import SandboxService

SID = "sbx-0123456789abcdef01234567"


class Recording(MemoryStore):
    """A memory store that logs each write and can run a hook before one."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[str, str]] = []
        self.before_put: Any = None

    async def put(self, key: str, data: bytes, **conditions: Any) -> str:
        if self.before_put is not None:
            hook, self.before_put = self.before_put, None
            await hook(key, conditions)
        self.writes.append(("put", key))
        return await super().put(key, data, **conditions)

    async def delete(self, key: str) -> None:
        self.writes.append(("delete", key))
        await super().delete(key)


def service(store: Recording) -> SandboxService:
    settings = Settings(store_url="memory://")
    return SandboxService(store, DockerLauncher(settings), settings)


async def past_its_ttl(store: Recording, ttl_s: float = 60.0) -> SandboxRecord:
    now = time.time()
    record = SandboxRecord(
        id=SID,
        type="base",
        user_id="u",
        backend="docker",
        handle="no-such-container",
        endpoint="http://127.0.0.1:9",
        token="t" * 43,
        created_at=now - 2 * ttl_s,
        expires_at=now - 1,
        ttl_s=ttl_s,
    )
    await Registry(store).add(record)
    store.writes.clear()
    return record


async def test_a_long_call_renews_its_sandbox_before_its_marker_goes():
    """Between the two, the sandbox would be past its TTL with no call in flight, for any
    instance to end while the call's answer is on its way."""
    store = Recording()
    record = await past_its_ttl(store)
    marker = await Registry(store).begin_call(SID, time.time() + 600)
    store.writes.clear()
    await service(store).end_call(record, marker)
    assert store.writes == [("put", record_key(SID)), ("delete", marker)]
    renewed = json.loads((await store.get(record_key(SID)))[0])
    assert renewed["expires_at"] > time.time() + 30 and not renewed["ending"]


async def test_a_renewal_landing_before_the_claim_keeps_the_sandbox():
    """Another instance renews the sandbox between this one's read and its claim: the claim
    (a compare-and-set of what was read) loses, and the sandbox is counted, not ended."""
    store = Recording()
    await past_its_ttl(store)
    other = Registry(store)

    async def renew_first(key: str, conditions: dict[str, Any]) -> None:
        assert key == record_key(SID) and conditions.get("if_match")  # the claim
        record, etag = await other.get(SID)
        record.expires_at = time.time() + record.ttl_s
        assert await other.renew(record, etag)

    store.before_put = renew_first
    held = await service(store).holding(SID)
    assert held is not None and held.id == SID
    stored, _ = await other.get(SID)
    assert not stored.ending and stored.expires_at > time.time()
    assert ("delete", record_key(SID)) not in store.writes


async def test_a_call_beginning_as_the_end_is_claimed_keeps_the_sandbox():
    """A call's marker lands between this instance's look (no call) and its claim: the claim
    is taken back, and neither this instance nor another ends the sandbox under the call."""
    store = Recording()
    await past_its_ttl(store)
    registry = Registry(store)

    async def call_begins(key: str, conditions: dict[str, Any]) -> None:
        assert key == record_key(SID) and conditions.get("if_match")  # the claim
        await registry.begin_call(SID, time.time() + 600)

    store.before_put = call_begins
    assert (await service(store).holding(SID)) is not None
    stored, _ = await registry.get(SID)
    assert not stored.ending
    assert await service(store).holding(SID) is not None  # another instance's look
    assert ("delete", record_key(SID)) not in store.writes


async def test_a_claimed_end_is_seen_by_every_reader():
    """Once claimed, the sandbox is gone to ``live`` on any instance, and no renewal (a
    call's end) brings it back."""
    store = Recording()
    record = await past_its_ttl(store)
    claimed = record.model_copy(update={"ending": True, "expires_at": time.time() + 600})
    _, etag = await Registry(store).get(SID)
    assert await Registry(store).renew(claimed, etag)
    other = service(store)
    await other.renew(SID)
    assert (await Registry(store).get(SID))[0].ending
    assert SID not in [r.id for r in await other.list("u")]


async def test_a_record_naming_its_container_in_another_shape_is_kept():
    """Unreadable to this version is not gone: a record with an id and a handle may be a
    newer version's (a rolling deploy shares the store), and its container is no orphan.
    One that names no container is removed."""
    store = Recording()
    registry = Registry(store)
    newer = {"id": SID, "handle": "c0ffee", "type": "base", "expires_at": "later"}
    await store.put(record_key(SID), json.dumps(newer).encode())
    assert await registry.get(SID) is None
    assert not await registry.remove_unreadable(SID) and await registry.exists(SID)
    assert await service(store)._recorded(SID)
    for cut in (b'{"id": "' + SID.encode() + b'", "type": "base"}', b'{"id": "sbx-'):
        await store.put(record_key(SID), cut)
        assert await registry.remove_unreadable(SID)
        assert not await registry.exists(SID)
    assert not [k for k in await store.list(CALLS)]

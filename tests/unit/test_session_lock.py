"""The session lease (services/lock.py) on a real file store: what a stop mark does to it."""

from __future__ import annotations

import json

import pytest

from functions.runtime.services.lock import LeaseState, NoRunningTurn, SessionLock, lock_key
from functions.runtime.storage import open_store


@pytest.fixture
async def lock(tmp_path):
    store = open_store(f"file://{tmp_path}/store")
    yield SessionLock(store, ttl_s=30, holder="test")
    await store.close()


async def test_a_lease_marked_stopping_is_still_renewed_with_its_mark(lock):
    # a stopped turn keeps its session until it has saved what it said
    lease = await lock.acquire("user-1", "session-1", "turn-1")
    await lock.request_stop("user-1", "session-1")
    lease.renewed_at = lease.expires_at = 0.0  # as if a renewal were long due
    assert await lock.check(lease) is LeaseState.STOP
    stored = json.loads((await lock.store.get(lock_key("user-1", "session-1")))[0])
    assert stored["stop"] is True
    assert stored["expires_at"] == lease.expires_at > 0.0


async def test_a_stop_for_one_turn_never_marks_another_turn_on_the_session(lock):
    lease = await lock.acquire("user-1", "session-1", "turn-2")
    with pytest.raises(NoRunningTurn):
        await lock.request_stop("user-1", "session-1", response_id="turn-1")
    assert await lock.check(lease) is LeaseState.HELD
    await lock.request_stop("user-1", "session-1", response_id="turn-2")
    assert await lock.check(lease) is LeaseState.STOP


async def test_a_lease_taken_over_names_the_turn_whose_lease_lapsed(lock):
    # that turn's instance died: the new turn settles what it left (Turn.begin)
    first = await lock.acquire("user-1", "session-1", "turn-1")
    assert first.lapsed is None
    key = lock_key("user-1", "session-1")
    held = json.loads((await lock.store.get(key))[0])
    await lock.store.put(key, json.dumps(held | {"expires_at": 0.0}).encode())
    taken = await lock.acquire("user-1", "session-1", "turn-2")
    assert taken.lapsed == "turn-1"
    await lock.release(taken)
    assert (await lock.acquire("user-1", "session-1", "turn-3")).lapsed is None

"""Many OS processes writing one session at once, on the file and S3 (moto server) stores.

Each test starts 20 spawned processes that open their own store client, load what they
need, meet at a barrier and then write together, so the writes really overlap across
processes (file locks, S3 conditional requests), not just across tasks of one event loop.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import traceback
from typing import Any

import pytest

from functions.runtime.services import (
    MemoryService,
    SessionHistoryService,
    StateConflict,
    StateService,
)
from functions.runtime.services.layout import (
    memory_index_key,
    memory_prefix,
    state_round_key,
)
from functions.runtime.services.log import LogContention
from functions.runtime.services.state import HEAD_LAG
from functions.runtime.settings import Settings
from functions.runtime.storage import open_store
from functions.runtime.storage.memory import MemoryStore
from tests.messages import msg, texts

WRITERS = 20
BARRIER_TIMEOUT_S = 120.0
RESULT_TIMEOUT_S = 180.0

ctx = multiprocessing.get_context("spawn")


# --- what each process runs -------------------------------------------------------------------


async def _append(settings: Settings, barrier: Any, i: int, count: int, compact_after: int) -> Any:
    store = open_store(settings.store_url, settings)
    try:
        svc = SessionHistoryService(store, compact_after=compact_after)
        session = await svc.get_session("u", "s")
        assert session is not None
        barrier.wait(BARRIER_TIMEOUT_S)
        return [await svc.append_message(session, msg(f"w{i}-{j}")) for j in range(count)]
    finally:
        await store.close()


async def _save(settings: Settings, barrier: Any, i: int, round_id: int | None) -> Any:
    store = open_store(settings.store_url, settings)
    try:
        svc = StateService(store)
        barrier.wait(BARRIER_TIMEOUT_S)
        try:
            return await svc.save_state("u", {"writer": i}, "s", round_id)
        except StateConflict:
            return "conflict"
    finally:
        await store.close()


async def _remember(settings: Settings, barrier: Any, i: int) -> Any:
    store = open_store(settings.store_url, settings)
    try:
        svc = MemoryService(store, compact_after=3)
        barrier.wait(BARRIER_TIMEOUT_S)
        await svc.add_memory("u", msg(f"fact {i}"), "s")
        return "ok"
    finally:
        await store.close()


WORKERS = {"append": _append, "save": _save, "remember": _remember}


def _worker(kind: str, settings: Settings, barrier: Any, results: Any, i: int, *args: Any) -> None:
    try:
        out = asyncio.run(WORKERS[kind](settings, barrier, i, *args))
        results.put((i, "ok", out))
    except BaseException:
        barrier.abort()  # never leave the others waiting for a writer that died
        results.put((i, "error", traceback.format_exc()))


def run_writers(kind: str, settings: Settings, *args: Any) -> dict[int, Any]:
    """Run WRITERS processes of ``kind``; their results by writer index."""
    barrier = ctx.Barrier(WRITERS)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(kind, settings, barrier, results, i, *args))
        for i in range(WRITERS)
    ]
    for p in procs:
        p.start()
    try:
        collected = [results.get(timeout=RESULT_TIMEOUT_S) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    errors = [out for _, status, out in collected if status == "error"]
    assert not errors, errors[0]
    return {i: out for i, _, out in collected}


# --- stores shared by the processes ----------------------------------------------------------


@pytest.fixture(params=["file", "s3"])
def settings(request, store_url_for) -> Settings:
    """A fresh namespace on a store other processes can reach.

    The spawned writers inherit this process's environment, where the shared fixtures put
    moto's dummy AWS credentials for the session.
    """
    config = store_url_for(request.param)
    assert config.cross_process
    return config.settings


def in_store(settings: Settings, fn: Any) -> Any:
    async def main() -> Any:
        store = open_store(settings.store_url, settings)
        try:
            return await fn(store)
        finally:
            await store.close()

    return asyncio.run(main())


# --- the tests --------------------------------------------------------------------------------


def test_twenty_processes_append_to_one_session_each_message_once(settings):
    in_store(settings, lambda store: SessionHistoryService(store).create_session("u", "s"))
    seqs = run_writers("append", settings, 1, 8)
    assert sorted(s for out in seqs.values() for s in out) == list(range(1, WRITERS + 1))
    session = in_store(settings, lambda store: SessionHistoryService(store).get_session("u", "s"))
    assert sorted(texts(session.messages)) == sorted(f"w{i}-0" for i in range(WRITERS))


def test_appends_racing_with_compaction_lose_nothing(settings):
    in_store(settings, lambda store: SessionHistoryService(store).create_session("u", "s"))
    run_writers("append", settings, 5, 2)  # 100 appends, a compaction every other one
    session = in_store(settings, lambda store: SessionHistoryService(store).get_session("u", "s"))
    got = texts(session.messages)
    assert sorted(got) == sorted(f"w{i}-{j}" for i in range(WRITERS) for j in range(5))
    for i in range(WRITERS):
        assert [t for t in got if t.startswith(f"w{i}-")] == [f"w{i}-{j}" for j in range(5)]

    async def snapshot_upto(store: Any) -> int:
        loaded = await SessionHistoryService(store)._log("u", "s").load()
        assert loaded is not None
        return loaded[0].upto

    assert in_store(settings, snapshot_upto) >= 90  # compaction did happen under the race


def test_twenty_processes_save_state_get_distinct_rounds(settings):
    rounds = run_writers("save", settings, None)
    assert sorted(rounds.values()) == list(range(1, WRITERS + 1))

    async def check(store: Any) -> None:
        svc = StateService(store)
        for writer, round_id in rounds.items():
            assert await svc.export_state("u", "s", round_id) == {"writer": writer}
        assert await svc.list_rounds("u", "s") == list(range(1, WRITERS + 1))
        assert (await svc.export_round("u", "s"))[0] == WRITERS

    in_store(settings, check)


def test_explicit_overwrites_of_one_round_never_lose_silently(settings):
    in_store(settings, lambda store: StateService(store).save_state("u", {"writer": -1}, "s", 1))
    outcomes = run_writers("save", settings, 1)
    winners = [i for i, out in outcomes.items() if out == 1]
    assert winners and all(out in (1, "conflict") for out in outcomes.values())
    final = in_store(settings, lambda store: StateService(store).export_state("u", "s", 1))
    assert final["writer"] in winners  # the round holds a save that was told it succeeded


def test_twenty_processes_add_memory_to_a_new_session(settings):
    run_writers("remember", settings)
    items = in_store(
        settings, lambda store: MemoryService(store).list_memory("u", {"page_size": 100})
    )
    assert sorted(texts(items)) == sorted(f"fact {i}" for i in range(WRITERS))


class MarkerDeleteHeld(MemoryStore):
    """A memory store whose delete of a memory session's index marker waits until ``added``
    (the order a slow store allows: a delete of all memory took the session's log, an add
    then makes it anew, the delete takes the marker away last)."""

    def __init__(self) -> None:
        super().__init__()
        self.log_gone = asyncio.Event()
        self.added = asyncio.Event()

    async def delete(self, key: str) -> None:
        if key == memory_index_key("alice", "m1") and not self.added.is_set():
            self.log_gone.set()
            await self.added.wait()
        await super().delete(key)


async def test_memory_added_while_all_memory_is_deleted_stays_visible_and_deletable():
    store = MarkerDeleteHeld()
    memory = MemoryService(store)
    await memory.add_memory("alice", msg("old"), "m1")

    async def add_after_the_log_went() -> None:
        await store.log_gone.wait()
        await memory.add_memory("alice", msg("banana"), "m1")
        store.added.set()

    await asyncio.gather(memory.delete_memory("alice"), add_after_the_log_went())
    # acknowledged after the delete began: kept, and found
    assert texts(await memory.search_memory("alice", msg("banana"))) == ["banana"]
    await memory.delete_memory("alice")  # and a later delete of all memory reaches it
    assert await memory.list_memory("alice") == []
    assert [k for k in store._keys if "memory" in k] == []


# --- many writers in one process, on a store whose calls wait on the network (S3) ------------

TASKS = 50


@pytest.fixture
def s3_settings(store_url_for) -> Settings:
    return store_url_for("s3").settings


def test_fifty_concurrent_appends_and_unnumbered_saves_all_land(s3_settings):
    """Fifty writers of one event loop take the next number together, lose together and
    (without backoff) went for the same next number again: some lost 64 times and were
    refused, though the guarantee is N appends, N segments; N saves, N rounds."""

    async def race(store: Any) -> tuple[list[int | None], list[int]]:
        history, state = SessionHistoryService(store), StateService(store)
        session = await history.create_session("u", "s")
        seqs = await asyncio.gather(
            *(history.append_message(session, msg(f"m{i}")) for i in range(TASKS))
        )
        rounds = await asyncio.gather(
            *(state.save_state("u", {"writer": i}, "s") for i in range(TASKS))
        )
        return list(seqs), list(rounds)

    seqs, rounds = in_store(s3_settings, race)
    assert sorted(s for s in seqs if s is not None) == list(range(1, TASKS + 1))
    assert sorted(rounds) == list(range(1, TASKS + 1))
    session = in_store(s3_settings, lambda s: SessionHistoryService(s).get_session("u", "s"))
    assert sorted(texts(session.messages)) == sorted(f"m{i}" for i in range(TASKS))


class HeldAfterPut(MemoryStore):
    """A memory store that holds the writer of ``key`` right after its put, until ``go``."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key, self.held, self.go = key, asyncio.Event(), asyncio.Event()

    async def put(self, key: str, data: bytes, **conditions: Any) -> str:
        etag = await super().put(key, data, **conditions)
        if key == self.key:
            self.held.set()
            await self.go.wait()
        return etag


async def test_a_state_save_racing_its_sessions_delete_leaves_the_latest_round_readable():
    """The save's head update comes after the delete took the head and the rounds away:
    it makes the head anew, naming a deleted round. Rounds saved later must be found."""
    store = HeldAfterPut(state_round_key("u", "s", HEAD_LAG))
    state = StateService(store)
    for i in range(1, HEAD_LAG):
        await state.save_state("u", {"round": i}, "s")
    saver = asyncio.ensure_future(state.save_state("u", {"round": HEAD_LAG}, "s"))
    await store.held.wait()  # its round is written; its head update is next
    await state.delete_state("u", "s")  # the whole delete, meanwhile
    store.go.set()
    await saver  # its head update finds no head and makes one, naming a deleted round
    await state.save_state("u", {"after": 1}, "s", 1)
    assert await state.list_rounds("u", "s") == [1]
    assert await state.export_round("u", "s") == (1, {"after": 1})
    assert await state.export_state("u", "s") == {"after": 1}


class LogTakenAway(MemoryStore):
    """A memory store where, ``times`` times, an add about to append to a session's log
    meets a racing writer that took its segment's number and a delete of all memory that
    then took the log away: its append fails, and finds no log to go on with."""

    def __init__(self, times: int) -> None:
        super().__init__()
        self.times = times

    async def put(self, key: str, data: bytes, **conditions: Any) -> str:
        prefix = memory_prefix("alice", "m1")
        if self.times and key.startswith(prefix + "seg/"):
            self.times -= 1
            seq = int(key.rsplit("/", 1)[1])
            other = {"seq": seq, "inc": "raced", "at": 0.0, "records": []}
            await super().put(key, json.dumps(other).encode())
            await super().delete(prefix + "snapshot")
        return await super().put(key, data, **conditions)


@pytest.mark.parametrize("times", [3, 10])
async def test_an_add_whose_log_deletes_keep_taking_away_lands_once_they_stop(times):
    store = LogTakenAway(times)
    memory = MemoryService(store)
    await memory.add_memory("alice", msg("banana"), "m1")
    assert texts(await memory.search_memory("alice", msg("banana"))) == ["banana"]


async def test_an_add_that_deletes_never_let_land_is_a_503_not_a_500():
    memory = MemoryService(LogTakenAway(1000))
    with pytest.raises(LogContention) as refused:
        await memory.add_memory("alice", msg("banana"), "m1")
    assert refused.value.status == 503 and refused.value.code == "contention"
    assert refused.value.headers == {"Retry-After": "1"}

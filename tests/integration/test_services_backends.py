"""The services on every backend (memory, file, S3 on moto, OSS on the emulator).

The unit suite proves the logic on the memory store; this one proves that the backends'
create-only, compare-and-set and ordered listing give the services what they rely on,
including under concurrent tasks hitting a real server.
"""

from __future__ import annotations

import asyncio

from functions.runtime.services import (
    CountingStore,
    MemoryService,
    Session,
    SessionHistoryService,
    StateConflict,
    StateService,
)
from functions.runtime.services.layout import history_prefix, log_segments_prefix
from tests.messages import msg, texts


async def test_history_round_trip_with_compaction(any_store):
    svc = SessionHistoryService(any_store, compact_after=3)
    session = await svc.create_session("u", "s")
    for i in range(10):
        await svc.append_message(session, [msg(f"q{i}"), msg(f"a{i}", "assistant")])
    loaded = await svc.get_session("u", "s")
    assert loaded is not None and loaded.messages == session.messages
    assert texts(loaded.messages)[:4] == ["q0", "a0", "q1", "a1"]
    assert loaded._view is not None and loaded._view.upto >= 9  # snapshots were written
    # every segment is still there: compaction never deletes what a writer could re-create
    segments = await any_store.list(log_segments_prefix(history_prefix("u", "s")))
    assert len(segments) == 10


async def test_history_request_budget(any_store):
    counting = CountingStore(any_store)
    svc = SessionHistoryService(counting)
    session = await svc.create_session("u", "long")
    for i in range(60):
        await svc.append_message(session, msg(f"m{i}"))
        if i >= 50:
            counting.reset()
            loaded = await svc.get_session("u", "long")
            assert loaded is not None and len(loaded.messages) == i + 1
            assert counting.total <= 10, counting.counts
    counting.reset()
    assert await svc.get_session("u", "missing") is None
    assert counting.total == 1


async def test_sessions_list_and_delete(any_store):
    svc = SessionHistoryService(any_store)
    ids = [f"s{i}" for i in range(5)]
    for sid in ids:
        session = await svc.create_session("u", sid)
        await svc.append_message(session, msg(sid))
    first = await svc.list_sessions("u", limit=3)
    rest = await svc.list_sessions("u", limit=3, cursor=first.next_cursor)
    assert [s.id for s in first + rest] == ids and rest.next_cursor is None
    assert await svc.delete_session("u", "s2") is True
    assert await svc.get_session("u", "s2") is None
    assert [s.id for s in await svc.list_sessions("u")] == ["s0", "s1", "s3", "s4"]
    assert await any_store.list(history_prefix("u", "s2")) == []


async def test_concurrent_appends_and_a_stale_writer(any_store):
    svc = SessionHistoryService(any_store, compact_after=4)
    await svc.create_session("u", "s")
    writers = [await svc.get_session("u", "s") for _ in range(10)]

    async def write(i: int, session: Session | None) -> None:
        assert session is not None
        for j in range(3):
            await svc.append_message(session, msg(f"w{i}-{j}"))

    await asyncio.gather(*(write(i, s) for i, s in enumerate(writers)))
    stale = Session(id="s", user_id="u")
    await svc.append_message(stale, msg("late"))
    loaded = await svc.get_session("u", "s")
    assert loaded is not None
    got = texts(loaded.messages)
    assert sorted(got) == sorted([*(f"w{i}-{j}" for i in range(10) for j in range(3)), "late"])
    assert got[-1] == "late"


async def test_state_on_the_backend(any_store):
    svc = StateService(any_store)
    assert await svc.export_state("u", "s") is None
    rounds = await asyncio.gather(*(svc.save_state("u", {"i": i}, "s") for i in range(10)))
    assert sorted(rounds) == list(range(1, 11))
    for i, r in enumerate(rounds):
        assert await svc.export_state("u", "s", r) == {"i": i}
    assert (await svc.export_round("u", "s"))[0] == 10
    assert await svc.list_rounds("u", "s") == list(range(1, 11))

    outcomes = await asyncio.gather(
        *(svc.save_state("u", {"w": i}, "s", round_id=3) for i in range(5)),
        return_exceptions=True,
    )
    winners = [i for i, out in enumerate(outcomes) if out == 3]
    assert winners and all(out == 3 or isinstance(out, StateConflict) for out in outcomes)
    assert (await svc.export_state("u", "s", 3))["w"] in winners

    await svc.delete_state("u", "s")
    assert await svc.list_rounds("u", "s") == []
    assert await svc.save_state("u", {"again": True}, "s") == 1


async def test_memory_on_the_backend(any_store):
    svc = MemoryService(any_store, compact_after=2)
    await asyncio.gather(
        *(svc.add_memory("u", msg(f"note {i} about cats"), "s1") for i in range(6))
    )
    await svc.add_memory("u", [msg("cats cats cats"), msg("dogs")], "s2")
    found = await svc.search_memory("u", "cats", {"top_k": 3})
    assert texts(found)[0] == "cats cats cats" and len(found) == 3
    assert len(await svc.list_memory("u", {"page_size": 100})) == 8
    await svc.delete_memory("u", "s2")
    assert texts(await svc.search_memory("u", "dogs")) == []
    await svc.delete_memory("u")
    assert await svc.list_memory("u") == []


async def test_every_key_is_under_the_users_prefix(any_store):
    history, state, memory = (
        SessionHistoryService(any_store),
        StateService(any_store),
        MemoryService(any_store),
    )
    session = await history.create_session("u", "s")
    await history.append_message(session, msg("x"))
    await state.save_state("u", {"x": 1}, "s")
    await memory.add_memory("u", msg("x"), "s")
    keys = await any_store.list("")
    assert keys and all(k.startswith("users/u/") for k in keys)
    tops = {k.split("/")[2] for k in keys}
    assert tops == {"sessions", "session-index", "memory", "memory-index"}

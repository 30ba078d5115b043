"""The services over the in-process memory store: every method, the seed's flows, the races.

Races are made real by a store wrapper that yields to the event loop inside every request,
so concurrent coroutines interleave between a read and the write that depends on it.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from unittest.mock import ANY

import pytest

from functions.runtime.protocol import Message, TextContent
from functions.runtime.services import (
    CountingStore,
    InMemoryMemoryService,
    InMemorySessionHistoryService,
    InMemoryStateService,
    MemoryService,
    Page,
    Session,
    SessionHistoryService,
    SessionNotFound,
    StateConflict,
    StateService,
    bm25_rank,
    tokenize,
)
from functions.runtime.services.layout import (
    history_prefix,
    log_segment_key,
    state_head_key,
)
from functions.runtime.services.state import HEAD_LAG
from functions.runtime.storage.base import ObjectStore, PreconditionFailed, StoreUnavailable
from functions.runtime.storage.keys import InvalidId
from functions.runtime.storage.memory import MemoryStore
from tests.messages import msg, texts


class YieldingStore(CountingStore):
    """Gives other tasks a turn before and after every request, like a network store does."""

    async def get(self, key: str) -> tuple[bytes, str] | None:
        await asyncio.sleep(0)
        try:
            return await super().get(key)
        finally:
            await asyncio.sleep(0)

    async def put(self, key: str, data: bytes, **kw: Any) -> str:
        await asyncio.sleep(0)
        try:
            return await super().put(key, data, **kw)
        finally:
            await asyncio.sleep(0)

    async def list(self, prefix: str, **kw: Any) -> list[str]:
        await asyncio.sleep(0)
        try:
            return await super().list(prefix, **kw)
        finally:
            await asyncio.sleep(0)


class DownStore(ObjectStore):
    async def get(self, key: str) -> None:
        raise StoreUnavailable("down")

    async def put(self, key: str, data: bytes, **kw: Any) -> str:
        raise StoreUnavailable("down")

    async def delete(self, key: str) -> None:
        raise StoreUnavailable("down")

    async def list(self, prefix: str, **kw: Any) -> list[str]:
        raise StoreUnavailable("down")


@pytest.fixture
def store() -> CountingStore:
    return CountingStore(MemoryStore())


# --- lifecycle and seed names ------------------------------------------------------------


async def test_in_memory_twins_construct_without_args_and_run_a_lifecycle():
    for cls in (InMemoryStateService, InMemorySessionHistoryService, InMemoryMemoryService):
        service = cls()
        await service.start()
        assert await service.health() is True
        await service.stop()
        async with cls() as ctx:
            assert await ctx.health()


async def test_health_is_false_when_the_store_is_down():
    for cls in (StateService, SessionHistoryService, MemoryService):
        assert await cls(DownStore()).health() is False


async def test_seed_example_flow_with_protocol_models():
    history = InMemorySessionHistoryService()
    state = InMemoryStateService()
    session = await history.create_session(user_id="u1")
    await history.append_message(session, Message(role="user", content=[TextContent(text="hi")]))
    await history.append_message(
        session, [Message(role="assistant", content=[TextContent(text="hello")]), msg("bye")]
    )
    assert texts(session.messages) == ["hi", "hello", "bye"]
    assert "sequence_number" not in session.messages[0]  # exclude_none dump
    assert session.messages[1]["object"] == "message"
    again = await history.get_session("u1", session.id)
    assert again is not None and again.messages == session.messages
    assert [s.id for s in await history.list_sessions("u1")] == [session.id]

    round_id = await state.save_state("u1", {"memory": [1, 2]}, session_id=session.id)
    assert round_id == 1
    assert await state.export_state("u1", session_id=session.id) == {"memory": [1, 2]}

    await history.delete_session("u1", session.id)
    assert await history.get_session("u1", session.id) is None
    assert await history.list_sessions("u1") == []


# --- state ---------------------------------------------------------------------------------


async def test_state_rounds_count_up_and_export_latest_or_given(store):
    svc = StateService(store)
    assert await svc.export_state("u") is None
    assert [await svc.save_state("u", {"n": i}) for i in range(3)] == [1, 2, 3]
    assert await svc.export_state("u") == {"n": 2}
    assert await svc.export_state("u", round_id=1) == {"n": 0}
    assert await svc.export_round("u") == (3, {"n": 2})
    assert await svc.export_state("u", round_id=9) is None
    assert await svc.list_rounds("u") == [1, 2, 3]
    assert await svc.list_rounds("u", "default") == [1, 2, 3]  # None session is "default"
    assert await svc.list_rounds("u", "other") == []


async def test_state_cost_is_constant_in_the_number_of_rounds(store):
    svc = StateService(store)
    for i in range(50):
        await svc.save_state("u", {"n": i}, "s")
    puts = []
    for i in range(50, 58):
        store.reset()
        await svc.save_state("u", {"n": i}, "s")
        assert store.counts["get"] + store.counts["list"] <= 2
        puts.append(store.counts["put"])
    assert puts.count(2) == 2 and puts.count(1) == 6  # the head moves every HEAD_LAG saves
    store.reset()
    assert await svc.export_state("u", "s") == {"n": 57}
    assert store.total == 3
    store.reset()
    assert await svc.export_state("u", "empty") is None
    assert store.total == 2


async def test_explicit_round_overwrites_and_new_explicit_round_moves_latest(store):
    svc = StateService(store)
    await svc.save_state("u", {"v": 1})
    assert await svc.save_state("u", {"v": "again"}, round_id=1) == 1
    assert await svc.export_state("u", round_id=1) == {"v": "again"}
    assert await svc.save_state("u", {"v": 10}, round_id=10) == 10
    assert await svc.export_round("u") == (10, {"v": 10})
    assert await svc.save_state("u", {"v": 11}) == 11  # next free is above the highest
    assert await svc.list_rounds("u") == [1, 10, 11]


async def test_a_lagging_head_is_caught_up_by_the_listing(store):
    svc = StateService(store)
    for i in range(4):
        await svc.save_state("u", {"n": i}, "s")
    await store.put(state_head_key("u", "s"), b'{"round":1}')  # as if writers died early
    assert await svc.export_round("u", "s") == (4, {"n": 3})
    assert await svc.save_state("u", {"n": 4}, "s") == 5
    await store.delete(state_head_key("u", "s"))
    assert await svc.export_round("u", "s") == (5, {"n": 4})


async def test_concurrent_saves_get_distinct_rounds_and_the_head_never_goes_back():
    store = YieldingStore(MemoryStore())
    svc = StateService(store)
    rounds = await asyncio.gather(*(svc.save_state("u", {"w": i}, "s") for i in range(20)))
    assert sorted(rounds) == list(range(1, 21))
    for r, i in zip(rounds, range(20), strict=True):
        assert await svc.export_state("u", "s", r) == {"w": i}
    got = await store.get(state_head_key("u", "s"))
    assert got is not None
    assert 20 - HEAD_LAG < json.loads(got[0])["round"] <= 20


async def test_overlapping_explicit_overwrites_give_one_winner_and_one_conflict():
    svc = StateService(YieldingStore(MemoryStore()))
    await svc.save_state("u", {"v": 0}, round_id=3)
    results = await asyncio.gather(
        svc.save_state("u", {"v": "a"}, round_id=3),
        svc.save_state("u", {"v": "b"}, round_id=3),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["StateConflict", "int"]
    winner = "a" if results[0] == 3 else "b"
    assert await svc.export_state("u", round_id=3) == {"v": winner}
    conflict = next(r for r in results if isinstance(r, StateConflict))
    assert conflict.round_id == 3


async def test_delete_state_removes_every_round(store):
    svc = StateService(store)
    await svc.save_state("u", {"a": 1}, "s")
    await svc.save_state("u", {"a": 2}, "s")
    await svc.delete_state("u", "s")
    assert await svc.export_state("u", "s") is None
    assert await svc.save_state("u", {"a": 3}, "s") == 1


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "2", 10**12])
async def test_bad_round_ids_are_refused(store, bad):
    svc = StateService(store)
    with pytest.raises(ValueError):
        await svc.save_state("u", {}, round_id=bad)
    with pytest.raises(ValueError):
        await svc.export_state("u", round_id=bad)


async def test_state_must_be_a_dict(store):
    with pytest.raises(TypeError):
        await StateService(store).save_state("u", ["not", "a", "dict"])  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["", "x" * 257, "a\x00b", "a\nb", "\x7f", "\ud800", None, 7])
async def test_invalid_ids_never_reach_the_store(store, bad):
    state, history, memory = StateService(store), SessionHistoryService(store), MemoryService(store)
    calls = [
        state.save_state(bad, {}),
        state.save_state("u", {}, session_id=bad) if bad is not None else None,
        state.export_state(bad),
        history.create_session(bad),
        history.get_session("u", bad),
        history.get_session(bad, "s"),
        history.list_sessions(bad),
        history.delete_session("u", bad),
        memory.add_memory(bad, [msg("x")]),
        memory.search_memory(bad, "x"),
        memory.delete_memory("u", bad) if bad is not None else None,
    ]
    for call in calls:
        if call is None:
            continue
        with pytest.raises(InvalidId):
            await call
    assert store.counts["put"] == 0 and store.counts["get"] == 0


ODD_IDS = [
    "..",
    "a/b",
    "../../etc",
    ".hidden",
    "a b",
    "alice@example.com",
    "auth0|abc123",
    "日本語のユーザー",
    "é" * 256,  # over the encoded-segment length: hashed
    "~x",
]


@pytest.mark.parametrize("odd", ODD_IDS)
async def test_any_printable_id_works_and_its_keys_stay_in_their_place(store, odd):
    """Ids as users have them (emails, OIDC subjects, paths, Unicode) work in every
    service, and no key they are part of leaves the user's prefix or forms a path."""
    state, history, memory = StateService(store), SessionHistoryService(store), MemoryService(store)
    session = await history.create_session(odd, odd)
    await history.append_message(session, msg("hello"))
    assert texts((await history.get_session(odd, odd)).messages) == ["hello"]
    assert [s.id for s in await history.list_sessions(odd)] == [odd]
    assert await state.save_state(odd, {"n": 1}, session_id=odd) == 1
    assert await state.export_state(odd, session_id=odd) == {"n": 1}
    await memory.add_memory(odd, [msg("remember the odd id")], session_id=odd)
    assert texts(await memory.search_memory(odd, "odd")) == ["remember the odd id"]
    assert texts(await memory.list_memory(odd)) == ["remember the odd id"]
    keys = await store.list("")
    (user,) = {key.split("/")[1] for key in keys}
    assert "/" not in user and user not in (".", "..")
    for key in keys:
        assert key.startswith(f"users/{user}/") and ".." not in key.split("/")
    await memory.delete_memory(odd, odd)
    assert await history.delete_session(odd, odd)
    assert await history.list_sessions(odd) == []


async def test_plain_ids_keep_the_keys_they_always_had(store):
    """A store written before any other id was allowed keeps serving its sessions."""
    session = await SessionHistoryService(store).create_session("u-1", "s.2:x_y")
    await SessionHistoryService(store).append_message(session, msg("old"))
    assert any(k.startswith("users/u-1/sessions/s.2:x_y/history/") for k in await store.list(""))


# --- session history ----------------------------------------------------------------------


async def test_create_generates_ids_and_is_idempotent_for_a_given_id(store):
    svc = SessionHistoryService(store)
    a, b = await svc.create_session("u"), await svc.create_session("u")
    assert a.id != b.id and a.messages == [] and a.created_at <= b.created_at
    s = await svc.create_session("u", "fixed")
    await svc.append_message(s, msg("keep me"))
    again = await svc.create_session("u", "fixed")
    assert texts(again.messages) == ["keep me"] and again.created_at == s.created_at
    found, created = await svc.ensure_session("u", "fixed")
    assert not created and texts(found.messages) == ["keep me"]
    fresh, created = await svc.ensure_session("u", "new-one")
    assert created and fresh.id == "new-one"


async def test_get_session_unknown_costs_one_request(store):
    svc = SessionHistoryService(store)
    assert await svc.get_session("u", "nope") is None
    assert store.total == 1


async def test_thousand_turn_session_loads_in_at_most_ten_requests(store):
    svc = SessionHistoryService(store)
    session = await svc.create_session("u", "long")
    for i in range(1000):
        await svc.append_message(session, [msg(f"q{i}"), msg(f"a{i}", "assistant")])
    for extra in range(8):  # whatever the tail length, the bound holds
        store.reset()
        loaded = await svc.get_session("u", "long")
        assert loaded is not None and len(loaded.messages) == 2000 + extra
        assert store.total <= 10, store.counts
        await svc.append_message(session, msg(f"extra{extra}"))
    assert texts(loaded.messages)[:3] == ["q0", "a0", "q1"]


async def test_append_costs_one_put_between_compactions(store):
    svc = SessionHistoryService(store, compact_after=8)
    session = await svc.create_session("u", "s")
    puts = []
    for i in range(16):
        store.reset()
        await svc.append_message(session, msg(str(i)))
        puts.append(store.total)
    assert puts.count(2) == 2 and set(puts) == {1, 2}  # every 8th also writes the snapshot


async def test_append_accepts_dict_model_or_list_and_extends_in_place(store):
    svc = SessionHistoryService(store)
    session = await svc.create_session("u", "s")
    assert await svc.append_message(session, []) is None
    await svc.append_message(session, msg("one"))
    await svc.append_message(session, Message(role="assistant", content=[TextContent(text="two")]))
    await svc.append_message(session, [msg("three"), msg("four")])
    assert texts(session.messages) == ["one", "two", "three", "four"]
    assert session.updated_at is not None and session.updated_at >= session.created_at
    loaded = await svc.get_session("u", "s")
    assert loaded is not None and loaded.messages == session.messages
    with pytest.raises(TypeError):
        await svc.append_message(session, "a bare string")


async def test_append_to_an_unknown_session_is_an_error_not_a_silent_loss(store):
    svc = SessionHistoryService(store)
    with pytest.raises(SessionNotFound):
        await svc.append_message(Session(id="ghost", user_id="u"), msg("lost?"))
    assert await svc.get_session("u", "ghost") is None


async def test_a_hand_made_session_object_appends_after_what_is_stored(store):
    svc = SessionHistoryService(store)
    first = await svc.create_session("u", "s")
    await svc.append_message(first, msg("a"))
    await svc.append_message(Session(id="s", user_id="u"), msg("b"))
    await svc.append_message(first, msg("c"))  # stale view: learns the tail, goes after it
    loaded = await svc.get_session("u", "s")
    assert loaded is not None and texts(loaded.messages) == ["a", "b", "c"]


async def test_list_sessions_pages_with_a_cursor(store):
    svc = SessionHistoryService(store)
    ids = sorted(f"s{i:02d}" for i in range(7))
    for sid in ids:
        await svc.create_session("u", sid)
    await svc.create_session("other", "zzz")
    everything = await svc.list_sessions("u")
    assert isinstance(everything, Page) and isinstance(everything, list)
    assert [s.id for s in everything] == ids and everything.next_cursor is None
    assert all(s.messages == [] and s.user_id == "u" for s in everything)
    seen, cursor = [], None
    while True:
        page = await svc.list_sessions("u", limit=3, cursor=cursor)
        seen += [s.id for s in page]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == ids
    exact = await svc.list_sessions("u", limit=7)
    assert len(exact) == 7 and exact.next_cursor is None


async def test_delete_session_removes_every_history_object_and_keeps_state(store):
    svc, state = SessionHistoryService(store), StateService(store)
    session = await svc.create_session("u", "s")
    for i in range(20):
        await svc.append_message(session, msg(str(i)))
    await state.save_state("u", {"x": 1}, "s")
    assert await svc.delete_session("u", "s") is True
    assert await store.list(history_prefix("u", "s")) == []
    assert await svc.delete_session("u", "s") is False
    assert await state.export_state("u", "s") == {"x": 1}  # state is the StateService's


async def test_concurrent_appends_from_many_writers_each_land_exactly_once():
    store = YieldingStore(MemoryStore())
    svc = SessionHistoryService(store, compact_after=3)
    await svc.create_session("u", "s")
    writers = [await svc.get_session("u", "s") for _ in range(20)]

    async def write(i: int, session: Session | None) -> None:
        assert session is not None
        for j in range(3):
            await svc.append_message(session, msg(f"w{i}-{j}"))

    await asyncio.gather(*(write(i, s) for i, s in enumerate(writers)))
    loaded = await svc.get_session("u", "s")
    assert loaded is not None
    got = texts(loaded.messages)
    assert sorted(got) == sorted(f"w{i}-{j}" for i in range(20) for j in range(3))
    for i in range(20):  # each writer's own messages keep their order
        mine = [t for t in got if t.startswith(f"w{i}-")]
        assert mine == [f"w{i}-{j}" for j in range(3)]


async def test_a_stale_writer_never_lands_below_the_snapshot(store):
    svc = SessionHistoryService(store, compact_after=2)
    session = await svc.create_session("u", "s")
    stale = await svc.get_session("u", "s")  # knows nothing after seq 0
    for i in range(10):
        await svc.append_message(session, msg(f"fresh{i}"))
    assert stale is not None
    await svc.append_message(stale, msg("late"))
    loaded = await svc.get_session("u", "s")
    assert loaded is not None and texts(loaded.messages)[-1] == "late"
    assert len(loaded.messages) == 11


async def test_losing_the_compaction_race_gives_up_and_loses_nothing(store):
    svc = SessionHistoryService(store, compact_after=4)
    a = await svc.create_session("u", "s")
    b = await svc.get_session("u", "s")
    assert b is not None
    for i in range(3):
        await svc.append_message(a, msg(f"a{i}"))
    await svc.append_message(b, msg("b0"))  # b compacts 1..4 (reads a's segments)
    etag_before = a._view.etag if a._view else None
    await svc.append_message(a, msg("a3"))  # a's snapshot etag is stale: loses, adopts b's
    assert a._view is not None and a._view.etag != etag_before
    for i in range(4, 12):
        await svc.append_message(a, msg(f"a{i}"))
    loaded = await svc.get_session("u", "s")
    assert loaded is not None
    assert texts(loaded.messages) == ["a0", "a1", "a2", "b0", *[f"a{i}" for i in range(3, 12)]]


async def test_recreated_session_ignores_the_old_incarnations_leftovers(store):
    svc = SessionHistoryService(store, compact_after=100)
    old = await svc.create_session("u", "s")
    for i in range(5):
        await svc.append_message(old, msg(f"old{i}"))
    # an interrupted delete: snapshot and the first two segments gone, the rest left over
    prefix, snapshot = history_prefix("u", "s"), svc._log("u", "s").snapshot_key
    for key in (snapshot, log_segment_key(prefix, 1), log_segment_key(prefix, 2)):
        await store.delete(key)
    new = await svc.create_session("u", "s")
    for i in range(4):
        await svc.append_message(new, msg(f"new{i}"))
    with pytest.raises(SessionNotFound):  # its number is taken; it learns the log is new
        await svc.append_message(old, msg("from a writer of the deleted session"))
    loaded = await svc.get_session("u", "s")
    assert loaded is not None and texts(loaded.messages) == [f"new{i}" for i in range(4)]


async def test_compaction_plugs_a_hole_so_no_write_can_land_below_the_snapshot(store):
    svc = SessionHistoryService(store, compact_after=100)
    session = await svc.create_session("u", "s")
    for i in range(3):
        await svc.append_message(session, msg(str(i)))
    prefix = history_prefix("u", "s")
    await store.delete(log_segment_key(prefix, 2))  # a hole the compactor did not read
    assert session._view is not None
    session._view.tail.pop(2)
    svc_log = svc._log("u", "s")
    assert await svc_log.compact(session._view) is True
    assert await store.get(log_segment_key(prefix, 2)) is not None  # plugged
    stale = Session(id="s", user_id="u")
    await svc.append_message(stale, msg("after"))
    loaded = await svc.get_session("u", "s")
    assert loaded is not None and texts(loaded.messages) == ["0", "2", "after"]


# --- a turn's session: open once, commit once ---------------------------------------------


async def test_a_turn_on_a_new_session_reads_once_and_writes_once(store):
    svc = SessionHistoryService(store)
    session = await svc.open_session("u", "s")
    assert session.messages == [] and await svc.get_session("u", "s") is None
    assert store.counts == {"get": 2}  # the open's read, then the check's
    store.reset()
    await svc.commit_turn(session, [msg("q"), msg("a", "assistant")])
    assert store.counts == {"put": 1}  # one object both creates and lists the session
    assert texts((await svc.get_session("u", "s")).messages) == ["q", "a"]
    assert [s.id for s in await svc.list_sessions("u")] == ["s"]
    store.reset()
    made = await svc.open_session("u", "fresh-id", new=True)  # an id just made: no read
    await svc.commit_turn(made, [msg("hi")])
    assert store.counts == {"put": 1}


async def test_a_turn_on_an_existing_session_costs_a_get_a_list_and_a_put(store):
    svc = SessionHistoryService(store)
    first = await svc.open_session("u", "s")
    await svc.commit_turn(first, [msg("q1"), msg("a1", "assistant")])
    for i in range(2, 12):  # turns fold into the snapshot: no tail grows to be read
        store.reset()
        session = await svc.open_session("u", "s")
        assert store.counts == {"get": 1, "list": 1}
        assert texts(session.messages)[-1] == f"a{i - 1}"
        await svc.commit_turn(session, [msg(f"q{i}"), msg(f"a{i}", "assistant")])
        assert store.counts == {"get": 1, "list": 1, "put": 1}
    loaded = await svc.get_session("u", "s")
    assert texts(loaded.messages) == [t for i in range(1, 12) for t in (f"q{i}", f"a{i}")]


async def test_a_commit_keeps_appends_made_before_and_while_the_turn_ran(store):
    svc = SessionHistoryService(store, compact_after=3)
    session = await svc.create_session("u", "s")
    for i in range(5):  # out of turn (the state function's append): segments, compacted
        await svc.append_message(session, msg(f"before{i}"))
    turn = await svc.open_session("u", "s")
    assert texts(turn.messages) == [f"before{i}" for i in range(5)]
    other = await svc.get_session("u", "s")
    for i in range(4):  # while the turn runs: segments and a compaction the turn never saw
        await svc.append_message(other, msg(f"during{i}"))
    await svc.commit_turn(turn, [msg("turn")])
    after = await svc.get_session("u", "s")
    got = texts(after.messages)
    assert sorted(got) == sorted(
        [*(f"before{i}" for i in range(5)), *(f"during{i}" for i in range(4)), "turn"]
    )
    assert got[:5] == [f"before{i}" for i in range(5)]
    await svc.append_message(other, msg("later"))  # a stale appender still lands, once
    assert texts((await svc.get_session("u", "s")).messages) == [*got, "later"]


async def test_two_commits_on_one_read_both_land():
    """A turn that took over an expired lease commits while the first one's commit is still
    to come: the second compare-and-set loses, re-reads and keeps both."""
    store = YieldingStore(MemoryStore())
    svc = SessionHistoryService(store)
    first = await svc.open_session("u", "s")
    await svc.commit_turn(first, [msg("t0")])
    a, b = await svc.open_session("u", "s"), await svc.open_session("u", "s")
    await asyncio.gather(svc.commit_turn(a, [msg("a")]), svc.commit_turn(b, [msg("b")]))
    got = texts((await svc.get_session("u", "s")).messages)
    assert got[0] == "t0" and sorted(got[1:]) == ["a", "b"]


async def test_a_new_sessions_commit_after_someone_created_it_goes_after_their_messages(store):
    svc = SessionHistoryService(store)
    turn = await svc.open_session("u", "s")
    other = await svc.create_session("u", "s")  # e.g. the state function, while the turn ran
    await svc.append_message(other, msg("theirs"))
    await svc.commit_turn(turn, [msg("ours")])
    assert texts(turn.messages) == ["theirs", "ours"]
    assert texts((await svc.get_session("u", "s")).messages) == ["theirs", "ours"]


async def test_an_append_during_a_turn_on_a_new_session_creates_it_first(store):
    svc = SessionHistoryService(store)
    turn = await svc.open_session("u", "s")
    await svc.append_message(turn, msg("from the agent"))  # the seed's session_service call
    await svc.commit_turn(turn, [msg("the turn")])
    assert texts((await svc.get_session("u", "s")).messages) == ["from the agent", "the turn"]


async def test_a_commit_to_a_session_deleted_meanwhile_is_session_not_found(store):
    svc = SessionHistoryService(store)
    first = await svc.open_session("u", "s")
    await svc.commit_turn(first, [msg("t0")])
    turn = await svc.open_session("u", "s")
    await svc.delete_session("u", "s")
    await svc.create_session("u", "s")  # and a new one at the same id: another incarnation
    with pytest.raises(SessionNotFound):
        await svc.commit_turn(turn, [msg("into the deleted one")])
    assert (await svc.get_session("u", "s")).messages == []


class AppliedThenFailed(CountingStore):
    """A conditional put that lands and then reports failure: what a retried attempt of a
    put whose first answer was lost (a timeout) sees."""

    def __init__(self, inner: ObjectStore) -> None:
        super().__init__(inner)
        self.trip = False

    async def put(self, key: str, data: bytes, **kw: Any) -> str:
        etag = await super().put(key, data, **kw)
        if self.trip and (kw.get("if_match") or kw.get("if_none_match")):
            self.trip = False
            raise PreconditionFailed(f"{key}: changed (by our own first attempt)")
        return etag


async def test_a_commit_whose_put_landed_before_a_retry_failed_is_not_written_twice():
    store = AppliedThenFailed(MemoryStore())
    svc = SessionHistoryService(store)
    store.trip = True
    new = await svc.open_session("u", "s")
    await svc.commit_turn(new, [msg("first")])
    store.trip = True
    turn = await svc.open_session("u", "s")
    await svc.commit_turn(turn, [msg("second")])
    assert texts((await svc.get_session("u", "s")).messages) == ["first", "second"]


async def test_a_session_written_before_the_index_held_snapshots_is_read_and_written_in_place(
    store,
):
    """Before: the snapshot at .../history/snapshot and a marker {id, created_at} at the
    index (as tests/fixtures/store_v1 has them)."""
    svc = SessionHistoryService(store)
    old = svc._log("u", "s", before=True)
    view = await old.create({"user_id": "u", "session_id": "s"})
    await old.append(view, [msg("old")])
    marker = json.dumps({"id": "s", "created_at": view.created_at}).encode()
    await store.put(svc._log("u", "s").snapshot_key, marker)
    assert [x.id for x in await svc.list_sessions("u")] == ["s"]
    turn = await svc.open_session("u", "s")
    assert texts(turn.messages) == ["old"]
    await svc.commit_turn(turn, [msg("turn")])
    await svc.append_message(await svc.create_session("u", "s"), msg("appended"))
    assert texts((await svc.get_session("u", "s")).messages) == ["old", "turn", "appended"]
    assert await store.get(svc._log("u", "s").snapshot_key) == (marker, ANY)  # left as it was
    assert await svc.delete_session("u", "s") is True
    assert await store.list("users/u/") == []
    await store.put(svc._log("u", "s").snapshot_key, marker)  # a marker its delete left over
    again = await svc.open_session("u", "s")
    await svc.commit_turn(again, [msg("new")])
    assert texts((await svc.get_session("u", "s")).messages) == ["new"]


# --- memory --------------------------------------------------------------------------------


def test_tokenize_words_and_cjk():
    assert tokenize("Hello, WORLD_x 42!") == ["hello", "world", "x", "42"]
    assert tokenize("我喜欢apple") == ["我", "喜", "欢", "apple"]


def test_bm25_ranks_more_mentions_higher_and_drops_unrelated():
    docs = [
        "the cat sat on a mat today",
        "my cat likes another cat friend",
        "weather report sunny skies ahead",
        "a cat photo posted online now",
    ]
    ranked = bm25_rank("cat", docs)
    assert ranked[0] == 1 and set(ranked) == {0, 1, 3} and 2 not in ranked
    assert bm25_rank("cat", docs, top_k=1) == [1]
    assert bm25_rank("", docs) == [] and bm25_rank("cat", []) == []
    # the rarer term weighs more: a doc with "sunny" beats one with only the common "cat"
    assert bm25_rank("sunny cat", docs)[0] == 2


async def test_memory_add_search_list_delete(store):
    svc = MemoryService(store)
    await svc.add_memory("u", [msg("I love green apples"), msg("apples apples every day")], "s1")
    await svc.add_memory("u", msg("my car is a red truck"), "s2")
    await svc.add_memory("u", [Message(role="user", content=[TextContent(text="pears")])])
    await svc.add_memory("other", msg("apples for someone else"))

    found = await svc.search_memory("u", [msg("what about trucks"), msg("apples")])
    assert texts(found) == ["apples apples every day", "I love green apples"]
    assert texts(await svc.search_memory("u", "apples", {"top_k": 1})) == [
        "apples apples every day"
    ]
    assert texts(await svc.search_memory("u", "red truck")) == ["my car is a red truck"]
    assert await svc.search_memory("u", "bananas") == []
    assert await svc.search_memory("u", [msg("?!")]) == []

    everything = await svc.list_memory("u", {"page_size": 100})
    assert len(everything) == 4  # default session, then s1, then s2 (session id order)
    assert texts(everything)[0] == "pears"
    pages = [await svc.list_memory("u", {"page_num": n, "page_size": 3}) for n in (1, 2, 3)]
    assert [len(p) for p in pages] == [3, 1, 0]
    assert [m for page in pages for m in page] == everything
    assert len(await svc.list_memory("u")) == 4  # default page size 10

    await svc.delete_memory("u", "s1")
    assert texts(await svc.search_memory("u", "apples")) == []
    assert len(await svc.list_memory("u")) == 2
    await svc.delete_memory("u")
    assert await svc.list_memory("u") == []
    assert len(await svc.list_memory("other")) == 1


@pytest.mark.parametrize("bad", [{"top_k": 0}, {"top_k": "3"}, {"top_k": True}])
async def test_memory_rejects_bad_filters(store, bad):
    with pytest.raises(ValueError):
        await MemoryService(store).search_memory("u", "x", bad)


async def test_memory_reads_are_bounded_per_session_not_per_item(store):
    svc = MemoryService(store)
    for i in range(200):
        await svc.add_memory("u", msg(f"fact number {i}"), "s")
    store.reset()
    assert len(await svc.search_memory("u", "fact", {"top_k": 5})) == 5
    assert store.total <= 11, store.counts  # 1 LIST of sessions + one bounded log read


async def test_concurrent_memory_adds_to_a_new_session_all_survive():
    svc = MemoryService(YieldingStore(MemoryStore()), compact_after=3)
    await asyncio.gather(*(svc.add_memory("u", msg(f"m{i}"), "s") for i in range(20)))
    items = await svc.list_memory("u", {"page_size": 100})
    assert sorted(texts(items)) == sorted(f"m{i}" for i in range(20))

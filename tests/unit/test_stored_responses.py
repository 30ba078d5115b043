"""Stored responses kept in their turns' commits (services/responses.py, log.py's ``extra``):
found again by id, at the right place in their session, whatever happens to the log."""

from __future__ import annotations

import asyncio
import json

import pytest

from functions.runtime.services import log as log_module
from functions.runtime.services.history import SessionHistoryService
from functions.runtime.services.layout import response_key
from functions.runtime.services.responses import (
    ResponseStore,
    new_response_id,
    record,
    session_of,
)
from functions.runtime.storage.keys import InvalidId
from functions.runtime.storage.memory import MemoryStore
from tests.messages import msg, texts
from tests.unit.test_services import CountingStore, YieldingStore


def _response(response_id: str, text: str) -> dict[str, object]:
    return {"id": response_id, "object": "response", "status": "completed", "note": text}


def _encoded(response: dict[str, object]) -> bytes:
    return json.dumps(response, ensure_ascii=False, separators=(",", ":")).encode()


async def _turn(
    history: SessionHistoryService, user: str, session_id: str, text: str, *, new: bool = False
) -> dict[str, object]:
    """One turn of two messages that stores its response; the response."""
    session = await history.open_session(user, session_id, new=new)
    response = _response(new_response_id(session_id), text)
    await history.commit_turn(
        session, [msg(text), msg(f"re: {text}", "assistant")], record(_encoded(response))
    )
    return response


@pytest.fixture
def store() -> CountingStore:
    return CountingStore(MemoryStore())


@pytest.mark.parametrize(
    "session_id",
    [
        "0f3c9a",
        "a-b-C-9",
        "s.with.dots",
        "under_score",
        "alice@example.com",
        "日本語 / ?#%",
        "x" * 256,
    ],
)
def test_a_response_id_names_its_session(session_id):
    response_id = new_response_id(session_id)
    assert session_of(response_id) == session_id
    assert response_id.isascii() and "/" not in response_id and "%" not in response_id
    assert new_response_id(session_id) != response_id


def test_an_id_of_the_layout_before_names_no_session_and_a_foreign_one_is_refused():
    assert session_of("resp_" + "a" * 32) is None
    for bad in ["", "resp_", "resp_xyz", "msg_" + "a" * 32, "resp_" + "a" * 32 + "_~!!", "resp_A"]:
        with pytest.raises(InvalidId):
            session_of(bad)


async def test_a_stored_response_costs_no_request_of_its_own_and_is_found_by_id(store):
    history = SessionHistoryService(store)
    responses = ResponseStore(store, history)
    session = await history.open_session("u", "s1", new=True)
    response = _response(new_response_id("s1"), "ü\n")
    await history.commit_turn(session, [msg("q")], record(_encoded(response)))
    assert store.counts == {"put": 1}  # the turn's own write, nothing more
    stored = await responses.load("u", response["id"])
    assert stored is not None
    assert stored.response == response
    assert (stored.session_id, stored.end) == ("s1", 1)
    assert stored.session is not None and texts(stored.session.messages) == ["q"]


async def test_each_response_ends_where_its_turn_did_through_appends_and_compactions(store):
    history = SessionHistoryService(store, compact_after=2)
    responses = ResponseStore(store, history)
    first = await _turn(history, "u", "s", "one", new=True)
    outside = await history.get_session("u", "s")
    for i in range(5):  # out of turn (the state function): segments, then compactions
        await history.append_message(outside, msg(f"out{i}"))
    second = await _turn(history, "u", "s", "two")
    third = await _turn(history, "u", "s", "three")
    ends = {r["id"]: (await responses.load("u", r["id"])).end for r in (first, second, third)}
    assert ends == {first["id"]: 2, second["id"]: 9, third["id"]: 11}
    got = (await responses.load("u", second["id"])).response
    assert got == second
    whole = texts((await history.get_session("u", "s")).messages)
    assert whole[:9] == ["one", "re: one", *(f"out{i}" for i in range(5)), "two", "re: two"]


async def test_a_response_is_found_only_by_its_owner_and_only_while_its_session_lives(store):
    history = SessionHistoryService(store)
    responses = ResponseStore(store, history)
    response = await _turn(history, "alice", "s", "mine", new=True)
    assert await responses.load("bob", response["id"]) is None
    assert await responses.load("alice", response["id"]) is not None
    other = new_response_id("s")  # the right session, but never stored
    assert await responses.load("alice", other) is None
    await history.delete_session("alice", "s")
    assert await responses.load("alice", response["id"]) is None


async def test_racing_commits_keep_both_responses():
    """A turn that took over an expired lease commits beside the first: the lost
    compare-and-set is retried, and both records stay findable."""
    store = YieldingStore(MemoryStore())
    history = SessionHistoryService(store)
    responses = ResponseStore(store, history)
    await _turn(history, "u", "s", "t0", new=True)
    a, b = await history.open_session("u", "s"), await history.open_session("u", "s")
    ra, rb = _response(new_response_id("s"), "a"), _response(new_response_id("s"), "b")
    await asyncio.gather(
        history.commit_turn(a, [msg("a")], record(_encoded(ra))),
        history.commit_turn(b, [msg("b")], record(_encoded(rb))),
    )
    found = [await responses.load("u", r["id"]) for r in (ra, rb)]
    assert [f.response for f in found] == [ra, rb]
    assert sorted(f.end for f in found) == [3, 4]  # after t0's two messages


async def test_a_turn_that_kept_no_message_still_keeps_its_response(store):
    history = SessionHistoryService(store)
    responses = ResponseStore(store, history)
    session = await history.open_session("u", "quiet", new=True)
    response = _response(new_response_id("quiet"), "")
    await history.commit_turn(session, [], record(_encoded(response)))
    stored = await responses.load("u", response["id"])
    assert stored is not None and stored.end == 0


async def test_responses_stored_before_this_layout_are_still_read(store):
    history = SessionHistoryService(store)
    responses = ResponseStore(store, history)
    old_id = "resp_" + "b" * 32
    body = {"response": _response(old_id, "old"), "session_id": "s", "end": 4}
    await store.put(response_key("u", old_id), json.dumps(body).encode())
    stored = await responses.load("u", old_id)
    assert stored is not None
    assert (stored.response, stored.session_id, stored.end, stored.session) == (
        body["response"],
        "s",
        4,
        None,
    )
    assert await responses.load("someone-else", old_id) is None


async def test_a_snapshot_holding_responses_reads_as_its_messages_alone(store):
    """Responses go on lines of their own, holding no records: a load skips them, and code
    that knows only segments (every line a body with ``records``) reads the same messages."""
    history = SessionHistoryService(store)
    for i in range(3):
        await _turn(history, "u", "s", f"t{i}", new=i == 0)
    found = await store.get("users/u/session-index/s")
    assert found is not None
    lines = found[0].split(b"\n")[1:]  # after the header
    assert len(lines) == 6  # each turn: its entry, then its response
    as_segments = [r for line in lines for r in json.loads(line)["records"]]
    loaded = (await history.get_session("u", "s")).messages
    assert as_segments == loaded
    assert texts(loaded) == ["t0", "re: t0", "t1", "re: t1", "t2", "re: t2"]


async def test_loading_a_session_parses_none_of_its_responses(store, monkeypatch):
    """A stored response is larger than its turn's messages: a turn's load of the session
    (every turn does one) must not pay for parsing them."""
    history = SessionHistoryService(store)
    for i in range(3):
        await _turn(history, "u", "s", f"t{i}", new=i == 0)
    parsed: list[bytes] = []
    real_loads = log_module.json.loads

    def loads(data: bytes | str) -> object:
        parsed.append(data if isinstance(data, bytes) else data.encode())
        return real_loads(data)

    monkeypatch.setattr(log_module.json, "loads", loads)
    session = await history.open_session("u", "s")
    assert texts(session.messages)[-1] == "re: t2"
    assert parsed and not any(b'"response"' in data for data in parsed)

"""USER_MAX_TURNS_PER_MINUTE across query-function instances on one store (a folder, and S3
through moto's server): the N+1st turn of a user in a minute is a 429 with Retry-After on
any instance, other users go on, and the next minute has room again. The clock the quota
reads is pinned, so the test never straddles a minute.
"""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import pytest

from functions.runtime.server import build_app
from functions.runtime.services import quotas
from functions.runtime.services.quotas import TurnRate, turns_key
from functions.runtime.storage.memory import MemoryStore
from tests.apps import echo_app
from tests.fixtures.servers import serve_app

MINUTE = 1_800_000_000  # a Unix minute boundary


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    pinned = Clock(MINUTE + 15)
    monkeypatch.setattr(quotas, "time", pinned)
    return pinned


def turn(url: str, user_id: str, text: str = "hi") -> httpx.Response:
    body = {
        "user_id": user_id,
        "stream": False,
        "input": [{"role": "user", "content": [{"type": "text", "text": text}]}],
    }
    return httpx.post(f"{url}/process", json=body, timeout=30)


@pytest.mark.parametrize("kind", ["file", "s3"])
def test_the_n_plus_first_turn_in_a_minute_is_refused_on_any_instance(kind, store_url_for, clock):
    settings = store_url_for(kind, user_max_turns_per_minute=3).settings
    with contextlib.ExitStack() as stack:
        a = stack.enter_context(serve_app(build_app(echo_app, settings)))
        b = stack.enter_context(serve_app(build_app(echo_app, settings)))
        allowed = [turn(url, "alice").status_code for url in (a, b, a)]
        refused = turn(b, "alice")
        refused_again = turn(a, "alice")  # this instance has seen the count: no store request
        bob = turn(a, "bob")
        clock.now = MINUTE + 60  # the next minute
        next_minute = turn(b, "alice")
    assert allowed == [200, 200, 200]
    for answer in (refused, refused_again):
        assert answer.status_code == 429, answer.text
        assert answer.json()["code"] == "quota_exceeded"
        assert answer.json()["detail"].startswith("USER_MAX_TURNS_PER_MINUTE: ")
        assert answer.headers["retry-after"] == "45"  # until the minute ends
    assert bob.status_code == 200 and bob.json()["status"] == "completed"
    assert next_minute.status_code == 200


def test_without_the_setting_no_turn_is_counted(store_url_for):
    config = store_url_for("file")
    with serve_app(build_app(echo_app, config.settings)) as url:
        assert all(turn(url, "alice").status_code == 200 for _ in range(5))
    store = config.open()
    assert asyncio.run(store.list("users/alice/"))  # the turns were stored...
    assert asyncio.run(store.get(turns_key("alice"))) is None  # ...and not counted


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.requests: list[str] = []

    async def get(self, key):
        self.requests.append("GET")
        return await super().get(key)

    async def put(self, key, data, **conditions):
        self.requests.append("PUT")
        return await super().put(key, data, **conditions)


async def test_a_turn_costs_one_conditional_put_on_a_warm_instance():
    store = CountingStore()
    one, other = TurnRate(store, 3), TurnRate(store, 3)
    now = MINUTE + 1
    await one.admit("alice", now)
    assert store.requests == ["GET", "PUT"]  # first sight of the user: read, then write
    store.requests.clear()
    await one.admit("alice", now)
    assert store.requests == ["PUT"]  # its own etag: one conditional write
    store.requests.clear()
    await other.admit("alice", now)  # another instance: read, write
    assert store.requests == ["GET", "PUT"]
    store.requests.clear()
    with pytest.raises(quotas.QuotaExceeded) as refused:
        await one.admit("alice", now)  # its etag is stale: the write fails, read, refuse
    assert store.requests == ["PUT", "GET"]
    assert refused.value.headers == {"Retry-After": "59"}
    store.requests.clear()
    with pytest.raises(quotas.QuotaExceeded):
        await one.admit("alice", now)
    assert store.requests == []  # known to be used up this minute

"""The kill switch: an admin lists the turns running on any instance and stops those of one
user, or all of them, through the same stop marks as ``POST /process/stop``.

Two query-function instances on one store (AUTH_MODE=jwt, as deployed) run turns that never
end on their own (``tests.apps.slow_app``); the admin's calls go to either instance. Waits
are for conditions with deadlines, never for the clock.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from functions.runtime.server import build_app
from functions.runtime.settings import Settings
from local_emulator.tokens import mint_token
from tests.apps import slow, slow_app
from tests.fixtures.servers import serve_app

SECRET = "kill-switch-test-secret-0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {mint_token(SECRET, 'ops', admin=True)}"}
DEADLINE_S = 30.0


def bearer(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(SECRET, user)}"}


@pytest.fixture(autouse=True)
def _reset_slow():
    slow.reset()
    yield


@pytest.fixture
def two_instances(tmp_path):
    settings = Settings(
        store_url=f"file://{tmp_path}/store",
        auth_mode="jwt",
        auth_jwt_secret=SECRET,
        stop_poll_interval_s=0.1,
    )
    with (
        serve_app(build_app(slow_app, settings)) as a,
        serve_app(build_app(slow_app, settings)) as b,
    ):
        yield a, b


def slow_turn(url: str, user: str, session_id: str) -> dict:
    """Runs a turn that only a stop ends; returns its final event."""
    body = {
        "session_id": session_id,
        "input": [{"role": "user", "content": [{"type": "text", "text": "slow"}]}],
    }
    resp = httpx.post(f"{url}/process", json=body, headers=bearer(user), timeout=60)
    assert resp.status_code == 200, resp.text
    events = [json.loads(x[6:]) for x in resp.text.splitlines() if x.startswith("data: ")]
    return events[-1]


def running(url: str, **params: str) -> list[dict]:
    resp = httpx.get(f"{url}/admin/turns", params=params, headers=ADMIN, timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()["turns"]


def wait_for(condition, what: str):
    end = time.monotonic() + DEADLINE_S
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


def test_an_admin_stops_a_users_turns_then_every_turn_on_two_instances(two_instances):
    a, b = two_instances
    with ThreadPoolExecutor(3) as pool:
        alice_a = pool.submit(slow_turn, a, "alice", "a1")
        alice_b = pool.submit(slow_turn, b, "alice", "a2")
        bob_b = pool.submit(slow_turn, b, "bob", "b1")
        turns = wait_for(lambda: len(running(a)) == 3 and running(a), "three running turns")
        assert {(t["user_id"], t["session_id"]) for t in turns} == {
            ("alice", "a1"),
            ("alice", "a2"),
            ("bob", "b1"),
        }
        assert len({t["instance"] for t in turns}) == 2  # both instances' turns, listed by one
        assert all(t["response_id"] and t["started_at"] > 0 for t in turns)
        assert [t["session_id"] for t in running(b, user_id="bob")] == ["b1"]

        stop = httpx.post(f"{b}/admin/turns/stop", json={"user_id": "alice"}, headers=ADMIN)
        assert stop.status_code == 202, stop.text
        stopped = {(s["user_id"], s["session_id"]) for s in stop.json()["stopping"]}
        assert stopped == {("alice", "a1"), ("alice", "a2")}
        for future in (alice_a, alice_b):
            final = future.result(timeout=DEADLINE_S)
            assert final["status"] == "canceled"
            assert final["output"][0]["content"][0]["text"] == "working: "
        assert not bob_b.done()
        assert [t["user_id"] for t in running(a)] == ["bob"]

        everything = httpx.post(f"{a}/admin/turns/stop", json={"all": True}, headers=ADMIN)
        assert everything.status_code == 202
        assert everything.json()["stopping"] == [{"user_id": "bob", "session_id": "b1"}]
        assert bob_b.result(timeout=DEADLINE_S)["status"] == "canceled"
    assert running(a) == []


def test_only_an_admin_may_list_or_stop_turns(two_instances):
    a, _ = two_instances
    listed = httpx.get(f"{a}/admin/turns", headers=bearer("alice"))
    stop = httpx.post(f"{a}/admin/turns/stop", json={"all": True}, headers=bearer("alice"))
    anonymous = httpx.get(f"{a}/admin/turns")
    for answer in (listed, stop):
        assert answer.status_code == 403 and answer.json()["code"] == "forbidden"
    assert anonymous.status_code == 401


@pytest.mark.parametrize(
    "body",
    [{}, {"user_id": "alice", "all": True}, {"all": False}, {"all": "yes"}, {"all": 1}],
)
def test_a_stop_names_one_user_or_all(two_instances, body):
    a, _ = two_instances
    answer = httpx.post(f"{a}/admin/turns/stop", json=body, headers=ADMIN)
    assert answer.status_code == 422 and answer.json()["code"] == "invalid_request"

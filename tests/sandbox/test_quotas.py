"""USER_MAX_SANDBOXES across two sandbox-function instances on one store, and the admin's
call that ends every sandbox of a user (AUTH_MODE=jwt, as deployed; real sandboxes on each
backend of this suite)."""

from __future__ import annotations

import httpx
import pytest

from local_emulator.tokens import mint_token
from tests.sandbox.support import call_in_flight, containers_of, expire

SECRET = "sandbox-quota-test-secret-0123456789abcdef"


def as_user(user: str, admin: bool = False) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(SECRET, user, admin=admin)}"}


@pytest.fixture
def jwt_settings(settings):
    return settings.model_copy(
        update={"auth_mode": "jwt", "auth_jwt_secret": SECRET, "user_max_sandboxes": 2}
    )


def create(http: httpx.Client, user: str, **body) -> httpx.Response:
    return http.post("/v1/sandboxes", json={"type": "base", **body}, headers=as_user(user))


def test_the_n_plus_first_sandbox_of_a_user_is_refused_on_any_instance(
    serve, jwt_settings, docker_client
):
    a, b = serve(jwt_settings), serve(jwt_settings)
    first = create(a, "alice", session_id="s1")
    second = create(b, "alice")
    assert (first.status_code, second.status_code) == (201, 201), second.text
    refused = create(a, "alice")
    assert refused.status_code == 429, refused.text
    assert refused.json()["code"] == "quota_exceeded"
    assert refused.json()["detail"].startswith("USER_MAX_SANDBOXES: ")
    assert int(refused.headers["retry-after"]) >= 1
    # the session's own sandbox is no new one: still served at the limit
    again = create(b, "alice", session_id="s1")
    assert again.status_code == 200
    assert again.json()["sandbox_id"] == first.json()["sandbox_id"]
    assert create(a, "bob").status_code == 201  # other users are unaffected
    assert len(containers_of(docker_client, jwt_settings)) == 3

    deleted = b.delete(f"/v1/sandboxes/{second.json()['sandbox_id']}", headers=as_user("alice"))
    assert deleted.json()["deleted"] is True
    assert create(a, "alice").status_code == 201  # room again


def test_an_admin_ends_every_sandbox_of_a_user_in_one_call(serve, jwt_settings, docker_client):
    a, b = serve(jwt_settings), serve(jwt_settings)
    alices = {create(a, "alice").json()["sandbox_id"], create(b, "alice").json()["sandbox_id"]}
    bobs = create(a, "bob").json()["sandbox_id"]

    forbidden = b.post(
        "/v1/admin/sandboxes/stop", json={"user_id": "bob"}, headers=as_user("alice")
    )
    assert forbidden.status_code == 403 and forbidden.json()["code"] == "forbidden"
    # a reaper round lists every user's sandboxes: an operator's, not a user's
    reaper = b.post("/v1/reaper/run", headers=as_user("alice"))
    assert reaper.status_code == 403 and reaper.json()["code"] == "forbidden"
    assert b.post("/v1/reaper/run", headers=as_user("ops", True)).status_code == 200

    ended = b.post(
        "/v1/admin/sandboxes/stop", json={"user_id": "alice"}, headers=as_user("ops", True)
    )
    assert ended.status_code == 200, ended.text
    assert ended.json()["user_id"] == "alice" and set(ended.json()["deleted"]) == alices
    listed = a.get("/v1/sandboxes", headers=as_user("alice")).json()["items"]
    assert listed == []
    assert a.get(f"/v1/sandboxes/{bobs}", headers=as_user("bob")).status_code == 200
    assert len(containers_of(docker_client, jwt_settings)) == 1
    # their quota was freed with them
    assert create(b, "alice").status_code == 201 and create(a, "alice").status_code == 201


def test_a_sandbox_past_its_ttl_is_ended_before_it_is_uncounted(serve, jwt_settings, docker_client):
    """At the limit, the quota ends a sandbox past its TTL (as the reaper would) rather than
    merely not counting it: its container ran on, so a short ``ttl_s`` let a user hold any
    number. One a call keeps past its TTL still counts, and is still listed."""
    http = serve(jwt_settings)
    busy = create(http, "alice").json()["sandbox_id"]
    idle = create(http, "alice").json()["sandbox_id"]
    for sid in (busy, idle):
        expire(jwt_settings, sid)
    call_in_flight(jwt_settings, busy)
    third = create(http, "alice")
    assert third.status_code == 201, third.text
    running = {
        c.labels["agentscope-faas.sandbox-id"] for c in containers_of(docker_client, jwt_settings)
    }
    assert running == {busy, third.json()["sandbox_id"]}  # the idle one was ended
    assert create(http, "alice").status_code == 429  # the busy one counts
    listed = http.get("/v1/sandboxes", headers=as_user("alice")).json()["items"]
    assert {s["sandbox_id"] for s in listed} == {busy, third.json()["sandbox_id"]}


def test_sandboxes_past_their_ttl_make_room_under_the_instance_limit(
    serve, settings, docker_client
):
    """MAX_SANDBOX_INSTANCES counts containers: at the limit, those past their TTL with no
    call in flight are ended to make room (the reaper would end them at its next round)."""
    http = serve(settings.model_copy(update={"max_sandbox_instances": 2}))
    old = [http.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"] for _ in "ab"]
    expire(settings, old[0])
    made = http.post("/v1/sandboxes", json={"type": "base"})
    assert made.status_code == 201, made.text
    running = {
        c.labels["agentscope-faas.sandbox-id"] for c in containers_of(docker_client, settings)
    }
    assert running == {old[1], made.json()["sandbox_id"]}
    refused = http.post("/v1/sandboxes", json={"type": "base"})
    assert refused.status_code == 429 and refused.json()["code"] == "sandbox_limit"

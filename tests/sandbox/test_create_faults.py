"""A sandbox create that fails or is refused leaves nothing behind, on every backend: no
container, no record, nothing counted against the user's quota, and a session that still
gets one sandbox. Racing creates never run more than ``MAX_SANDBOX_INSTANCES``; racing
pauses are all answered as the one that got there first."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from functions.runtime.services import CountingStore
from functions.runtime.storage import StoreUnavailable, open_store
from functions.sandbox.registry import RECORDS
from functions.sandbox.service import scrubbed
from tests.sandbox.support import containers_of


class FailingWrites(CountingStore):
    """The store, but a put to a key holding ``part`` fails (503 after the store's retries):
    before it is written, or - ``landed`` - after (an answer lost on the way back)."""

    def __init__(self, inner: Any, part: str, landed: bool = False) -> None:
        super().__init__(inner)
        self.part, self.landed = part, landed

    async def put(self, key: str, data: bytes, **kwargs: Any) -> str:
        if self.part not in key:
            return await super().put(key, data, **kwargs)
        if self.landed:
            await super().put(key, data, **kwargs)
        raise StoreUnavailable(f"injected: the write of {key} failed")


@pytest.mark.parametrize(
    ("part", "landed", "session_id"),
    [
        ("quotas/sandboxes", False, None),  # counting it against USER_MAX_SANDBOXES
        ("/sandboxes/base", False, "s1"),  # binding it to its session
        (RECORDS, True, None),  # its record, written though the store said it was not
    ],
    ids=["quota", "session-binding", "record-landed"],
)
def test_a_create_that_fails_on_the_store_leaves_no_sandbox(
    serve, settings, docker_client, part, landed, session_id
):
    settings = settings.model_copy(update={"user_max_sandboxes": 1})
    failing = FailingWrites(open_store(settings.store_url, settings), part, landed)
    http = serve(settings, store=failing)
    body = {"type": "base", "session_id": session_id}
    refused = http.post("/v1/sandboxes", json=body)
    assert refused.status_code == 503, refused.text
    assert refused.json()["code"] == "store_unavailable"
    assert http.get("/v1/sandboxes").json()["items"] == []
    assert containers_of(docker_client, settings) == []
    failing.part = "nothing-is-refused-now"
    # nothing was counted: the user's one sandbox may be made, and is the session's one
    made = http.post("/v1/sandboxes", json=body)
    assert made.status_code == 201, made.text
    again = http.post("/v1/sandboxes", json=body)
    if session_id is None:
        assert again.status_code == 429  # USER_MAX_SANDBOXES = 1
    else:
        assert again.status_code == 200
        assert again.json()["sandbox_id"] == made.json()["sandbox_id"]
    assert len(containers_of(docker_client, settings)) == 1


def test_racing_creates_on_two_instances_never_pass_max_sandbox_instances(
    serve, settings, docker_client
):
    settings = settings.model_copy(update={"max_sandbox_instances": 2})
    a, b = serve(settings), serve(settings)
    with ThreadPoolExecutor(6) as pool:
        answers = list(
            pool.map(lambda i: (a, b)[i % 2].post("/v1/sandboxes", json={"type": "base"}), range(6))
        )
    made = [r for r in answers if r.status_code == 201]
    refused = [r for r in answers if r.status_code != 201]
    assert 1 <= len(made) <= 2, [r.text for r in answers]
    assert {(r.status_code, r.json()["code"]) for r in refused} == {(429, "sandbox_limit")}
    assert len(containers_of(docker_client, settings)) == len(made)
    assert len(a.get("/v1/sandboxes").json()["items"]) == len(made)


def test_racing_pauses_and_resumes_all_succeed(serve, settings, docker_client):
    http = serve(settings)
    sid = http.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"]
    for step, status in (("pause", "paused"), ("resume", "running")):
        url = f"/v1/sandboxes/{sid}/{step}"
        with ThreadPoolExecutor(4) as pool:
            answers: list[httpx.Response] = list(pool.map(lambda _, u=url: http.post(u), range(4)))
        if answers[0].status_code == 501:  # a backend that cannot pause
            return
        assert [r.status_code for r in answers] == [200] * 4, [r.text for r in answers]
        assert {r.json()["status"] for r in answers} == {status}


def test_a_pause_or_resume_the_container_had_already_is_done(serve, settings, docker_client):
    if settings.sandbox_backend != "docker":
        pytest.skip("pausing a container from outside needs the docker backend")
    http = serve(settings)
    sid = http.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"]
    (container,) = containers_of(docker_client, settings)
    container.pause()  # the record says running: docker refuses the pause, as done already
    assert http.post(f"/v1/sandboxes/{sid}/pause").json()["status"] == "paused"
    container.unpause()  # the record says paused: docker refuses the resume likewise
    assert http.post(f"/v1/sandboxes/{sid}/resume").json()["status"] == "running"


def test_resuming_a_paused_sandbox_whose_container_was_killed_is_410(
    serve, settings, docker_client
):
    """A killed container is neither paused nor running: its resume is no resume done
    already (the breaker's answered 200 "running"), and its record goes."""
    if settings.sandbox_backend != "docker":
        pytest.skip("killing a paused container from outside needs the docker backend")
    http = serve(settings)
    sid = http.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"]
    assert http.post(f"/v1/sandboxes/{sid}/pause").json()["status"] == "paused"
    (container,) = containers_of(docker_client, settings)
    container.kill()
    resumed = http.post(f"/v1/sandboxes/{sid}/resume")
    assert resumed.status_code == 410 and resumed.json()["code"] == "sandbox_gone", resumed.text
    assert http.get(f"/v1/sandboxes/{sid}").status_code == 404


def test_a_backend_error_for_a_caller_never_names_the_backend_handle():
    handle = "1edd67db3bc2" + "ab" * 26
    said = f"docker pause failed: Container {handle} is restarting (was {handle[:12]})"
    assert scrubbed(said, handle) == (
        "docker pause failed: Container <sandbox> is restarting (was <sandbox>)"
    )
    fc = "agentscope-sandbox-base/s-0123456789abcdef"
    said = "session 's-0123456789abcdef' of function 'agentscope-sandbox-base' is busy"
    assert scrubbed(said, fc) == "session '<sandbox>' of function 'agentscope-sandbox-base' is busy"


def test_a_boolean_is_no_ttl(serve, settings):
    http = serve(settings)
    refused = http.post("/v1/sandboxes", json={"type": "base", "ttl_s": True})
    assert refused.status_code == 422, refused.text

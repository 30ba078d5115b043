"""The sandbox function on a real Docker engine: lifecycle, proxying, races, reaping."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from functions.runtime.sandbox.launchers import get_launcher
from functions.runtime.sandbox.launchers.docker import DockerLauncher
from functions.runtime.settings import Settings
from functions.runtime.storage import open_store
from functions.sandbox.registry import Registry, SandboxRecord, record_key
from tests.sandbox.support import containers_of, expire, text_of


def test_lifecycle_tools_files_and_idempotent_delete(serve, settings, docker_client):
    http = serve(settings)
    created = http.post("/v1/sandboxes", json={"type": "base", "user_id": "alice"})
    assert created.status_code == 201, created.text
    box = created.json()
    sid = box["sandbox_id"]
    assert box["type"] == "base" and box["status"] == "running"
    assert "token" not in created.text and "endpoint" not in created.text
    assert http.get(f"/v1/sandboxes/{sid}").json()["sandbox_id"] == sid

    names = {t["name"] for t in http.get(f"/v1/sandboxes/{sid}/tools").json()["tools"]}
    assert names == {"run_ipython_cell", "run_shell_command"}
    http.post(f"/v1/sandboxes/{sid}/tools/run_ipython_cell", json={"code": "n = 20"})
    result = http.post(f"/v1/sandboxes/{sid}/tools/run_ipython_cell", json={"code": "n + 22"})
    assert result.json() == {"content": [{"type": "text", "text": "42\n"}], "isError": False}

    assert http.put(f"/v1/sandboxes/{sid}/files/data/in.txt", content=b"abc").status_code == 200
    shell = http.post(
        f"/v1/sandboxes/{sid}/tools/run_shell_command",
        json={"command": "cat data/in.txt; echo; id -u"},
    ).json()
    assert text_of(shell).split() == ["abc", "1000"]
    assert http.get(f"/v1/sandboxes/{sid}/files/data/in.txt").content == b"abc"
    listing = http.get(f"/v1/sandboxes/{sid}/files").json()
    assert [e["name"] for e in listing["entries"]] == ["data"]

    assert len(containers_of(docker_client, settings)) == 1
    assert http.delete(f"/v1/sandboxes/{sid}").json() == {"sandbox_id": sid, "deleted": True}
    assert containers_of(docker_client, settings) == []
    gone = http.get(f"/v1/sandboxes/{sid}")
    assert gone.status_code == 404 and gone.json()["code"] == "sandbox_not_found"
    assert http.delete(f"/v1/sandboxes/{sid}").json() == {"sandbox_id": sid, "deleted": False}


def test_deletes_racing_each_other_all_answer_200(serve, settings, docker_client):
    """Docker refuses a second removal while one is under way (409): that is no 500."""
    http = serve(settings)

    async def race(sid: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=str(http.base_url), timeout=120) as client:
            return await asyncio.gather(*(client.delete(f"/v1/sandboxes/{sid}") for _ in range(3)))

    for _ in range(3):
        sid = http.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"]
        answers = asyncio.run(race(sid))
        assert [a.status_code for a in answers] == [200] * 3, [a.text for a in answers]
        assert http.get(f"/v1/sandboxes/{sid}").status_code == 404
    assert containers_of(docker_client, settings) == []


def test_containers_get_the_security_defaults(serve, settings, docker_client):
    http = serve(settings)
    http.post("/v1/sandboxes", json={"type": "base"}).raise_for_status()
    (container,) = containers_of(docker_client, settings)
    host = container.attrs["HostConfig"]
    assert host["CapDrop"] == ["ALL"]
    assert host["ReadonlyRootfs"] is True
    assert "no-new-privileges:true" in host["SecurityOpt"]
    assert host["PidsLimit"] == settings.sandbox_pids_limit
    assert host["Memory"] == 1024**3
    assert set(host["Tmpfs"]) == {"/tmp", "/workspace", "/home/sandbox"}
    assert host["Init"] is True
    bindings = host["PortBindings"]["8000/tcp"]
    assert [b["HostIp"] for b in bindings] == ["127.0.0.1"]
    assert container.attrs["Config"]["User"] == "1000:1000"


def test_a_session_gets_one_sandbox_even_when_requests_race(serve, settings, docker_client):
    http = serve(settings)
    body = {"type": "base", "user_id": "bob", "session_id": "chat-1"}
    first = http.post("/v1/sandboxes", json=body)
    again = http.post("/v1/sandboxes", json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["sandbox_id"] == again.json()["sandbox_id"]
    other_type = http.post("/v1/sandboxes", json={**body, "type": "filesystem"})
    assert other_type.status_code == 201
    assert other_type.json()["sandbox_id"] != first.json()["sandbox_id"]

    racing = {**body, "session_id": "chat-2"}

    async def race() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=str(http.base_url), timeout=120) as client:
            return await asyncio.gather(
                *(client.post("/v1/sandboxes", json=racing) for _ in range(3))
            )

    answers = asyncio.run(race())
    assert {a.json()["sandbox_id"] for a in answers} == {answers[0].json()["sandbox_id"]}
    assert sorted(a.status_code for a in answers).count(201) == 1
    assert len(containers_of(docker_client, settings)) == 3  # losers removed theirs


def test_another_instance_serves_the_same_sandboxes(serve, settings):
    first = serve(settings)
    sid = first.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"]
    first.post(f"/v1/sandboxes/{sid}/tools/run_ipython_cell", json={"code": "kept = 'yes'"})
    second = serve(settings)  # a fresh instance: nothing in memory, the same store
    result = second.post(f"/v1/sandboxes/{sid}/tools/run_ipython_cell", json={"code": "kept"})
    assert text_of(result.json()) == "'yes'\n"


def test_instance_limit_is_a_clear_429(serve, settings):
    http = serve(settings.model_copy(update={"max_sandbox_instances": 1}))
    assert http.post("/v1/sandboxes", json={"type": "base"}).status_code == 201
    refused = http.post("/v1/sandboxes", json={"type": "base"})
    assert refused.status_code == 429 and refused.json()["code"] == "sandbox_limit"


def test_bad_requests_are_clear(serve, settings):
    http = serve(settings)
    unknown_type = http.post("/v1/sandboxes", json={"type": "gpu"})
    assert unknown_type.status_code == 422 and unknown_type.json()["code"] == "unknown_type"
    assert http.get("/v1/sandboxes/..%2Fx").status_code in (404, 422)
    assert http.get("/v1/sandboxes/bad id").json()["code"] == "invalid_id"
    assert http.get("/v1/sandboxes/sbx-nothing").status_code == 404
    for ttl in (-1, 0, 0.5, 1e-9, 86401):  # under a second: expired before its first call
        bad_ttl = http.post("/v1/sandboxes", json={"type": "base", "ttl_s": ttl})
        assert bad_ttl.status_code == 422 and bad_ttl.json()["code"] == "invalid_request"
    short = http.post("/v1/mcp", params={"session_id": "s", "ttl_s": 0.5}, json={})
    assert short.status_code == 422 and short.json()["code"] == "invalid_request"


def test_expired_sandboxes_are_gone_and_reaped(serve, settings, docker_client):
    http = serve(settings)
    a = http.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"]
    b = http.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"]
    keep = http.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"]
    expire(settings, a)
    expire(settings, b)
    assert http.get(f"/v1/sandboxes/{a}").status_code == 404  # seen expired: removed on sight
    assert http.post("/v1/reaper/run").json() == {"expired": 1, "orphans": 0, "gone": 0}
    left = {c.labels["agentscope-faas.sandbox-id"] for c in containers_of(docker_client, settings)}
    assert left == {keep}


def test_an_unreadable_record_is_taken_as_gone_and_reaped(serve, settings, docker_client):
    """A record this version cannot read (cut short, another schema's) reaches no sandbox:
    reads take it as gone, and it broke neither the listing nor the reaper (both were a
    500 for everyone while it lay there); the reaper removes it."""
    http = serve(settings)
    keep = http.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"]
    bad = "sbx-000000000000000000000bad"

    async def write(data: bytes) -> bool:
        store = open_store(settings.store_url, settings)
        if data:
            await store.put(record_key(bad), data)
        return await store.get(record_key(bad)) is not None

    assert asyncio.run(write(json.dumps({"id": bad, "type": "base"}).encode()))
    listed = http.get("/v1/sandboxes")
    assert listed.status_code == 200, listed.text
    assert [s["sandbox_id"] for s in listed.json()["items"]] == [keep]
    assert http.get(f"/v1/sandboxes/{bad}").status_code == 404
    assert http.delete(f"/v1/sandboxes/{bad}").json() == {"sandbox_id": bad, "deleted": False}
    reaped = http.post("/v1/reaper/run")
    assert reaped.json() == {"expired": 0, "orphans": 0, "gone": 1}, reaped.text
    assert not asyncio.run(write(b""))
    assert http.get(f"/v1/sandboxes/{keep}").status_code == 200


@pytest.mark.parametrize("sandbox_backend", ["docker"], indirect=True)  # fc: its sessions end
def test_the_reaper_forgets_a_sandbox_whose_container_was_killed(serve, settings, docker_client):
    http = serve(settings)
    dead = http.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"]
    paused = http.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"]
    assert http.post(f"/v1/sandboxes/{paused}/pause").status_code == 200  # frozen, not gone
    (container,) = [
        c
        for c in containers_of(docker_client, settings)
        if c.labels["agentscope-faas.sandbox-id"] == dead
    ]
    container.kill()
    assert http.get(f"/v1/sandboxes/{dead}").json()["status"] == "running"  # until looked at
    assert http.post("/v1/reaper/run").json() == {"expired": 0, "orphans": 0, "gone": 1}
    assert http.get(f"/v1/sandboxes/{dead}").status_code == 404
    assert [s["sandbox_id"] for s in http.get("/v1/sandboxes").json()["items"]] == [paused]


@pytest.mark.parametrize("sandbox_backend", ["docker"], indirect=True)  # fc: in test_fc.py
def test_reaper_removes_its_orphans_and_nobody_elses(serve, settings, docker_client, tmp_path):
    http = serve(settings)
    ours = DockerLauncher(settings)
    theirs_settings = Settings(store_url=f"file://{tmp_path / 'other'}")
    theirs = DockerLauncher(theirs_settings)

    async def launch_unrecorded() -> tuple[str, str]:
        mine = await ours.start("base", "sbx-orphan", "1" * 43)
        other = await theirs.start("base", "sbx-foreign", "2" * 43)
        return mine.handle, other.handle

    mine, other = asyncio.run(launch_unrecorded())
    try:
        assert http.post("/v1/reaper/run").json() == {"expired": 0, "orphans": 1, "gone": 0}
        ids = {c.id for c in docker_client.containers.list(all=True)}
        assert mine not in ids and other in ids
    finally:
        docker_client.containers.get(other).remove(force=True)


def test_a_killed_container_gives_a_clear_error(serve, settings, docker_client):
    http = serve(settings)
    sid = http.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"]
    (container,) = containers_of(docker_client, settings)
    container.remove(force=True)
    dead = http.post(f"/v1/sandboxes/{sid}/tools/run_shell_command", json={"command": "true"})
    assert dead.status_code == 410 and dead.json()["code"] == "sandbox_gone"
    # the registry has recovered: the record is gone, and a new sandbox can be made
    assert http.get(f"/v1/sandboxes/{sid}").status_code == 404
    assert http.delete(f"/v1/sandboxes/{sid}").json()["deleted"] is False
    assert http.post("/v1/sandboxes", json={"type": "base"}).status_code == 201


def test_a_sessions_dead_sandbox_is_replaced_on_the_next_create(serve, settings, docker_client):
    http = serve(settings)
    body = {"type": "base", "session_id": "s-dead"}
    sid = http.post("/v1/sandboxes", json=body).json()["sandbox_id"]
    (container,) = containers_of(docker_client, settings)
    container.remove(force=True)
    http.post(f"/v1/sandboxes/{sid}/tools/run_shell_command", json={"command": "true"})
    again = http.post("/v1/sandboxes", json=body)
    assert again.status_code == 201 and again.json()["sandbox_id"] != sid


def test_two_sandboxes_cannot_see_each_others_files(serve, settings):
    http = serve(settings)
    a = http.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"]
    b = http.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"]
    http.put(f"/v1/sandboxes/{a}/files/secret.txt", content=b"only a").raise_for_status()
    assert http.get(f"/v1/sandboxes/{b}/files/secret.txt").status_code == 404
    look = http.post(
        f"/v1/sandboxes/{b}/tools/run_shell_command",
        json={"command": "ls -a /workspace; cat /workspace/secret.txt"},
    ).json()
    assert look["isError"] is True and "only a" not in text_of(look)


def test_a_warm_pool_serves_creates_and_refills(serve, settings, docker_client):
    pooled = settings.model_copy(update={"sandbox_pool_size": 1})
    http = serve(pooled)
    assert http.post("/v1/reaper/run").json() == {
        "expired": 0,
        "orphans": 0,
        "gone": 0,
    }  # fills the pool
    (warm,) = containers_of(docker_client, pooled)
    created = http.post("/v1/sandboxes", json={"type": "base", "user_id": "u"})
    assert created.status_code == 201
    assert created.json()["sandbox_id"] == warm.labels["agentscope-faas.sandbox-id"]
    ran = http.post(
        f"/v1/sandboxes/{created.json()['sandbox_id']}/tools/run_shell_command",
        json={"command": "echo warm"},
    )
    assert text_of(ran.json()) == "warm\n"
    # a replacement is being warmed in the background; the reaper waits for it too
    http.post("/v1/reaper/run").raise_for_status()
    running = containers_of(docker_client, pooled)
    assert len(running) == 2 and warm.id in {c.id for c in running}
    # the reaper keeps pooled containers: they are known, not orphans
    assert http.post("/v1/reaper/run").json() == {"expired": 0, "orphans": 0, "gone": 0}
    assert len(containers_of(docker_client, pooled)) == 2


def test_a_code_sandbox_claim_refills_the_pool_at_once(serve, settings, docker_client):
    """No reaper run needed: a claim schedules the pool's refill itself, and a code sandbox's
    at once (SANDBOX_POOL_REFILL_DELAY_S holds back only a desktop's start)."""
    pooled = settings.model_copy(
        update={"sandbox_pool_size": 1, "sandbox_pool_refill_delay_s": 300.0}
    )
    http = serve(pooled)
    http.post("/v1/reaper/run").raise_for_status()
    (warm,) = containers_of(docker_client, pooled)
    created = http.post("/v1/sandboxes", json={"type": "base", "user_id": "u"})
    assert created.json()["sandbox_id"] == warm.labels["agentscope-faas.sandbox-id"]
    deadline = time.monotonic() + 60
    while len(containers_of(docker_client, pooled)) < 2:
        assert time.monotonic() < deadline, "the pool was not refilled after a claim"
        time.sleep(0.1)
    (refill,) = [c for c in containers_of(docker_client, pooled) if c.id != warm.id]
    assert refill.labels["agentscope-faas.sandbox-type"] == "base"


def test_a_desktop_claim_refills_the_pool_after_the_refill_delay(serve, settings, docker_client):
    """A claimed gui sandbox's first calls meet no refill's start: the refill waits
    SANDBOX_POOL_REFILL_DELAY_S (here longer than the test), and the reaper still fills."""
    pooled = settings.model_copy(
        update={
            "sandbox_pool_size": 1,
            "sandbox_pool_types": "gui",
            "sandbox_pool_refill_delay_s": 300.0,
        }
    )
    http = serve(pooled)
    http.post("/v1/reaper/run").raise_for_status()
    (warm,) = containers_of(docker_client, pooled)
    sid = http.post("/v1/sandboxes", json={"type": "gui", "user_id": "u"}).json()["sandbox_id"]
    assert sid == warm.labels["agentscope-faas.sandbox-id"]
    shot = http.post(f"/v1/sandboxes/{sid}/tools/computer_use", json={"action": "get_screenshot"})
    assert shot.json()["isError"] is False
    assert [c.id for c in containers_of(docker_client, pooled)] == [warm.id]  # not yet
    http.post("/v1/reaper/run").raise_for_status()  # the reaper's fill does not wait
    assert len(containers_of(docker_client, pooled)) == 2


def test_a_call_during_the_browser_start_is_never_followed_by_the_prime(
    serve, settings, docker_client
):
    """The browser's blank first page is primed (one snapshot) only while no call has run:
    a first call that came during the start - here one that leaves an alert open on the
    blank page - owns the browser, and the next call is not held behind a prime waiting on
    that dialog."""
    http = serve(settings)
    sid = http.post("/v1/sandboxes", json={"type": "browser"}).json()["sandbox_id"]
    tools = f"/v1/sandboxes/{sid}/tools"
    http.post(f"{tools}/browser_navigate", json={"url": "javascript:alert(1)"})
    deadline = time.monotonic() + 30
    while True:  # the alert opens on its own, after the aborted navigation has answered
        answered = http.post(f"{tools}/browser_handle_dialog", json={"accept": True}).json()
        if answered["isError"] is False or time.monotonic() > deadline:
            break
        assert text_of(answered) == "no dialog is open", answered
        time.sleep(0.1)
    assert answered["isError"] is False, answered
    state = http.post(f"{tools}/browser_snapshot", json={}).json()
    assert state["isError"] is False and "Modal state" not in text_of(state)
    found = containers_of(docker_client, settings)  # fc: the emulator's one session
    if settings.sandbox_backend == "docker":
        found = [c for c in found if c.labels["agentscope-faas.sandbox-id"] == sid]
    (container,) = found
    assert "priming the first page" not in container.logs().decode(errors="replace")


def test_a_warm_browser_pool_hands_out_a_sandbox_whose_browser_is_up(serve, settings):
    """A pooled desktop sandbox counts as warm once its browser has its page open (the tool
    server's GET /ready), not when its tool server first answers: whoever claims it pays
    none of the browser's start."""
    pooled = settings.model_copy(update={"sandbox_pool_size": 1, "sandbox_pool_types": "browser"})
    http = serve(pooled)
    http.post("/v1/reaper/run").raise_for_status()  # fills the pool, returns once warm

    async def warm_one() -> SandboxRecord:
        registry = Registry(open_store(pooled.store_url, pooled))
        (sid,) = await registry.pooled("browser")
        found = await registry.get_pooled("browser", sid)
        assert found is not None
        return found

    warm = asyncio.run(warm_one())
    launcher = get_launcher(pooled)  # reached as the launcher reaches it (fc: signed)
    with httpx.Client(
        base_url=warm.endpoint, headers=warm.headers, auth=launcher.call_auth(), timeout=30
    ) as direct:
        ready = direct.get(
            "/ready", params={"wait": "0"}, headers=launcher.tool_headers(warm.token)
        )
    assert ready.json() == {"ready": True}
    created = http.post("/v1/sandboxes", json={"type": "browser", "user_id": "u"})
    assert created.json()["sandbox_id"] == warm.id
    page = "data:text/html,<title>Warm</title><h1>pooled</h1>"
    state = http.post(f"/v1/sandboxes/{warm.id}/tools/browser_navigate", json={"url": page}).json()
    assert state["isError"] is False and "Page Title: Warm" in text_of(state)


def test_use_renews_the_ttl(serve, settings):
    http = serve(settings)
    sid = http.post("/v1/sandboxes", json={"type": "base", "ttl_s": 600}).json()["sandbox_id"]

    async def shorten() -> float:
        store = open_store(settings.store_url, settings)
        data, etag = await store.get(record_key(sid))
        record = json.loads(data)
        record["expires_at"] = record["created_at"] + 60  # under half the TTL left
        await store.put(record_key(sid), json.dumps(record).encode(), if_match=etag)
        return record["expires_at"]

    shortened = asyncio.run(shorten())
    http.post(f"/v1/sandboxes/{sid}/tools/run_shell_command", json={"command": "true"})
    renewed = http.get(f"/v1/sandboxes/{sid}").json()["expires_at"]
    assert renewed > shortened + 500  # pushed out to a full TTL from now


def test_pause_then_resume_keeps_the_interpreter_and_the_workspace(serve, settings):
    http = serve(settings)
    sid = http.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"]
    http.post(f"/v1/sandboxes/{sid}/tools/run_ipython_cell", json={"code": "kept = 41"})
    http.put(f"/v1/sandboxes/{sid}/files/notes.txt", content=b"still here").raise_for_status()

    paused = http.post(f"/v1/sandboxes/{sid}/pause")
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    assert http.get(f"/v1/sandboxes/{sid}").json()["status"] == "paused"
    refused = http.post(f"/v1/sandboxes/{sid}/tools/run_ipython_cell", json={"code": "kept"})
    assert refused.status_code == 409 and refused.json()["code"] == "sandbox_paused"
    assert http.post(f"/v1/sandboxes/{sid}/pause").json()["status"] == "paused"  # idempotent

    resumed = http.post(f"/v1/sandboxes/{sid}/resume")
    assert resumed.status_code == 200 and resumed.json()["status"] == "running"
    result = http.post(f"/v1/sandboxes/{sid}/tools/run_ipython_cell", json={"code": "kept + 1"})
    assert text_of(result.json()) == "42\n"
    assert http.get(f"/v1/sandboxes/{sid}/files/notes.txt").content == b"still here"
    missing = http.post("/v1/sandboxes/sbx-nothing/pause")
    assert missing.status_code == 404 and missing.json()["code"] == "sandbox_not_found"


def test_user_code_cannot_read_the_tool_servers_secrets_from_proc(serve, settings):
    """The claimed token lives in the tool server's memory; user code runs with its uid, so
    only a non-dumpable process keeps ``/proc/<its pid>/environ`` and its memory out of
    reach (what else it could read: ``test_secrets.py``)."""
    http = serve(settings)
    sid = http.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"]
    look = http.post(
        f"/v1/sandboxes/{sid}/tools/run_shell_command",
        json={"command": "cat /proc/$PPID/environ; echo; cat /proc/$PPID/cmdline"},
    ).json()
    assert "-m\x00toolserver" in text_of(look)  # $PPID is the tool server
    assert "environ: Permission denied" in text_of(look)
    assert "TOOLSERVER_TOKEN" not in text_of(look)

"""Races with a sandbox's end, on every backend: a sandbox is never reaped while a call runs in
it, and every request racing a removal answers 200, 404 or 410 - never a 500 or a 502."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx

from functions.sandbox.registry import CALLS, SandboxRecord, record_key
from tests.sandbox.support import containers_of, text_of

GONE_OR_DONE = {200, 404, 410}


def read_record(settings, sid: str) -> SandboxRecord | None:
    """The registry's record, read from the store itself (a GET through the API renews it)."""
    import asyncio

    from functions.runtime.storage import open_store

    async def get() -> SandboxRecord | None:
        store = open_store(settings.store_url, settings)
        try:
            found = await store.get(record_key(sid))
            return None if found is None else SandboxRecord.model_validate_json(found[0])
        finally:
            await store.close()

    return asyncio.run(get())


def test_a_sandbox_is_not_reaped_while_a_call_runs_in_it(serve, settings, docker_client):
    http = serve(settings)
    created = http.post("/v1/sandboxes", json={"type": "base", "ttl_s": 6})
    assert created.status_code == 201, created.text
    sid = created.json()["sandbox_id"]
    result: dict[str, httpx.Response] = {}
    done = threading.Event()

    def call() -> None:
        try:
            result["call"] = http.post(
                f"/v1/sandboxes/{sid}/tools/run_shell_command",
                json={"command": "sleep 15; echo done", "timeout": 30},
                timeout=120,
            )
        finally:
            done.set()

    threading.Thread(target=call, daemon=True).start()
    expired_while_running = False
    while not done.wait(0.5):  # the reaper keeps running while the call does
        reaped = http.post("/v1/reaper/run")
        assert reaped.status_code == 200, reaped.text
        record = read_record(settings, sid)
        assert record is not None, "the record was removed while its call ran"
        if not done.is_set() and record.expired():
            expired_while_running = True
    assert expired_while_running, "the record never outlived its TTL during the call"
    assert result["call"].status_code == 200, result["call"].text
    assert text_of(result["call"].json()) == "done\n"

    got = http.get(f"/v1/sandboxes/{sid}")  # renewed when the call ended
    assert got.status_code == 200, got.text
    assert got.json()["expires_at"] > time.time()
    assert http.post("/v1/reaper/run").json()["expired"] == 0
    assert len(containers_of(docker_client, settings)) == 1
    # the call's marker went with it
    record = read_record(settings, sid)
    assert record is not None and not record.expired()
    assert http.delete(f"/v1/sandboxes/{sid}").json()["deleted"] is True
    import asyncio

    from functions.runtime.storage import open_store

    async def markers() -> list[str]:
        store = open_store(settings.store_url, settings)
        try:
            return await store.list(CALLS)
        finally:
            await store.close()

    assert asyncio.run(markers()) == []


def test_concurrent_deletes_all_answer_200(serve, settings, docker_client):
    http = serve(settings)
    sid = http.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: http.delete(f"/v1/sandboxes/{sid}"), range(8)))
    assert [a.status_code for a in answers] == [200] * 8, [a.text for a in answers]
    assert any(a.json()["deleted"] for a in answers)
    assert http.get(f"/v1/sandboxes/{sid}").status_code == 404
    assert containers_of(docker_client, settings) == []


def test_every_request_racing_a_delete_answers_200_404_or_410(serve, settings, docker_client):
    http = serve(settings)
    sid = http.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"]
    base = f"/v1/sandboxes/{sid}"
    http.put(f"{base}/files/a.txt", content=b"a").raise_for_status()
    started = threading.Event()
    slow: dict[str, httpx.Response] = {}

    def slow_call() -> None:
        started.set()
        slow["call"] = http.post(
            f"{base}/tools/run_shell_command", json={"command": "sleep 20; echo late"}
        )

    requests = [
        lambda: http.get(base),
        lambda: http.get(f"{base}/tools"),
        lambda: http.post(f"{base}/tools/run_shell_command", json={"command": "echo hi"}),
        lambda: http.post(f"{base}/tools/run_ipython_cell", json={"code": "1 + 1"}),
        lambda: http.get(f"{base}/files/a.txt"),
        lambda: http.put(f"{base}/files/b.txt", content=b"b"),
        lambda: http.get(f"{base}/files"),
        lambda: http.delete(f"{base}/files/a.txt"),
        lambda: http.post(f"{base}/pause"),
        lambda: http.post(f"{base}/resume"),
        lambda: http.delete(base),
    ]
    caller = threading.Thread(target=slow_call, daemon=True)
    caller.start()
    started.wait(10)
    with ThreadPoolExecutor(len(requests) * 2) as pool:
        futures = [pool.submit(r) for r in requests * 2]
        futures.append(pool.submit(lambda: http.delete(base)))
        answers = [f.result() for f in futures]
    caller.join(60)
    for resp in [*answers, slow["call"]]:
        assert resp.status_code in GONE_OR_DONE | {409, 501}, (resp.request.url, resp.text)
        if resp.status_code == 409:  # a call to a sandbox paused by a racing pause
            assert resp.json()["code"] == "sandbox_paused", resp.text
        if resp.status_code == 501:  # pausing where the backend cannot
            assert resp.json()["code"] == "not_supported", resp.text
    assert slow["call"].status_code in (404, 410), slow["call"].text
    assert http.get(base).status_code == 404
    assert http.delete(base).json() == {"sandbox_id": sid, "deleted": False}
    assert containers_of(docker_client, settings) == []


def test_a_docker_start_cancelled_while_its_container_is_made_leaves_none(settings, docker_client):
    """A start cancelled (a shutdown, a refill ended) while Docker is still making the
    container: the thread making it goes on regardless, so the launcher removes the
    container once it exists, before the cancellation reaches its caller."""
    import asyncio

    import pytest

    from functions.runtime.sandbox.launchers.docker import DockerLauncher

    if settings.sandbox_backend != "docker":
        pytest.skip("the Docker launcher's own start")
    launcher = DockerLauncher(settings)
    sandbox_id = f"sbx-cancelled-{uuid.uuid4().hex[:12]}"

    async def cancel_midway() -> None:
        start = asyncio.ensure_future(launcher.start("base", sandbox_id, "t" * 43))
        await asyncio.sleep(0)  # the start is in Docker's hands, on its thread
        start.cancel()
        with pytest.raises(asyncio.CancelledError):
            await start

    asyncio.run(cancel_midway())
    left = docker_client.containers.list(
        all=True, filters={"label": f"agentscope-faas.sandbox-id={sandbox_id}"}
    )
    assert left == []


def test_a_docker_start_cancelled_by_an_anyio_scope_leaves_none(settings, docker_client):
    """A start cancelled as the MCP SDK cancels its task groups: an anyio cancel scope
    cancels again at every await until the task ends, so the launcher cannot await the
    container's removal; it follows the end of the thread making the container."""
    import asyncio

    import anyio
    import pytest

    from functions.runtime.sandbox.launchers.docker import DockerLauncher

    if settings.sandbox_backend != "docker":
        pytest.skip("the Docker launcher's own start")
    launcher = DockerLauncher(settings)
    sandbox_id = f"sbx-scoped-{uuid.uuid4().hex[:12]}"
    label = {"label": f"agentscope-faas.sandbox-id={sandbox_id}"}
    since = time.time()

    async def cancel_midway() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(launcher.start, "base", sandbox_id, "t" * 43)
            await asyncio.sleep(0)  # the start is in Docker's hands, on its thread
            group.cancel_scope.cancel()
        # the thread making the container has ended: what it made is removed after it
        await asyncio.get_running_loop().shutdown_default_executor()
        deadline = time.monotonic() + 30
        while docker_client.containers.list(all=True, filters=label, ignore_removed=True):
            assert time.monotonic() < deadline, "the cancelled start's container stayed"
            await asyncio.sleep(0.05)

    asyncio.run(cancel_midway())
    events = docker_client.events(
        since=int(since),
        until=int(time.time()) + 1,
        filters={"type": "container", "event": "create", **label},
        decode=True,
    )
    assert len(list(events)) == 1  # it was made, and then removed


def session_binding(settings, user: str, session: str) -> dict | None:
    import asyncio
    import json

    from functions.runtime.storage import open_store
    from functions.sandbox.registry import session_sandbox_key

    async def get() -> dict | None:
        store = open_store(settings.store_url, settings)
        try:
            found = await store.get(session_sandbox_key(user, session, "base"))
            return None if found is None else json.loads(found[0])
        finally:
            await store.close()

    return asyncio.run(get())


def test_a_lapsed_claim_on_a_session_s_sandbox_is_taken_over(serve, settings, docker_client):
    """An instance that died while making a session's sandbox leaves its claim on the
    binding: the next use waits, launching nothing, until the claim's lease lapses, then
    takes it over and makes the sandbox itself."""
    import asyncio
    import json

    from functions.runtime.storage import open_store
    from functions.sandbox.registry import session_sandbox_key

    http = serve(settings)
    user = settings.default_user_id
    until = time.time() + 2

    async def dead_claim() -> None:
        store = open_store(settings.store_url, settings)
        try:
            body = json.dumps({"pending": "died", "until": until}).encode()
            await store.put(session_sandbox_key(user, "s", "base"), body, if_none_match=True)
        finally:
            await store.close()

    asyncio.run(dead_claim())
    created = http.post("/v1/sandboxes", json={"type": "base", "session_id": "s"})
    assert created.status_code == 201, created.text
    assert time.time() >= until, "the live claim was taken over before its lease lapsed"
    assert session_binding(settings, user, "s") == {"sandbox_id": created.json()["sandbox_id"]}
    assert len(containers_of(docker_client, settings)) == 1


def test_a_make_refused_gives_its_claim_up_for_the_next_use(serve, settings, docker_client):
    """A session's first use refused (the user's quota full) leaves no claim to wait out:
    once there is room, the next use makes the sandbox at once."""
    http = serve(settings.model_copy(update={"user_max_sandboxes": 1}))
    user = settings.default_user_id
    held = http.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"]
    refused = http.post("/v1/sandboxes", json={"type": "base", "session_id": "s"})
    assert refused.status_code == 429, refused.text
    binding = session_binding(settings, user, "s")
    assert binding is not None and binding["until"] == 0  # given up, not left to lapse
    assert http.delete(f"/v1/sandboxes/{held}").json()["deleted"] is True
    created = http.post("/v1/sandboxes", json={"type": "base", "session_id": "s"})
    assert created.status_code == 201, created.text
    assert session_binding(settings, user, "s") == {"sandbox_id": created.json()["sandbox_id"]}
    assert len(containers_of(docker_client, settings)) == 1

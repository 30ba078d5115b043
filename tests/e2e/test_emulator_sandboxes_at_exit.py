"""What `make local` leaves running when it stops: the sandboxes whose records die with it
are ended (``--store s3|oss``: the store is the emulator's, in memory), a folder store's are
kept for the next run, which serves each session its sandbox again."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.test_emulator import emulator_env
from tests.fixtures.servers import run_emulator


@pytest.fixture
def sandbox_containers(docker_client) -> Iterator[Any]:
    """``containers(sandbox_id)``: its containers, running or not; any a test left are
    removed when it ends (a store in memory has no later reaper to end them)."""
    from functions.runtime.sandbox.launchers.docker import LABEL_SANDBOX

    seen: set[str] = set()

    def listed(sandbox_id: str) -> list[Any]:
        label = f"{LABEL_SANDBOX}={sandbox_id}"
        return docker_client.containers.list(all=True, filters={"label": label})

    def containers(sandbox_id: str) -> list[Any]:
        seen.add(sandbox_id)
        return listed(sandbox_id)

    yield containers
    for sandbox_id in seen:
        for container in listed(sandbox_id):
            container.remove(force=True)


def create(env: dict[str, str], session_id: str) -> str:
    url = f"http://127.0.0.1:{env['SANDBOX_PORT']}/v1/sandboxes"
    answer = httpx.post(url, json={"type": "base", "session_id": session_id}, timeout=120)
    assert answer.status_code in (200, 201), answer.text
    return answer.json()["sandbox_id"]


def run_code(env: dict[str, str], sandbox_id: str, code: str) -> str:
    url = f"http://127.0.0.1:{env['SANDBOX_PORT']}/v1/sandboxes/{sandbox_id}"
    answer = httpx.post(f"{url}/tools/run_ipython_cell", json={"code": code}, timeout=120)
    assert answer.status_code == 200, answer.text
    return "".join(c.get("text", "") for c in answer.json()["content"])


@pytest.mark.parametrize("store", ["s3", "oss"])
def test_ctrl_c_ends_the_sandboxes_of_a_store_in_memory(
    tmp_path, store, sandbox_containers, sandbox_images_built
):
    env = emulator_env(tmp_path, AGENT_APP="tests.apps:echo_app")
    with run_emulator(env, ("--store", store)) as proc:
        sandbox_id = create(env, "s1")
        assert [c.status for c in sandbox_containers(sandbox_id)] == ["running"]
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
        left = sandbox_containers(sandbox_id)  # before run_emulator's own cleanup
    assert proc.returncode == 0, out
    assert left == []  # the emulator removed it: no record of it outlives the emulator
    assert "stopping 1 sandbox (their records are in memory" in out
    assert "Traceback" not in out


def test_a_folder_store_keeps_its_sandboxes_for_the_next_run(
    tmp_path, sandbox_containers, sandbox_images_built
):
    env = emulator_env(tmp_path, AGENT_APP="tests.apps:echo_app")
    # the second run inside the first's block: leaving that block removes what it launched
    with run_emulator(env) as proc:
        sandbox_id = create(env, "s1")
        run_code(env, sandbox_id, "x = 6 * 7")
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
        kept = [c.status for c in sandbox_containers(sandbox_id)]
        assert proc.returncode == 0, out
        assert kept == ["running"]
        assert "kept 1 sandbox for the next run" in out
        with run_emulator(env):  # the session's sandbox again, its variables still there
            assert create(env, "s1") == sandbox_id
            assert run_code(env, sandbox_id, "print(x)") == "42\n"

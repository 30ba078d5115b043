"""`python -m local_emulator` as a user runs it: a real process, real ports, real store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import httpx
import pytest

from tests.fixtures.servers import ROOT, free_port, run_emulator

SEED_BODY = {
    "input": [
        {"role": "user", "content": [{"type": "text", "text": "What is the capital of France?"}]}
    ]
}


def say(url: str, text: str, token: str | None = None, **fields) -> dict:
    body = {"input": [{"role": "user", "content": [{"type": "text", "text": text}]}], **fields}
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    resp = httpx.post(f"{url}/process", json=body, headers=headers, timeout=60)
    assert resp.status_code == 200, resp.text
    events = [json.loads(x[6:]) for x in resp.text.splitlines() if x.startswith("data: ")]
    return events[-1]


def emulator_env(tmp_path, **extra) -> dict[str, str]:
    return {
        "QUERY_PORT": str(free_port()),
        "STATE_PORT": str(free_port()),
        "SANDBOX_PORT": str(free_port()),
        "MODEL_PORT": str(free_port()),
        "SANDBOX_DESKTOP_PORT": str(free_port()),  # the live views' door (artifacts on fc)
        "STORE_URL": f"file://{tmp_path}/store",
        **extra,
    }


def test_default_app_answers_the_seed_curl_and_stops_on_ctrl_c(tmp_path):
    env = emulator_env(tmp_path)
    env.pop("MODEL_BASE_URL", None)
    with run_emulator({**env, "MODEL_BASE_URL": ""}) as proc:
        url = f"http://127.0.0.1:{env['QUERY_PORT']}"
        final = say(url, "What is the capital of France?")
        assert final["status"] == "completed"
        text = final["output"][-1]["content"][0]["text"]
        assert "offline demo" in text and "What is the capital of France?" in text
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert f"http://127.0.0.1:{env['QUERY_PORT']}" in out  # it says what it serves and where
    assert "[query] POST /process 200" in out  # one line per request
    # with no model configured, Friday's client talked to the offline model's endpoint
    assert "[model] POST /v1/chat/completions 200" in out


def test_conversation_survives_an_emulator_restart(tmp_path):
    env = emulator_env(tmp_path, AGENT_APP="tests.apps:echo_app")
    url = f"http://127.0.0.1:{env['QUERY_PORT']}"
    with run_emulator(env):
        first = say(url, "first", user_id="u1")
        sid = first["session_id"]
        say(url, "second", user_id="u1", session_id=sid)
    with run_emulator(env):
        third = say(url, "third", user_id="u1", session_id=sid)
    assert third["output"][0]["content"][0]["text"] == "turn 3: third | before: first / second"


@pytest.mark.parametrize("store", ["s3", "oss"])
def test_store_flag_serves_state_from_the_bundled_object_store(tmp_path, store):
    env = emulator_env(tmp_path, AGENT_APP="tests.apps:echo_app")
    url = f"http://127.0.0.1:{env['QUERY_PORT']}"
    with run_emulator(env, ("--store", store)) as proc:
        sid = say(url, "first", user_id="u1")["session_id"]
        second = say(url, "second", user_id="u1", session_id=sid)
        listed = httpx.get(f"http://127.0.0.1:{env['STATE_PORT']}/v1/users/u1/sessions").json()
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    assert second["output"][0]["content"][0]["text"] == "turn 2: second | before: first"
    assert [s["id"] for s in listed["items"]] == [sid]
    assert f"{store}://agentscope-faas/store" in out
    assert not (tmp_path / "store").exists()  # --store wins over STORE_URL's folder


def test_handler_state_survives_an_emulator_restart(tmp_path):
    env = emulator_env(tmp_path, AGENT_APP="tests.apps:stateful_app")
    url = f"http://127.0.0.1:{env['QUERY_PORT']}"
    state_url = f"http://127.0.0.1:{env['STATE_PORT']}"
    with run_emulator(env):
        sid = say(url, "one", user_id="u1")["session_id"]
        say(url, "two", user_id="u1", session_id=sid)
    with run_emulator(env):
        third = say(url, "three", user_id="u1", session_id=sid)
        rounds = httpx.get(f"{state_url}/v1/users/u1/sessions/{sid}/state").json()
    assert third["output"][0]["content"][0]["text"] == "count 3"
    assert rounds == {"round_id": 3, "state": {"count": 3}}


def test_friday_runs_code_in_the_sessions_sandbox_with_no_model_key(
    tmp_path, docker_client, sandbox_images_built
):
    from functions.runtime.sandbox.launchers.docker import LABEL_OWNER, owner_id
    from functions.runtime.settings import Settings

    env = emulator_env(tmp_path, MODEL_BASE_URL="")
    url = f"http://127.0.0.1:{env['QUERY_PORT']}"
    owner = owner_id(Settings(store_url=env["STORE_URL"]))
    with run_emulator(env):  # which removes the session's sandbox as it ends
        first = say(url, "Run this:\n```python\nx = 6 * 7\nprint(x)\n```", session_id="c1")
        second = say(url, "And:\n```python\nx + 1\n```", session_id="c1")
        boxes = docker_client.containers.list(filters={"label": f"{LABEL_OWNER}={owner}"})
    call, output, answer = first["output"]
    assert call["type"] == "plugin_call"
    assert call["content"][0]["data"]["name"] == "execute_python_code"
    assert output["content"][0]["data"]["output"] == "42\n"
    assert answer["content"][0]["text"].endswith("returned: 42\n")
    # the next turn ran in the same sandbox: the variable was still there
    assert second["output"][1]["content"][0]["data"]["output"] == "43\n"
    assert len(boxes) == 1  # one sandbox for the session, kept for its next turn


def test_friday_runs_code_in_an_fc_session_with_sandbox_backend_fc(
    tmp_path, docker_client, sandbox_images_built
):
    """`make local SANDBOX_BACKEND=fc`: the FC launcher and SDK, the FC emulator, Docker."""
    import secrets

    from functions.runtime.sandbox.launchers.docker import LABEL_OWNER
    from local_emulator.fc import emulator_owner

    account = str(10**15 + secrets.randbelow(10**15))
    env = emulator_env(tmp_path, MODEL_BASE_URL="", SANDBOX_BACKEND="fc", FC_ACCOUNT_ID=account)
    url = f"http://127.0.0.1:{env['QUERY_PORT']}"
    label = f"{LABEL_OWNER}={emulator_owner(account)}"
    with run_emulator(env) as proc:
        first = say(url, "Run this:\n```python\nx = 6 * 7\nprint(x)\n```", session_id="c1")
        second = say(url, "And:\n```python\nx + 1\n```", session_id="c1")
        sessions = docker_client.containers.list(filters={"label": label})
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
        # the emulator's own doing, before run_emulator removes what a test left
        left = docker_client.containers.list(all=True, filters={"label": label})
    assert first["output"][1]["content"][0]["data"]["output"] == "42\n"
    assert second["output"][1]["content"][0]["data"]["output"] == "43\n"
    assert len(sessions) == 1  # the chat's sandbox: one FC session, one container
    assert "fc api   http://127.0.0.1:" in out and "(on fc)" in out
    assert left == []  # the FC emulator ended its sessions as it stopped
    # after the sandbox function deleted each (record and session), as DELETE does
    assert "stopping 1 sandbox (the fc emulator they run on stops with it)" in out


def test_a_bad_setting_is_one_line_naming_it(tmp_path):
    env = {**os.environ, **emulator_env(tmp_path), "TURN_MAX_SECONDS": "abc"}
    done = subprocess.run(
        [sys.executable, "-m", "local_emulator"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "bad settings" in line and "turn_max_seconds" in line

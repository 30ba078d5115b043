"""The emulator in artifact mode: each function run from its built zip, as it ships.

Three ways a function is invoked in the cloud, all from the same zips: Function URL events
into ``lambda_handler`` (aws, buffered), the Lambda Web Adapter's ``run.sh`` (aws,
streaming; the default for the query function), and FC's ``bootstrap`` behind an HTTP
trigger (fc). Only a zip's own contents are importable in its processes.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal

import httpx
import pytest

from functions.runtime.settings import Settings
from functions.runtime.storage import open_store
from local_emulator.artifacts import select, unpack
from local_emulator.function_url import build_event
from local_emulator.instances import InvokeError, LambdaFunction
from local_emulator.tokens import mint_token
from tests.e2e.test_emulator import emulator_env, say
from tests.fixtures.servers import run_emulator

MODES = {
    "aws-streaming": ("--platform", "aws"),
    "aws-buffered": ("--platform", "aws", "--buffered"),
    "fc": ("--platform", "fc"),
}


def texts(messages: list[dict]) -> list[str]:
    return [c.get("text", "") for m in messages for c in m["content"] if c["type"] == "text"]


@pytest.mark.parametrize("mode", list(MODES))
def test_seed_curl_and_a_two_turn_session_run_from_the_zips(tmp_path, host_artifacts, mode):
    env = emulator_env(tmp_path, MODEL_BASE_URL="")
    url = f"http://127.0.0.1:{env['QUERY_PORT']}"
    state = f"http://127.0.0.1:{env['STATE_PORT']}"
    args = ("--artifacts", str(host_artifacts), *MODES[mode])
    with run_emulator(env, args, timeout=120) as proc:
        first = say(url, "What is the capital of France?", user_id="u1")
        assert first["status"] == "completed"
        assert "What is the capital of France?" in first["output"][-1]["content"][0]["text"]
        sid = first["session_id"]
        second = say(url, "And of Italy?", user_id="u1", session_id=sid)
        assert second["session_id"] == sid
        page = httpx.get(f"{state}/v1/users/u1/sessions/{sid}/messages", timeout=30).json()
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    said = texts(page["items"])
    assert said[0] == "What is the capital of France?" and said[2] == "And of Italy?"
    assert len(said) == 4
    assert "from its zip" in out
    if mode == "aws-buffered":  # the Lambda runtime's own log lines, per instance and request
        assert "[query] INIT_REPORT Init Duration" in out and "[query] REPORT RequestId" in out
    else:  # the function's own server logged each request with the platform's request id
        assert "uvicorn.access" in out and "[-] uvicorn.access" not in out.split("Ready.")[1]


@pytest.mark.parametrize("mode", ["aws-buffered", "fc"])
def test_friday_runs_code_in_a_sandbox_from_the_packaged_functions(
    tmp_path, host_artifacts, docker_client, sandbox_images_built, mode
):
    """The sandbox function's URL demands signed calls (AWS_IAM / FC "function" auth, as
    Terraform deploys it): the query function's role signs, an unsigned caller is refused."""
    env = emulator_env(tmp_path, MODEL_BASE_URL="")
    url = f"http://127.0.0.1:{env['QUERY_PORT']}"
    args = ("--artifacts", str(host_artifacts), *MODES[mode])
    with run_emulator(env, args, timeout=120) as proc:
        first = say(url, "Run this:\n```python\nx = 6 * 7\nprint(x)\n```", session_id="c1")
        second = say(url, "And:\n```python\nx + 1\n```", session_id="c1")
        sandboxes = f"http://127.0.0.1:{env['SANDBOX_PORT']}/v1/sandboxes"
        unsigned = httpx.post(sandboxes, json={"type": "base"}, timeout=30)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    if mode == "fc":
        assert unsigned.status_code == 400 and unsigned.json()["Code"] == "MissingRequiredHeader"
    else:
        assert unsigned.status_code == 403 and unsigned.json() == {"Message": "Forbidden"}
    assert "(AWS_IAM auth)" in out or "(function auth)" in out
    call, output, _answer = first["output"]
    assert call["content"][0]["data"]["name"] == "execute_python_code"
    assert output["content"][0]["data"]["output"] == "42\n", out
    assert second["output"][1]["content"][0]["data"]["output"] == "43\n"
    assert "[sandbox]" in out  # the calls went through the packaged sandbox function


@pytest.mark.parametrize("mode", ["aws-buffered", "fc"])
def test_with_jwt_each_user_reaches_only_their_own_and_sandboxes_act_for_them(
    tmp_path, host_artifacts, docker_client, sandbox_images_built, mode
):
    """AUTH_MODE=jwt, as deployed: the query function's sandbox calls carry the signed door's
    signature in Authorization and the caller's token in X-Forwarded-Authorization, which
    the packaged sandbox function verifies and records as the sandbox's owner."""
    secret = "e2e-identity-" + "k" * 32
    env = emulator_env(tmp_path, MODEL_BASE_URL="", AUTH_MODE="jwt", AUTH_JWT_SECRET=secret)
    alice, mallory = mint_token(secret, "alice"), mint_token(secret, "mallory")
    url = f"http://127.0.0.1:{env['QUERY_PORT']}"
    state = f"http://127.0.0.1:{env['STATE_PORT']}"
    args = ("--artifacts", str(host_artifacts), *MODES[mode])
    with run_emulator(env, args, timeout=120) as proc:
        ran = say(url, "Run this:\n```python\nprint(6 * 7)\n```", token=alice, session_id="c1")
        anonymous = httpx.post(f"{url}/process", json={"input": []}, timeout=30)
        sessions = f"{state}/v1/users/alice/sessions"
        own = httpx.get(sessions, headers={"Authorization": f"Bearer {alice}"}, timeout=30)
        other = httpx.get(sessions, headers={"Authorization": f"Bearer {mallory}"}, timeout=30)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert ran["output"][1]["content"][0]["data"]["output"] == "42\n", out
    # the sandbox function (AUTH_MODE=jwt too) verified alice's forwarded token and bound
    # the sandbox to her session: its record names her
    store = open_store(env["STORE_URL"], Settings())
    binding = asyncio.run(store.get("users/alice/sessions/c1/sandboxes/base"))
    record = asyncio.run(store.get(f"sandboxes/{json.loads(binding[0])['sandbox_id']}"))
    assert json.loads(record[0])["user_id"] == "alice"
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "unauthorized"
    assert [s["id"] for s in own.json()["items"]] == ["c1"]
    assert other.status_code == 403 and other.json()["code"] == "forbidden"


def test_a_dependency_missing_from_the_zip_fails_as_in_the_cloud(tmp_path, host_artifacts):
    manifest = json.loads(host_artifacts.read_text())
    artifact = select(manifest, "aws")["state"]
    root = unpack(host_artifacts.parent / artifact["zip"], artifact["sha256"], tmp_path)
    broken = tmp_path / "broken"
    shutil.copytree(root, broken, symlinks=True)
    shutil.rmtree(broken / "pydantic_settings")
    event = build_event(method="GET", path="/health", raw_query="", headers=[], body=b"")

    async def invoke(folder) -> object:
        fn = LambdaFunction("state", folder, artifact["handler"], timeout_s=30, memory_mb=512)
        try:
            return await fn.invoke(event)
        finally:
            await fn.close()

    assert asyncio.run(invoke(root))["statusCode"] == 200
    with pytest.raises(InvokeError) as failed:
        asyncio.run(invoke(broken))
    assert failed.value.error_type == "Runtime.ImportModuleError"
    assert "pydantic_settings" in failed.value.message


def test_an_fc_function_may_not_set_fc_variables(tmp_path, host_artifacts):
    """FC keeps FC_* names for itself: a deployment setting one fails here as it would there."""
    from local_emulator.artifacts import ArtifactError, functions

    with pytest.raises(ArtifactError, match=r"FC reserves .*FC_SANDBOX_QUALIFIER"):
        functions(
            host_artifacts,
            "fc",
            {"sandbox": {"FC_SANDBOX_QUALIFIER": "prod", "FC_REGION": "cn-hangzhou"}},
            buffered=False,
            work_dir=tmp_path,
        )


def test_a_browser_sandbox_s_live_view_opens_through_the_packaged_anonymous_door(
    tmp_path, host_artifacts, docker_client, sandbox_images_built
):
    """On fc the sandbox function's zip is deployed twice: behind its trigger, and as the live
    views' anonymous door (SANDBOX_ROUTES=desktop), whose URL the first puts in desktop_url.
    A browser-like client opens noVNC's page and its WebSocket (the VNC server's greeting
    comes back through the door, the FC trigger and the tool server), with no credential but
    the view token; the door serves nothing else."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    from tests.fixtures.desktop import ws_of
    from tests.fixtures.servers import wait_http

    env = emulator_env(tmp_path, MODEL_BASE_URL="")
    door = f"http://127.0.0.1:{env['SANDBOX_DESKTOP_PORT']}"
    args = ("--artifacts", str(host_artifacts), "--platform", "fc", "--sandbox-url-auth", "none")
    with run_emulator(env, args, timeout=120) as proc:
        wait_http(f"{door}/health", proc, 120)
        sandboxes = f"http://127.0.0.1:{env['SANDBOX_PORT']}/v1/sandboxes"
        made = httpx.post(sandboxes, json={"type": "browser"}, timeout=180)
        assert made.status_code == 201, made.text
        sandbox_id, url = made.json()["sandbox_id"], made.json()["desktop_url"]
        assert url.startswith(f"{door}/v1/sandboxes/{sandbox_id}/desktop/")
        page = httpx.get(url.split("#")[0], timeout=30)
        api = httpx.get(f"{door}/v1/sandboxes", timeout=30)
        with connect(ws_of(url), open_timeout=30, proxy=None) as ws:
            greeting = ws.recv(timeout=30)
        with pytest.raises(InvalidStatus) as refused:
            connect(ws_of(url).replace("/desktop/", "/desktop/0"), open_timeout=30, proxy=None)
        httpx.delete(f"{sandboxes}/{sandbox_id}", timeout=60)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert page.status_code == 200 and "noVNC" in page.text, out
    assert greeting[:4] == b"RFB "
    assert refused.value.response.status_code == 404
    assert api.status_code == 404
    assert "[sandbox-desktop]" in out and "anonymous: live views only" in out

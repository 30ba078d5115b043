"""SANDBOX_BACKEND=agentrun: the official AgentRun SDK against the local AgentRun emulator.

The SDK is pointed at ``local_emulator.agentrun`` (``AGENTRUN_ENDPOINT``), which checks its
V3 signatures and runs every sandbox as a container on the real Docker engine; the sandbox
function, the launcher and the SDK are the shipped ones. Templates are created through the
SDK, as a deployment would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import httpx
import pytest

from functions.runtime.sandbox.errors import LaunchError
from functions.runtime.sandbox.launchers.agentrun import AgentRunLauncher
from functions.runtime.sandbox.launchers.docker import LABEL_OWNER
from functions.runtime.settings import Settings
from local_emulator.acs_signature import Credential
from local_emulator.agentrun import AgentRunBackend, create_app
from local_emulator.agentrun.local import deploy_templates
from tests.fixtures.servers import serve_app
from tests.sandbox.support import text_of

KEY_ID, SECRET = "LTAI-test-agentrun", "agentrun-test-secret"
TOKEN, OTHER_TOKEN = "t" * 43, "o" * 43


def sdk_client(url: str, secret: str = SECRET, key_id: str = KEY_ID):
    from alibabacloud_agentrun20250910.client import Client
    from alibabacloud_tea_openapi.utils_models import Config

    host = url.removeprefix("http://")
    config = Config(
        access_key_id=key_id,
        access_key_secret=secret,
        endpoint=host,
        protocol="http",
        region_id="cn-hangzhou",
    )
    return Client(config)


@pytest.fixture
def agentrun(
    docker_client, sandbox_images_built
) -> Iterator[Callable[..., tuple[str, AgentRunBackend]]]:
    """Start an AgentRun emulator (with the sandbox templates); remove its containers after."""
    stack: list = []
    owners: list[str] = []

    def start(**limits) -> tuple[str, AgentRunBackend]:
        backend = AgentRunBackend(Settings(), **limits)
        owners.append(backend.docker.owner)
        server = serve_app(create_app(backend, {KEY_ID: Credential(SECRET)}))
        url = server.__enter__()
        stack.append(server)
        deploy_templates(url, KEY_ID, SECRET, Settings())
        return url, backend

    yield start
    for server in reversed(stack):
        server.__exit__(None, None, None)
    for owner in owners:
        for c in docker_client.containers.list(
            all=True, filters={"label": f"{LABEL_OWNER}={owner}"}
        ):
            c.remove(force=True)


def agentrun_settings(tmp_path, url: str, **extra) -> Settings:
    return Settings(
        store_url=f"file://{tmp_path / 'store'}",
        sandbox_backend="agentrun",
        sandbox_orphan_grace_s=0,
        agentrun_endpoint=url,
        alibaba_cloud_access_key_id=KEY_ID,
        alibaba_cloud_access_key_secret=SECRET,
        **extra,
    )


@pytest.fixture
def function(tmp_path) -> Iterator[Callable[[Settings], httpx.Client]]:
    """The sandbox function for some settings, served on 127.0.0.1."""
    from functions.sandbox.app import create_app as sandbox_app

    stack: list = []

    def start(settings: Settings) -> httpx.Client:
        server = serve_app(sandbox_app(settings))
        url = server.__enter__()
        stack.append(server)
        client = httpx.Client(base_url=url, timeout=60)
        stack.append(client)
        return client

    yield start
    for item in reversed(stack):
        item.__exit__(None, None, None)


def test_the_emulator_refuses_a_wrong_key_as_the_cloud_does(agentrun):
    from alibabacloud_tea_openapi.exceptions import ClientException

    url, _ = agentrun()
    with pytest.raises(ClientException) as wrong_secret:
        sdk_client(url, secret="not-the-secret").get_template("agentscope-sandbox-base")
    assert (wrong_secret.value.status_code, wrong_secret.value.code) == (
        403,
        "SignatureDoesNotMatch",
    )
    with pytest.raises(ClientException) as unknown_key:
        sdk_client(url, key_id="LTAI-nobody").get_template("agentscope-sandbox-base")
    assert unknown_key.value.code == "InvalidAccessKeyId.NotFound"
    found = sdk_client(url).get_template("agentscope-sandbox-base").body.data
    assert found.template_name == "agentscope-sandbox-base"
    # the data plane wants the sandbox's access token, not a signature
    assert httpx.get(f"{url}/sandboxes/nope/healthz").json()["code"] == "ERR_NOT_FOUND"


def test_sandbox_lifecycle_through_the_function(agentrun, function, tmp_path, docker_client):
    url, backend = agentrun()
    http = function(agentrun_settings(tmp_path, url))
    created = http.post("/v1/sandboxes", json={"type": "base", "user_id": "alice"})
    assert created.status_code == 201, created.text
    sid = created.json()["sandbox_id"]
    assert "token" not in created.text and "agentrun" not in created.text.lower()

    (handle,) = backend.sandboxes  # the AgentRun sandbox id carries ours, and its owner
    assert handle.endswith(sid) and handle.startswith("asf-")
    assert sdk_client(url).get_sandbox(handle).body.data.status == "READY"

    echo = http.post(f"/v1/sandboxes/{sid}/tools/run_shell_command", json={"command": "echo hi"})
    assert text_of(echo.json()).strip() == "hi"
    http.post(f"/v1/sandboxes/{sid}/tools/run_ipython_cell", json={"code": "n = 41"})
    kept = http.post(f"/v1/sandboxes/{sid}/tools/run_ipython_cell", json={"code": "n + 1"})
    assert kept.json() == {"content": [{"type": "text", "text": "42\n"}], "isError": False}
    assert http.put(f"/v1/sandboxes/{sid}/files/a.txt", content=b"abc").status_code == 200
    assert http.get(f"/v1/sandboxes/{sid}/files/a.txt").content == b"abc"

    assert http.delete(f"/v1/sandboxes/{sid}").json() == {"sandbox_id": sid, "deleted": True}
    assert backend.sandboxes == {}
    assert (
        docker_client.containers.list(
            all=True, filters={"label": f"{LABEL_OWNER}={backend.docker.owner}"}
        )
        == []
    )
    assert http.delete(f"/v1/sandboxes/{sid}").json()["deleted"] is False


def test_the_tool_server_wants_the_sandbox_token_and_the_data_plane_its_access_token(
    agentrun, tmp_path
):
    url, _ = agentrun()
    launcher = AgentRunLauncher(agentrun_settings(tmp_path, url))
    launched = asyncio.run(launcher.start("base", "sbx-direct", TOKEN))
    try:
        assert "token" not in vars(launched)  # no token of its own: the one given was claimed
        ok = {**launched.headers, "Authorization": f"Bearer {TOKEN}"}
        assert httpx.get(f"{launched.endpoint}/healthz", headers=ok).status_code == 200
        wrong_bearer = {**launched.headers, "Authorization": f"Bearer {OTHER_TOKEN}"}
        assert httpx.get(f"{launched.endpoint}/healthz", headers=wrong_bearer).status_code == 401
        reclaim = httpx.post(f"{launched.endpoint}/claim", headers=wrong_bearer)
        assert reclaim.status_code == 409 and reclaim.json()["code"] == "already_claimed"
        no_access = {k: v for k, v in ok.items() if k != "Agentrun-Access-Token"}
        refused = httpx.get(f"{launched.endpoint}/healthz", headers=no_access)
        assert refused.status_code == 401 and refused.json()["code"] == "ERR_UNAUTHORIZED"
    finally:
        asyncio.run(launcher.stop(launched.handle))
    asyncio.run(launcher.stop(launched.handle))  # already gone: not an error
    assert not asyncio.run(launcher.alive(launched.handle))


def test_a_missing_template_is_a_clear_error(agentrun, function, tmp_path):
    url, _ = agentrun()
    http = function(agentrun_settings(tmp_path, url, agentrun_template_prefix="not-deployed-"))
    answer = http.post("/v1/sandboxes", json={"type": "base"})
    assert answer.status_code == 503
    assert answer.json()["code"] == "launch_failed"
    assert "'not-deployed-base' does not exist" in answer.json()["detail"]


def test_throttling_becomes_429_with_retry_after(agentrun, function, tmp_path):
    url, backend = agentrun(rate_limits={"CreateSandbox": (0, 0.01)})  # one call per 100 s
    http = function(agentrun_settings(tmp_path, url))
    answer = http.post("/v1/sandboxes", json={"type": "base"})
    assert answer.status_code == 429, answer.text
    assert int(answer.headers["Retry-After"]) >= 60
    assert "throttled" in answer.json()["detail"].lower()
    assert backend.sandboxes == {}


def test_a_full_quota_is_503(agentrun, function, tmp_path):
    url, _ = agentrun(max_sandboxes=1)
    http = function(agentrun_settings(tmp_path, url))
    assert http.post("/v1/sandboxes", json={"type": "base"}).status_code == 201
    answer = http.post("/v1/sandboxes", json={"type": "base"})
    assert answer.status_code == 503 and "quota" in answer.json()["detail"]


def test_a_sandbox_killed_outside_is_gone_and_forgotten(agentrun, function, tmp_path):
    url, backend = agentrun()
    http = function(agentrun_settings(tmp_path, url))
    sid = http.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"]
    (sandbox,) = backend.sandboxes.values()
    sandbox.container.remove(force=True)
    answer = http.post(f"/v1/sandboxes/{sid}/tools/run_shell_command", json={"command": "true"})
    assert answer.status_code == 410 and answer.json()["code"] == "sandbox_gone"
    assert http.get(f"/v1/sandboxes/{sid}").status_code == 404


def test_idle_sandboxes_are_terminated_by_the_emulator(agentrun, function, tmp_path):
    url, backend = agentrun()
    http = function(agentrun_settings(tmp_path, url, agentrun_idle_timeout_s=60))
    sid = http.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"]
    (sandbox,) = backend.sandboxes.values()
    assert sandbox.idle_timeout_s == 60
    assert asyncio.run(backend.reap_idle()) == 0
    sandbox.last_active -= 61  # as if a minute passed without a call
    assert asyncio.run(backend.reap_idle()) == 1
    assert sdk_client(url).get_sandbox(sandbox.sandbox_id).body.data.status == "TERMINATED"
    answer = http.post(f"/v1/sandboxes/{sid}/tools/run_shell_command", json={"command": "true"})
    assert answer.status_code == 410


def test_a_sandbox_s_own_ttl_is_its_idle_timeout(agentrun, function, tmp_path):
    url, backend = agentrun()
    http = function(agentrun_settings(tmp_path, url, agentrun_idle_timeout_s=60))
    made = http.post("/v1/sandboxes", json={"type": "base", "ttl_s": 7200})
    assert made.status_code == 201
    (sandbox,) = backend.sandboxes.values()
    assert sandbox.idle_timeout_s == 7200  # its own, over the deployment's default of 60
    sandbox.last_active -= 61
    assert asyncio.run(backend.reap_idle()) == 0


def test_the_reaper_removes_only_its_own_orphans(agentrun, function, tmp_path):
    from alibabacloud_agentrun20250910 import models

    url, backend = agentrun()
    settings = agentrun_settings(tmp_path, url)
    http = function(settings)
    kept = http.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"]
    launcher = AgentRunLauncher(settings)
    orphan = asyncio.run(launcher.start("base", "sbx-orphan", TOKEN))  # never recorded
    foreign = "someone-elses-sandbox"
    sdk_client(url).create_sandbox(
        models.CreateSandboxRequest(
            body=models.CreateSandboxInput(
                template_name="agentscope-sandbox-base", sandbox_id=foreign
            )
        )
    )
    assert set(asyncio.run(launcher.owned())) == {orphan.handle, f"{launcher.prefix}{kept}"}

    assert http.post("/v1/reaper/run").json() == {"expired": 0, "orphans": 1, "gone": 0}
    assert orphan.handle not in backend.sandboxes
    assert foreign in backend.sandboxes
    shell = http.post(f"/v1/sandboxes/{kept}/tools/run_shell_command", json={"command": "echo ok"})
    assert text_of(shell.json()).strip() == "ok"


def test_pause_and_resume_keep_the_interpreter(agentrun, tmp_path):
    url, backend = agentrun()
    launcher = AgentRunLauncher(agentrun_settings(tmp_path, url))
    launched = asyncio.run(launcher.start("base", "sbx-pause", TOKEN))
    headers = {**launched.headers, "Authorization": f"Bearer {TOKEN}"}
    cell = f"{launched.endpoint}/tools/run_ipython_cell"
    httpx.post(cell, json={"code": "kept = 'yes'"}, headers=headers).raise_for_status()
    asyncio.run(launcher.pause(launched.handle))
    assert backend.sandboxes[launched.handle].status == "PAUSED"
    with pytest.raises(LaunchError, match="not READY"):  # AgentRun's 409: a refusal, no retry
        asyncio.run(launcher.pause(launched.handle))
    assert asyncio.run(launcher.alive(launched.handle))  # paused is not gone
    assert httpx.post(cell, json={"code": "kept"}, headers=headers).status_code == 409
    asyncio.run(launcher.resume(launched.handle))
    answer = httpx.post(cell, json={"code": "kept"}, headers=headers, timeout=30)
    assert "'yes'" in text_of(answer.json())
    asyncio.run(launcher.stop(launched.handle))


def test_pause_and_resume_through_the_function_keep_state_and_files(agentrun, function, tmp_path):
    url, backend = agentrun()
    http = function(agentrun_settings(tmp_path, url))
    sid = http.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"]
    http.post(f"/v1/sandboxes/{sid}/tools/run_ipython_cell", json={"code": "n = 41"})
    http.put(f"/v1/sandboxes/{sid}/files/kept.txt", content=b"kept").raise_for_status()

    assert http.post(f"/v1/sandboxes/{sid}/pause").json()["status"] == "paused"
    (sandbox,) = backend.sandboxes.values()
    assert sandbox.status == "PAUSED"
    assert http.post(f"/v1/sandboxes/{sid}/resume").json()["status"] == "running"
    assert sandbox.status == "READY"

    kept = http.post(f"/v1/sandboxes/{sid}/tools/run_ipython_cell", json={"code": "n + 1"})
    assert text_of(kept.json()) == "42\n"
    assert http.get(f"/v1/sandboxes/{sid}/files/kept.txt").content == b"kept"


def test_an_unreachable_control_plane_is_503_after_retries(function, tmp_path):
    from local_emulator.serve import free_port

    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    http = function(agentrun_settings(tmp_path, dead))
    answer = http.post("/v1/sandboxes", json={"type": "base"})
    assert answer.status_code == 503, answer.text
    assert answer.json()["code"] == "backend_unavailable"
    assert "unreachable (CreateSandbox)" in answer.json()["detail"]


def test_make_local_with_agentrun_runs_fridays_code_tool(
    tmp_path, docker_client, sandbox_images_built
):
    from local_emulator.agentrun.models import LABEL_EMULATOR
    from local_emulator.serve import free_port
    from tests.fixtures.servers import run_emulator

    def emulator_containers() -> set[str]:
        found = docker_client.containers.list(all=True, filters={"label": LABEL_EMULATOR})
        return {c.id for c in found}

    before = emulator_containers()
    port = free_port()
    env = {
        "QUERY_PORT": str(port),
        "STATE_PORT": str(free_port()),
        "SANDBOX_PORT": str(free_port()),
        "STORE_URL": f"file://{tmp_path}/store",
        "MODEL_BASE_URL": "",
    }
    body = {
        "session_id": "c1",
        "stream": False,
        "input": [
            {
                "role": "user",
                "content": [{"type": "text", "text": "Run this:\n```python\nprint(6 * 7)\n```"}],
            }
        ],
    }
    with run_emulator(env, ("--sandbox-backend", "agentrun")) as proc:
        answer = httpx.post(f"http://127.0.0.1:{port}/process", json=body, timeout=60)
        started = emulator_containers() - before
    output = proc.stdout.read()
    assert "agentrun http://127.0.0.1:" in output
    assert answer.status_code == 200, answer.text
    call, result, _ = answer.json()["output"]
    assert call["content"][0]["data"]["name"] == "execute_python_code"
    assert result["content"][0]["data"]["output"] == "42\n"
    assert len(started) == 1  # the session's sandbox ran as an AgentRun sandbox on Docker
    leftover = emulator_containers() & started
    for container_id in leftover:
        docker_client.containers.get(container_id).remove(force=True)
    assert not leftover  # the emulator removed its sandboxes when it stopped


def test_a_browser_sandbox_s_live_view_goes_through_the_data_plane(agentrun, function, tmp_path):
    """The sandbox function's door relays noVNC's files and WebSocket through AgentRun's data
    plane, with the sandbox's access token (which the browser never holds)."""
    from websockets.sync.client import connect

    from tests.fixtures.desktop import ws_of

    url, _ = agentrun()
    http = function(agentrun_settings(tmp_path, url))
    created = http.post("/v1/sandboxes", json={"type": "browser"})
    assert created.status_code == 201, created.text
    desktop_url = created.json()["desktop_url"]
    function_url = str(http.base_url).rstrip("/")
    assert desktop_url.startswith(f"{function_url}/v1/sandboxes/{created.json()['sandbox_id']}/")
    page = httpx.get(desktop_url.split("#")[0], timeout=30)
    assert page.status_code == 200 and "noVNC" in page.text
    with connect(ws_of(desktop_url), open_timeout=30, proxy=None) as ws:
        assert ws.recv(timeout=30)[:4] == b"RFB "

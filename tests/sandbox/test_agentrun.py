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

from functions.runtime.sandbox.errors import SandboxBackendError
from functions.runtime.sandbox.launchers.agentrun import AgentRunLauncher
from functions.runtime.sandbox.launchers.docker import LABEL_OWNER
from functions.runtime.settings import Settings
from local_emulator.acs_signature import Credential
from local_emulator.agentrun import AgentRunBackend, create_app
from local_emulator.agentrun.local import deploy_templates
from local_emulator.agentrun.models import MISSING, Fault
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
    asyncio.run(launcher.pause(launched.handle))  # AgentRun's 409 "is PAUSED": done already
    assert backend.sandboxes[launched.handle].status == "PAUSED"
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


# -- control-plane faults: the emulator does the work, then loses or garbles the answer ------


def test_the_emulator_loses_or_garbles_an_answer_after_doing_the_work(agentrun, tmp_path):
    """The emulator's fault hook speaks AgentRun's wire format: a lost answer is its 500
    error body (the SDK raises as for any 5xx), a garbled one keeps the SUCCESS envelope."""
    from alibabacloud_agentrun20250910 import models
    from alibabacloud_tea_openapi.exceptions import ClientException, ServerException

    url, backend = agentrun()
    launcher = AgentRunLauncher(agentrun_settings(tmp_path, url))
    launched = asyncio.run(launcher.start("base", "sbx-faults", TOKEN))
    sdk = sdk_client(url)
    backend.inject(Fault("PauseSandbox", lose=True))
    with pytest.raises(ServerException) as lost:
        sdk.pause_sandbox(launched.handle)
    assert (lost.value.status_code, lost.value.code) == (500, "ERR_INTERNAL_SERVER_ERROR")
    assert backend.sandboxes[launched.handle].status == "PAUSED"  # done all the same
    # no document says what pausing a paused sandbox answers: the emulator refuses it
    with pytest.raises(ClientException) as again:
        sdk.pause_sandbox(launched.handle)
    assert (again.value.status_code, again.value.code) == (409, "ERR_CONFLICT")
    request = models.GetAccessTokenRequest(resource_id=launched.handle, resource_type="sandbox")
    backend.inject(Fault("GetAccessToken", data=MISSING))
    assert sdk.get_access_token(request).body.data is None
    backend.inject(Fault("GetAccessToken", data={}))
    assert sdk.get_access_token(request).body.data.access_token is None
    assert sdk.get_access_token(request).body.data.access_token  # one answer each
    asyncio.run(launcher.stop(launched.handle))


def test_racing_pauses_and_resumes_on_the_emulator_are_done_once_each(agentrun, tmp_path):
    url, backend = agentrun()
    launcher = AgentRunLauncher(agentrun_settings(tmp_path, url))
    launched = asyncio.run(launcher.start("base", "sbx-race", TOKEN))

    async def four(step) -> None:
        await asyncio.gather(*(step(launched.handle) for _ in range(4)))

    asyncio.run(four(launcher.pause))  # one pauses, the others find it paused: no 500
    assert backend.sandboxes[launched.handle].status == "PAUSED"
    asyncio.run(four(launcher.resume))
    assert backend.sandboxes[launched.handle].status == "READY"
    asyncio.run(launcher.stop(launched.handle))


@pytest.mark.parametrize("lost", [1, 3], ids=["one-answer-lost", "every-answer-lost"])
def test_a_pause_or_resume_whose_answer_was_lost_is_done_and_recorded(
    agentrun, function, tmp_path, lost
):
    """AgentRun paused (resumed) it but the answer never came: the retry's 409 "is PAUSED,
    not READY", or no answer at all, leaves the record and the backend agreeing."""
    url, backend = agentrun()
    http = function(agentrun_settings(tmp_path, url))
    sid = http.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"]
    http.post(f"/v1/sandboxes/{sid}/tools/run_ipython_cell", json={"code": "n = 41"})
    (sandbox,) = backend.sandboxes.values()

    backend.inject(Fault("PauseSandbox", lose=True, times=lost))
    paused = http.post(f"/v1/sandboxes/{sid}/pause")
    assert paused.status_code == 200, paused.text
    assert paused.json()["status"] == "paused" and sandbox.status == "PAUSED"
    assert http.get(f"/v1/sandboxes/{sid}").json()["status"] == "paused"

    backend.inject(Fault("ResumeSandbox", lose=True, times=lost))
    resumed = http.post(f"/v1/sandboxes/{sid}/resume")
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["status"] == "running" and sandbox.status == "READY"
    kept = http.post(f"/v1/sandboxes/{sid}/tools/run_ipython_cell", json={"code": "n + 1"})
    assert text_of(kept.json()) == "42\n"


def test_a_pause_or_resume_heals_a_record_the_backend_disagrees_with(agentrun, function, tmp_path):
    """Whatever left them apart, asking for what the record says already makes AgentRun
    agree; a call meanwhile is told the sandbox is paused, without its backend handle."""
    url, backend = agentrun()
    http = function(agentrun_settings(tmp_path, url))
    sid = http.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"]
    (handle,) = backend.sandboxes
    sdk_client(url).pause_sandbox(handle)  # the record says running, AgentRun has it paused

    call = http.post(f"/v1/sandboxes/{sid}/tools/run_shell_command", json={"command": "echo hi"})
    assert call.status_code == 409 and call.json()["code"] == "sandbox_paused", call.text
    assert "asf-" not in call.text and handle not in call.text
    resumed = http.post(f"/v1/sandboxes/{sid}/resume")  # the record says running already
    assert resumed.status_code == 200 and resumed.json()["status"] == "running", resumed.text
    assert backend.sandboxes[handle].status == "READY"
    call = http.post(f"/v1/sandboxes/{sid}/tools/run_shell_command", json={"command": "echo hi"})
    assert text_of(call.json()).strip() == "hi"

    assert http.post(f"/v1/sandboxes/{sid}/pause").json()["status"] == "paused"
    sdk_client(url).resume_sandbox(handle)  # the record says paused, AgentRun runs it
    paused = http.post(f"/v1/sandboxes/{sid}/pause")  # the record says paused already
    assert paused.status_code == 200 and paused.json()["status"] == "paused", paused.text
    assert backend.sandboxes[handle].status == "PAUSED"


@pytest.mark.parametrize("lost", [1, 3], ids=["one-answer-lost", "every-answer-lost"])
def test_a_create_whose_answer_was_lost_leaves_no_unrecorded_sandbox(
    agentrun, function, tmp_path, lost
):
    """CreateSandbox made it, the answer never came: a retry that meets "already exists"
    uses it (the id is ours); a create that fails all the same deletes it before it fails."""
    url, backend = agentrun()
    http = function(agentrun_settings(tmp_path, url))
    backend.inject(Fault("CreateSandbox", lose=True, times=lost))
    created = http.post("/v1/sandboxes", json={"type": "base", "session_id": "retry"})
    if lost == 1:
        assert created.status_code == 201, created.text
        assert len(backend.sandboxes) == 1
        return
    assert created.status_code == 503 and created.json()["code"] == "backend_unavailable"
    assert backend.sandboxes == {}  # deleted before the answer, not left for the reaper
    again = http.post("/v1/sandboxes", json={"type": "base", "session_id": "retry"})
    assert again.status_code == 201, again.text
    assert len(backend.sandboxes) == 1


@pytest.mark.parametrize("data", [MISSING, None, {}, [1], {"accessToken": 7}])
def test_a_get_access_token_answer_without_a_token_is_a_backend_error(
    agentrun, function, tmp_path, data
):
    url, backend = agentrun()
    http = function(agentrun_settings(tmp_path, url))
    backend.inject(Fault("GetAccessToken", data=data))
    answer = http.post("/v1/sandboxes", json={"type": "base"})
    assert answer.status_code == 502, answer.text
    assert answer.json()["code"] == "sandbox_backend_error"
    assert "AgentRun's answer to GetAccessToken is malformed" in answer.json()["detail"]
    assert backend.sandboxes == {}  # the sandbox it made is deleted
    assert http.get("/v1/sandboxes").json()["items"] == []


@pytest.mark.parametrize("data", [MISSING, None, [1], "x"])
def test_a_garbled_create_answer_is_not_read(agentrun, function, tmp_path, data):
    """The launcher chose the sandbox's id: it needs nothing from CreateSandbox's answer."""
    url, backend = agentrun()
    http = function(agentrun_settings(tmp_path, url))
    backend.inject(Fault("CreateSandbox", data=data))
    answer = http.post("/v1/sandboxes", json={"type": "base"})
    assert answer.status_code == 201, answer.text
    assert len(backend.sandboxes) == 1


def test_an_answer_that_is_no_json_is_a_backend_error_that_quotes_nothing(
    agentrun, function, tmp_path
):
    """A 200 whose body is no JSON (a cut answer, a gateway's page), on every attempt: the
    SDK's error quotes the body, here a cut access token, which must reach no caller."""
    url, backend = agentrun()
    http = function(agentrun_settings(tmp_path, url))
    cut = b'{"code": "SUCCESS", "data": {"accessToken": "cut-access-token'
    backend.inject(Fault("GetAccessToken", raw=cut, times=3))
    answer = http.post("/v1/sandboxes", json={"type": "base"})
    assert answer.status_code == 502 and answer.json()["code"] == "sandbox_backend_error"
    assert answer.json()["detail"] == "AgentRun's answer to GetAccessToken is malformed (no JSON)"
    assert backend.sandboxes == {}  # the sandbox it made is deleted
    backend.inject(Fault("CreateSandbox", raw=cut, times=3))  # the retry finds its own
    assert http.post("/v1/sandboxes", json={"type": "base"}).status_code == 201
    assert len(backend.sandboxes) == 1


def test_malformed_status_and_listing_answers_are_backend_errors(agentrun, tmp_path):
    url, backend = agentrun()
    launcher = AgentRunLauncher(agentrun_settings(tmp_path, url))
    launched = asyncio.run(launcher.start("base", "sbx-malformed", TOKEN))
    for data in (MISSING, None, {}, [1]):
        backend.inject(Fault("GetSandbox", data=data))
        with pytest.raises(SandboxBackendError, match="GetSandbox is malformed"):
            asyncio.run(launcher._status(launched.handle))
        backend.inject(Fault("GetSandbox", data=data))
        assert asyncio.run(launcher.alive(launched.handle))  # cannot tell: kept
    for data in ([1], {"items": [1]}, {"items": [{"sandboxId": launched.handle, "createdAt": 5}]}):
        backend.inject(Fault("ListSandboxes", data=data))
        with pytest.raises(SandboxBackendError, match="ListSandboxes is malformed"):
            asyncio.run(launcher.owned())
    backend.inject(Fault("ListSandboxes", times=9, data={"items": [], "nextToken": "0"}))
    with pytest.raises(SandboxBackendError, match="a nextToken given before"):
        asyncio.run(launcher.owned())  # a listing that would never end
    backend.faults.clear()
    assert set(asyncio.run(launcher.owned())) == {launched.handle}
    asyncio.run(launcher.stop(launched.handle))


def test_a_data_plane_refusal_never_names_the_backend_handle(agentrun, function, tmp_path):
    url, backend = agentrun()
    http = function(agentrun_settings(tmp_path, url))
    sid = http.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"]
    (handle,) = backend.sandboxes
    asyncio.run(backend.stop_sandbox(handle))  # AgentRun ended it: "sandbox asf-... is ..."
    call = http.post(f"/v1/sandboxes/{sid}/tools/run_shell_command", json={"command": "true"})
    assert call.status_code == 410 and call.json()["code"] == "sandbox_gone", call.text
    assert "asf-" not in call.text and "<sandbox>" in call.text
    launcher = AgentRunLauncher(agentrun_settings(tmp_path, url))
    said = b'{"code": "ERR_CONFLICT", "message": "sandbox %s is busy", "requestId": "r"}'
    busy = launcher.call_error(409, said % handle.encode())
    assert busy is not None and str(busy) == "AgentRun: sandbox <sandbox> is busy"

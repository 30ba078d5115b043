"""The FC backend beyond the shared contract: the emulator through the official SDK, expiry,
throttling, the reaper, credentials from AWS Secrets Manager, and FC's errors mapped.

One emulator (with the sandbox functions deployed) serves the module; its clock moves
forward instead of tests sleeping, and its request counter shows what was retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from functions.runtime.errors import ApiError, InvalidRequest
from functions.runtime.sandbox.errors import (
    BackendThrottled,
    BackendUnavailable,
    LaunchError,
    SandboxBackendError,
    SandboxGone,
)
from functions.runtime.sandbox.launchers.fc import FcFailure, FcLauncher, fc_error
from functions.runtime.sandbox.types import SANDBOX_TYPES
from functions.runtime.settings import Settings
from local_emulator.fc import (
    Fault,
    FcEmulator,
    deployed_emulator,
    register_sandbox_functions,
)
from local_emulator.fc.models import EXPIRED_KEPT_S
from tests.sandbox.conftest import end_fc_sessions
from tests.sandbox.support import containers_of, sandboxes_recorded, text_of


@pytest.fixture(scope="module")
def emulator(sandbox_images_built) -> Iterator[tuple[FcEmulator, dict[str, str]]]:
    with deployed_emulator() as running:
        yield running


@pytest.fixture
def fc_settings(emulator, tmp_path) -> Iterator[Settings]:
    _, env = emulator
    settings = Settings(
        store_url=f"file://{tmp_path / 'store'}",
        sandbox_orphan_grace_s=0,
        **{name.lower(): value for name, value in env.items()},
    )
    yield settings
    end_fc_sessions(settings)


@pytest.fixture
def settings(fc_settings: Settings) -> Settings:
    """What the shared ``serve`` fixture serves: FC only here, not the backend matrix."""
    return fc_settings


def sdk_client(emulator: FcEmulator, key_id: str, secret: str):
    from alibabacloud_fc20230330.client import Client
    from alibabacloud_tea_openapi.utils_models import Config

    return Client(
        Config(
            access_key_id=key_id,
            access_key_secret=secret,
            endpoint=emulator.url.removeprefix("http://"),
            protocol="http",
            region_id="cn-hangzhou",
        )
    )


def test_the_emulator_speaks_fc_to_the_official_sdk_and_refuses_a_wrong_key(emulator):
    from alibabacloud_fc20230330 import models
    from alibabacloud_tea_openapi.exceptions import ClientException

    running, _ = emulator
    good = sdk_client(running, running.access_key_id, running.access_key_secret)
    listed = good.list_functions(models.ListFunctionsRequest(prefix="agentscope-sandbox-"))
    names = sorted(f.function_name for f in listed.body.functions)
    assert names == sorted(f"agentscope-sandbox-{t}" for t in SANDBOX_TYPES)  # one per type
    base = good.get_function("agentscope-sandbox-base", models.GetFunctionRequest()).body
    assert (base.instance_isolation_mode, base.session_affinity) == (
        "SESSION_EXCLUSIVE",
        "HEADER_FIELD",
    )
    affinity = json.loads(base.session_affinity_config)
    assert affinity["affinityHeaderFieldName"] == "x-agentscope-sandbox-session"
    assert base.custom_container_config.port == 8000
    (trigger,) = good.list_triggers(
        "agentscope-sandbox-base", models.ListTriggersRequest()
    ).body.triggers
    assert trigger.http_trigger.url_internet.startswith(running.url)

    with pytest.raises(ClientException) as missing:
        good.get_function("agentscope-sandbox-gpu", models.GetFunctionRequest())
    assert (missing.value.status_code, missing.value.code) == (404, "FunctionNotFound")
    with pytest.raises(ClientException) as exists:
        good.create_function(
            models.CreateFunctionRequest(
                body=models.CreateFunctionInput(
                    function_name="agentscope-sandbox-base",
                    runtime="custom-container",
                    custom_container_config=models.CustomContainerConfig(image="x", port=8000),
                )
            )
        )
    assert (exists.value.status_code, exists.value.code) == (409, "FunctionAlreadyExists")

    wrong_secret = sdk_client(running, running.access_key_id, "not-the-secret")
    with pytest.raises(ClientException) as refused:
        wrong_secret.list_functions(models.ListFunctionsRequest())
    assert (refused.value.status_code, refused.value.code) == (403, "SignatureNotMatch")
    unknown_key = sdk_client(running, "LTAInobody", running.access_key_secret)
    with pytest.raises(ClientException) as unknown:
        unknown_key.list_functions(models.ListFunctionsRequest())
    assert (unknown.value.status_code, unknown.value.code) == (403, "InvalidAccessKeyID")
    assert running.access_key_secret not in str(refused.value)


def test_a_wrong_key_in_the_sandbox_function_is_a_clear_503(emulator, fc_settings, serve):
    wrong = fc_settings.model_copy(update={"alibaba_cloud_access_key_secret": "wrong"})
    refused = serve(wrong).post("/v1/sandboxes", json={"type": "base"})
    assert refused.status_code == 503 and refused.json()["code"] == "backend_unavailable"
    assert "SignatureNotMatch" in refused.json()["detail"]
    assert "wrong" not in refused.text


def test_throttling_becomes_429_with_retry_after_and_only_safe_calls_repeat(
    emulator, fc_settings, serve
):
    running, _ = emulator
    http = serve(fc_settings)
    assert http.post("/v1/sandboxes", json={"type": "base"}).status_code == 201
    running.backend.max_sessions = 1
    try:
        before = running.backend.calls["create_session"]
        throttled = http.post("/v1/sandboxes", json={"type": "base"})
        assert throttled.status_code == 429, throttled.text
        assert throttled.json()["code"] == "backend_throttled"
        assert int(throttled.headers["Retry-After"]) >= 1
        # FC made nothing, so CreateSession was tried again, up to the retry budget
        tried = running.backend.calls["create_session"] - before
        assert tried == fc_settings.fc_retry_attempts
    finally:
        running.backend.max_sessions = 100


def test_a_tool_call_is_never_repeated(emulator, fc_settings, serve):
    running, _ = emulator
    http = serve(fc_settings)
    sid = http.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"]

    async def pause_behind_its_back() -> None:
        await FcLauncher(fc_settings).pause(f"agentscope-sandbox-base/{sid}")

    asyncio.run(pause_behind_its_back())  # FC now refuses calls; the registry does not know
    before = running.backend.calls["invoke"]
    refused = http.post(f"/v1/sandboxes/{sid}/tools/run_shell_command", json={"command": "true"})
    assert refused.status_code == 409 and refused.json()["code"] == "sandbox_paused"
    assert running.backend.calls["invoke"] - before == 1


def test_an_expired_session_is_cleaned_up_and_then_a_clear_error(
    emulator, fc_settings, serve, docker_client
):
    running, _ = emulator
    http = serve(fc_settings)
    sid = http.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"]
    http.post(f"/v1/sandboxes/{sid}/tools/run_ipython_cell", json={"code": "x = 1"})
    assert len(containers_of(docker_client, fc_settings)) == 1
    running.backend.advance(fc_settings.sandbox_ttl_s + 1)  # past the session's idle timeout
    try:
        # the reaper finds its session ended (FC has already removed its instance) and
        # forgets it
        assert http.post("/v1/reaper/run").json() == {"expired": 0, "orphans": 0, "gone": 1}
        assert containers_of(docker_client, fc_settings) == []
        gone = http.post(f"/v1/sandboxes/{sid}/tools/run_ipython_cell", json={"code": "x"})
        assert gone.status_code == 404 and gone.json()["code"] == "sandbox_not_found"
        assert http.get(f"/v1/sandboxes/{sid}").status_code == 404
        fresh = http.post("/v1/sandboxes", json={"type": "base"})
        assert fresh.status_code == 201 and fresh.json()["sandbox_id"] != sid
    finally:
        running.backend.advance(-(fc_settings.sandbox_ttl_s + 1))


def test_a_sandbox_s_own_ttl_is_its_session_idle_timeout(emulator, fc_settings, serve):
    """A sandbox asked to live longer than SANDBOX_TTL_S idle is not ended by FC sooner;
    a pooled session (started with the default idle timeout) is not handed to any request
    that names its own ttl_s."""
    running, _ = emulator
    http = serve(fc_settings.model_copy(update={"sandbox_pool_size": 1}))
    assert http.post("/v1/reaper/run").status_code == 200  # returns once the pool is warm
    default, long = int(fc_settings.sandbox_ttl_s), int(fc_settings.sandbox_ttl_s) * 2
    made = http.post("/v1/sandboxes", json={"type": "base", "ttl_s": long})
    assert made.status_code == 201
    sid = made.json()["sandbox_id"]
    idle = {s.session_id: s.idle_s for s in running.backend.sessions.values()}
    assert idle[sid] == long and sorted(idle.values()) == [default, long]  # the pool kept its own
    short = http.post("/v1/sandboxes", json={"type": "base", "ttl_s": default // 2})
    assert short.status_code == 201  # FC ends it idle at its own ttl_s, so not the pooled one
    idle = {s.session_id: s.idle_s for s in running.backend.sessions.values()}
    assert idle[short.json()["sandbox_id"]] == default // 2 and len(idle) == 3
    running.backend.advance(default + 1)  # past the default idle timeout, within its own
    try:
        alive = http.post(f"/v1/sandboxes/{sid}/tools/run_ipython_cell", json={"code": "6 * 7"})
        assert alive.status_code == 200 and text_of(alive.json()) == "42\n"
    finally:
        running.backend.advance(-(default + 1))


def test_the_reaper_ends_its_orphan_sessions_and_nobody_elses(
    emulator, fc_settings, serve, docker_client
):
    running, _ = emulator
    theirs = fc_settings.model_copy(update={"fc_sandbox_function_prefix": "other-sandbox-"})
    register_sandbox_functions(running, theirs, ("base",))
    ours = FcLauncher(fc_settings)
    other = FcLauncher(theirs)

    async def launch_unrecorded() -> tuple[str, str]:
        mine = await ours.start("base", "sbx-orphan", "o" * 43)
        foreign = await other.start("base", "sbx-foreign", "f" * 43)
        return mine.handle, foreign.handle

    mine, foreign = asyncio.run(launch_unrecorded())
    try:
        assert serve(fc_settings).post("/v1/reaper/run").json() == {
            "expired": 0,
            "orphans": 1,
            "gone": 0,
        }
        assert not asyncio.run(ours.alive(mine))
        assert asyncio.run(other.alive(foreign))
    finally:
        asyncio.run(other.stop(foreign))
        admin = sdk_client(running, running.access_key_id, running.access_key_secret)
        admin.delete_function("other-sandbox-base")


def test_a_sandbox_another_backend_launched_is_replaced_not_used(fc_settings, serve):
    """The store outlived a switch from docker to fc: the session gets an FC sandbox."""
    import time

    from functions.runtime.storage import open_store
    from functions.sandbox.registry import Registry, SandboxRecord

    async def left_by_docker() -> None:
        registry = Registry(open_store(fc_settings.store_url, fc_settings))
        now = time.time()
        await registry.add(
            SandboxRecord(
                id="sbx-from-docker",
                type="base",
                user_id="u",
                session_id="chat",
                backend="docker",
                handle="0123456789abcdef",
                endpoint="http://127.0.0.1:9",
                token="t",
                created_at=now,
                expires_at=now + 600,
                ttl_s=600,
            )
        )
        await registry.bind("u", "chat", "base", "sbx-from-docker", None)

    asyncio.run(left_by_docker())
    http = serve(fc_settings)
    created = http.post(
        "/v1/sandboxes", json={"type": "base", "user_id": "u", "session_id": "chat"}
    )
    assert created.status_code == 201 and created.json()["sandbox_id"] != "sbx-from-docker"
    assert http.get("/v1/sandboxes/sbx-from-docker").status_code == 404
    sid = created.json()["sandbox_id"]
    ran = http.post(f"/v1/sandboxes/{sid}/tools/run_shell_command", json={"command": "echo fc"})
    assert text_of(ran.json()) == "fc\n"


def test_a_type_without_a_function_is_a_clear_404(emulator, fc_settings, serve):
    undeployed = fc_settings.model_copy(update={"fc_sandbox_function_prefix": "nothing-here-"})
    missing = serve(undeployed).post("/v1/sandboxes", json={"type": "base"})
    assert missing.status_code == 404 and missing.json()["code"] == "sandbox_type_not_deployed"


def test_credentials_can_come_from_an_aws_secret_read_once(emulator, fc_settings, moto_s3_server):
    import boto3

    running, _ = emulator
    secrets = boto3.client(
        "secretsmanager", endpoint_url=moto_s3_server.url, region_name="us-east-1"
    )
    arn = secrets.create_secret(
        Name=f"alibaba-{running.backend.account_id}",
        SecretString=json.dumps(
            {"access_key_id": running.access_key_id, "access_key_secret": running.access_key_secret}
        ),
    )["ARN"]
    on_aws = fc_settings.model_copy(
        update={
            "alibaba_cloud_access_key_id": None,
            "alibaba_cloud_access_key_secret": None,
            "alibaba_cloud_credentials_secret": arn,
            "secretsmanager_endpoint_url": moto_s3_server.url,
        }
    )
    assert asyncio.run(FcLauncher(on_aws).owned()) == {}  # signed with the secret's key pair
    secrets.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    assert asyncio.run(FcLauncher(on_aws).owned()) == {}  # read once per process, not per call
    nowhere = on_aws.model_copy(update={"alibaba_cloud_credentials_secret": None})
    with pytest.raises(LaunchError, match="no Alibaba Cloud credentials"):
        asyncio.run(FcLauncher(nowhere).owned())


def test_a_session_s_token_opens_only_that_session(emulator, fc_settings):
    """Through the trigger: the session header picks the instance, its token only opens it."""
    tokens = {"sbx-one": "1" * 43, "sbx-two": "2" * 43}

    async def two_sessions() -> list:
        launcher = FcLauncher(fc_settings)
        return [await launcher.start("base", sid, token) for sid, token in tokens.items()]

    one, two = asyncio.run(two_sessions())
    call = {"command": "echo ok"}
    launcher = FcLauncher(fc_settings)  # signs for the triggers' function auth
    with httpx.Client(timeout=60, auth=launcher.call_auth()) as http:
        url = f"{one.endpoint}/tools/run_shell_command"
        mine = launcher.tool_headers(tokens["sbx-one"])
        own = http.post(url, json=call, headers={**one.headers, **mine})
        assert text_of(own.json()) == "ok\n"
        crossed = http.post(url, json=call, headers={**two.headers, **mine})
        assert crossed.status_code == 401  # reached sbx-two's instance, which wants its own
        taken = http.post(f"{one.endpoint}/claim", headers={**two.headers, **mine})
        assert taken.status_code == 409  # and took its own token for good


def fc_refusal(resp: httpx.Response) -> str:
    """The code of FC's own 403 for a trigger call without a valid signature."""
    assert resp.status_code == 403, resp.text
    body = resp.json()
    assert set(body) == {"Code", "Message", "RequestId"}
    assert resp.headers["x-fc-request-id"] == body["RequestId"]
    return body["Code"]


def test_the_sandbox_triggers_admit_only_signed_calls(emulator, fc_settings):
    """Who learns a trigger's URL can neither open a session nor claim one without the
    deployment's key: the triggers have function auth, FC's gateway refuses the rest."""
    from alibabacloud_fc20230330 import models

    running, _ = emulator
    api = sdk_client(running, running.access_key_id, running.access_key_secret)
    for sandbox_type in SANDBOX_TYPES:
        (trigger,) = api.list_triggers(
            f"agentscope-sandbox-{sandbox_type}", models.ListTriggersRequest()
        ).body.triggers
        assert json.loads(trigger.trigger_config)["authType"] == "function"

    launcher = FcLauncher(fc_settings)
    token = "o" * 43
    ours = asyncio.run(launcher.start("base", "sbx-ours", token))
    sessions = set(running.backend.sessions)
    url = ours.endpoint
    attacker = "a" * 43
    call = {"command": "id"}
    with httpx.Client(timeout=60) as anonymous:
        # a session of their own: a fresh affinity id, or none (FC would make one up)
        for headers in ({"x-agentscope-sandbox-session": "sbx-theirs"}, {}):
            claim = anonymous.post(
                f"{url}/claim", headers={**headers, "Authorization": f"Bearer {attacker}"}
            )
            assert fc_refusal(claim) == "IncompleteSignature"  # a Bearer is no signature
            header_claim = anonymous.post(
                f"{url}/claim", headers={**headers, "X-Agentscope-Sandbox-Token": attacker}
            )
            assert fc_refusal(header_claim) == "AccessDenied"
        # our session, even with our token in hand
        for headers in (launcher.tool_headers(token), {"Authorization": f"Bearer {token}"}):
            resp = anonymous.post(
                f"{url}/tools/run_shell_command", json=call, headers={**ours.headers, **headers}
            )
            fc_refusal(resp)
        assert running.backend.sessions.keys() == sessions  # nothing started for them

        # signed with a key FC does not know, or the right id with a wrong secret
        for key_id, secret in (("LTAIstranger", "x"), (running.access_key_id, "wrong")):
            stranger = fc_settings.model_copy(
                update={
                    "alibaba_cloud_access_key_id": key_id,
                    "alibaba_cloud_access_key_secret": secret,
                }
            )
            resp = anonymous.post(
                f"{url}/claim",
                headers={
                    "x-agentscope-sandbox-session": "sbx-theirs",
                    **launcher.tool_headers(attacker),
                },
                auth=FcLauncher(stranger).call_auth(),
            )
            assert fc_refusal(resp) in ("InvalidAccessKeyID", "SignatureNotMatch")
        assert running.backend.sessions.keys() == sessions

        # a signed call is served, and a replay of it (same nonce) is refused
        signed = anonymous.build_request(
            "POST",
            f"{url}/tools/run_shell_command",
            json={"command": "echo ok"},
            headers={**ours.headers, **launcher.tool_headers(token)},
        )
        flow = launcher.call_auth().sync_auth_flow(signed)
        signed = next(flow)
        assert text_of(anonymous.send(signed).json()) == "ok\n"
        fc_refusal(anonymous.send(signed))


def test_an_unsigned_websocket_is_refused_at_the_trigger(emulator, fc_settings):
    """The live view's WebSocket through a trigger: the handshake must be signed too."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    from functions.runtime.ws_relay import signed_headers, ws_url

    launcher = FcLauncher(fc_settings)
    ours = asyncio.run(launcher.start("base", "sbx-view", "v" * 43))
    url = ws_url(f"{ours.endpoint}/desktop/websockify?token=x")
    with pytest.raises(InvalidStatus) as refused:
        connect(url, additional_headers=ours.headers, proxy=None, open_timeout=30)
    assert refused.value.response.status_code == 403
    # signed, the handshake passes the gateway: the base type has no live view to open
    headers = signed_headers(launcher.call_auth(), url, ours.headers)
    with pytest.raises(InvalidStatus) as passed:
        connect(url, additional_headers=headers, proxy=None, open_timeout=30)
    assert passed.value.response.status_code == 401  # the tool server's: no token given


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (
            FcFailure(404, "FunctionNotFound", "function 'x' does not exist."),
            (404, "sandbox_type_not_deployed"),
        ),
        (FcFailure(404, "SessionNotFound", "no"), (410, "sandbox_gone")),
        (FcFailure(410, "SessionExpired", "ended"), (410, "sandbox_gone")),
        (FcFailure(409, "SessionPaused", "paused"), (409, "sandbox_paused")),
        (FcFailure(400, "InvalidArgument", "bad"), (502, "sandbox_backend_error")),
    ],
)
def test_fc_errors_map_to_api_errors(failure, expected):
    mapped = fc_error(failure, "CreateSession")
    assert isinstance(mapped, ApiError) and (mapped.status, mapped.code) == expected


def test_fc_throttling_quota_auth_and_outages_map_to_429_and_503():
    throttled = [
        FcFailure(429, "ResourceExhausted", "limit", retry_after_s=3.0),
        FcFailure(503, "ResourceThrottled", "machines"),
        FcFailure(400, "Throttling.User", "slow down"),
    ]
    for failure in throttled:
        mapped = fc_error(failure, "CreateSession")
        assert isinstance(mapped, BackendThrottled), failure
    assert fc_error(throttled[0], "x").retry_after_s == 3.0
    assert fc_error(throttled[1], "x").retry_after_s == 1.0
    for failure in [
        FcFailure(400, "LimitExceeded.Instance", "quota"),
        FcFailure(403, "SignatureNotMatch", "bad signature"),
        FcFailure(500, "InternalServerError", "oops"),
        FcFailure(None, "NetworkError", "refused"),
    ]:
        assert isinstance(fc_error(failure, "CreateSession"), BackendUnavailable), failure
    assert isinstance(fc_error(FcFailure(412, "CAExited", "no image"), "x"), LaunchError)


def test_the_tool_server_s_own_errors_are_not_taken_for_fc_s():
    launcher = FcLauncher(Settings())
    tool_server = json.dumps({"detail": "no such file", "code": "not_found"}).encode()
    assert launcher.call_error(404, tool_server) is None
    assert launcher.call_error(200, b'{"Code": "x"}') is None
    assert launcher.call_error(502, b"<html>bad gateway</html>") is None
    fc = json.dumps({"Code": "SessionExpired", "Message": "m", "RequestId": "r"}).encode()
    gone = launcher.call_error(410, fc)
    assert isinstance(gone, SandboxGone) and gone.status == 410


# -- what FC cannot keep, and answers that go astray ----------------------------------------


def live_sessions(running: FcEmulator) -> list[str]:
    """The ids of the emulator's sessions that hold an instance (Active or Paused)."""
    return sorted(
        session.session_id
        for session in running.backend.sessions.values()
        if session.status != "Expired"
    )


def until(check: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    """Poll ``check`` until it holds (the emulator's sweep runs on its own timer)."""
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout_s} s: {what}"
        time.sleep(0.05)


def test_a_ttl_s_longer_than_an_fc_session_lives_is_refused_before_any_work(
    emulator, fc_settings, serve
):
    """FC ends a session at its TTL (at most 21600 s) and takes no longer idle timeout: a
    sandbox asked to idle longer would be ended while its record said running."""
    running, _ = emulator
    http = serve(fc_settings)
    before = running.backend.calls["create_session"]
    for ttl_s in (86400, 21601):
        refused = http.post("/v1/sandboxes", json={"type": "base", "ttl_s": ttl_s})
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "invalid_request"
        assert "21600" in refused.json()["detail"]
    assert running.backend.calls["create_session"] == before  # nothing asked of FC
    assert sandboxes_recorded(fc_settings) == set() and live_sessions(running) == []

    longest = http.post("/v1/sandboxes", json={"type": "base", "ttl_s": 21600})
    assert longest.status_code == 201, longest.text
    sid = longest.json()["sandbox_id"]
    assert abs(longest.json()["expires_at"] - time.time() - 21600) < 60
    (session,) = [s for s in running.backend.sessions.values() if s.session_id == sid]
    assert session.idle_s == 21600 and session.ttl_s == 21600

    # a deployment whose FC sessions live shorter: its bound, and a default held to it
    short = fc_settings.model_copy(update={"fc_session_ttl_s": 3600, "sandbox_ttl_s": 7200.0})
    http = serve(short)
    refused = http.post("/v1/sandboxes", json={"type": "base", "ttl_s": 3601})
    assert refused.status_code == 422 and "3600" in refused.json()["detail"]
    made = http.post("/v1/sandboxes", json={"type": "base"})
    assert made.status_code == 201
    assert abs(made.json()["expires_at"] - time.time() - 3600) < 60  # what FC keeps
    (session,) = [
        s for s in running.backend.sessions.values() if s.session_id == made.json()["sandbox_id"]
    ]
    assert session.idle_s == 3600

    # the SDK's embedded handles start sessions themselves: the same bound holds there
    with pytest.raises(InvalidRequest, match="21600"):
        asyncio.run(FcLauncher(fc_settings).start("base", "sbx-too-long", "t" * 43, 86400))
    assert "sbx-too-long" not in live_sessions(running)


def test_a_sandbox_restarted_unclaimed_is_gone_and_its_new_session_ended(
    emulator, fc_settings, serve
):
    """A session whose id FC lets start afresh (disableSessionIdReuse off) ended: the next
    call through the trigger starts a new instance, whose tool server nobody claimed. That
    is the sandbox gone (410, forgotten, the new session deleted), not a 401 for ever."""
    from alibabacloud_fc20230330 import models

    running, _ = emulator
    http = serve(fc_settings)
    sid = http.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"]
    api = sdk_client(running, running.access_key_id, running.access_key_secret)
    function = "agentscope-sandbox-base"
    api.update_session(
        function,
        sid,
        models.UpdateSessionRequest(
            qualifier="LATEST", body=models.UpdateSessionInput(disable_session_id_reuse=False)
        ),
    )
    api.delete_session(function, sid, models.DeleteSessionRequest(qualifier="LATEST"))
    assert sid not in live_sessions(running)

    gone = http.post(f"/v1/sandboxes/{sid}/tools/run_shell_command", json={"command": "id"})
    assert gone.status_code == 410, gone.text
    assert gone.json()["code"] == "sandbox_gone"
    assert sid not in sandboxes_recorded(fc_settings)
    assert http.get(f"/v1/sandboxes/{sid}").status_code == 404
    assert sid not in live_sessions(running)  # the call's new session was ended, not kept


def test_the_emulator_refuses_an_expired_id_without_reuse_even_once_forgotten(emulator):
    """FC: with disableSessionIdReuse "an expired session ID cannot be reused"; without it,
    the id starts a new session. That holds after GetSession has forgotten the expiry."""
    from alibabacloud_fc20230330 import models
    from alibabacloud_tea_openapi.exceptions import ClientException

    running, env = emulator
    settings = Settings(**{name.lower(): value for name, value in env.items()})
    api = sdk_client(running, running.access_key_id, running.access_key_secret)
    function = "agentscope-sandbox-base"
    for sid, no_reuse in (("sbx-kept-out", True), ("sbx-reusable", False)):
        api.create_session(
            function,
            models.CreateSessionRequest(
                qualifier="LATEST",
                body=models.CreateSessionInput(
                    session_id=sid,
                    session_ttlin_seconds=60,
                    session_idle_timeout_in_seconds=60,
                    disable_session_id_reuse=no_reuse,
                ),
            ),
        )
    ids = {"sbx-kept-out", "sbx-reusable"}
    moved = 0.0
    try:
        running.backend.advance(61)
        moved += 61
        until(lambda: not ids & set(live_sessions(running)), "both sessions expired")
        running.backend.advance(EXPIRED_KEPT_S + 1)
        moved += EXPIRED_KEPT_S + 1
        until(lambda: not ids & {s for _, s in running.backend.sessions}, "both forgotten")

        url = asyncio.run(FcLauncher(settings).trigger_url(function))
        with httpx.Client(timeout=60, auth=FcLauncher(settings).call_auth()) as trigger:
            restarted = trigger.get(
                f"{url}/tools", headers={"x-agentscope-sandbox-session": "sbx-reusable"}
            )
            kept_out = trigger.get(
                f"{url}/tools", headers={"x-agentscope-sandbox-session": "sbx-kept-out"}
            )
        assert kept_out.status_code == 410, kept_out.text
        assert kept_out.json()["Code"] == "SessionExpired"
        assert set(kept_out.json()) == {"Code", "Message", "RequestId"}
        assert restarted.status_code == 401  # a new instance's tool server: unclaimed
        assert restarted.json()["code"] == "unclaimed"
        assert live_sessions(running) == ["sbx-reusable"]
        with pytest.raises(ClientException) as again:
            api.create_session(
                function,
                models.CreateSessionRequest(
                    qualifier="LATEST",
                    body=models.CreateSessionInput(session_id="sbx-kept-out"),
                ),
            )
        assert (again.value.status_code, again.value.code) == (410, "SessionExpired")
    finally:
        running.backend.advance(-moved)
        with contextlib.suppress(ClientException):  # started only if the test got that far
            api.delete_session(function, "sbx-reusable", models.DeleteSessionRequest())


def test_the_emulator_spoils_an_answer_after_doing_the_work(emulator):
    """The fault hook: the action runs, its answer is FC's error shape (or a raw body)."""
    from alibabacloud_fc20230330 import models
    from alibabacloud_tea_openapi.exceptions import ServerException

    running, _ = emulator
    api = sdk_client(running, running.access_key_id, running.access_key_secret)
    running.backend.spoil(Fault("list_functions", status=500))
    with pytest.raises(ServerException) as lost:
        api.list_functions(models.ListFunctionsRequest())
    assert (lost.value.status_code, lost.value.code) == (500, "InternalServerError")
    assert lost.value.request_id  # FC's {Code, Message, RequestId}
    running.backend.spoil(Fault("list_functions", status=200, body=b"[1]"))
    assert api.list_functions(models.ListFunctionsRequest()).body is None  # the SDK's reading
    assert api.list_functions(models.ListFunctionsRequest()).body.functions  # used up


@pytest.mark.parametrize(
    "fault",
    [
        Fault("create_session", status=500),  # FC made it; its answer was lost
        Fault("create_session", status=502, code="BadGateway"),
        Fault("create_session", status=200, body=b"[1]"),
        Fault("create_session", status=200, body=b'"x"'),
        Fault("create_session", status=200, body=b"null"),
        Fault("create_session", status=200, body=b'{"sessionId": '),  # not JSON
    ],
    ids=["500", "502", "list", "string", "null", "invalid-json"],
)
def test_a_create_whose_answer_goes_astray_leaves_no_session(
    emulator, fc_settings, serve, docker_client, fault
):
    """The launcher chose the session's id, so a create it cannot confirm ends that session:
    a clear JSON 502/503, nothing left running, and the caller's retry makes just one."""
    running, _ = emulator
    http = serve(fc_settings)
    running.backend.spoil(fault)
    try:
        failed = http.post("/v1/sandboxes", json={"type": "base", "session_id": "chat"})
    finally:
        running.backend.faults.clear()
    assert failed.status_code in (502, 503), failed.text
    assert failed.json()["code"] in ("sandbox_backend_error", "backend_unavailable")
    assert "Function Compute" in failed.json()["detail"]
    assert live_sessions(running) == [] and containers_of(docker_client, fc_settings) == []
    assert sandboxes_recorded(fc_settings) == set()

    retried = http.post("/v1/sandboxes", json={"type": "base", "session_id": "chat"})
    assert retried.status_code == 201, retried.text
    assert live_sessions(running) == [retried.json()["sandbox_id"]]


def test_a_throttled_create_deletes_nothing(emulator, fc_settings):
    """FC's own refusal made nothing: no DeleteSession follows it (the id may be another's)."""
    running, _ = emulator
    running.backend.max_sessions = 0
    before = running.backend.calls["delete_session"]
    try:
        with pytest.raises(BackendThrottled):
            asyncio.run(FcLauncher(fc_settings).start("base", "sbx-throttled", "t" * 43))
    finally:
        running.backend.max_sessions = 100
    assert running.backend.calls["delete_session"] == before


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("list_functions", b"null"),
        ("list_functions", b'{"functions": [], "nextToken": "again"}'),
        ("list_sessions", b'"x"'),
    ],
)
def test_list_answers_without_their_fields_are_a_clear_502(emulator, fc_settings, action, body):
    running, _ = emulator
    running.backend.spoil(Fault(action, status=200, body=body, times=5))
    try:
        with pytest.raises(SandboxBackendError, match="Function Compute answered"):
            asyncio.run(FcLauncher(fc_settings).owned())
    finally:
        running.backend.faults.clear()


def test_get_and_list_answers_with_fields_of_the_wrong_type_are_read_safely(emulator, fc_settings):
    running, _ = emulator
    launcher = FcLauncher(fc_settings)
    handle = asyncio.run(launcher.start("base", "sbx-typed", "t" * 43)).handle
    for body in (b"null", b"{}", b'{"sessionStatus": 5}'):
        running.backend.spoil(Fault("get_session", status=200, body=body, times=5))
        try:
            with pytest.raises(SandboxBackendError, match="GetSession"):
                asyncio.run(FcLauncher(fc_settings).alive(handle))
        finally:
            running.backend.faults.clear()
    assert asyncio.run(FcLauncher(fc_settings).alive(handle))
    # a listed session whose id and time are no strings is no session of ours
    running.backend.spoil(
        Fault(
            "list_sessions",
            status=200,
            body=b'{"sessions": [{"sessionId": 1, "createdTime": 5}]}',
            times=len(SANDBOX_TYPES),
        )
    )
    try:
        assert asyncio.run(FcLauncher(fc_settings).owned()) == {}
    finally:
        running.backend.faults.clear()
    # a trigger whose URL is no string is no trigger: the type is not usable, clearly
    running.backend.spoil(
        Fault(
            "list_triggers",
            status=200,
            body=b'{"triggers": [{"triggerType": "http", "httpTrigger": {"urlInternet": 5}}]}',
        )
    )
    try:
        with pytest.raises(LaunchError, match="no HTTP trigger"):
            asyncio.run(FcLauncher(fc_settings).trigger_url("agentscope-sandbox-base"))
    finally:
        running.backend.faults.clear()

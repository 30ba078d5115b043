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
import zipfile

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
        assert unsigned.status_code == 403 and unsigned.json()["Code"] == "AccessDenied"
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


@pytest.mark.parametrize("mode", list(MODES))
def test_responses_api_agui_and_stop_routes_run_from_the_zips(tmp_path, host_artifacts, mode):
    """The openai client and an AG-UI front end against the packaged query function (its
    zip must hold ag-ui-protocol); the stop route answers from the zip too."""
    import openai
    from ag_ui.core import Event, EventType
    from openai import OpenAI
    from pydantic import TypeAdapter

    env = emulator_env(tmp_path, MODEL_BASE_URL="")
    url = f"http://127.0.0.1:{env['QUERY_PORT']}"
    args = ("--artifacts", str(host_artifacts), *MODES[mode])
    with run_emulator(env, args, timeout=120):
        client = OpenAI(base_url=f"{url}/compatible-mode/v1", api_key="unused", max_retries=0)
        first = client.responses.create(model="any_name", input="What is the capital of France?")
        with client.responses.stream(
            model="any_name", input="And of Italy?", previous_response_id=first.id
        ) as stream:
            deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
            second = stream.get_final_response()
        kept = client.responses.retrieve(second.id)
        with pytest.raises(openai.NotFoundError) as missing:  # OpenAI's error shape too
            client.responses.retrieve("resp_nope")
        run = {
            "threadId": "thread-1",
            "runId": "run-1",
            "messages": [{"id": "m1", "role": "user", "content": "Hello"}],
        }
        agui = httpx.post(f"{url}/ag-ui", json=run, timeout=60)
        stop = httpx.post(f"{url}/process/stop", json={"session_id": "thread-1"}, timeout=30)
    assert "What is the capital of France?" in first.output_text
    assert "".join(deltas) == second.output_text and "And of Italy?" in second.output_text
    assert kept.previous_response_id == first.id and kept.output_text == second.output_text
    assert "no stored response" in str(missing.value)
    assert missing.value.code == "response_not_found"
    adapter = TypeAdapter(Event)
    events = [
        adapter.validate_json(x[6:]) for x in agui.text.splitlines() if x.startswith("data: ")
    ]
    assert events[0].type == EventType.RUN_STARTED and events[-1].type == EventType.RUN_FINISHED
    assert EventType.TEXT_MESSAGE_CONTENT in [e.type for e in events]
    assert stop.status_code == 404 and stop.json()["code"] == "no_running_turn"


@pytest.mark.parametrize("mode", ["aws-buffered", "fc"])
def test_a_sandbox_is_an_mcp_server_from_the_packaged_sandbox_function(
    tmp_path, host_artifacts, docker_client, sandbox_images_built, mode
):
    """The official mcp client over Streamable HTTP against the packaged sandbox function
    (its zip must hold mcp; on aws through Lambda's event handler): a session's sandbox at
    /v1/mcp, the same sandbox at /v1/sandboxes/{id}/mcp, a stranger refused (AUTH_MODE=jwt;
    the URL open to any caller, --sandbox-url-auth none, as for a deployed MCP door)."""
    import httpx2
    from mcp.client import Client
    from mcp.client.streamable_http import streamable_http_client

    secret = "e2e-mcp-" + "k" * 32
    env = emulator_env(tmp_path, MODEL_BASE_URL="", AUTH_MODE="jwt", AUTH_JWT_SECRET=secret)
    alice, bob = mint_token(secret, "alice"), mint_token(secret, "bob")
    base = f"http://127.0.0.1:{env['SANDBOX_PORT']}"
    args = ("--artifacts", str(host_artifacts), *MODES[mode], "--sandbox-url-auth", "none")

    def client(url: str, token: str) -> Client:
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=120)
        return Client(streamable_http_client(url, http_client=http))

    async def session() -> tuple[list[str], list[str]]:
        async with client(f"{base}/v1/mcp?type=base&session_id=m1", alice) as mcp:
            names = sorted(t.name for t in (await mcp.list_tools()).tools)
            first = await mcp.call_tool("run_ipython_cell", {"code": "x = 6 * 7"})
            second = await mcp.call_tool("run_ipython_cell", {"code": "x"})
        return names, [p.text for r in (first, second) for p in r.content]

    with run_emulator(env, args, timeout=120):
        names, outputs = asyncio.run(session())
        auth = {"Authorization": f"Bearer {alice}"}
        (box,) = httpx.get(f"{base}/v1/sandboxes", headers=auth, timeout=30).json()["items"]

        async def again(token: str) -> str:
            async with client(f"{base}/v1/sandboxes/{box['sandbox_id']}/mcp", token) as mcp:
                result = await mcp.call_tool("run_ipython_cell", {"code": "x + 1"})
            return result.content[0].text

        kept = asyncio.run(again(alice))
        with pytest.raises(Exception):  # noqa: B017 - the mcp client's error for a 403
            asyncio.run(again(bob))
        refused = httpx.post(
            f"{base}/v1/sandboxes/{box['sandbox_id']}/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={"Authorization": f"Bearer {bob}", "Accept": "application/json"},
            timeout=30,
        )
    assert names == ["run_ipython_cell", "run_shell_command"]
    assert outputs == ["", "42\n"] and kept == "43\n"
    assert box["session_id"] == "m1" and box["user_id"] == "alice"
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"


@pytest.mark.parametrize("mode", ["aws-streaming", "fc"])
def test_quotas_and_the_kill_switch_run_from_the_zips(
    tmp_path, host_artifacts, docker_client, sandbox_images_built, mode
):
    """USER_MAX_TURNS_PER_MINUTE and USER_MAX_SANDBOXES reach the packaged functions, and
    an admin's token lists and stops turns and ends a user's sandboxes; a user's is refused.
    (The sandbox function's door is open here, so that the test can call it as an admin.)"""
    secret = "e2e-limits-" + "k" * 32
    env = emulator_env(
        tmp_path,
        MODEL_BASE_URL="",
        AUTH_MODE="jwt",
        AUTH_JWT_SECRET=secret,
        USER_MAX_TURNS_PER_MINUTE="1",
        USER_MAX_SANDBOXES="1",
    )
    alice = {"Authorization": f"Bearer {mint_token(secret, 'alice')}"}
    admin = {"Authorization": f"Bearer {mint_token(secret, 'ops', admin=True)}"}
    url = f"http://127.0.0.1:{env['QUERY_PORT']}"
    sandboxes = f"http://127.0.0.1:{env['SANDBOX_PORT']}/v1"
    args = ("--artifacts", str(host_artifacts), *MODES[mode], "--sandbox-url-auth", "none")
    body = {"input": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}
    with run_emulator(env, args, timeout=120):
        # one turn a minute: the second is refused, or the third if a minute began between
        turns = [httpx.post(f"{url}/process", json=body, headers=alice, timeout=60)]
        turns += [httpx.post(f"{url}/process", json=body, headers=alice, timeout=60)]
        if turns[-1].status_code == 200:
            turns += [httpx.post(f"{url}/process", json=body, headers=alice, timeout=60)]
        listed = httpx.get(f"{url}/admin/turns", headers=admin, timeout=30)
        not_admin = httpx.get(f"{url}/admin/turns", headers=alice, timeout=30)
        stop_all = httpx.post(
            f"{url}/admin/turns/stop", json={"all": True}, headers=admin, timeout=30
        )
        # a create starts a container and waits for its tool server: httpx's 5 s default
        # is too short on a machine running the suite on two workers
        create = {"json": {"type": "base"}, "headers": alice, "timeout": 120}
        box = httpx.post(f"{sandboxes}/sandboxes", **create)
        second_box = httpx.post(f"{sandboxes}/sandboxes", **create)
        ended = httpx.post(
            f"{sandboxes}/admin/sandboxes/stop",
            json={"user_id": "alice"},
            headers=admin,
            timeout=120,
        )
    assert turns[0].status_code == 200
    assert turns[-1].status_code == 429 and turns[-1].json()["code"] == "quota_exceeded"
    assert int(turns[-1].headers["retry-after"]) >= 1
    assert listed.status_code == 200 and listed.json() == {"turns": []}
    assert not_admin.status_code == 403
    assert stop_all.status_code == 202 and stop_all.json() == {"stopping": []}
    assert box.status_code == 201, box.text
    assert second_box.status_code == 429 and "USER_MAX_SANDBOXES" in second_box.json()["detail"]
    assert ended.json() == {"user_id": "alice", "deleted": [box.json()["sandbox_id"]]}


def test_an_agentscope_app_runs_from_its_pruned_query_zip(
    tmp_path, agentscope_artifacts, docker_client, sandbox_images_built
):
    """examples/agentscope_friday.py packaged: agentscope in the zip, its prunes left out,
    the offline model over the emulator's endpoint, code in a sandbox via the packaged
    sandbox function (run.sh under the Lambda Web Adapter: events stream)."""
    manifest = json.loads(agentscope_artifacts.read_text())
    query = select(manifest, "aws")["query"]
    assert query["environment"]["AGENT_APP"] == "examples.agentscope_friday:agent_app"
    assert query["unzipped_size"] < 250e6  # Lambda's limit
    with zipfile.ZipFile(agentscope_artifacts.parent / query["zip"]) as archive:
        tops = {name.split("/")[0] for name in archive.namelist()}
    assert {"agentscope", "openai", "numpy", "examples"} <= tops
    assert not tops & {"anthropic", "dashscope", "grpc"}

    env = emulator_env(tmp_path, MODEL_BASE_URL="")
    url = f"http://127.0.0.1:{env['QUERY_PORT']}"
    args = ("--artifacts", str(agentscope_artifacts), "--platform", "aws")
    with run_emulator(env, args, timeout=180) as proc:
        first = say(url, "Run this:\n```python\nx = 6 * 7\nprint(x)\n```", session_id="c1")
        second = say(url, "And:\n```python\nx + 1\n```", session_id="c1")
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert first["status"] == "completed", out
    call, output, _answer = first["output"]
    assert call["content"][0]["data"]["name"] == "run_ipython_cell"
    assert output["content"][0]["data"]["output"] == "42\n", out
    assert second["output"][1]["content"][0]["data"]["output"] == "43\n"
    assert first["usage"]["total_tokens"] > 0
    assert "[model] POST /v1/chat/completions 200" in out


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
    view_token = url.split("/desktop/")[1].split("/")[0]
    assert view_token not in out  # the request lines name the door, never its token
    # behind it, the sandbox functions' triggers refuse unsigned calls: the packaged sandbox
    # function and door signed the claim, the page and the WebSocket
    assert "their triggers take signed calls only: function auth" in out


@pytest.mark.parametrize("mode", list(MODES))
def test_a2a_runs_from_the_zips(tmp_path, host_artifacts, mode):
    """The official a2a-sdk client against the packaged query function: the card, a sent
    and a streamed message in one context, the task read back (the zip holds a2a-sdk and
    none of what only its gRPC client needs)."""
    from a2a.client import A2ACardResolver, ClientConfig, ClientFactory
    from a2a.helpers.proto_helpers import get_artifact_text, new_text_message
    from a2a.types.a2a_pb2 import GetTaskRequest, Role, SendMessageRequest, TaskState

    env = emulator_env(tmp_path, MODEL_BASE_URL="")
    url = f"http://127.0.0.1:{env['QUERY_PORT']}"
    args = ("--artifacts", str(host_artifacts), *MODES[mode])

    async def talk() -> tuple[object, list, object, object]:
        async with httpx.AsyncClient(timeout=60) as http:
            card = await A2ACardResolver(http, url).get_agent_card()
            sending = ClientFactory(ClientConfig(httpx_client=http, streaming=False)).create(card)
            message = new_text_message("What is the capital of France?", role=Role.ROLE_USER)
            (sent,) = [e async for e in sending.send_message(SendMessageRequest(message=message))]
            streaming = ClientFactory(ClientConfig(httpx_client=http)).create(card)
            follow_up = new_text_message("And of Italy?", role=Role.ROLE_USER)
            follow_up.context_id = sent.task.context_id
            streamed = [
                e async for e in streaming.send_message(SendMessageRequest(message=follow_up))
            ]
            task = await streaming.get_task(GetTaskRequest(id=streamed[0].task.id))
            return card, streamed, sent.task, task

    with run_emulator(env, args, timeout=120):
        card, streamed, first, second = asyncio.run(talk())
    assert card.name and card.capabilities.streaming
    assert first.status.state == TaskState.TASK_STATE_COMPLETED
    assert "What is the capital of France?" in get_artifact_text(first.artifacts[0])
    kinds = [e.WhichOneof("payload") for e in streamed]
    assert kinds[0] == "task" and "artifact_update" in kinds
    assert streamed[-1].status_update.status.state == TaskState.TASK_STATE_COMPLETED
    assert second.context_id == first.context_id
    assert "And of Italy?" in get_artifact_text(second.artifacts[0])


@pytest.mark.parametrize("mode", list(MODES))
def test_cors_for_an_allowed_page_and_the_playground_run_from_the_zips(
    tmp_path, host_artifacts, mode
):
    """CORS_ALLOW_ORIGINS through each platform's door (Function URL events, the Web
    Adapter, FC's trigger): a page on the listed origin gets its preflight answered and
    reads a streamed turn and its session header; the emulator's playground page is served
    on the query port as in the source mode."""
    page = "http://127.0.0.1:8095"
    secret = "e2e-cors-" + "k" * 32
    token = mint_token(secret, "alice")
    env = emulator_env(
        tmp_path,
        MODEL_BASE_URL="",
        AUTH_MODE="jwt",
        AUTH_JWT_SECRET=secret,
        CORS_ALLOW_ORIGINS=page,
    )
    url = f"http://127.0.0.1:{env['QUERY_PORT']}"
    state = f"http://127.0.0.1:{env['STATE_PORT']}"
    args = ("--artifacts", str(host_artifacts), *MODES[mode])
    ask = {
        "Origin": page,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    body = {"input": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]}
    with run_emulator(env, args, timeout=120):
        preflight = httpx.options(f"{url}/process", headers=ask, timeout=30)
        turn = httpx.post(
            f"{url}/process",
            json=body,
            headers={"Origin": page, "Authorization": f"Bearer {token}"},
            timeout=60,
        )
        sessions = httpx.get(
            f"{state}/v1/users/alice/sessions",
            headers={"Origin": page, "Authorization": f"Bearer {token}"},
            timeout=30,
        )
        refused = httpx.options(f"{url}/process", headers={**ask, "Origin": "https://x.example"})
        html = httpx.get(f"{url}/", timeout=30)
    assert preflight.status_code == 200, preflight.text
    assert preflight.headers["access-control-allow-origin"] == page
    assert turn.status_code == 200 and turn.headers["access-control-allow-origin"] == page
    assert "x-session-id" in turn.headers["access-control-expose-headers"].lower()
    assert '"status":"completed"' in turn.text
    assert sessions.headers["access-control-allow-origin"] == page
    assert [s["id"] for s in sessions.json()["items"]] == [turn.headers["x-session-id"]]
    assert refused.status_code == 400 and refused.json()["code"] == "cors_refused"
    assert html.status_code == 200 and "agentscope-faas playground" in html.text

"""A tool call whose caller hangs up stops in the sandbox, through the sandbox function.

The caller is the official httpx client whose task is cancelled mid-call, as a stopped turn
cancels the SDK's call: its connection closes, the function cancels its upstream call (which
closes that connection too), the tool server interrupts the cell or kills the command, and the
call's in-flight marker goes as a finished call's does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from functions.runtime.server import build_app
from functions.runtime.settings import Settings
from functions.sandbox.registry import CALLS
from tests.fixtures.servers import serve_app
from tests.sandbox.support import containers_of, text_of, unrecorded

DEADLINE_S = 30.0  # far below the 600 s the work would take if nothing stopped it


def hang_up_during(
    base_url: str, sid: str, tool: str, args: dict, started: str, via: str = "rest"
) -> None:
    """Call ``tool`` (``via`` its REST route or the sandbox's MCP endpoint), wait until the
    workspace file ``started`` exists, then cancel the call."""

    async def run() -> None:
        async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
            if via == "mcp":
                message = {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "tools/call",
                    "params": {"name": tool, "arguments": args},
                }
                accept = {"Accept": "application/json, text/event-stream"}
                sent = client.post(f"/v1/sandboxes/{sid}/mcp", json=message, headers=accept)
            else:
                sent = client.post(f"/v1/sandboxes/{sid}/tools/{tool}", json=args)
            call = asyncio.create_task(sent)
            deadline = time.monotonic() + 60
            while (await client.get(f"/v1/sandboxes/{sid}/files/{started}")).status_code != 200:
                assert not call.done(), call.result().text
                assert time.monotonic() < deadline, f"{tool} never started"
                await asyncio.sleep(0.05)
            call.cancel()
            try:
                await call
            except asyncio.CancelledError:
                pass

    asyncio.run(run())


def until(check, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def markers(settings, sid: str) -> list[str]:
    from functions.runtime.storage import open_store

    async def listed() -> list[str]:
        store = open_store(settings.store_url, settings)
        try:
            return await store.list(f"{CALLS}{sid}/")
        finally:
            await store.close()

    return asyncio.run(listed())


@pytest.mark.parametrize("via", ["rest", "mcp"])
def test_a_cell_whose_caller_left_is_interrupted_and_the_sandbox_is_free(serve, settings, via):
    http = serve(settings)
    created = http.post("/v1/sandboxes", json={"type": "base", "ttl_s": 30})  # calls get markers
    assert created.status_code == 201, created.text
    sid = created.json()["sandbox_id"]
    code = "import time\nx = 1\nopen('started', 'w').close()\ntime.sleep(60)\nx = 2"
    args = {"code": code, "timeout": 600}
    hang_up_during(str(http.base_url), sid, "run_ipython_cell", args, "started", via)

    answers: list[dict] = []

    def free() -> bool:
        answer = http.post(f"/v1/sandboxes/{sid}/tools/run_ipython_cell", json={"code": "x"})
        assert answer.status_code == 200, answer.text
        answers.append(answer.json())
        return not text_of(answers[-1]).startswith("busy:")

    until(free, "the cell kept the interpreter busy after its caller left")
    assert answers[-1]["isError"] is False, text_of(answers[-1])
    assert text_of(answers[-1]) == "1\n"  # interrupted, not restarted: the variables stay
    until(lambda: not markers(settings, sid), "the cancelled call's marker stayed")


def test_a_command_whose_caller_left_is_killed(serve, settings):
    http = serve(settings)
    sid = http.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"]
    command = "sleep 600 & echo $! > pid.tmp; mv pid.tmp pid; wait"
    hang_up_during(
        str(http.base_url), sid, "run_shell_command", {"command": command, "timeout": 600}, "pid"
    )
    probe = "state=$(awk '{print $3}' /proc/$(cat pid)/stat 2>/dev/null); echo ${state:-none}"

    def killed() -> bool:
        answer = http.post(
            f"/v1/sandboxes/{sid}/tools/run_shell_command", json={"command": probe}
        ).json()
        return text_of(answer).strip() in ("none", "Z")  # gone, or a zombie: ended

    until(killed, "the command kept running after its caller left")


def sandbox_app(sandbox_url: str, sid: str):
    """A query-function app whose turn runs its input as a cell in sandbox ``sid``."""
    from functions.runtime.app import AgentApp
    from functions.runtime.sandbox.client import AsyncBaseSandbox

    app = AgentApp(app_name="cells")

    @app.query(framework="text")
    async def cells(self, msgs, request, **kwargs):
        yield "running: "
        async with AsyncBaseSandbox(sandbox_id=sid, base_url=sandbox_url) as box:
            code = msgs[-1].get_text_content() or ""
            yield text_of(await box.call_tool("run_ipython_cell", {"code": code, "timeout": 600}))

    return app


def turn(url: str, session_id: str, code: str) -> dict:
    """The final event of a streamed /process turn running ``code``."""
    body = {
        "session_id": session_id,
        "input": [{"role": "user", "content": [{"type": "text", "text": code}]}],
    }
    answer = httpx.post(f"{url}/process", json=body, timeout=120)
    assert answer.status_code == 200, answer.text
    return json.loads([x for x in answer.text.splitlines() if x.startswith("data: ")][-1][6:])


def reply_of(final: dict) -> str:
    return "".join(part.get("text", "") for part in final["output"][0]["content"])


SLEEPING_CELL = "import time\nx = 1\nopen('started', 'w').close()\ntime.sleep(60)\nx = 2"


def test_a_stopped_turn_leaves_the_sandbox_free_for_the_next(serve, settings, tmp_path):
    http = serve(settings)
    sid = http.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"]
    query = build_app(
        sandbox_app(str(http.base_url), sid),
        Settings(store_url=f"file://{tmp_path}/query-store", sandbox_url=str(http.base_url)),
    )
    with serve_app(query) as url, ThreadPoolExecutor(1) as pool:
        running = pool.submit(turn, url, "s1", SLEEPING_CELL)
        until(
            lambda: http.get(f"/v1/sandboxes/{sid}/files/started").status_code == 200,
            "the cell never started",
        )
        stopped = httpx.post(f"{url}/process/stop", json={"session_id": "s1"})
        assert stopped.status_code == 202, stopped.text
        final = running.result(timeout=DEADLINE_S)
        assert final["status"] == "canceled"
        nxt = turn(url, "s1", "x")  # at once: the stop interrupted the cell
    assert nxt["status"] == "completed"
    assert reply_of(nxt) == "running: 1\n"  # interrupted, not restarted


def test_a_turn_over_its_seconds_budget_leaves_the_sandbox_free(serve, settings, tmp_path):
    http = serve(settings)
    sid = http.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"]
    query = build_app(
        sandbox_app(str(http.base_url), sid),
        Settings(
            store_url=f"file://{tmp_path}/query-store",
            sandbox_url=str(http.base_url),
            turn_max_seconds=3,
        ),
    )
    with serve_app(query) as url:
        final = turn(url, "s2", "import time\ntime.sleep(60)")
        assert final["status"] == "incomplete"
        assert final["error"]["code"] == "budget_exceeded"
        nxt = turn(url, "s2", "'free'")
    assert nxt["status"] == "completed"
    assert reply_of(nxt) == "running: 'free'\n"  # not "busy: another cell is still running"


def hang_up_on_first_use(docker_client, settings: Settings, base_url: str, path: str) -> bool:
    """POST a first use (``tools/list``) of a session to ``path``, and hang up as soon as a
    container of the deployment appears: while its launch is under way. False when the
    answer came first (nothing to hang up on)."""
    before = {c.id for c in containers_of(docker_client, settings)}
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    accept = {"Accept": "application/json, text/event-stream"}

    async def run() -> bool:
        async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
            call = asyncio.create_task(client.post(path, json=message, headers=accept))
            deadline = time.monotonic() + 60
            while not {c.id for c in containers_of(docker_client, settings)} - before:
                if call.done():
                    return False
                assert time.monotonic() < deadline, "no container was launched"
                await asyncio.sleep(0.01)
            call.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await call
            return True

    return asyncio.run(run())


def test_a_first_use_whose_caller_hung_up_leaves_no_unrecorded_container(
    serve, settings, docker_client
):
    """A client hangs up on a session's first use of the MCP door while its sandbox is
    launching (the MCP SDK then cancels its task group, striking at every await): the
    launch ends recorded, counted and bound to the session (reached by the session's next
    use, ended by its TTL) or removed - never a container that no record knows, which no
    quota counts and only the orphan reaper would end."""
    limited = settings.model_copy(update={"user_max_sandboxes": 5})
    http = serve(limited)
    sessions = [f"gone-{n}" for n in range(3)]
    hung_up = [
        hang_up_on_first_use(
            docker_client, limited, str(http.base_url), f"/v1/mcp?type=base&session_id={s}"
        )
        for s in sessions
    ]
    assert any(hung_up), "every first use answered before a container appeared"
    until(
        lambda: not unrecorded(docker_client, limited),
        "a container whose caller hung up stayed unrecorded",
    )
    listed = http.get("/v1/sandboxes").json()["items"]
    assert len(listed) == len(containers_of(docker_client, limited))
    for box in listed:  # each one made is its session's, and counted: a next use reuses it
        assert box["session_id"] in sessions
        again = http.post(
            f"/v1/mcp?type=base&session_id={box['session_id']}",
            json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
            headers={"Accept": "application/json, text/event-stream"},
        )
        assert again.status_code == 200, again.text
    assert len(containers_of(docker_client, limited)) == len(listed)


def test_a_rest_create_whose_caller_hung_up_leaves_no_unrecorded_container(
    serve, settings, docker_client
):
    """``POST /v1/sandboxes``, hung up on while its sandbox launches: the same holds."""
    http = serve(settings)
    before: set[str] = set()

    async def run() -> None:
        async with httpx.AsyncClient(base_url=str(http.base_url), timeout=120) as client:
            body = {"type": "base", "session_id": "rest-gone"}
            call = asyncio.create_task(client.post("/v1/sandboxes", json=body))
            deadline = time.monotonic() + 60
            while not {c.id for c in containers_of(docker_client, settings)} - before:
                if call.done():
                    return
                assert time.monotonic() < deadline, "no container was launched"
                await asyncio.sleep(0.01)
            call.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await call

    asyncio.run(run())
    until(
        lambda: not unrecorded(docker_client, settings),
        "a container whose caller hung up stayed unrecorded",
    )
    again = http.post("/v1/sandboxes", json={"type": "base", "session_id": "rest-gone"})
    assert again.status_code in (200, 201), again.text
    assert len(containers_of(docker_client, settings)) == 1

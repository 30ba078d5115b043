"""The tool server as a process on 127.0.0.1: auth, the base tools, workspace routes."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

from tests.toolserver.conftest import toolserver_env

TOOLSERVER_MAX_BODY = 64 * 1024 * 1024  # toolserver.server.MAX_BODY


def text_of(result: dict) -> str:
    return "".join(part["text"] for part in result["content"])


@pytest.mark.parametrize("name", ["TOOLSERVER_TOKEN", "TOOLSERVER_TOKEN_KEY"])
def test_refuses_to_start_with_a_secret_in_its_environment(tmp_path, name):
    """A secret there stays readable by user code (/proc/1/environ): none may be given so."""
    env = toolserver_env(tmp_path / "ws", 0, **{name: "s" * 40})
    proc = subprocess.run(
        [sys.executable, "-m", "toolserver"], env=env, capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 2
    assert name in proc.stderr and "POST /claim" in proc.stderr
    assert "s" * 40 not in proc.stderr


def test_the_first_claim_sets_the_token_and_no_other_claim_holds(start_toolserver):
    server = start_toolserver(claim=False)
    mine, theirs = "m" * 43, "t" * 43

    def claim(token: str) -> httpx.Response:
        return httpx.post(f"{server.url}/claim", headers={"Authorization": f"Bearer {token}"})

    for method, path in [("GET", "/healthz"), ("GET", "/tools"), ("GET", "/workspace")]:
        unclaimed = httpx.request(method, server.url + path, headers={"Authorization": "Bearer x"})
        assert unclaimed.status_code == 401 and unclaimed.json()["code"] == "unclaimed"
    short = claim("too-short")
    assert short.status_code == 400 and short.json()["code"] == "invalid_token"
    no_bearer = httpx.post(f"{server.url}/claim")
    assert no_bearer.status_code == 400
    assert claim(mine).json() == {"status": "claimed"}
    assert claim(mine).status_code == 200  # a launcher that lost the answer may ask again
    taken = claim(theirs)
    assert taken.status_code == 409 and taken.json()["code"] == "already_claimed"
    assert mine not in taken.text
    with server.client(theirs) as http:
        assert http.get("/healthz").json()["code"] == "unauthorized"
    with server.client(mine) as http:
        assert http.get("/healthz").json() == {"status": "ok"}


def test_user_code_cannot_claim_or_reclaim_its_own_server(toolserver):
    """Code in the sandbox reaches the server on its own port: a claim from it is refused."""
    port = toolserver.url.rsplit(":", 1)[1]
    code = (
        "import urllib.request, urllib.error\n"
        f"req = urllib.request.Request('http://127.0.0.1:{port}/claim', method='POST',"
        " headers={'Authorization': 'Bearer ' + 'u' * 43})\n"
        "try:\n    urllib.request.urlopen(req)\nexcept urllib.error.HTTPError as e:\n"
        "    print(e.code)"
    )
    assert text_of(toolserver.call("run_ipython_cell", code=code)) == "409\n"


def test_every_route_needs_the_token(toolserver):
    for token in ("", "wrong", toolserver.token + "x"):
        with toolserver.client(token) as http:
            for method, path in [
                ("GET", "/healthz"),
                ("GET", "/tools"),
                ("POST", "/tools/run_shell_command"),
                ("GET", "/workspace"),
                ("PUT", "/workspace/a.txt"),
            ]:
                resp = http.request(method, path, json={"command": "touch pwned"})
                assert resp.status_code == 401, (method, path)
                assert resp.json()["code"] == "unauthorized"
    assert not (toolserver.workspace / "pwned").exists()
    assert not (toolserver.workspace / "a.txt").exists()
    with toolserver.client() as http:
        assert http.get("/healthz").json() == {"status": "ok"}


TOKEN_HEADER = "X-Agentscope-Sandbox-Token"  # toolserver.server.TOKEN_HEADER


def test_the_token_header_claims_and_opens_every_route_beside_a_platform_signature(
    start_toolserver,
):
    """Behind an FC trigger with function auth, Authorization holds FC's signature: the token
    travels in its own header, for the claim and for every call."""
    server = start_toolserver(claim=False)
    mine, theirs = "m" * 43, "t" * 43
    signature = {
        "Authorization": "ACS3-HMAC-SHA256 Credential=STS.X,SignedHeaders=host,Signature=0"
    }

    def claim(token: str) -> httpx.Response:
        return httpx.post(f"{server.url}/claim", headers={**signature, TOKEN_HEADER: token})

    assert claim("too-short").json()["code"] == "invalid_token"
    assert claim(mine).json() == {"status": "claimed"}
    assert claim(mine).status_code == 200
    assert claim(theirs).json()["code"] == "already_claimed"
    for token in ("", "wrong", theirs, mine + "x"):
        resp = httpx.get(f"{server.url}/healthz", headers={**signature, TOKEN_HEADER: token})
        assert resp.status_code == 401 and resp.json()["code"] == "unauthorized", token
    # the header's token wins over a Bearer one: a wrong header is not saved by Authorization
    both = {"Authorization": f"Bearer {mine}", TOKEN_HEADER: theirs}
    assert httpx.get(f"{server.url}/healthz", headers=both).status_code == 401
    ok = {**signature, TOKEN_HEADER: mine}
    assert httpx.get(f"{server.url}/healthz", headers=ok).json() == {"status": "ok"}
    called = httpx.post(
        f"{server.url}/tools/run_shell_command", headers=ok, json={"command": "echo hi"}
    )
    assert called.status_code == 200 and "hi" in text_of(called.json())
    put = httpx.put(f"{server.url}/workspace/a.txt", headers=ok, content=b"x")
    assert put.status_code < 300 and (server.workspace / "a.txt").read_bytes() == b"x"
    # Bearer still opens it (Docker, AgentRun)
    bearer = {"Authorization": f"Bearer {mine}"}
    assert httpx.get(f"{server.url}/healthz", headers=bearer).json() == {"status": "ok"}


def test_lists_the_base_tools_with_schemas(toolserver):
    with toolserver.client() as http:
        tools = {t["name"]: t for t in http.get("/tools").json()["tools"]}
    assert set(tools) == {"run_ipython_cell", "run_shell_command"}
    assert tools["run_ipython_cell"]["parameters"]["required"] == ["code"]
    assert tools["run_shell_command"]["parameters"]["properties"]["command"]["type"] == "string"


def test_python_state_persists_and_the_last_expression_is_shown(toolserver):
    assert toolserver.call("run_ipython_cell", code="x = 41\nprint('set')") == {
        "content": [{"type": "text", "text": "set\n"}],
        "isError": False,
    }
    assert text_of(toolserver.call("run_ipython_cell", code="x + 1")) == "42\n"


def test_python_errors_are_results_and_keep_the_state(toolserver):
    toolserver.call("run_ipython_cell", code="kept = 'yes'")
    result = toolserver.call("run_ipython_cell", code="print('before')\n1 / 0")
    assert result["isError"] is True
    assert "before" in text_of(result) and "ZeroDivisionError" in text_of(result)
    assert "worker.py" not in text_of(result)  # the traceback shows the cell, not our plumbing
    assert text_of(toolserver.call("run_ipython_cell", code="kept")) == "'yes'\n"


def test_python_output_of_child_processes_is_captured(toolserver):
    result = toolserver.call("run_ipython_cell", code="import os\nos.system('echo from-child')")
    assert "from-child" in text_of(result)


def test_an_endless_cell_is_stopped_and_the_interpreter_restarts(toolserver):
    toolserver.call("run_ipython_cell", code="lost = 1")
    result = toolserver.call("run_ipython_cell", code="while True: pass", timeout=1)
    assert result["isError"] is True
    assert "restarted" in text_of(result)
    after = toolserver.call("run_ipython_cell", code="lost")
    assert after["isError"] is True and "NameError" in text_of(after)
    assert text_of(toolserver.call("run_ipython_cell", code="1 + 1")) == "2\n"


def test_a_crashing_interpreter_does_not_take_the_server_down(toolserver):
    result = toolserver.call(
        "run_ipython_cell", code="import os\nprint('bye', flush=True)\nos._exit(3)"
    )
    assert result["isError"] is True
    assert "bye" in text_of(result) and "exited" in text_of(result)
    assert text_of(toolserver.call("run_ipython_cell", code="'alive'")) == "'alive'\n"


def test_user_code_cannot_read_the_token(toolserver):
    code = "import os\nos.environ.get('TOOLSERVER_TOKEN')"
    assert text_of(toolserver.call("run_ipython_cell", code=code)) == ""
    shell = toolserver.call("run_shell_command", command="env")
    assert toolserver.token not in text_of(shell)


def test_shell_output_exit_codes_and_timeouts(toolserver):
    ok = toolserver.call("run_shell_command", command="echo out; echo err >&2; pwd")
    assert ok["isError"] is False
    lines = text_of(ok).splitlines()
    assert lines[:2] == ["out", "err"]
    assert lines[2] == str(toolserver.workspace.resolve())
    failed = toolserver.call("run_shell_command", command="echo partial; exit 3")
    assert failed["isError"] is True and "partial" in text_of(failed)
    assert "exit code 3" in text_of(failed)
    slow = toolserver.call("run_shell_command", command="echo started; sleep 30", timeout=1)
    assert slow["isError"] is True and "killed" in text_of(slow)
    assert "started" in text_of(slow)


def test_long_output_is_cut_with_a_marker(toolserver):
    # the fixture's server keeps 2000 bytes
    result = toolserver.call("run_shell_command", command="yes abcd | head -c 100000")
    text = text_of(result)
    assert text.startswith("abcd\nabcd\n")
    assert "[... output truncated: 98000 more bytes not shown ...]" in text
    cell = toolserver.call("run_ipython_cell", code="print('z' * 5000)")
    assert "output truncated: 3001 more bytes" in text_of(cell)


def test_bad_tool_calls_are_clear(toolserver):
    with toolserver.client() as http:
        unknown = http.post("/tools/nope", json={})
        assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_tool"
        assert "run_shell_command" in unknown.json()["detail"]
        bad_json = http.post("/tools/run_shell_command", content=b"{not json")
        assert bad_json.status_code == 400 and bad_json.json()["code"] == "invalid_json"
    missing = toolserver.call("run_shell_command")
    assert missing["isError"] and "command" in text_of(missing)
    extra = toolserver.call("run_shell_command", command="true", shell="bash")
    assert extra["isError"] and "unknown argument" in text_of(extra)
    wrong_type = toolserver.call("run_ipython_cell", code=7)
    assert wrong_type["isError"] and "must be string" in text_of(wrong_type)


def test_workspace_file_routes(toolserver):
    with toolserver.client() as http:
        assert http.put("/workspace/docs/a.txt", content=b"hello").json() == {
            "path": "docs/a.txt",
            "size": 5,
        }
        assert http.get("/workspace/docs/a.txt").content == b"hello"
        assert http.post("/workspace/docs/sub", json={"op": "mkdir"}).status_code == 200
        listing = http.get("/workspace/docs").json()
        assert listing["entries"] == [
            {"name": "a.txt", "type": "file", "size": 5},
            {"name": "sub", "type": "directory", "size": None},
        ]
        moved = http.post("/workspace/docs/a.txt", json={"op": "move", "to": "docs/sub/b.txt"})
        assert moved.json() == {"path": "docs/sub/b.txt"}
        clash = http.put("/workspace/c.txt", content=b"c")
        assert clash.status_code == 200
        onto = http.post("/workspace/c.txt", json={"op": "move", "to": "docs/sub/b.txt"})
        assert onto.status_code == 409
        not_empty = http.delete("/workspace/docs")
        assert not_empty.status_code == 409 and not_empty.json()["code"] == "not_empty"
        assert http.delete("/workspace/docs", params={"recursive": "true"}).status_code == 200
        assert http.get("/workspace/docs/sub/b.txt").status_code == 404
        assert http.delete("/workspace/docs").status_code == 404
    # the shell sees the same files
    assert text_of(toolserver.call("run_shell_command", command="cat c.txt")) == "c"


def test_a_move_into_itself_and_an_oversized_read_are_4xx(toolserver):
    """What the file system refuses, or what no answer can carry, is the caller's 4xx."""
    cap = TOOLSERVER_MAX_BODY  # an upload's most, and a download's
    with toolserver.client() as http:
        assert http.post("/workspace/d/e", json={"op": "mkdir"}).status_code == 200
        for into in ("d/sub", "d/e/f", "d"):
            moved = http.post("/workspace/d", json={"op": "move", "to": into})
            assert moved.status_code in (400, 409), (into, moved.text)
            assert moved.json()["code"] in ("invalid_path", "exists"), moved.text
        root = http.post("/workspace/", json={"op": "move", "to": "elsewhere"})
        assert root.status_code == 400 and root.json()["code"] == "invalid_path"
        assert (toolserver.workspace / "d" / "e").is_dir()  # nothing moved
        (toolserver.workspace / "sparse").touch()
        os.truncate(toolserver.workspace / "sparse", 100 * cap)  # 6.4 GB, none on disk
        big = http.get("/workspace/sparse")
        assert big.status_code == 413 and big.json()["code"] == "file_too_large"
        os.truncate(toolserver.workspace / "sparse", cap)
        assert len(http.get("/workspace/sparse").content) == cap  # the cap itself: whole
        assert http.get("/healthz").status_code == 200


def test_workspace_routes_stay_inside_the_workspace(toolserver, tmp_path):
    secret = tmp_path / "outside.txt"
    secret.write_text("secret")
    (toolserver.workspace / "link").symlink_to(tmp_path)
    with toolserver.client() as http:
        for path in [
            "/workspace/../outside.txt",
            "/workspace/%2e%2e/outside.txt",
            "/workspace/link/outside.txt",
        ]:
            resp = http.get(path)
            assert resp.status_code in (400, 404), path
            assert b"secret" not in resp.content
        escape = http.put("/workspace/link/new.txt", content=b"x")
        assert escape.status_code == 400 and escape.json()["code"] == "invalid_path"
        away = http.post("/workspace/c", json={"op": "move", "to": str(tmp_path / "moved")})
        assert away.status_code == 400
        # a link is deleted and moved as itself, as rm and mv take it: never what it names
        (toolserver.workspace / "kept.txt").write_text("kept")
        (toolserver.workspace / "to-kept").symlink_to(toolserver.workspace / "kept.txt")
        (toolserver.workspace / "d").mkdir()
        (toolserver.workspace / "to-d").symlink_to(toolserver.workspace / "d")
        moved = http.post("/workspace/to-kept", json={"op": "move", "to": "renamed"})
        assert moved.status_code == 200, moved.text
        for link in ("renamed", "to-d", "link"):
            assert http.delete(f"/workspace/{link}").status_code == 200, link
        for bad in ({"op": "move"}, {"op": "move", "to": ""}, {"op": "move", "to": 5}):
            answer = http.post("/workspace/kept.txt", json=bad)
            assert answer.status_code == 400 and answer.json()["code"] == "invalid_op", bad
    assert (toolserver.workspace / "kept.txt").read_text() == "kept"
    assert (toolserver.workspace / "d").is_dir() and secret.read_text() == "secret"
    assert not any(p.is_symlink() for p in toolserver.workspace.iterdir())
    assert not (tmp_path / "new.txt").exists()


def test_filesystem_image_tool_sets_share_one_workspace(start_toolserver):
    server = start_toolserver(TOOLSERVER_TOOLSETS="base,filesystem")
    with server.client() as http:
        names = {t["name"] for t in http.get("/tools").json()["tools"]}
    assert {"run_ipython_cell", "read_file", "edit_file", "list_allowed_directories"} <= names
    assert not server.call("write_file", path="notes/todo.md", content="- ship\n")["isError"]
    assert text_of(server.call("run_shell_command", command="cat notes/todo.md")) == "- ship\n"
    with server.client() as http:
        assert http.get("/workspace/notes/todo.md").content == b"- ship\n"


def test_an_unknown_tool_set_stops_the_server_at_start(tmp_path):
    env = toolserver_env(tmp_path / "ws", 0, TOOLSERVER_TOOLSETS="base,gpu")
    proc = subprocess.run(
        [sys.executable, "-m", "toolserver"], env=env, capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 2 and "unknown tool set 'gpu'" in proc.stderr


def test_refusals_are_answers_the_sender_can_read(toolserver):
    """An upload over the cap is a readable 413 (the body is drained, not reset), a name the
    file system refuses a 400, and the connection stays usable after either."""
    with toolserver.client() as http:
        too_big = http.put("/workspace/big.bin", content=b"x" * (TOOLSERVER_MAX_BODY + 1))
        assert too_big.status_code == 413, too_big.text
        assert too_big.json()["code"] == "payload_too_large"
        long_name = http.put(f"/workspace/{'n' * 300}.txt", content=b"x")
        assert long_name.status_code == 400 and long_name.json()["code"] == "invalid_path"
        deep = http.put(f"/workspace/{'d' * 300}/a.txt", content=b"x")
        assert deep.status_code == 400 and deep.json()["code"] == "invalid_path"
        http.put("/workspace/a.txt", content=b"x").raise_for_status()
        nested = http.post("/workspace/a.txt/b", json={"op": "mkdir"})
        assert nested.status_code == 409 and nested.json()["code"] == "not_a_directory"
        assert http.get("/healthz").status_code == 200


def test_ready_answers_whether_the_tool_sets_have_started(start_toolserver):
    """A base server starts nothing behind itself: ready at once, whatever ``wait`` says;
    ``wait`` must be a number of seconds, and the route is behind the token like the rest."""
    server = start_toolserver()
    with server.client() as http:
        assert http.get("/ready").json() == {"ready": True}
        assert http.get("/ready", params={"wait": "30"}).json() == {"ready": True}
        for bad in ("soon", "-1", "nan", "inf"):
            refused = http.get("/ready", params={"wait": bad})
            assert refused.status_code == 400 and refused.json()["code"] == "invalid_wait", bad
    with server.client("w" * 43) as http:
        assert http.get("/ready").status_code == 401


def test_a_start_that_failed_is_not_ready_and_says_why(start_toolserver, tmp_path):
    """A desktop whose X server cannot start (none on PATH here): the start hooks have run,
    yet ``/ready`` must not call the sandbox warm; it names the failure."""
    server = start_toolserver(TOOLSERVER_TOOLSETS="gui", PATH=str(tmp_path))
    with server.client() as http:
        answer = http.get("/ready", params={"wait": "30"}).json()
    assert answer["ready"] is False
    (failure,) = answer["failed"]
    assert failure.startswith("FileNotFoundError") and "Xvfb" in failure

"""The ``agentscope-faas`` command line as a user runs it: the installed console script in
subprocesses, against the emulator (``python -m local_emulator``) on free ports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_emulator.tokens import mint_token
from tests.e2e.test_emulator import emulator_env
from tests.fixtures.servers import ROOT, free_port, wait_http

CLI = str(Path(sys.executable).with_name("agentscope-faas"))
SEED_QUESTION = "What is the capital of France?"


def cli(
    *args: str, env: dict[str, str] | None = None, stdin: str = "", timeout: float = 120
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CLI, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
        timeout=timeout,
    )


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    """The failure's message: exactly one line on stderr, nothing on stdout."""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("agentscope-faas: "), proc.stderr
    assert proc.stdout == ""
    return lines[0]


@pytest.fixture
def emulator(tmp_path, request) -> Iterator[dict[str, str]]:
    """A running emulator; yields the environment pointing the CLI at it (and its ports)."""
    from tests.fixtures.servers import run_emulator

    extra = getattr(request, "param", {})
    env = emulator_env(tmp_path, MODEL_BASE_URL="", **extra)
    with run_emulator(env):
        yield {
            **env,
            "AGENTSCOPE_URL": f"http://127.0.0.1:{env['QUERY_PORT']}",
            "XDG_STATE_HOME": str(tmp_path / "xdg"),
        }


def test_invoke_prints_the_seeds_event_stream(emulator):
    proc = cli("invoke", SEED_QUESTION, env=emulator)
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    kinds = [(e["object"], e["status"]) for e in events]
    deltas = [e for e in events if e["object"] == "content" and e["delta"]]
    assert kinds[:3] == [
        ("response", "created"),
        ("response", "in_progress"),
        ("message", "in_progress"),
    ]
    assert kinds[3 : 3 + len(deltas)] == [("content", "in_progress")] * len(deltas)
    assert deltas  # as many as arrived apart: chunks read at once are joined (coalesce.py)
    assert kinds[3 + len(deltas) :] == [
        ("content", "completed"),
        ("message", "completed"),
        ("response", "completed"),
    ]
    full = "".join(d["text"] for d in deltas)
    assert SEED_QUESTION in full and events[-3]["text"] == full
    assert events[-1]["output"][0]["content"][0]["text"] == full

    final = cli("invoke", "--json", SEED_QUESTION, env=emulator)
    assert final.returncode == 0, final.stderr
    response = json.loads(final.stdout)
    assert response["object"] == "response" and response["status"] == "completed"
    text = cli("invoke", "--text", env=emulator, stdin=SEED_QUESTION)
    assert text.returncode == 0 and text.stdout.startswith("[offline demo model]")


@pytest.mark.parametrize("emulator", [{"AGENT_APP": "tests.apps:echo_app"}], indirect=True)
def test_chat_through_stdin_continues_its_session_across_turns_and_runs(emulator):
    first = cli("chat", env=emulator, stdin="first\nsecond\n")
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == ["turn 1: first", "turn 2: second | before: first"]
    again = cli("chat", env=emulator, stdin="third\n")  # a new run continues the session
    assert again.stdout.splitlines() == ["turn 3: third | before: first / second"]
    assert "continuing session" in again.stderr
    fresh = cli("chat", "--new", env=emulator, stdin="other\n/session\n")
    assert fresh.stdout.splitlines() == ["turn 1: other"]
    session = fresh.stderr.splitlines()[-1]
    # the remembered session is the new one now; --session picks any
    assert cli("chat", env=emulator, stdin="more\n").stdout.startswith("turn 2: more")
    listed = json.loads(cli("sessions", "list", "--json", env=emulator).stdout)
    older = next(s["id"] for s in listed if s["id"] != session)
    picked = cli("chat", "--session", older, env=emulator, stdin="back\n")
    assert picked.stdout.startswith("turn 4: back | before: first / second / third")


def test_chat_shows_tool_calls_and_their_output(emulator, docker_client, sandbox_images_built):
    proc = cli("chat", env=emulator, stdin="Run this:\\\n```python\nprint(6 * 7)\n```\n")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == '[tool] execute_python_code {"code": "print(6 * 7)\\n"}'
    assert lines[1] == "[tool output] 42"
    assert lines[2].endswith("returned: 42")


def test_sessions_and_sandbox_commands_round_trip(emulator, docker_client, sandbox_images_built):
    state_url = f"http://127.0.0.1:{emulator['STATE_PORT']}"
    assert cli("invoke", "hello", "--session", "s1", env=emulator).returncode == 0
    listed = cli("sessions", "list", env=emulator)  # through the emulator's relay
    assert listed.returncode == 0 and listed.stdout.splitlines()[1].startswith("s1 ")
    shown = cli("sessions", "show", "s1", "--url", state_url, env=emulator)  # or directly
    assert shown.stdout.splitlines()[0] == "user: hello"
    assert shown.stdout.splitlines()[1].startswith("assistant: [offline demo model]")
    assert cli("sessions", "delete", "s1", env=emulator).stdout == "deleted session s1\n"
    gone = cli("sessions", "show", "s1", env=emulator)
    assert gone.returncode == 1 and "404 session_not_found" in one_line_error(gone)

    created = cli("sandbox", "create", "--session", "s2", env=emulator)
    assert created.returncode == 0, created.stderr
    sandbox_id = created.stdout.strip()
    try:
        ls = cli("sandbox", "ls", "--json", env=emulator)
        assert [(b["sandbox_id"], b["session_id"]) for b in json.loads(ls.stdout)] == [
            (sandbox_id, "s2")
        ]
        ran = cli("sandbox", "exec", sandbox_id, "x = 6 * 7\nprint(x)", env=emulator)
        assert ran.returncode == 0 and ran.stdout == "42\n"
        kept = cli("sandbox", "exec", sandbox_id, "-", env=emulator, stdin="x + 1")
        assert kept.stdout == "43\n"  # the interpreter keeps its variables
        shell = cli("sandbox", "exec", "--shell", sandbox_id, "id -u", env=emulator)
        assert shell.stdout == "1000\n"
        failed = cli("sandbox", "exec", sandbox_id, "1/0", env=emulator)
        assert failed.returncode == 1 and "ZeroDivisionError" in failed.stdout
        assert "reported an error" in failed.stderr
        tools = cli("sandbox", "tools", sandbox_id, env=emulator).stdout
        assert "run_ipython_cell" in tools and "run_shell_command" in tools
    finally:
        removed = cli("sandbox", "rm", sandbox_id, env=emulator)
    assert removed.stdout == f"removed {sandbox_id}\n"
    assert cli("sandbox", "rm", sandbox_id, env=emulator).stdout.startswith("was already gone")
    assert json.loads(cli("sandbox", "ls", "--json", env=emulator).stdout) == []


def test_a_wrong_url_is_a_one_line_error_and_a_non_zero_exit(emulator):
    closed = cli("--url", f"http://127.0.0.1:{free_port()}", "invoke", "hi")
    assert closed.returncode == 1 and "cannot reach the query function" in one_line_error(closed)
    state = f"http://127.0.0.1:{emulator['STATE_PORT']}"
    wrong = cli("invoke", "hi", "--url", state, env=emulator)  # another function's URL
    assert wrong.returncode == 1 and "404 not_found: no route /process" in one_line_error(wrong)
    model = f"http://127.0.0.1:{emulator['MODEL_PORT']}"
    alien = cli("sessions", "list", "--url", model)  # not one of ours at all
    assert alien.returncode == 1 and "the state function?" in one_line_error(alien)
    garbled = cli("sandbox", "ls", "--url", "not a url")
    assert garbled.returncode == 2 and "not an http(s) URL" in one_line_error(garbled)
    missing = cli("sandbox", "ls", "--url", state, "--bogus")
    assert missing.returncode == 2  # argparse's usage error


SECRET = "cli-tests-" + "s" * 32


@pytest.mark.parametrize(
    "emulator", [{"AUTH_MODE": "jwt", "AUTH_JWT_SECRET": SECRET}], indirect=True
)
def test_a_missing_or_wrong_token_is_a_one_line_error_and_a_right_one_works(emulator):
    anonymous = cli("invoke", "hi", env=emulator)
    assert anonymous.returncode == 1
    assert "401 unauthorized" in one_line_error(anonymous) and "--token" in anonymous.stderr
    forged = cli("invoke", "hi", "--token", mint_token("x" * 40, "alice"), env=emulator)
    assert forged.returncode == 1 and "401 unauthorized" in one_line_error(forged)
    minted = cli("token", "--user", "alice", env=emulator)
    assert minted.returncode == 0, minted.stderr
    alice = {**emulator, "AGENTSCOPE_TOKEN": minted.stdout.strip()}
    assert cli("invoke", "--text", "hi", "--session", "a1", env=alice).returncode == 0
    listed = cli("sessions", "list", "--json", env=alice)  # the token's own user
    assert [s["id"] for s in json.loads(listed.stdout)] == ["a1"]
    other = cli("sessions", "list", "--user", "mallory", env=alice)
    assert other.returncode == 1 and "403 forbidden" in one_line_error(other)
    no_secret = cli("token", "--user", "alice", env={"AUTH_JWT_SECRET": ""})
    assert no_secret.returncode == 2 and "AUTH_JWT_SECRET" in one_line_error(no_secret)


def test_every_command_explains_itself():
    top = cli("--help")
    assert top.returncode == 0
    commands = (
        "chat",
        "invoke",
        "sessions",
        "sandbox",
        "local",
        "package",
        "images",
        "token",
        "sandbox-server",
        "playground",
    )
    for name in commands:
        assert name in top.stdout
        helped = cli(name, "--help")
        assert helped.returncode == 0 and "--url" in helped.stdout and "--token" in helped.stdout
    assert "AGENTSCOPE_TOKEN" in top.stdout and "exit status" in top.stdout
    assert "CONTAINER_DEPLOYMENT" in cli("sandbox-server", "--help").stdout


def test_sandbox_server_serves_fc_sandboxes_from_a_seed_style_config(
    tmp_path, docker_client, sandbox_images_built
):
    """`runtime-sandbox-server --config fc.env` with the seed's names: the sandbox function
    alone, its sandboxes FC sessions of the FC emulator (through the official SDK)."""
    from alibabacloud_fc20230330 import models
    from alibabacloud_fc20230330.client import Client
    from alibabacloud_tea_openapi.utils_models import Config

    from local_emulator.fc import deployed_emulator

    port = free_port()
    with deployed_emulator() as (fc, env):
        config = tmp_path / "fc.env"
        config.write_text(
            "# as for AgentScope Runtime's sandbox server\n"
            "CONTAINER_DEPLOYMENT=fc\n"
            f"FC_ACCOUNT_ID={env['FC_ACCOUNT_ID']}\n"
            f"FC_ACCESS_KEY_ID={env['ALIBABA_CLOUD_ACCESS_KEY_ID']}\n"
            f"FC_ACCESS_KEY_SECRET={env['ALIBABA_CLOUD_ACCESS_KEY_SECRET']}\n"
            f"FC_REGION_ID={env['FC_REGION']}\n"
            f"PORT={port}\n"
            "POOL_SIZE=0\n"
            'DEFAULT_SANDBOX_TYPE=["base"]\n'
            "BEARER_TOKEN=seed-style-token\n"
            f"FC_ENDPOINT={env['FC_ENDPOINT']}\n"
            f"STORE_URL=file://{tmp_path}/store\n"
        )
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("FC_", "SANDBOX_"))}
        server = subprocess.Popen(
            [CLI, "sandbox-server", "--config", str(config)],
            env={k: v for k, v in clean.items() if not k.startswith("ALIBABA_CLOUD_")},
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_http(f"{url}/health", server, timeout=60)
            created = cli("sandbox", "create", "--url", url)
            assert created.returncode == 0, created.stderr
            sandbox_id = created.stdout.strip()
            ran = cli("sandbox", "exec", sandbox_id, "print(6 * 7)", "--url", url)
            sdk = Client(
                Config(
                    access_key_id=fc.access_key_id,
                    access_key_secret=fc.access_key_secret,
                    endpoint=fc.url.removeprefix("http://"),
                    protocol="http",
                    region_id=env["FC_REGION"],
                )
            )
            session = sdk.get_session(
                "agentscope-sandbox-base", sandbox_id, models.GetSessionRequest()
            ).body
            removed = cli("sandbox", "rm", sandbox_id, "--url", url)
        finally:
            server.send_signal(2)
            out, _ = server.communicate(timeout=30)
    assert ran.stdout == "42\n", ran.stderr
    assert session.session_id == sandbox_id and session.session_status == "Active"
    assert removed.stdout == f"removed {sandbox_id}\n"
    assert f"http://127.0.0.1:{port}  /v1/sandboxes (on fc)" in out
    assert "BEARER_TOKEN is not used here" in out and "seed-style-token" not in out


@pytest.mark.parametrize(
    "emulator",
    [{"AGENT_APP": "tests.apps:file_gated_app", "GATE_FILE": "/nonexistent/gate"}],
    indirect=True,
)
def test_ctrl_c_during_an_answer_stops_the_turn_and_the_chat_goes_on(emulator):
    chat = subprocess.Popen(
        [CLI, "chat"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **emulator},
        cwd=ROOT,
    )
    try:
        assert chat.stdin and chat.stdout
        chat.stdin.write("hold on\n")
        chat.stdin.flush()
        assert chat.stdout.read(len("waiting ")) == "waiting "  # the turn is running
        chat.send_signal(2)  # Ctrl-C
        _, err = chat.communicate(input="/session\n", timeout=60)
    finally:
        if chat.poll() is None:
            chat.kill()
    assert chat.returncode == 0, err
    assert "[stopping the turn" in err and "[the turn was stopped]" in err
    session = err.strip().splitlines()[-1]  # what /session printed after the stop
    stored = json.loads(cli("sessions", "show", session, "--json", env=emulator).stdout)
    assert stored["messages"][-1]["status"] == "incomplete"

"""Starting and stopping the local servers as a user does (`make local`, `python -m
local_emulator`, `agentscope-faas sandbox-server` and `playground`): a port that is taken or
a bad config value is one line naming what the user set, before anything is built or
started; each server's lines name what it is."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_emulator.ports import PortInUse
from local_emulator.serve import Function, free_port, serve
from tests.fixtures.servers import ROOT, wait_http

CLI = str(Path(sys.executable).with_name("agentscope-faas"))


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another program listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def ports_env(**ports: int) -> dict[str, str]:
    """The emulator's port variables, each on a free port unless given."""
    names = ("QUERY_PORT", "STATE_PORT", "SANDBOX_PORT", "MODEL_PORT", "SANDBOX_DESKTOP_PORT")
    return {name: str(ports.get(name) or free_port()) for name in names}


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SANDBOX_", "FC_"))}
    return subprocess.run(
        command,
        env={**clean, "MODEL_BASE_URL": "", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_make_local_names_a_taken_port_before_building_anything(tmp_path, taken_port):
    env = {**ports_env(QUERY_PORT=taken_port), "STORE_URL": f"file://{tmp_path}/store"}
    done = run([CLI, "local"], env)
    assert done.returncode == 1
    # one line, the variable named; no image was built (the build prints its steps)
    assert (
        done.stderr
        == f"agentscope-faas: QUERY_PORT={taken_port}: 127.0.0.1:{taken_port} is in use\n"
    )
    assert done.stdout == ""


def test_the_emulator_names_every_taken_port_before_starting_its_store(tmp_path, taken_port):
    env = ports_env(STATE_PORT=taken_port, MODEL_PORT=taken_port)
    done = run([sys.executable, "-m", "local_emulator", "--store", "s3"], env)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"python -m local_emulator: STATE_PORT={taken_port}: 127.0.0.1:{taken_port} is in use; "
        f"MODEL_PORT={taken_port}: the same port as STATE_PORT"
    ]
    assert done.stdout == ""  # the S3 emulator was not started


def test_a_port_taken_after_the_check_is_still_one_error_naming_it(taken_port):
    """Between the check and the servers a port can still be taken: the servers bind every
    port before any starts, and say which."""

    async def app(scope, receive, send):  # never called: nothing starts
        raise AssertionError("started")

    functions = [
        Function("state", app, free_port(), ""),
        Function("query", app, taken_port, ""),
    ]
    with pytest.raises(PortInUse) as caught:
        asyncio.run(serve(functions, "127.0.0.1"))
    assert str(caught.value) == f"QUERY_PORT={taken_port}: 127.0.0.1:{taken_port} is in use"


def test_the_sandbox_server_names_the_port_option_that_is_taken(taken_port):
    done = run([CLI, "sandbox-server", "--port", str(taken_port)], {"STORE_URL": "memory://"})
    assert done.returncode == 1
    assert done.stderr == (
        f"agentscope-faas: --port={taken_port}: 127.0.0.1:{taken_port} is in use\n"
    )


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("PORT=abc", "PORT='abc' is not a port number (1 to 65535)"),
        ("port=70000", "port='70000' is not a port number (1 to 65535)"),
        (
            "HEARTBEAT_TIMEOUT=soon",
            "HEARTBEAT_TIMEOUT='soon': Input should be a valid number, unable to parse string "
            "as a number",
        ),
        ("POOL_SIZE=-1", "POOL_SIZE='-1': Input should be greater than or equal to 0"),
        ("SANDBOX_TTL_S=0", "SANDBOX_TTL_S='0': Input should be greater than 0"),
        ('DEFAULT_SANDBOX_TYPE=["base"', "DEFAULT_SANDBOX_TYPE='[\"base\"' is not a JSON list"),
    ],
)
def test_a_bad_value_in_the_sandbox_servers_config_is_one_line_naming_file_and_key(
    tmp_path, line, error
):
    config = tmp_path / "fc.env"
    config.write_text(f"{line}\n")
    done = run([CLI, "sandbox-server", "--config", str(config)], {"STORE_URL": "memory://"})
    assert done.returncode == 2
    assert done.stderr == f"agentscope-faas: --config {config}: {error}\n"
    assert "Traceback" not in done.stdout


def test_a_bad_variable_is_named_as_set_not_as_the_field(tmp_path):
    config = tmp_path / "fc.env"
    config.write_text("POOL_SIZE=1\n")
    env = {"STORE_URL": "memory://", "SANDBOX_TTL_S": "soon"}
    done = run([CLI, "sandbox-server", "--config", str(config)], env)
    assert done.returncode == 2
    assert done.stderr == (
        "agentscope-faas: SANDBOX_TTL_S='soon': Input should be a valid number, unable to "
        "parse string as a number\n"
    )


def serve_and_stop(command: list[str], url: str, env: dict[str, str]) -> str:
    """Run a server until it answers ``url``, Ctrl-C it; what it printed."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SANDBOX_", "FC_"))}
    proc = subprocess.Popen(
        command,
        env={**clean, **env, "PYTHONUNBUFFERED": "1"},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_http(url, proc, timeout=60)
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    return out


def test_the_sandbox_server_and_the_playground_say_what_they_are():
    port = free_port()
    out = serve_and_stop(
        [CLI, "sandbox-server", "--port", str(port)],
        f"http://127.0.0.1:{port}/health",
        {"STORE_URL": "memory://"},
    )
    assert "Ready. Ctrl-C stops the sandbox server.\n" in out
    assert out.endswith("sandbox server stopped\n")
    assert "emulator" not in out
    port = free_port()
    out = serve_and_stop(
        [CLI, "playground", "--url", "http://127.0.0.1:9", "--port", str(port)],
        f"http://127.0.0.1:{port}/",
        {},
    )
    assert "Ready. Ctrl-C stops the playground.\n" in out
    assert out.endswith("playground stopped\n")
    assert "emulator" not in out

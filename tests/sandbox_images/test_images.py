"""The sandbox images, built through the fixture and run the way the docker launcher runs them.

Each container is hardened as a sandbox is: user 1000, every capability dropped,
no-new-privileges, a read-only root filesystem with a tmpfs /tmp and a writable /workspace
(a named volume or a tmpfs), memory/CPU/pids limits, port 8000 published on 127.0.0.1 only,
and its tool server claimed with a random token (POST /claim), nothing secret in its
environment. One container per image serves every check of this module;
every container and volume carries this run's label and is removed at teardown, failures
included.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from functions.runtime.sandbox.desktop import docker_run_extras
from tests.sandbox_images.expected import EXPECTED_TOOLS, TOOLSETS

TYPES = ("base", "filesystem", "browser", "gui")
# how /workspace is provided: both ways a launcher may choose are exercised
WORKSPACE = {"base": "volume", "filesystem": "tmpfs", "browser": "tmpfs", "gui": "volume"}
LABEL = "agentscope-faas.test"
RUN = f"sandbox-images-{uuid.uuid4().hex[:12]}"
READY_TIMEOUT_S = 60.0


def hardened(image: str, **overrides: Any) -> dict[str, Any]:
    """``containers.run`` options of a sandbox launch (what the docker launcher passes)."""
    options: dict[str, Any] = {
        "image": image,
        "detach": True,
        "init": True,  # docker-init as PID 1 reaps what user code orphans
        "user": "1000:1000",
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "read_only": True,
        "tmpfs": {"/tmp": "rw,nosuid,nodev,size=64m"},
        "mem_limit": "512m",
        "pids_limit": 128,
        "nano_cpus": 1_000_000_000,
        "ports": {"8000/tcp": ("127.0.0.1", None)},
        "labels": {LABEL: RUN},
    }
    options.update(overrides)
    return options


@dataclass
class Sandbox:
    type: str
    container: Any
    url: str
    token: str

    def client(self, token: str | None = None) -> httpx.Client:
        token = self.token if token is None else token
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=auth, timeout=60, trust_env=False)

    def call(self, name: str, **args: Any) -> dict[str, Any]:
        with self.client() as http:
            resp = http.post(f"/tools/{name}", json=args)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def text(self, name: str, **args: Any) -> str:
        """The text of a call that must succeed."""
        result = self.call(name, **args)
        text = "".join(part["text"] for part in result["content"])
        assert result["isError"] is False, text
        return text

    def shell(self, command: str) -> str:
        return self.text("run_shell_command", command=command)


def published_url(container: Any) -> str:
    container.reload()
    (binding,) = container.attrs["NetworkSettings"]["Ports"]["8000/tcp"]
    assert binding["HostIp"] == "127.0.0.1"
    return f"http://127.0.0.1:{binding['HostPort']}"


def claim_when_ready(sandbox: Sandbox) -> None:
    """Claim the tool server as a launcher does, once it listens (bounded; fails early if
    the container exits)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    with sandbox.client() as http:
        while True:
            try:
                if http.post("/claim", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            sandbox.container.reload()
            if sandbox.container.status in ("exited", "dead"):
                logs = sandbox.container.logs().decode(errors="replace")
                pytest.fail(f"{sandbox.type} sandbox exited before it was ready:\n{logs}")
            if time.monotonic() > deadline:
                pytest.fail(f"{sandbox.type} sandbox not ready within {READY_TIMEOUT_S:g} s")
            time.sleep(0.05)


@pytest.fixture(scope="module")
def cleanup(docker_client: Any) -> Iterator[None]:
    """Remove every container and volume this run labelled, whatever the tests did."""
    yield
    for container in docker_client.containers.list(all=True, filters={"label": f"{LABEL}={RUN}"}):
        container.remove(force=True)
    for volume in docker_client.volumes.list(filters={"label": f"{LABEL}={RUN}"}):
        volume.remove(force=True)


@pytest.fixture(scope="module")
def sandbox_of(
    docker_client: Any, sandbox_images_built: dict[str, str], cleanup: None
) -> Callable[[str], Sandbox]:
    """``sandbox_of(type)``: the module's one running, ready sandbox of that type."""
    running: dict[str, Sandbox] = {}

    def get(sandbox_type: str) -> Sandbox:
        if sandbox_type not in running:
            token = secrets.token_urlsafe(32)
            if WORKSPACE[sandbox_type] == "volume":
                # a fresh named volume takes /workspace's owner (sandbox, uid 1000) from the image
                volume = docker_client.volumes.create(labels={LABEL: RUN})
                workspace: dict[str, Any] = {
                    "volumes": {volume.name: {"bind": "/workspace", "mode": "rw"}}
                }
            else:
                tmpfs = "rw,nosuid,nodev,size=64m,uid=1000,gid=1000,mode=0755"
                workspace = {"tmpfs": {"/tmp": "rw,nosuid,nodev,size=64m", "/workspace": tmpfs}}
            options = hardened(sandbox_images_built[sandbox_type], **workspace)
            # a desktop's larger /tmp and home, /dev/shm, pids and its live-view port
            options = docker_run_extras(sandbox_type, options)
            container = docker_client.containers.run(**options)
            sandbox = Sandbox(sandbox_type, container, published_url(container), token)
            claim_when_ready(sandbox)
            running[sandbox_type] = sandbox
        return running[sandbox_type]

    return get


@pytest.mark.parametrize("sandbox_type", TYPES)
def test_image_metadata(sandbox_images_built: dict[str, str], docker_client: Any, sandbox_type):
    image = docker_client.images.get(sandbox_images_built[sandbox_type])
    config = image.attrs["Config"]
    assert config["Labels"]["agentscope-faas.sandbox-type"] == sandbox_type
    assert config["Labels"]["org.opencontainers.image.title"].endswith(sandbox_type)
    assert config["User"] == "sandbox"
    assert config["WorkingDir"] == "/workspace"
    assert "8000/tcp" in config["ExposedPorts"]
    assert config["Cmd"] == ["python3", "-m", "toolserver"]
    assert f"TOOLSERVER_TOOLSETS={TOOLSETS[sandbox_type]}" in config["Env"]


@pytest.mark.parametrize("sandbox_type", TYPES)
def test_tools_listed_per_image(sandbox_of: Callable[[str], Sandbox], sandbox_type: str):
    sandbox = sandbox_of(sandbox_type)
    with sandbox.client() as http:
        resp = http.get("/tools")
    assert resp.status_code == 200
    assert {tool["name"] for tool in resp.json()["tools"]} == EXPECTED_TOOLS[sandbox_type]


@pytest.mark.parametrize("sandbox_type", TYPES)
def test_every_route_needs_the_token(sandbox_of: Callable[[str], Sandbox], sandbox_type: str):
    sandbox = sandbox_of(sandbox_type)
    for token in ("", "wrong-" + sandbox.token):
        with sandbox.client(token) as http:
            assert http.get("/healthz").status_code == 401
            assert http.post("/tools/run_shell_command", json={"command": "id"}).status_code == 401
    with sandbox.client("another-" + sandbox.token) as http:
        assert http.post("/claim").status_code == 409  # claimed once, for good


@pytest.mark.parametrize("sandbox_type", TYPES)
def test_runs_as_uid_1000_without_capabilities(
    sandbox_of: Callable[[str], Sandbox], sandbox_type: str
):
    sandbox = sandbox_of(sandbox_type)
    assert sandbox.shell("id -u; id -g").split() == ["1000", "1000"]
    status = dict(
        line.split(":", 1)
        for line in sandbox.shell("cat /proc/self/status").splitlines()
        if ":" in line
    )
    for field in ("CapEff", "CapPrm", "CapBnd", "CapAmb"):
        assert status[field].strip() == "0000000000000000", field
    assert status["NoNewPrivs"].strip() == "1"


@pytest.mark.parametrize("sandbox_type", TYPES)
def test_root_filesystem_is_read_only(sandbox_of: Callable[[str], Sandbox], sandbox_type: str):
    sandbox = sandbox_of(sandbox_type)
    for path in ("/etc/sandbox-test", "/opt/toolserver/toolserver/injected.py", "/sandbox-test"):
        result = sandbox.call("run_shell_command", command=f"echo x > {path}")
        assert result["isError"] is True
        assert "Read-only file system" in result["content"][0]["text"]


@pytest.mark.parametrize("sandbox_type", TYPES)
def test_workspace_and_tmp_are_writable(sandbox_of: Callable[[str], Sandbox], sandbox_type: str):
    sandbox = sandbox_of(sandbox_type)
    out = sandbox.shell(
        "echo in-workspace > /workspace/shell.txt && cat /workspace/shell.txt"
        " && echo in-tmp > /tmp/shell.txt && cat /tmp/shell.txt && pwd"
        " && stat -c '%u %a' /workspace"
    )
    assert out.split() == ["in-workspace", "in-tmp", "/workspace", "1000", "755"]
    # the file routes write the same workspace
    with sandbox.client() as http:
        assert http.put("/workspace/notes/route.txt", content=b"via route").status_code < 300
        assert http.get("/workspace/notes/route.txt").content == b"via route"
    assert sandbox.shell("cat /workspace/notes/route.txt") == "via route"


@pytest.mark.parametrize("sandbox_type", TYPES)
def test_python_cells_keep_state(sandbox_of: Callable[[str], Sandbox], sandbox_type: str):
    sandbox = sandbox_of(sandbox_type)
    out = sandbox.text(
        "run_ipython_cell",
        code="import os, sys\nprint(os.getuid(), sys.version_info >= (3, 10))\nanswer = 6 * 7",
    )
    assert out.split() == ["1000", "True"]
    assert sandbox.text("run_ipython_cell", code="answer").strip() == "42"
    # the token is in no environment user code sees, the container's first one included
    env = sandbox.text("run_ipython_cell", code="import os\ndict(os.environ)")
    assert sandbox.token not in env and "TOOLSERVER_TOKEN" not in env
    assert sandbox.token not in sandbox.shell("env; cat /proc/1/environ")


@pytest.mark.parametrize("sandbox_type", TYPES)
def test_the_tool_server_s_memory_is_private_and_orphans_are_reaped(
    sandbox_of: Callable[[str], Sandbox], sandbox_type: str
):
    """The tool server (holding the claimed token) has no /proc files user code can read, and
    PID 1 (docker-init) reaps what user code leaves behind, a desktop's programs included."""
    sandbox = sandbox_of(sandbox_type)
    readable = sandbox.shell(
        "for p in /proc/[0-9]*; do"
        " if tr '\\0' ' ' < $p/cmdline 2>/dev/null | grep -q '^python3 -m toolserver'; then"
        " cat $p/environ >/dev/null 2>&1 && echo ${p#/proc/}; fi; done; echo checked"
    )
    assert readable == "checked\n"
    # an orphan (its parent exits at once) must not stay a zombie: PID 1 reaps it
    out = sandbox.shell(
        "pid=$(setsid sh -c 'sleep 0.1 >/dev/null 2>&1 & echo $!');"
        " for i in $(seq 600); do [ -e /proc/$pid ] || { echo reaped; exit 0; }; sleep 0.05; done;"
        " grep State /proc/$pid/status"
    )
    assert out == "reaped\n"


def test_filesystem_tools_work_in_the_workspace(sandbox_of: Callable[[str], Sandbox]):
    sandbox = sandbox_of("filesystem")
    sandbox.text("write_file", path="/workspace/fs/hello.txt", content="hello\nworld\n")
    assert sandbox.text("read_file", path="fs/hello.txt") == "hello\nworld\n"
    assert "/workspace" in sandbox.text("list_allowed_directories")
    outside = sandbox.call("read_file", path="/etc/passwd")
    assert outside["isError"] is True


@pytest.mark.parametrize("sandbox_type", TYPES)
def test_a_token_in_the_environment_stops_the_container(
    docker_client: Any, sandbox_images_built: dict[str, str], cleanup: None, sandbox_type: str
):
    """Code in the sandbox could read it at /proc/1/environ: the tool server refuses it."""
    container = docker_client.containers.run(
        **hardened(sandbox_images_built[sandbox_type], environment={"TOOLSERVER_TOKEN": "x" * 40})
    )
    try:
        status = container.wait(timeout=READY_TIMEOUT_S)
        assert status["StatusCode"] != 0
        logs = container.logs()
        assert b"TOOLSERVER_TOKEN" in logs and b"x" * 40 not in logs
    finally:
        container.remove(force=True)

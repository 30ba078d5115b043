"""``scripts/ensure_docker.sh`` with two callers at once (issue 16, item 16).

The engine here is shared and must never be restarted, so the script runs against stand-ins
on its PATH: ``docker`` answers ``info`` once a marker file exists, ``dockerd`` makes that
marker when the test says so and then runs on as a daemon does, and ``id -u`` says root. The
script itself, ``flock`` and the shell are the real ones.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "sandbox_images" / "scripts" / "ensure_docker.sh"
WAIT_S = 60.0

FAKE_DOCKER = """#!/bin/sh
[ "$1" = info ] && [ -e "$FAKE_STATE/up" ] && exit 0
exit 1
"""
FAKE_DOCKERD = """#!/bin/sh
echo $$ > "$FAKE_STATE/dockerd.pid"
while [ ! -e "$FAKE_STATE/go" ]; do sleep 0.02; done
touch "$FAKE_STATE/up"
exec sleep 600
"""
FAKE_ID = """#!/bin/sh
[ "$1" = -u ] && { echo 0; exit 0; }
exec /usr/bin/id "$@"
"""


def wait_until(condition, what: str) -> None:
    """Poll ``condition`` (a readiness probe, not a timing assumption)."""
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"{what} never happened"
        time.sleep(0.02)


def waiting_on_flock(pid: int) -> bool:
    """Whether the shell ``pid`` runs ``flock`` now (its turn on the lock has not come)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            status = (proc / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        if fields.get("Name", "").strip() == "flock" and fields.get("PPid", "").strip() == str(pid):
            return True
    return False


def holds(pid: int, path: Path) -> bool:
    """Whether process ``pid`` has ``path`` open."""
    fds = Path(f"/proc/{pid}/fd")
    return any(os.path.realpath(fd) == str(path.resolve()) for fd in fds.iterdir())


@pytest.fixture
def stand_ins(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("docker", FAKE_DOCKER), ("dockerd", FAKE_DOCKERD), ("id", FAKE_ID)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "TMPDIR": str(tmp_path),  # the lock lives here, not beside the real callers'
        "FAKE_STATE": str(tmp_path),
        "DOCKERD_LOG": str(tmp_path / "dockerd.log"),
        "DOCKER_PIDFILE": str(tmp_path / "no-dockerd.pid"),
        "DOCKER_WAIT_S": str(int(WAIT_S)),
    }


def test_a_second_caller_waiting_on_the_lock_returns_once_the_first_started_dockerd(
    tmp_path: Path, stand_ins: dict[str, str]
):
    lock = tmp_path / "agentscope-faas-ensure-docker.lock"
    started: list[subprocess.Popen] = []

    def caller() -> subprocess.Popen:
        proc = subprocess.Popen(
            ["sh", str(SCRIPT)], env=stand_ins, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        started.append(proc)
        return proc

    dockerd_pid = tmp_path / "dockerd.pid"
    try:
        first = caller()
        wait_until(dockerd_pid.exists, "the first caller starting dockerd")
        second = caller()
        wait_until(lambda: waiting_on_flock(second.pid), "the second caller waiting on the lock")
        (tmp_path / "go").touch()  # dockerd answers now, and runs on
        assert first.wait(WAIT_S) == 0, first.stdout.read()
        # the daemon is still running, and it does not hold the lock: the second caller's
        # turn comes; with the lock's descriptor inherited it would never come
        daemon = int(dockerd_pid.read_text())
        assert not holds(daemon, lock)
        assert second.wait(WAIT_S) == 0, second.stdout.read()
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if dockerd_pid.exists():
            try:
                os.kill(int(dockerd_pid.read_text()), signal.SIGKILL)  # started by this test
            except ProcessLookupError:
                pass


def test_killing_the_callers_process_group_leaves_the_dockerd_it_started_running(
    tmp_path: Path, stand_ins: dict[str, str]
):
    dockerd_pid = tmp_path / "dockerd.pid"
    # the caller leads its own process group, as `make test` under a job runner does
    caller = subprocess.Popen(
        ["sh", str(SCRIPT)],
        env=stand_ins,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    daemon = 0
    try:
        wait_until(dockerd_pid.exists, "the caller starting dockerd")
        wait_until(lambda: dockerd_pid.read_text().strip().isdigit(), "dockerd writing its pid")
        daemon = int(dockerd_pid.read_text())
        assert os.getsid(daemon) != os.getsid(caller.pid)  # a session of its own
        os.killpg(caller.pid, signal.SIGKILL)  # a timeout stopping the caller and its group
        caller.wait(WAIT_S)
        os.kill(daemon, 0)  # the engine every other caller shares is still there
    finally:
        if caller.poll() is None:
            caller.kill()
            caller.wait()
        if daemon:
            try:
                os.kill(daemon, signal.SIGKILL)  # started by this test
            except ProcessLookupError:
                pass

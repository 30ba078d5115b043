"""`packaging/build.py` says what it does: a numbered line per step with its time (plain
lines here, as in CI logs), none under -q. Uses the session build's warm cache."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.fixtures.artifacts import PACKAGING
from tests.fixtures.servers import ROOT


def build(out, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, str(PACKAGING / "build.py"), "--targets", "fc"]
    command += ["--functions", "state", "--out", str(out), *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_each_install_and_zip_is_a_numbered_step_with_its_time(tmp_path, host_artifacts):
    done = build(tmp_path)
    assert done.returncode == 0, done.stderr
    steps = [line for line in done.stderr.splitlines() if line.startswith("[")]
    assert steps[0] == "[1/2] dependencies of state for fc python3.11-x86_64 ..."
    assert re.fullmatch(
        r"\[1/2\] dependencies of state for fc python3\.11-x86_64: \d+ requirements, "
        r"done in \d+\.\d s",
        steps[1],
    )
    assert steps[2] == "[2/2] zipping fc/state-python3.11-x86_64.zip ..."
    assert re.fullmatch(
        r"\[2/2\] zipping fc/state-python3\.11-x86_64\.zip: \d+\.\d MB, done in \d+\.\d s",
        steps[3],
    )
    assert "\x1b[" not in done.stderr  # no terminal: no live bar
    assert "state    fc" in done.stdout  # the size table as before


def test_quiet_builds_print_no_steps(tmp_path, host_artifacts):
    done = build(tmp_path, "-q")
    assert done.returncode == 0 and done.stderr == ""

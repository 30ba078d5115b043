"""`sandbox_images/build.py` says what it does: numbered steps with their times (plain lines
off a terminal, as in CI), docker's own output only with -v, nothing but the table with -q."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.fixtures.servers import ROOT

SCRIPT = str(ROOT / "sandbox_images" / "build.py")


def build(*args: str) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, SCRIPT, "base", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_each_step_is_a_numbered_line_with_its_time(sandbox_images_built):
    done = build()
    ends = [line for line in done.stderr.splitlines() if ": done in " in line]
    assert [re.sub(r" in \d+\.\d s$", "", line) for line in ends] == [
        "[1/3] Docker engine: done",
        "[2/3] base OS image agentscope-faas/debian-python:bookworm: done",
        f"[3/3] building the base image {sandbox_images_built['base']}: done",
    ]
    assert "Step 1/" not in done.stdout + done.stderr  # docker's own output: -v only
    assert re.search(r"^total\s+\d+\.\d s$", done.stdout, re.M)  # the table as before


def test_verbose_adds_dockers_output_and_quiet_prints_only_the_table(sandbox_images_built):
    assert "Step 1/" in build("-v").stderr
    quiet = build("-q")
    assert quiet.stderr == "" and re.search(r"^total\s+\d+\.\d s$", quiet.stdout, re.M)

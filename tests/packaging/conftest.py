"""The packaging tests use the session's one build of the artifacts this machine can run
(``host_artifacts``, tests/fixtures/artifacts.py: AWS for this Python and CPU, and FC), which
the artifact-mode end-to-end tests share. Building needs PyPI (or the wheels cache in
build/packaging-cache from an earlier build)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from local_emulator.artifacts import host_arch, host_python
from tests.fixtures.artifacts import PACKAGING, load_packaging

ROOT = Path(__file__).resolve().parents[2]
HOST_BUILD = ("--targets", "aws,fc", "--python", host_python(), "--arch", host_arch())


def build(out: Path, *args: str) -> dict:
    proc = subprocess.run(
        [sys.executable, str(PACKAGING / "build.py"), *args, "--out", str(out), "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads((out / "manifest.json").read_text())


@pytest.fixture(scope="session")
def built(host_artifacts: Path) -> tuple[Path, dict]:
    """(out dir, manifest) of the host-matching build."""
    return host_artifacts.parent, json.loads(host_artifacts.read_text())


@pytest.fixture(scope="session")
def unpacked(built: tuple[Path, dict], tmp_path_factory: pytest.TempPathFactory):
    """Each artifact unpacked once, permissions kept: {zip path: folder}."""
    reprozip = load_packaging("reprozip")
    out, manifest = built
    base = tmp_path_factory.mktemp("unpacked")
    folders = {}
    for artifact in manifest["artifacts"]:
        dest = base / artifact["zip"].replace("/", "_").removesuffix(".zip")
        reprozip.extract(out / artifact["zip"], dest)
        folders[artifact["zip"]] = dest
    return folders

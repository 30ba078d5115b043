"""Fixtures of the Terraform tests: a manifest like `make package` writes, and the terraform CLI.

The providers (hashicorp/aws, aliyun/alicloud, hashicorp/random) cannot be downloaded here, so
the roots are checked as parsed HCL; what needs no provider (modules/manifest, `terraform
fmt`) is run by the real terraform binary.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixtures.artifacts import load_packaging


def write_manifest(dist: Path, *, duplicate: str | None = None) -> Path:
    """A manifest with one small real zip per function and platform, shaped as build.py writes it.

    ``duplicate`` names a function whose aws python3.11 x86_64 artifact appears twice.
    """
    targets = load_packaging("targets")
    artifacts = []
    for platform in targets.PLATFORMS:
        for function in targets.FUNCTIONS.values():
            rel = targets.zip_rel(function, platform)
            path = dist / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(path, "w") as z:
                z.writestr("entry", f"{function.name} {platform.target} {platform.slug}\n")
            data = path.read_bytes()
            sha256 = hashlib.sha256(data).hexdigest()
            artifacts.append(
                targets.manifest_entry(
                    function, platform, "examples.friday:agent_app", sha256, len(data), len(data)
                )
            )
    if duplicate:
        artifacts += [
            a
            for a in artifacts
            if a["function"] == duplicate
            and a["target"] == "aws"
            and a["zip"].endswith("3.11-x86_64.zip")
        ]
    manifest = dist / "manifest.json"
    manifest.write_text(
        json.dumps(
            {"format": 1, "project": "agentscope-faas", "version": "0.1.0", "artifacts": artifacts}
        )
    )
    return manifest


@pytest.fixture
def fixture_manifest(tmp_path: Path) -> Path:
    return write_manifest(tmp_path / "dist")


@pytest.fixture(scope="session")
def terraform_bin() -> str:
    found = shutil.which("terraform")
    if not found:
        pytest.skip("terraform is not installed")
    return found


@pytest.fixture
def terraform(terraform_bin: str, tmp_path: Path) -> Callable[..., subprocess.CompletedProcess]:
    """Run terraform offline in a directory: no CLI config, no plugin downloads, no colour."""
    config = tmp_path / "terraformrc"
    config.write_text("")
    env = {**os.environ, "TF_CLI_CONFIG_FILE": str(config), "TF_IN_AUTOMATION": "1"}
    env.pop("TF_DATA_DIR", None)

    def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            [terraform_bin, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
        )

    return run

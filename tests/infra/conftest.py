"""Fixtures of the Terraform tests: a manifest like `make package` writes, and the terraform CLI.

The providers (hashicorp/aws, aliyun/alicloud, hashicorp/random) cannot be downloaded here, so
the roots are checked as parsed HCL; what needs no provider (modules/manifest,
modules/function_environment, a root's variables.tf with its validations, `terraform fmt`) is
run by the real terraform binary.
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
from tests.infra.hcl import TERRAFORM


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


def terraform_runner(terraform_bin: str, home: Path) -> Callable[..., subprocess.CompletedProcess]:
    """Run terraform offline in a directory: no CLI config, no plugin downloads, no colour."""
    config = home / "terraformrc"
    config.write_text("")
    env = {**os.environ, "TF_CLI_CONFIG_FILE": str(config), "TF_IN_AUTOMATION": "1"}
    env.pop("TF_DATA_DIR", None)

    def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            [terraform_bin, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
        )

    return run


@pytest.fixture
def terraform(terraform_bin: str, tmp_path: Path) -> Callable[..., subprocess.CompletedProcess]:
    return terraform_runner(terraform_bin, tmp_path)


class VariablesPlan:
    """A root's variables.tf alone, where `terraform plan` runs without any provider.

    A plan of it evaluates every variable's type, default and validation rule (those naming
    other variables too) exactly as a plan of the whole root does before it reads anything,
    so what it refuses, `terraform plan` of the root refuses.
    """

    def __init__(self, run: Callable[..., subprocess.CompletedProcess], work: Path, root: str):
        self.run, self.work, self.root = run, work, root
        work.mkdir(parents=True)
        (work / "variables.tf").write_text((TERRAFORM / root / "variables.tf").read_text())
        init = run("init", "-backend=false", "-input=false", "-no-color", cwd=work)
        assert init.returncode == 0, init.stdout + init.stderr

    def plan(self, *files: Path, **values: object) -> subprocess.CompletedProcess:
        """Plan with these -var-files and -var values (HCL-encoded from Python values)."""
        args = [f"-var-file={f}" for f in files]
        args += [f"-var={name}={hcl_value(value)}" for name, value in values.items()]
        return self.run("plan", "-input=false", "-no-color", "-lock=false", *args, cwd=self.work)

    def accepts(self, *files: Path, **values: object) -> None:
        done = self.plan(*files, **values)
        assert done.returncode == 0, f"{self.root} refused {files} {values}: " + done.stderr

    def refuses(self, *files: Path, **values: object) -> str:
        """The error terraform gives, on one line; AssertionError if the plan goes through."""
        done = self.plan(*files, **values)
        assert done.returncode != 0, f"{self.root} accepted {files} {values}"
        return " ".join(done.stderr.replace("│", " ").split())


def hcl_value(value: object) -> str:
    """A Python value as the HCL -var takes it (JSON is HCL for these shapes)."""
    if isinstance(value, str):
        return value
    return json.dumps(value)


@pytest.fixture(scope="session")
def variables_plan(terraform_bin: str, tmp_path_factory) -> Callable[[str], VariablesPlan]:
    """One initialised variables-only directory per root, shared by the tests."""
    made: dict[str, VariablesPlan] = {}
    home = tmp_path_factory.mktemp("variables-plan")
    run = terraform_runner(terraform_bin, home)

    def get(root: str) -> VariablesPlan:
        if root not in made:
            made[root] = VariablesPlan(run, home / root, root)
        return made[root]

    return get

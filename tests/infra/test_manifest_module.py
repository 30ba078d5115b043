"""modules/manifest run by terraform itself: which artifacts a deployment gets from a manifest.

The module needs no provider, so `terraform apply` evaluates it here for real: the same
selection, hex-to-base64 conversion and preconditions that both roots rely on.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from tests.infra.conftest import write_manifest
from tests.infra.hcl import TERRAFORM

MODULE = TERRAFORM / "modules" / "manifest"


def evaluate(terraform, tmp_path: Path, manifest: Path, **inputs) -> dict:
    """The module's ``artifacts`` output for these inputs; AssertionError with terraform's words."""
    work = tmp_path / "root"
    work.mkdir(exist_ok=True)
    arguments = "\n".join(f"  {k} = {json.dumps(v)}" for k, v in inputs.items())
    (work / "main.tf").write_text(
        f'module "m" {{\n  source = {json.dumps(str(MODULE))}\n'
        f"  manifest_path = {json.dumps(str(manifest))}\n{arguments}\n}}\n"
        'output "artifacts" {\n  value = module.m.artifacts\n}\n'
    )
    init = terraform("init", "-backend=false", "-input=false", "-no-color", cwd=work)
    assert init.returncode == 0, init.stdout + init.stderr
    done = terraform("apply", "-auto-approve", "-input=false", "-no-color", cwd=work)
    assert done.returncode == 0, done.stdout + done.stderr
    out = terraform("output", "-json", "artifacts", cwd=work)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def refused(terraform, tmp_path: Path, manifest: Path, **inputs) -> str:
    with pytest.raises(AssertionError) as failed:
        evaluate(terraform, tmp_path, manifest, **inputs)
    return " ".join(str(failed.value).replace("│", " ").split())


@pytest.mark.parametrize("python", ["3.11", "3.12"])
@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_aws_selection_takes_the_asked_python_and_cpu(
    terraform, tmp_path, fixture_manifest, python, arch
):
    got = evaluate(terraform, tmp_path, fixture_manifest, target="aws", python=python, arch=arch)

    manifest = json.loads(fixture_manifest.read_text())
    assert set(got) == {"query", "state", "sandbox"}
    for name, artifact in got.items():
        (entry,) = [
            a
            for a in manifest["artifacts"]
            if (a["function"], a["target"], a["python"], a["arch"]) == (name, "aws", python, arch)
        ]
        for field in (
            "handler",
            "runtime",
            "arch",
            "memory_mb",
            "timeout_s",
            "zip",
            "sha256",
            "size",
            "unzipped_size",
            "port",
        ):
            assert artifact[field] == entry[field], (name, field)
        assert artifact["streaming_handler"] == ("run.sh" if name == "query" else None)
        # zips are relative to the manifest's folder
        assert Path(artifact["zip_path"]) == fixture_manifest.parent / entry["zip"]
        # Lambda's source_code_hash: base64 of the zip's SHA-256, what filebase64sha256 gives
        digest = hashlib.sha256(Path(artifact["zip_path"]).read_bytes()).digest()
        assert artifact["source_code_hash"] == base64.b64encode(digest).decode()


def test_fc_selection_has_the_custom_runtime_command(terraform, tmp_path, fixture_manifest):
    got = evaluate(terraform, tmp_path, fixture_manifest, target="fc")

    assert set(got) == {"query", "state", "sandbox"}
    for artifact in got.values():
        assert artifact["runtime"] == "custom.debian12"
        assert artifact["command"] == ["/code/bootstrap"]
        assert artifact["port"] == 9000
        assert artifact["zip"].startswith("fc/")
    assert got["query"]["environment"] == {"AGENT_APP": "examples.friday:agent_app"}
    assert got["sandbox"]["environment"] == {"SANDBOX_BACKEND": "fc"}


def test_a_subset_of_functions_is_selected_alone(terraform, tmp_path, fixture_manifest):
    got = evaluate(
        terraform, tmp_path, fixture_manifest, target="aws", python="3.11", arch="arm64",
        functions=["query", "state"],
    )  # fmt: skip
    assert set(got) == {"query", "state"}


def test_base64_of_every_byte_pattern(terraform, tmp_path, fixture_manifest):
    """The hex-to-base64 arithmetic, on digests that exercise all 64 digits and the padding."""
    manifest = json.loads(fixture_manifest.read_text())
    digests = ["0" * 64, "f" * 64, "0123456789abcdef" * 4, "fedcba9876543210" * 4]
    for i, digest in enumerate(digests):
        for a in manifest["artifacts"]:
            if a["target"] == "fc":
                a["sha256"] = hashlib.sha256(f"{digest}{a['function']}".encode()).hexdigest()
        manifest["artifacts"][-1]["sha256"] = digest  # fc sandbox
        path = fixture_manifest.parent / f"manifest-{i}.json"
        path.write_text(json.dumps(manifest))
        got = evaluate(terraform, tmp_path, path, target="fc", verify_zips=False)
        for artifact in got.values():
            expected = base64.b64encode(bytes.fromhex(artifact["sha256"])).decode()
            assert artifact["source_code_hash"] == expected, artifact["sha256"]


def test_missing_python_version_is_refused_with_the_reason(terraform, tmp_path, fixture_manifest):
    said = refused(
        terraform, tmp_path, fixture_manifest, target="aws", python="3.13", arch="x86_64"
    )
    assert "exactly one aws artifact" in said
    assert "make package" in said


def test_two_artifacts_for_one_function_are_refused(terraform, tmp_path):
    manifest = write_manifest(tmp_path / "dist", duplicate="state")
    said = refused(terraform, tmp_path, manifest, target="aws", python="3.11", arch="x86_64")
    assert '"state":2' in said


def test_a_zip_that_changed_after_the_manifest_is_refused(terraform, tmp_path, fixture_manifest):
    zip_path = fixture_manifest.parent / "fc" / "state-python3.11-x86_64.zip"
    zip_path.write_bytes(zip_path.read_bytes() + b"\0")
    said = refused(terraform, tmp_path, fixture_manifest, target="fc")
    assert "differs from its sha256" in said


def test_a_missing_zip_is_refused(terraform, tmp_path, fixture_manifest):
    (fixture_manifest.parent / "fc" / "query-python3.11-x86_64.zip").unlink()
    said = refused(terraform, tmp_path, fixture_manifest, target="fc")
    assert "missing" in said


def test_an_unknown_manifest_format_is_refused(terraform, tmp_path, fixture_manifest):
    manifest = json.loads(fixture_manifest.read_text())
    manifest["format"] = 2
    fixture_manifest.write_text(json.dumps(manifest))
    said = refused(terraform, tmp_path, fixture_manifest, target="fc")
    assert "Unknown manifest format 2" in said


def test_the_real_build_is_read_as_is(terraform, tmp_path, host_artifacts):
    """The manifest packaging/build.py writes (this host's aws build and fc), zips verified."""
    manifest = json.loads(host_artifacts.read_text())
    aws = next(a for a in manifest["artifacts"] if a["target"] == "aws")

    got = evaluate(
        terraform, tmp_path, host_artifacts, target="aws", python=aws["python"], arch=aws["arch"]
    )
    assert got["query"]["handler"] == "functions.query.handler.lambda_handler"
    assert got["query"]["streaming_handler"] == "run.sh"
    digest = hashlib.sha256(Path(got["sandbox"]["zip_path"]).read_bytes()).digest()
    assert got["sandbox"]["source_code_hash"] == base64.b64encode(digest).decode()

    fc = evaluate(terraform, tmp_path, host_artifacts, target="fc")
    assert {a["command"][0] for a in fc.values()} == {"/code/bootstrap"}

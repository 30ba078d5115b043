"""checkov over infra/terraform: every skipped check has its reason, and the skip list
holds nothing that would pass anyway (issue 22 item 5).

`make checkov` (a step of `make test`) is the gate: it runs checkov 3.3 from its own venv,
.venv-checkov, with infra/terraform/.checkov.yaml. These tests run the same checkov (skipped
when that venv is missing) with JSON output, offline: in a network namespace of its own
when this machine lets one be made, so a check that needed the network would fail here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.infra.hcl import TERRAFORM

REPO = TERRAFORM.parents[1]
CONFIG = TERRAFORM / ".checkov.yaml"
CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"
# fixed by this configuration (issue 22's findings): they must pass on every function
FIXED = {
    "CKV_AWS_115": "aws_lambda_function",  # function-level concurrency limit
    "CKV_AWS_50": "aws_lambda_function",  # X-Ray tracing
    "CKV_AWS_338": "aws_cloudwatch_log_group",  # logs kept at least a year
}
LAMBDAS = ("module.query", "module.state", "module.sandbox[0]")


def skipped() -> dict[str, str]:
    """Check id => the reason written beside it in .checkov.yaml."""
    return dict(re.findall(r"^\s*-\s*(CKV\w+)\s*#\s*(.+)$", CONFIG.read_text(), re.M))


def no_network_prefix() -> list[str]:
    """``unshare --net`` when this machine allows it (a namespace with no interface but lo)."""
    try:
        done = subprocess.run(["unshare", "--net", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return ["unshare", "--net"] if done.returncode == 0 else []


def run_checkov(tmp_path: Path, *, with_skips: bool) -> dict:
    """checkov's JSON report with .checkov.yaml's options (every check listed, not --quiet)."""
    if not CHECKOV.exists():
        pytest.skip("no .venv-checkov: `make checkov` builds it")
    options = yaml.safe_load(CONFIG.read_text())
    options.pop("quiet")
    options.pop("compact")
    if not with_skips:
        options.pop("skip-check")
    config = tmp_path / "checkov.yaml"
    config.write_text(yaml.safe_dump(options))
    env = {**os.environ, "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true", "BC_SKIP_MAPPING": "true"}
    env.pop("BC_API_KEY", None)
    done = subprocess.run(
        [*no_network_prefix(), str(CHECKOV), "--config-file", str(config), "-o", "json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(done.stdout)
    assert isinstance(report, dict), "one framework: terraform"
    assert report["check_type"] == "terraform"
    return report


def test_every_skip_has_its_reason_and_the_run_stays_offline():
    options = yaml.safe_load(CONFIG.read_text())
    reasons = skipped()
    assert options["skip-check"] == list(reasons), "one skip per line, each with '# reason'"
    assert len(set(reasons)) == len(reasons)
    for check, reason in reasons.items():
        assert len(reason.split()) >= 8, f"{check}: say why it does not apply or is not wanted"
    assert not set(reasons) & set(FIXED)
    # nothing fetched: no platform guidelines, no registry modules, terraform only
    assert options["skip-download"] is True
    assert options["download-external-modules"] is False
    assert options["framework"] == ["terraform"]
    assert options["directory"] == ["infra/terraform"]
    makefile = (REPO / "Makefile").read_text()
    assert "CKV_SKIP_PACKAGE_UPDATE_CHECK=true BC_SKIP_MAPPING=true" in makefile
    assert "--config-file infra/terraform/.checkov.yaml" in makefile
    test_rule = re.search(r"^test:.*\n(\t.*\n)+", makefile, re.M)
    assert test_rule and re.search(r"\bcheckov\b", test_rule[0]), "make test runs checkov"


def test_checkov_passes_with_the_documented_skips(tmp_path):
    report = run_checkov(tmp_path, with_skips=True)
    summary = report["summary"]
    assert summary["failed"] == 0, [
        (c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]
    ]
    assert summary["parsing_errors"] == 0
    assert summary["passed"] >= 100
    assert summary["checkov_version"].startswith("3.3.")

    passed = {(c["check_id"], c["resource"]) for c in report["results"]["passed_checks"]}
    for check, resource_type in FIXED.items():
        for function in LAMBDAS:
            resource = f"{function}.{resource_type}.this"
            assert (check, resource) in passed, (check, resource)


def test_each_skipped_check_would_fail_without_its_skip(tmp_path):
    """A skip whose check passes (after a fix, or a checkov that changed) must leave the list."""
    report = run_checkov(tmp_path, with_skips=False)
    failing = {c["check_id"] for c in report["results"]["failed_checks"]}
    assert set(skipped()) == failing

"""modules/function_environment run by terraform itself: what each function is told.

The module needs no provider, so `terraform apply` evaluates it here for real: both roots
hand it their auth_*, log/OTel and limit variables and merge its output into every
function's environment (test_identity.py and test_limits.py check that wiring).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.infra.hcl import TERRAFORM

MODULE = TERRAFORM / "modules" / "function_environment"
FUNCTIONS = ["query", "state", "sandbox"]
AUTH = {
    "mode": "jwt",
    "jwks_url": "https://idp.example/.well-known/jwks.json",
    "issuer": "https://idp.example/",
    "user_claim": "sub",
    "admin_scope": "agentscope:admin",
}


def evaluate(terraform, work: Path, **inputs) -> dict:
    """The module's outputs for these inputs, by output name."""
    work.mkdir()
    arguments = "\n".join(f"  {k} = {json.dumps(v)}" for k, v in inputs.items())
    (work / "main.tf").write_text(
        f'module "m" {{\n  source = {json.dumps(str(MODULE))}\n{arguments}\n}}\n'
        'output "environment" {\n  value = module.m.environment\n}\n'
        'output "tool_server_environment" {\n  value = module.m.tool_server_environment\n}\n'
    )
    init = terraform("init", "-backend=false", "-input=false", "-no-color", cwd=work)
    assert init.returncode == 0, init.stdout + init.stderr
    done = terraform("apply", "-auto-approve", "-input=false", "-no-color", cwd=work)
    assert done.returncode == 0, done.stdout + done.stderr
    out = terraform("output", "-json", cwd=work)
    assert out.returncode == 0, out.stderr
    return {name: o["value"] for name, o in json.loads(out.stdout).items()}


@pytest.fixture
def minimal(terraform, tmp_path) -> dict:
    """JWT from an OIDC provider, JSON logs, nothing else set."""
    return evaluate(
        terraform,
        tmp_path / "minimal",
        name_prefix="agentscope",
        functions=FUNCTIONS,
        auth=AUTH,
        observability={"log_format": "json"},
    )


def test_every_function_is_told_who_may_call_and_how_to_log(minimal):
    environment = minimal["environment"]
    assert set(environment) == set(FUNCTIONS)
    for name, env in environment.items():
        assert env == {
            "AUTH_MODE": "jwt",
            "AUTH_JWKS_URL": "https://idp.example/.well-known/jwks.json",
            "AUTH_ISSUER": "https://idp.example/",
            "AUTH_USER_CLAIM": "sub",
            "AUTH_ADMIN_SCOPE": "agentscope:admin",
            "LOG_FORMAT": "json",
            "OTEL_SERVICE_NAME": f"agentscope-{name}",
        }, name


def test_unset_settings_are_left_out_so_the_code_keeps_its_defaults(minimal):
    """No audience, no exporter (tracing stays off: nothing of OpenTelemetry is imported),
    no budgets, quotas or request limit: none of these variables exists in any function."""
    for env in minimal["environment"].values():
        assert "AUTH_AUDIENCE" not in env and "AUTH_JWT_SECRET" not in env
        assert not {k for k in env if k.startswith("OTEL_")} - {"OTEL_SERVICE_NAME"}
        assert not {k for k in env if k.startswith(("TURN_", "USER_MAX_", "MAX_REQUEST"))}
    assert minimal["tool_server_environment"] == {"LOG_FORMAT": "json"}


def test_tracing_settings_reach_every_function(terraform, tmp_path):
    got = evaluate(
        terraform,
        tmp_path / "traced",
        name_prefix="prod",
        functions=FUNCTIONS,
        auth=AUTH | {"audience": "https://agentscope.example"},
        observability={
            "log_format": "text",
            "otlp_endpoint": "https://otel.example:4318",
            "traces_sampler": "parentbased_traceidratio",
            "traces_sampler_arg": 0.1,
            "resource_attributes": {
                "cloud.provider": "aws",
                "deployment.environment.name": "prod",
            },
        },
    )
    for name, env in got["environment"].items():
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "https://otel.example:4318"
        assert env["OTEL_TRACES_SAMPLER"] == "parentbased_traceidratio"
        assert env["OTEL_TRACES_SAMPLER_ARG"] == "0.1"
        # the SDK's key=value,key=value list (Terraform orders map keys)
        assert env["OTEL_RESOURCE_ATTRIBUTES"] == (
            "cloud.provider=aws,deployment.environment.name=prod"
        )
        assert env["OTEL_SERVICE_NAME"] == f"prod-{name}"
        assert env["LOG_FORMAT"] == "text"
        assert env["AUTH_AUDIENCE"] == "https://agentscope.example"
        # the headers are a secret: each root reads them from its secret store, not this module
        assert "OTEL_EXPORTER_OTLP_HEADERS" not in env
    # no tool server endpoint: the sandboxes export nothing
    assert got["tool_server_environment"] == {"LOG_FORMAT": "text"}


def test_budgets_and_quotas_go_to_the_function_that_enforces_them(terraform, tmp_path):
    got = evaluate(
        terraform,
        tmp_path / "limits",
        name_prefix="agentscope",
        functions=FUNCTIONS,
        auth=AUTH,
        observability={"log_format": "json"},
        limits={
            "turn_max_seconds": 240,
            "turn_max_model_calls": 30,
            "turn_max_tool_calls": 20,
            "turn_max_output_tokens": 16000,
            "turn_max_output_chars": 1048576,
            "user_max_turns_per_minute": 10,
            "user_max_sandboxes": 2,
            "max_request_bytes": {"query": 1048576, "state": 4194304},
        },
    )["environment"]
    limits = {
        name: {k: v for k, v in env.items() if k.startswith(("TURN_", "USER_", "MAX_"))}
        for name, env in got.items()
    }
    assert limits == {
        "query": {
            "TURN_MAX_SECONDS": "240",
            "TURN_MAX_MODEL_CALLS": "30",
            "TURN_MAX_TOOL_CALLS": "20",
            "TURN_MAX_OUTPUT_TOKENS": "16000",
            "TURN_MAX_OUTPUT_CHARS": "1048576",
            "USER_MAX_TURNS_PER_MINUTE": "10",
            "MAX_REQUEST_BYTES": "1048576",  # whole numbers as digits, not 1.048576e+06
        },
        "state": {"MAX_REQUEST_BYTES": "4194304"},
        "sandbox": {"USER_MAX_SANDBOXES": "2"},
    }


def test_tool_servers_get_an_endpoint_of_their_own_and_no_identity(terraform, tmp_path):
    got = evaluate(
        terraform,
        tmp_path / "tool-server",
        name_prefix="agentscope",
        functions=FUNCTIONS,
        auth=AUTH,
        observability={
            "log_format": "json",
            "otlp_endpoint": "https://otel.example:4318",
            "resource_attributes": {"cloud.provider": "alibaba_cloud"},
        },
        tool_server_otlp_endpoint="http://collector.internal:4318",
    )
    assert got["tool_server_environment"] == {
        "LOG_FORMAT": "json",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector.internal:4318",
        "OTEL_RESOURCE_ATTRIBUTES": "cloud.provider=alibaba_cloud",
    }


def test_a_deployment_without_api_functions_gets_no_function_environment(terraform, tmp_path):
    got = evaluate(
        terraform,
        tmp_path / "sandboxes-only",
        name_prefix="agentscope",
        functions=[],
        auth={"mode": "jwt"},
        observability={"log_format": "json"},
    )
    assert got["environment"] == {}
    assert got["tool_server_environment"] == {"LOG_FORMAT": "json"}

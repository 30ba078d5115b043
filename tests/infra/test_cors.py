"""CORS_ALLOW_ORIGINS from Terraform: each root's cors_allow_origins reaches every function
through modules/function_environment, and only origins (or "*") are accepted."""

from __future__ import annotations

import pytest

from tests.infra.hcl import ROOTS, root
from tests.infra.test_environment_module import AUTH, FUNCTIONS, evaluate

JWKS = "https://idp.example/.well-known/jwks.json"


def test_listed_origins_reach_every_function_joined(terraform, tmp_path):
    out = evaluate(
        terraform,
        tmp_path / "cors",
        name_prefix="agentscope",
        functions=FUNCTIONS,
        auth=AUTH,
        observability={"log_format": "json"},
        cors_allow_origins=["http://127.0.0.1:8095", "https://chat.example.com"],
    )
    for env in out["environment"].values():
        assert env["CORS_ALLOW_ORIGINS"] == "http://127.0.0.1:8095,https://chat.example.com"
    assert "CORS_ALLOW_ORIGINS" not in out["tool_server_environment"]  # never in a sandbox


@pytest.mark.parametrize("name", ROOTS)
def test_each_root_hands_its_origins_to_the_environment_module(name):
    call = root(name).module["environment"]
    assert call["cors_allow_origins"] == "${var.cors_allow_origins}"


@pytest.mark.parametrize("name", ROOTS)
def test_only_origins_are_accepted(name, variables_plan):
    plan = variables_plan(name)
    plan.accepts(auth_jwks_url=JWKS, cors_allow_origins=["http://127.0.0.1:8095", "*"])
    for bad in ("https://chat.example.com/app", "chat.example.com", "https://a.example,b"):
        said = plan.refuses(auth_jwks_url=JWKS, cors_allow_origins=[bad])
        assert "cors_allow_origins holds origins" in said

"""Who may call a deployment: the JWT settings reach every function, and no door is open
to anonymous callers without a JWT check behind it (issue 14).

What `terraform plan` would refuse is run for real on each root's variables.tf alone (its
validation rules need no provider); the wiring into the functions is read from the HCL.
"""

from __future__ import annotations

import re

import pytest

from tests.infra.hcl import ROOTS, TERRAFORM, expr, module, parse_file, root

FUNCTIONS = ("query", "state", "sandbox")
AUTH_VARIABLES = {
    "mode": "auth_mode",
    "jwks_url": "auth_jwks_url",
    "issuer": "auth_issuer",
    "audience": "auth_audience",
    "user_claim": "auth_user_claim",
    "admin_scope": "auth_admin_scope",
}
# each root's doors: the variable, its values, and what each function's door is by default
DOORS = {
    "aws": ("function_url_auth_type", "NONE", "AWS_IAM"),
    "alicloud": ("http_trigger_auth_type", "anonymous", "function"),
}
DEFAULT_DOORS = {
    "aws": {"query": "NONE", "state": "NONE", "sandbox": "AWS_IAM"},
    "alicloud": {"query": "anonymous", "state": "anonymous", "sandbox": "function"},
}
JWT_SECRET_REFERENCE = {"aws": "auth_jwt_secret_arn", "alicloud": "auth_jwt_secret_name"}
JWKS = "https://idp.example/.well-known/jwks.json"


def examples() -> list[tuple[str, str]]:
    return [
        (r, path.name)
        for r in ROOTS
        for path in sorted((TERRAFORM / r / "examples").glob("*.tfvars"))
    ]


# --- the settings reach the functions --------------------------------------------------


@pytest.mark.parametrize("name", ROOTS)
def test_each_root_hands_its_auth_variables_to_the_environment_module(name):
    call = root(name).module["environment"]
    assert call["source"] == "../modules/function_environment"
    assert call["auth"] == {field: f"${{var.{v}}}" for field, v in AUTH_VARIABLES.items()}
    # every field the module takes
    auth_type = expr(module("function_environment").variable["auth"]["type"])
    assert set(re.findall(r"(\w+) = ", auth_type)) == set(AUTH_VARIABLES)


@pytest.mark.parametrize("name", ROOTS)
def test_every_function_gets_the_identity_settings_after_the_operators_own(name):
    """query, state and sandbox (which checks each sandbox's owner) all get AUTH_*; they come
    after `environment`, so an operator's map cannot switch the check off."""
    config = root(name)
    for function in FUNCTIONS:
        env = expr(config.module[function]["environment"])
        assert env.startswith(f'merge(lookup(var.environment, "{function}", {{}}),'), function
        ours = env.index(f'module.environment.environment["{function}"]')
        secrets = env.index("local.secret_environment")
        assert env.index("lookup(var.environment") < ours < secrets, function


@pytest.mark.parametrize("name", ROOTS)
def test_the_environment_variable_cannot_carry_identity_or_secrets(name, variables_plan):
    plan = variables_plan(name)
    args = {"auth_jwks_url": JWKS}
    for key in ("AUTH_MODE", "AUTH_JWT_SECRET", "AUTH_ISSUER", "OTEL_EXPORTER_OTLP_HEADERS"):
        said = plan.refuses(**args, environment={"state": {key: "x"}})
        assert "cannot be set through environment" in said, key
    plan.accepts(**args, environment={"query": {"MODEL_NAME": "qwen-plus"}})


# --- the development JWT key comes from a secret store only -----------------------------


@pytest.mark.parametrize("name", ROOTS)
def test_the_dev_jwt_key_is_read_from_the_secret_store_and_never_a_variable(name):
    config = root(name)
    reference = JWT_SECRET_REFERENCE[name]
    # a reference to a secret, null unless set; no variable holds a key itself
    assert config.variable[reference]["default"] is None
    assert not [v for v in config.variable if v.endswith("jwt_secret")]
    secret = expr(config.locals["secret_environment"])
    assert re.search(r"AUTH_JWT_SECRET = (sensitive\()?data\.\w+\.auth_jwt_secret\[0\]", secret)
    assert "var." + reference + " == null ? {} :" in secret
    # a plan that accepts one says, every time, that it is for development
    assert 'check "no_development_jwt_secret"' in config.text()
    assert f"condition     = var.{reference} == null" in config.text()
    for r, example in examples():
        values = parse_file(TERRAFORM / r / "examples" / example)
        assert not {k for k in values if "secret" in k}, f"{r}/{example} names a secret"


# --- no door open without a JWT check behind it ------------------------------------------


@pytest.mark.parametrize(("name", "example"), examples())
def test_every_example_passes_the_plans_checks(name, example, variables_plan):
    variables_plan(name).accepts(TERRAFORM / name / "examples" / example)


@pytest.mark.parametrize(("name", "example"), examples())
def test_no_example_leaves_a_door_open_without_a_jwt_check(name, example):
    """Read from the example itself: every function whose door is open to anyone checks
    end users' JWTs, against an OIDC provider's keys."""
    values = parse_file(TERRAFORM / name / "examples" / example)
    variable, open_door, _ = DOORS[name]
    doors = DEFAULT_DOORS[name] | values.get(variable, {})
    deployed = values.get("deploy_api_functions", True)
    mode = values.get("auth_mode", "jwt")
    open_doors = [f for f, door in doors.items() if door == open_door]
    if deployed and open_doors:
        assert mode == "jwt", f"{name}/{example}: {open_doors} open with auth_mode {mode}"
        assert values.get("auth_jwks_url", "").startswith("https://"), f"{name}/{example}"
    # the state and sandbox APIs in particular
    if deployed:
        for function in ("state", "sandbox"):
            assert doors[function] != open_door or mode == "jwt", f"{name}/{example}: {function}"


@pytest.mark.parametrize("name", ROOTS)
def test_the_defaults_demand_an_identity_provider(name, variables_plan):
    """Out of the box nothing is open: jwt is the default and needs the provider's keys."""
    said = variables_plan(name).refuses()
    assert 'auth_mode "jwt" needs the keys tokens are signed with: auth_jwks_url' in said
    variables_plan(name).accepts(auth_jwks_url=JWKS)
    # or, in development only, a key from the secret store
    reference = JWT_SECRET_REFERENCE[name]
    value = (
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:dev-jwt-AbCdEf"
        if name == "aws"
        else "agentscope-dev-jwt"
    )
    variables_plan(name).accepts(**{reference: value})


@pytest.mark.parametrize("name", ROOTS)
def test_an_open_door_without_jwt_is_refused(name, variables_plan):
    variable, open_door, signed = DOORS[name]
    plan = variables_plan(name)
    # the default doors of query and state are open: "none" there would be anonymous (the
    # plan now refuses "none" itself first: test_first_deploy.py)
    refused = ("would let anyone act as any user", 'auth_mode "none" cannot be deployed')
    said = plan.refuses(auth_mode="none")
    assert any(r in said for r in refused)
    for function in FUNCTIONS:
        doors = {f: signed for f in FUNCTIONS} | {function: open_door}
        said = plan.refuses(auth_mode="none", **{variable: doors})
        assert any(r in said for r in refused), function
    # every door signed is no way out: a function without JWTs answers loopback callers
    # alone (test_first_deploy.py), so "none" is refused whatever the doors
    said = plan.refuses(auth_mode="none", **{variable: {f: signed for f in FUNCTIONS}})
    assert 'auth_mode "none" cannot be deployed' in said


def test_a_sandboxes_only_deployment_needs_no_identity_provider(variables_plan):
    """alicloud with deploy_api_functions = false deploys no query, state or sandbox API."""
    variables_plan("alicloud").accepts(deploy_api_functions=False)


@pytest.mark.parametrize("name", ROOTS)
def test_auth_values_are_checked(name, variables_plan):
    plan = variables_plan(name)
    said = plan.refuses(auth_jwks_url="http://idp.example/jwks")
    assert "auth_jwks_url must be an https:// URL" in said
    said = plan.refuses(auth_jwks_url=JWKS, auth_admin_scope="agentscope admin")
    assert "one OAuth scope token" in said
    said = plan.refuses(auth_jwks_url=JWKS, auth_mode="oidc")
    assert 'auth_mode must be "jwt" or "none"' in said
    plan.accepts(auth_jwks_url=JWKS, auth_admin_scope="agentscope/admin", auth_user_claim="email")


# --- the signed door stays for the query function's calls to the sandbox function ------


def test_the_sandbox_door_is_signed_by_default_and_the_query_function_signs():
    aws, ali = root("aws"), root("alicloud")
    assert 'sandbox = optional(string, "AWS_IAM")' in expr(
        aws.variable["function_url_auth_type"]["type"]
    )
    assert 'sandbox = optional(string, "function")' in expr(
        ali.variable["http_trigger_auth_type"]["type"]
    )
    assert 'SANDBOX_URL_AUTH = var.function_url_auth_type.sandbox == "AWS_IAM" ? "aws_iam"' in (
        expr(aws.module["query"]["environment"])
    )
    assert 'SANDBOX_URL_AUTH = var.http_trigger_auth_type.sandbox == "function" ? "fc"' in (
        expr(ali.module["query"]["environment"])
    )


# --- the README shows a call with a token and where a client gets one -------------------


def test_the_deploy_section_shows_a_bearer_call_and_how_to_get_a_token():
    readme = (TERRAFORM.parents[1] / "README.md").read_text()
    deploy = readme[readme.index("## Deploy") :]
    deploy = deploy[: deploy.index("\n## ", 1)]
    assert 'Authorization: Bearer $TOKEN"' in deploy
    for words in ("Cognito", "Auth0", "IDaaS", "client credentials", "PKCE"):
        assert words in deploy, words

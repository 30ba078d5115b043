"""What a first deployment meets: values the plan accepts must be values the functions start
with, and each role holds what the code calls.

Each test here pins one mismatch between infra/terraform and the code it deploys: a function
whose settings refuse to load, a variable whose validation lets through what the settings
or the provider refuse, a permission no code uses.
"""

from __future__ import annotations

import json
import os
import re

import pytest
from pydantic import ValidationError

from functions.runtime.settings import Settings
from tests.infra.hcl import ROOTS, TERRAFORM, expr, root, setting_names
from tests.infra.test_environment_module import evaluate

REPO = TERRAFORM.parents[1]
JWKS = "https://idp.example/.well-known/jwks.json"


def settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings a function starts with, given exactly this environment."""
    read = setting_names()
    for name in [n for n in os.environ if n.lower() in read]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()


# --- the live views' door on FC starts with the settings the sandbox function has ----------


def test_every_function_of_the_bundle_gets_the_secret_environment():
    """The desktop door is the sandbox function's code: its settings load only with what
    the sandbox function's do, AUTH_JWT_SECRET included when that is the only key."""
    for name in ROOTS:
        config = root(name)
        for call, body in config.module.items():
            env = expr(body.get("environment", ""))
            if "module.environment.environment[" in env:
                assert "local.secret_environment" in env, f"{name}: module {call}"
    door = expr(root("alicloud").module["sandbox_desktop"]["environment"])
    assert door.index('module.environment.environment["sandbox"]') < door.index(
        "local.secret_environment"
    )


def test_a_door_without_the_dev_key_could_not_start(terraform, tmp_path, monkeypatch):
    """Why: with auth_mode "jwt" and only auth_jwt_secret_name (no auth_jwks_url), the
    environment module gives AUTH_MODE=jwt and no key; the settings refuse to load."""
    out = evaluate(
        terraform,
        tmp_path / "door",
        name_prefix="agentscope",
        functions=["sandbox"],
        auth={"mode": "jwt"},
        observability={"log_format": "json"},
    )
    door = {
        **out["environment"]["sandbox"],
        "STORE_URL": "oss://bucket/agentscope",
        "SANDBOX_ROUTES": "desktop",
        "SANDBOX_BACKEND": "fc",
    }
    with pytest.raises(ValidationError, match="AUTH_JWKS_URL"):
        settings_from(door, monkeypatch)
    settings = settings_from({**door, "AUTH_JWT_SECRET": "dev-key"}, monkeypatch)
    assert settings.sandbox_routes == "desktop" and settings.auth_mode == "jwt"


# --- CORS origins: what the plan accepts, the functions accept ----------------------------

ORIGINS = [
    "https://chat.example.com",
    "http://127.0.0.1:8095",
    "http://[::1]:3000",
    "https://*.example.com",
    "https://*",
    "http://chat.*.example",
]


@pytest.mark.parametrize("name", ROOTS)
def test_cors_origins_the_plan_accepts_are_origins_the_settings_accept(
    name, variables_plan, monkeypatch
):
    """A "*" inside a host is no pattern to the functions (they compare origins exactly):
    the settings refuse it and every function would fail to start, so the plan refuses it."""
    plan = variables_plan(name)
    for origin in ORIGINS:
        accepted = plan.plan(auth_jwks_url=JWKS, cors_allow_origins=[origin]).returncode == 0
        if accepted:
            settings_from(
                {"CORS_ALLOW_ORIGINS": origin, "AUTH_MODE": "jwt", "AUTH_JWKS_URL": JWKS},
                monkeypatch,
            )
    said = plan.refuses(auth_jwks_url=JWKS, cors_allow_origins=["https://*.example.com"])
    assert "cors_allow_origins holds origins" in said


# --- AWS: the state bucket's generated name fits S3's bucket_prefix -----------------------

# the AWS provider's limit on aws_s3_bucket.bucket_prefix (it appends a 26-character suffix)
BUCKET_PREFIX_MAX = 37


def test_the_state_buckets_prefix_fits_the_providers_limit(variables_plan):
    bucket = root("aws").resource["aws_s3_bucket"]["state"]
    prefix = expr(bucket["bucket_prefix"])
    assert prefix == 'var.state_bucket_name == null ? "${var.name_prefix}-state-" : null'
    made = len("-state-")
    plan = variables_plan("aws")
    longest_ok = "a" * (BUCKET_PREFIX_MAX - made)
    plan.accepts(auth_jwks_url=JWKS, name_prefix=longest_ok)
    said = plan.refuses(auth_jwks_url=JWKS, name_prefix=longest_ok + "b")
    assert "name_prefix: at most 30 characters unless state_bucket_name" in said
    # a named bucket takes no prefix: the long name is fine then
    plan.accepts(auth_jwks_url=JWKS, name_prefix=longest_ok + "b", state_bucket_name="my-state")


# --- FC: the launcher's RAM actions are the calls it makes --------------------------------


def fc_calls() -> set[str]:
    """FC 3.0 API operations the launchers call through the SDK (snake_case -> CamelCase)."""
    launchers = REPO / "functions" / "runtime" / "sandbox" / "launchers"
    source = "\n".join(p.read_text() for p in sorted(launchers.glob("*.py")))
    calls = set(re.findall(r"\.(\w+?)_with_options_async\b", source))
    return {"".join(part.title() for part in call.split("_")) for call in calls}


def test_the_launchers_ram_actions_are_exactly_what_it_calls():
    """Every FC call the launcher makes is granted, and nothing else but fc:InvokeFunction
    (calls through the sandbox functions' signed triggers); fc:ListFunctions (the reaper's
    sweep) stays out on purpose, see sandboxes.tf."""
    calls = fc_calls()
    assert {"CreateSession", "DeleteSession", "ListTriggers", "ListFunctions"} <= calls
    granted = {a.removeprefix("fc:") for a in root("alicloud").locals["launcher_actions"]}
    assert granted == (calls - {"ListFunctions"}) | {"InvokeFunction"}


# --- the README's account of the defaults is the configuration's --------------------------


def test_the_readme_names_the_sandbox_types_deployed_by_default():
    """Each type needs its image in the registry before `terraform apply`: the walkthrough
    must not promise fewer types than the default deploys."""
    default = root("alicloud").variable["sandbox_types"]["default"]
    readme = " ".join((REPO / "README.md").read_text().split())
    said = re.search(r"\(`sandbox_types`, default ([^;)]+)", readme)
    assert said, "the README no longer says what sandbox_types deploys by default"
    named = set(re.findall(r"[a-z]+", said.group(1))) - {"and"}
    assert named == set(default), said.group(1)


# --- FC: the launchers' wildcard covers the sandbox functions and nothing of the bundle -----


def bundle_function_names(name_prefix: str) -> dict[str, str]:
    """Module call => the FC function it deploys, for this name_prefix (alicloud root)."""
    ali = root("alicloud")
    api = ali.locals["sandbox_api_function"]
    names = {}
    for call, body in ali.module.items():
        if body["source"] != "../modules/fc_function":
            continue
        name = body["name"].replace("${local.sandbox_api_function}", api)
        names[call] = name.replace("${var.name_prefix}", name_prefix)
        assert "${" not in names[call], names[call]
    return names


def test_no_function_of_the_bundle_lies_under_the_sandbox_function_prefix(variables_plan):
    """The launcher's RAM statements (and the policy for another cloud's launcher) grant
    sessions and invocation on <sandbox_function_prefix>*; with the defaults the live-view
    door was agentscope-sandbox-desktop, inside agentscope-sandbox-*."""
    ali = root("alicloud")
    default_prefix = ali.variable["sandbox_function_prefix"]["default"]
    assert ali.locals["sandbox_functions_arn"].endswith("${var.sandbox_function_prefix}*")
    names = bundle_function_names(ali.variable["name_prefix"]["default"])
    assert set(names) == {"query", "state", "sandbox", "sandbox_desktop"}
    assert not [n for n in names.values() if n.startswith(default_prefix)], names
    # and no choice of the two variables puts one there: the plan refuses it
    plan = variables_plan("alicloud")
    plan.accepts(auth_jwks_url=JWKS)
    for name in bundle_function_names("agentscope").values():
        for cut in (len("agentscope-"), len(name)):
            said = plan.refuses(auth_jwks_url=JWKS, sandbox_function_prefix=name[:cut])
            assert "must not start the name of a function of the bundle" in said, name


# --- AUTH_MODE=none cannot be deployed: it answers loopback callers alone -----------------

SIGNED_DOORS = {
    "aws": ("function_url_auth_type", "AWS_IAM"),
    "alicloud": ("http_trigger_auth_type", "function"),
}


def test_a_function_without_jwts_refuses_a_signed_function_url_request(tmp_path):
    """What a plan with auth_mode "none" and every door signed deployed: the request has
    passed the platform's signature check, and the function still refuses it (its Host and
    peer are not loopback), as the README's own account of AUTH_MODE=none says."""
    from functions.runtime.entrypoints import lambda_handler_for
    from functions.state.app import create_app

    settings = Settings(store_url=f"file://{tmp_path / 'store'}", auth_mode="none")
    handler = lambda_handler_for(create_app(settings))
    event = {
        "version": "2.0",
        "rawPath": "/v1/users/alice/sessions",
        "rawQueryString": "",
        "headers": {"host": "abcdefghijklmnop.lambda-url.us-east-1.on.aws"},
        "requestContext": {
            "domainName": "abcdefghijklmnop.lambda-url.us-east-1.on.aws",
            "http": {
                "method": "GET",
                "path": "/v1/users/alice/sessions",
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.9",
                "userAgent": "curl",
            },
            "authorizer": {"iam": {"accessKey": "AKIAEXAMPLE", "accountId": "123456789012"}},
            "requestId": "r1",
            "stage": "$default",
            "timeEpoch": 0,
        },
        "isBase64Encoded": False,
    }
    context = type("Context", (), {"aws_request_id": "r1", "function_name": "state"})()
    answer = handler(event, context)
    assert answer["statusCode"] == 403, answer
    assert json.loads(answer["body"])["code"] in {"remote_caller", "host_not_allowed"}


@pytest.mark.parametrize("name", ROOTS)
def test_the_plan_refuses_auth_mode_none_whatever_the_doors(name, variables_plan):
    variable, signed = SIGNED_DOORS[name]
    doors = {f: signed for f in ("query", "state", "sandbox")}
    said = variables_plan(name).refuses(auth_mode="none", **{variable: doors})
    assert 'auth_mode "none" cannot be deployed' in said
    if name == "alicloud":  # the sandbox functions alone run no code of ours
        variables_plan(name).accepts(
            deploy_api_functions=False, auth_mode="none", **{variable: doors}
        )

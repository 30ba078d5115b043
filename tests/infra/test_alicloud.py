"""What infra/terraform/alicloud says: read from the HCL (the providers cannot run here)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import pytest

from functions.runtime.sandbox.launchers.claim import TOKEN_HEADER
from functions.runtime.sandbox.launchers.fc import SESSION_HEADER
from functions.runtime.settings import Settings
from tests.infra.hcl import env_keys, expr, module, root, unread_settings

FUNCTIONS = ("query", "state", "sandbox")
JWKS = "https://idp.example/.well-known/jwks.json"
TOOLSERVER = Path(__file__).resolve().parents[2] / "sandbox_images" / "toolserver" / "toolserver"


@pytest.fixture(scope="module")
def ali():
    return root("alicloud")


@pytest.fixture(scope="module")
def fn():
    return module("fc_function")


def hcl_object(expression: str) -> dict[str, str]:
    """``{a = x, b = "y"}`` (no nesting) as {name: expression}."""
    inner = expr(expression)
    inner = inner[inner.index("{") + 1 : inner.rindex("}")]
    return {
        k.strip(): v.strip()
        for k, v in (part.split(" = ", 1) for part in re.split(r",\s*(?=\w+ = )", inner))
    }


# --- every function of the manifest gets its FC function, trigger and role ----------------


def test_each_function_is_an_fc_module_fed_from_the_manifest(ali):
    # sandbox_desktop: the sandbox zip again, the live views' door (test_desktop_door.py)
    assert set(ali.module) == {"manifest", "environment", "sandbox_desktop", *FUNCTIONS}
    for name in FUNCTIONS:
        call = ali.module[name]
        assert call["source"] == "../modules/fc_function"
        assert expr(call["count"]) == "var.deploy_api_functions ? 1 : 0"
        assert expr(call["artifact"]) == f'module.manifest[0].artifacts["{name}"]'
        assert expr(call["state_bucket"]) == "local.bucket"
        assert expr(call["state_prefix"]) == "local.state_prefix"
        assert expr(call["trigger_auth_type"]) == f"var.http_trigger_auth_type.{name}"


def test_the_manifest_module_selects_the_fc_artifacts(ali):
    call = ali.module["manifest"]
    assert call["source"] == "../modules/manifest"
    assert call["target"] == "fc"
    assert call["functions"] == ["query", "state", "sandbox"]
    assert "python" not in call and "arch" not in call  # fc has one of each


def test_the_module_gives_each_function_a_role_function_and_http_trigger(fn):
    assert set(fn.resource) >= {
        "alicloud_ram_role",
        "alicloud_ram_policy",
        "alicloud_ram_role_policy_attachment",
        "alicloud_fcv3_function",
        "alicloud_fcv3_trigger",
    }
    trust = fn.resource["alicloud_ram_role"]["this"]["assume_role_policy_document"]
    assert 'Principal = {Service = ["fc.aliyuncs.com"]}' in expr(trust)
    attach = fn.resource["alicloud_ram_role_policy_attachment"]["this"]
    assert expr(attach["role_name"]) == "alicloud_ram_role.this.role_name"
    assert expr(attach["policy_name"]) == "alicloud_ram_policy.this.policy_name"
    assert attach["policy_type"] == "Custom"
    function = fn.resource["alicloud_fcv3_function"]["this"]
    assert expr(function["role"]) == "alicloud_ram_role.this.arn"
    trigger = fn.resource["alicloud_fcv3_trigger"]["http"]
    assert trigger["trigger_type"] == "http"
    assert expr(trigger["function_name"]) == "alicloud_fcv3_function.this.function_name"
    assert "authType = var.trigger_auth_type" in expr(trigger["trigger_config"])
    assert "methods = var.trigger_methods" in expr(trigger["trigger_config"])
    assert fn.output["url"]["value"] == (
        '${trimsuffix(alicloud_fcv3_trigger.http.http_trigger[0].url_internet, "/")}'
    )


def test_code_runtime_command_and_sizes_come_from_the_manifest_entry(fn):
    function = fn.resource["alicloud_fcv3_function"]["this"]
    assert expr(function["runtime"]) == "var.artifact.runtime"
    assert expr(function["handler"]) == "var.artifact.handler"
    assert expr(function["memory_size"]) == "var.artifact.memory_mb"
    assert expr(function["timeout"]) == "var.artifact.timeout_s"
    runtime = function["custom_runtime_config"][0]
    assert expr(runtime["command"]) == "var.artifact.command"
    assert expr(runtime["port"]) == "var.artifact.port"
    assert expr(function["environment_variables"]).startswith("merge(var.artifact.environment,")
    # the zip: uploaded under a name holding its sha256, so a new build redeploys
    code = function["code"][0]
    assert expr(code["oss_object_name"]) == "alicloud_oss_bucket_object.code.key"
    upload = fn.resource["alicloud_oss_bucket_object"]["code"]
    assert expr(upload["source"]) == "var.artifact.zip_path"
    assert "${var.artifact.sha256}" in upload["key"]
    assert upload["key"].startswith("${var.code_prefix}")


# --- least privilege ---------------------------------------------------------------------


def test_each_role_may_touch_only_the_state_prefix(fn):
    # a read-only role (the live views' door) is the other branch: test_desktop_door.py
    full = expr(fn.locals["state_statements"]).partition(" : ")[2]
    objects, listing = full.split("}, {")
    assert 'Action = ["oss:GetObject", "oss:PutObject", "oss:DeleteObject"]' in objects
    assert 'Resource = ["acs:oss:*:*:${var.state_bucket}/${var.state_prefix}*"]' in objects
    assert 'Action = ["oss:ListObjects"]' in listing
    assert 'Resource = ["acs:oss:*:*:${var.state_bucket}"]' in listing
    assert 'Condition = {StringLike = {"oss:Prefix" = ["${var.state_prefix}*"]}}' in listing
    policy = expr(fn.resource["alicloud_ram_policy"]["this"]["policy_document"])
    assert "Statement = concat(local.state_statements, local.log_statements, " in policy
    assert "local.extra_statements)" in policy
    # logs: the one log store, and only when one is configured
    logs = expr(fn.locals["log_statements"])
    assert logs.startswith("var.log_project == null ? [] : [")
    assert 'Action = ["log:PostLogStoreLogs"]' in logs
    assert "project/${var.log_project}/logstore/${var.log_store}" in logs


def test_the_code_prefix_is_outside_any_state_prefix(ali):
    assert ali.locals["code_prefix"] == "_deploy/"
    # a state prefix must start with a letter or digit
    condition = ali.variable["state_prefix"]["validation"][0]["condition"]
    assert "^[A-Za-z0-9]" in condition


def test_the_sandbox_function_may_launch_on_the_sandbox_functions_only(ali):
    (launch,) = ali.module["sandbox"]["extra_statements"]
    assert launch == {
        "actions": "${local.launcher_actions}",
        "resources": ["${local.sandbox_functions_arn}"],
    }
    assert ali.locals["sandbox_functions_arn"] == (
        "acs:fc:${var.region}:${local.account_id}:functions/${var.sandbox_function_prefix}*"
    )
    actions = ali.locals["launcher_actions"]
    assert set(actions) == {
        "fc:CreateSession",
        "fc:GetSession",
        "fc:DeleteSession",
        "fc:PauseSession",
        "fc:ResumeSession",
        "fc:ListSessions",
        "fc:ListTriggers",
        "fc:InvokeFunction",
    }
    # the same, as a policy for another cloud's launcher
    policy = expr(ali.resource["alicloud_ram_policy"]["sandbox_launcher"]["policy_document"])
    assert "Action = local.launcher_actions" in policy
    assert "Resource = [local.sandbox_functions_arn]" in policy


def test_the_query_function_may_invoke_the_sandbox_function_only_when_signing(ali):
    extra = expr(ali.module["query"]["extra_statements"])
    assert extra.startswith('var.http_trigger_auth_type.sandbox == "function" ? [')
    assert 'actions = ["fc:InvokeFunction"]' in extra
    assert 'functions/${local.sandbox_api_function}"]' in extra
    assert "extra_statements" not in ali.module["state"]


def test_no_policy_grants_a_wildcard_action_or_resource(ali, fn):
    for config in (ali, fn):
        text = config.text()
        assert not re.search(r'"[a-z0-9]+:\*"', text), "an action wildcard"
        assert not re.search(r'Resource\s*=\s*\[\s*"\*"', text), "a resource wildcard"
        assert '"acs:oss:*:*:*' not in text
        assert "FullAccess" not in text
    # ListFunctions is named in a comment only (it cannot be limited to a prefix)
    assert '"fc:ListFunctions"' not in ali.text()


# --- the bucket --------------------------------------------------------------------------


def test_the_state_bucket_is_private_versioned_encrypted_and_blocks_public_access(ali):
    bucket = ali.resource["alicloud_oss_bucket"]["state"]
    assert bucket["versioning"][0]["status"] == "Enabled"
    assert bucket["server_side_encryption_rule"][0]["sse_algorithm"] == "AES256"
    assert "acl" not in bucket  # owned by alicloud_oss_bucket_acl
    assert ali.resource["alicloud_oss_bucket_acl"]["state"]["acl"] == "private"
    assert (
        ali.resource["alicloud_oss_bucket_public_access_block"]["state"]["block_public_access"]
        is True
    )
    assert "alicloud_oss_bucket_policy" not in ali.resource
    # code objects stay private too
    assert "acl" not in module("fc_function").resource["alicloud_oss_bucket_object"]["code"]


def test_lifecycle_expires_sessions_sandbox_records_and_old_versions(ali):
    rules = {r["id"]: r for r in ali.resource["alicloud_oss_bucket"]["state"]["lifecycle_rule"]}
    assert {i: r.get("prefix") for i, r in rules.items()} == {
        "expire-sessions": "${local.state_prefix}users/",
        "expire-sandbox-records": "${local.state_prefix}sandboxes/",
        "expire-sandbox-pool": "${local.state_prefix}sandbox-pool/",
        "expire-leases": "${local.state_prefix}leases/",
        "expire-old-versions": None,
    }
    # leases left by instances that died mid-turn: always, after a day (a live one is
    # rewritten every SESSION_LOCK_TTL_S / 3)
    assert rules["expire-leases"]["expiration"][0]["days"] == 1
    assert expr(rules["expire-sessions"]["enabled"]) == "var.session_expiry_days > 0"
    assert expr(rules["expire-sessions"]["expiration"][0]["days"]) == (
        "max(var.session_expiry_days, 1)"
    )
    old = rules["expire-old-versions"]
    assert expr(old["noncurrent_version_expiration"][0]["days"]) == (
        "var.noncurrent_version_expiry_days"
    )
    assert old["expiration"][0]["expired_object_delete_marker"] is True


# --- what the functions are told ---------------------------------------------------------


def test_store_and_sandbox_settings_reach_the_functions(ali):
    store = hcl_object(expr(ali.locals["store_environment"]).split(" ? ", 1)[1].rsplit(" : ", 1)[0])
    assert store == {
        "STORE_URL": '"oss://${local.bucket}/${var.state_prefix}"',
        "OSS_ENDPOINT": "local.oss_endpoint",
        "OSS_REGION": "var.region",
    }
    assert "oss-${var.region}-internal.aliyuncs.com" in ali.locals["oss_endpoint"]
    sandbox = expr(ali.module["sandbox"]["environment"])
    assert env_keys(sandbox) == {
        "SANDBOX_BACKEND",
        "SANDBOX_FC_FUNCTION_PREFIX",
        "SANDBOX_INTERNET_ACCESS",
        "SANDBOX_DESKTOP_URL",  # the live views' door, when deployed
    }
    assert 'SANDBOX_BACKEND = "fc"' in sandbox
    query = expr(ali.module["query"]["environment"])
    assert "{SANDBOX_URL = module.sandbox[0].url, " in query
    # "function" auth makes FC refuse unsigned calls: the query function signs them (ACS3)
    assert (
        'SANDBOX_URL_AUTH = var.http_trigger_auth_type.sandbox == "function" ? "fc" : "none"'
        in query
    )
    assert {"fc", "none"} <= set(get_args(Settings.model_fields["sandbox_url_auth"].annotation))
    for name in FUNCTIONS:
        env = expr(ali.module[name]["environment"])
        assert env.startswith(f'merge(lookup(var.environment, "{name}", {{}}),'), name
        assert "local.store_environment" in env


def test_every_variable_the_functions_get_is_a_setting_they_read(ali, fn):
    written = set()
    for name in FUNCTIONS:
        written |= env_keys(expr(ali.module[name]["environment"]))
    written |= env_keys(expr(ali.locals["store_environment"]))
    written |= env_keys(expr(ali.locals["model_environment"]))
    written |= env_keys(expr(ali.locals["secret_environment"]))
    written |= env_keys(
        expr(fn.resource["alicloud_fcv3_function"]["this"]["environment_variables"])
    )
    written |= env_keys(module("function_environment").text())
    assert {"AUTH_MODE", "FUNCTION_TIMEOUT_S", "USER_MAX_SANDBOXES"} <= written
    unknown = unread_settings(written)
    assert not unknown, f"not in functions/runtime/settings.py: {sorted(unknown)}"


def test_trigger_auth_is_a_validated_door_per_function(ali):
    """End users' doors (query, state) are open with the JWT check behind them; the
    sandbox function's is signed, for the query function (see test_identity.py)."""
    variable = ali.variable["http_trigger_auth_type"]
    assert expr(variable["type"]) == (
        'object({query = optional(string, "anonymous"), state = optional(string, "anonymous"), '
        'sandbox = optional(string, "function")})'
    )
    assert variable["default"] == {
        "query": "anonymous",
        "state": "anonymous",
        "sandbox": "function",
    }
    assert 'contains(["anonymous", "function"], door)' in variable["validation"][0]["condition"]


# --- the sandbox functions: one custom container per type --------------------------------


def test_one_session_exclusive_container_function_per_sandbox_type(ali):
    assert ali.variable["sandbox_types"]["default"] == ["base", "filesystem", "browser", "gui"]
    assert ali.variable["sandbox_function_prefix"]["default"] == "agentscope-sandbox-"
    function = ali.resource["alicloud_fcv3_function"]["sandbox_type"]
    assert expr(function["for_each"]) == "toset(var.sandbox_types)"
    assert function["function_name"] == "${var.sandbox_function_prefix}${each.key}"
    assert function["runtime"] == "custom-container"
    assert function["instance_isolation_mode"] == "SESSION_EXCLUSIVE"
    assert function["session_affinity"] == "HEADER_FIELD"
    container = function["custom_container_config"][0]
    assert container["port"] == 8000
    assert container["image"] == (
        "${local.image_registry}/${var.image_namespace}/runtime-sandbox-${each.key}:${var.image_tag}"
    )
    # SESSION_EXCLUSIVE needs 2 or more vCPUs
    assert ali.variable["sandbox_cpu"]["default"] >= 2
    assert "var.sandbox_cpu >= 2" in ali.variable["sandbox_cpu"]["validation"][0]["condition"]


def test_session_affinity_routes_by_the_launchers_header(ali):
    function = ali.resource["alicloud_fcv3_function"]["sandbox_type"]
    config = expr(function["session_affinity_config"])
    assert config.startswith("jsonencode(") and config.endswith(")")
    fields = hcl_object(config[len("jsonencode(") : -1])
    assert fields == {
        "affinityHeaderFieldName": "local.session_header",
        "sessionTTLInSeconds": "var.sandbox_session_ttl_s",
        "sessionIdleTimeoutInSeconds": "var.sandbox_idle_timeout_s",
        "sessionConcurrencyPerInstance": "1",
        "disableSessionIdReuse": "true",
    }
    # the header the FC launcher sends, which FC routes by
    assert ali.locals["session_header"] == SESSION_HEADER == "x-agentscope-sandbox-session"
    for name in ("sandbox_session_ttl_s", "sandbox_idle_timeout_s"):
        assert "21600" in ali.variable[name]["validation"][0]["condition"]


def test_the_sandbox_functions_environment_holds_no_secret(ali):
    """All sessions of a function share its environment, and code in each can read it: the
    launcher claims every tool server with a token of that sandbox alone (POST /claim), so
    nothing here may be a key, a token or anything sensitive."""
    env = expr(ali.resource["alicloud_fcv3_function"]["sandbox_type"]["environment_variables"])
    assert env == (
        "merge(module.environment.tool_server_environment, "
        '{OTEL_SERVICE_NAME = "${var.sandbox_function_prefix}${each.key}", '
        "SANDBOX_MAX_CALL_TIMEOUT_S = tostring(var.sandbox_max_call_timeout_s)})"
    )
    assert "sandbox_token_key" not in ali.locals
    assert "random_password" not in ali.resource
    assert "sandbox_token_key" not in ali.variable and "sandbox_token_key" not in ali.output
    told = expr(ali.module["sandbox"]["environment"])
    assert not {k for k in env_keys(told) if "TOKEN" in k}
    # what the environment module gives the tool servers: logs and traces, never the headers
    environment = module("function_environment").locals
    keys = env_keys(expr(environment["tool_server"])) | set(environment["otel"])
    assert "LOG_FORMAT" in keys and "OTEL_EXPORTER_OTLP_ENDPOINT" in keys
    assert not {k for k in keys if re.search("TOKEN|KEY|SECRET|HEADERS", k)}


def test_the_longest_tool_call_stays_below_the_sandbox_functions_timeout(ali, variables_plan):
    """SANDBOX_MAX_CALL_TIMEOUT_S, read by the tool servers, is the sandbox function's
    setting of the same name: same default, same bound, and FC must not end a call first."""
    field = Settings.model_fields["sandbox_max_call_timeout_s"]
    variable = ali.variable["sandbox_max_call_timeout_s"]
    assert variable["default"] == field.default == 300
    limit = next(m.le for m in field.metadata if getattr(m, "le", None) is not None)
    assert limit == 840
    plan = variables_plan("alicloud")
    for bad in (0, -1, limit + 1):
        said = plan.refuses(auth_jwks_url=JWKS, sandbox_max_call_timeout_s=bad)
        assert "sandbox_max_call_timeout_s must be more than 0 and at most 840" in said, bad
    said = plan.refuses(auth_jwks_url=JWKS, sandbox_max_call_timeout_s=600, sandbox_timeout_s=600)
    assert "sandbox_max_call_timeout_s must stay below sandbox_timeout_s" in said
    plan.accepts(auth_jwks_url=JWKS, sandbox_max_call_timeout_s=limit)
    plan.accepts(auth_jwks_url=JWKS, sandbox_max_call_timeout_s=60, sandbox_timeout_s=61)
    # the tool server reads it under this name
    base = TOOLSERVER / "tools" / "base.py"
    assert 'os.environ.get("SANDBOX_MAX_CALL_TIMEOUT_S"' in base.read_text()


def test_sandbox_triggers_demand_fcs_signature_by_default(ali):
    """A stranger with a trigger URL must not start and claim a session: function auth."""
    trigger = ali.resource["alicloud_fcv3_trigger"]["sandbox_type"]
    assert trigger["trigger_type"] == "http"
    assert expr(trigger["for_each"]) == "alicloud_fcv3_function.sandbox_type"
    assert "authType = var.sandbox_trigger_auth_type" in expr(trigger["trigger_config"])
    variable = ali.variable["sandbox_trigger_auth_type"]
    assert variable["default"] == "function"
    said = variable["description"]
    # who signs, with what right, and where the tool server's token goes then
    assert "fc:InvokeFunction" in said and "X-Agentscope-Sandbox-Token" in said
    # the token is the one the launcher claimed the session with; no key derives it
    assert "claimed" in said
    assert "HMAC" not in said.replace("ACS3-HMAC-SHA256", "")
    # the launcher's role may sign for exactly these functions
    assert "fc:InvokeFunction" in ali.locals["launcher_actions"]
    # and the header is the one the launcher and the tool server use
    assert TOKEN_HEADER == "X-Agentscope-Sandbox-Token"
    assert f'TOKEN_HEADER = "{TOKEN_HEADER}"' in (TOOLSERVER / "server.py").read_text()


def test_a_functions_trigger_is_signed_unless_its_caller_says_otherwise():
    variable = module("fc_function").variable["trigger_auth_type"]
    assert variable["default"] == "function"


def test_outputs_are_the_trigger_urls_and_the_bucket(ali):
    assert expr(ali.output["query_url"]["value"]) == (
        "var.deploy_api_functions ? module.query[0].url : null"
    )
    assert "module.state[0].url" in ali.output["state_url"]["value"]
    assert "module.sandbox[0].url" in ali.output["sandbox_url"]["value"]
    assert "url_internet" in ali.output["sandbox_function_urls"]["value"]
    assert expr(ali.output["state_bucket"]["value"]) == "local.bucket"


def test_trigger_configs_carry_only_fields_of_fcs_http_trigger_config(ali):
    """HTTPTriggerConfig (API 2023-03-30): authType, methods, disableURLInternet."""
    configs = [
        config
        for source in (ali.text(), module("fc_function").text())
        for config in re.findall(r"trigger_config = jsonencode\(\{(.*?)\}\)", source, re.S)
    ]
    assert len(configs) == 2  # the functions' triggers and the sandbox functions'
    for config in configs:
        keys = set(re.findall(r"^\s*(\w+)\s*=", config, re.M))
        assert keys == {"authType", "methods", "disableURLInternet"}, keys


def test_no_function_sets_a_variable_fc_reserves(ali):
    """FC refuses FC_* names (it sets FC_REGION, FC_ACCOUNT_ID itself, which the launcher reads)."""
    written = set()
    for name in FUNCTIONS:
        written |= env_keys(expr(ali.module[name]["environment"]))
    written |= env_keys(expr(ali.locals["store_environment"]))
    written |= env_keys(
        expr(ali.resource["alicloud_fcv3_function"]["sandbox_type"]["environment_variables"])
    )
    written |= env_keys(module("function_environment").text())
    written |= env_keys(expr(module("fc_function").text()))
    assert {"SANDBOX_MAX_CALL_TIMEOUT_S", "OTEL_SERVICE_NAME", "FUNCTION_TIMEOUT_S"} <= written
    assert written and not {k for k in written if k.startswith("FC_")}
    conditions = [v["condition"] for v in ali.variable["environment"]["validation"]]
    assert any('!startswith(k, "FC_")' in c for c in conditions)


def test_an_fc_hosted_launcher_is_told_the_prefix_by_its_non_fc_name(ali):
    """FC refuses FC_SANDBOX_FUNCTION_PREFIX on a function; the launcher reads the prefix
    Terraform names the sandbox functions with as SANDBOX_FC_FUNCTION_PREFIX too."""
    sandbox = expr(ali.module["sandbox"]["environment"])
    assert "SANDBOX_FC_FUNCTION_PREFIX = var.sandbox_function_prefix" in sandbox
    told = Settings(sandbox_fc_function_prefix="team-a-")
    assert told.fc_sandbox_function_prefix == "team-a-"
    default = Settings().fc_sandbox_function_prefix
    assert ali.variable["sandbox_function_prefix"]["default"] == default

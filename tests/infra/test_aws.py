"""What infra/terraform/aws says: read from the HCL (the providers cannot run here)."""

from __future__ import annotations

import re
from typing import get_args

import pytest

from functions.runtime.settings import Settings
from tests.infra.hcl import env_keys, expr, module, root, unread_settings

FUNCTIONS = ("query", "state", "sandbox")
# set for the Lambda Web Adapter or by Lambda itself, not read by our settings
PLATFORM_ENV = {
    "AWS_LAMBDA_EXEC_WRAPPER",
    "AWS_LWA_INVOKE_MODE",
    "AWS_LWA_PORT",
    "AWS_LWA_READINESS_CHECK_PATH",
    "PORT",
}


@pytest.fixture(scope="module")
def aws():
    return root("aws")


@pytest.fixture(scope="module")
def fn():
    return module("lambda_function")


def statements(policy: dict) -> list[dict]:
    """The statement blocks of an aws_iam_policy_document (dynamic ones excluded)."""
    return policy.get("statement", [])


# --- every function of the manifest gets its Lambda, role and URL ------------------------


def test_each_function_is_a_lambda_module_fed_from_the_manifest(aws):
    assert set(aws.module) == {"manifest", "environment", *FUNCTIONS}
    for name in FUNCTIONS:
        call = aws.module[name]
        assert call["source"] == "../modules/lambda_function"
        assert expr(call["artifact"]) == f'module.manifest.artifacts["{name}"]'
        assert call["name"] == f"${{var.name_prefix}}-{name}"
        assert expr(call["state_bucket_arn"]) == "aws_s3_bucket.state.arn"
        assert expr(call["state_prefix"]) == "local.state_prefix"
        assert expr(call["url_auth_type"]) == f"var.function_url_auth_type.{name}"


def test_the_manifest_module_selects_aws_artifacts_of_the_chosen_python_and_cpu(aws):
    call = aws.module["manifest"]
    assert call["source"] == "../modules/manifest"
    assert call["target"] == "aws"
    assert expr(call["python"]) == "var.python_version"
    assert expr(call["arch"]) == "var.architecture"
    assert expr(call["functions"]) == "local.functions"
    assert expr(aws.locals["functions"]) == (
        'var.enable_sandbox ? ["query", "state", "sandbox"] : ["query", "state"]'
    )
    assert "dist/manifest.json" in aws.locals["manifest_path"]


def test_the_module_gives_each_function_a_role_log_group_function_and_url(fn):
    assert set(fn.resource) >= {
        "aws_iam_role",
        "aws_iam_role_policy",
        "aws_cloudwatch_log_group",
        "aws_lambda_function",
        "aws_lambda_function_url",
    }
    role = fn.data["aws_iam_policy_document"]["assume"]["statement"][0]
    assert role["principals"][0]["identifiers"] == ["lambda.amazonaws.com"]
    assert expr(fn.resource["aws_iam_role_policy"]["access"]["role"]) == "aws_iam_role.this.id"
    lam = fn.resource["aws_lambda_function"]["this"]
    assert expr(lam["role"]) == "aws_iam_role.this.arn"
    assert expr(lam["logging_config"][0]["log_group"]) == "aws_cloudwatch_log_group.this.name"
    url = fn.resource["aws_lambda_function_url"]["this"]
    assert expr(url["function_name"]) == "aws_lambda_function.this.function_name"
    log = fn.resource["aws_cloudwatch_log_group"]["this"]
    assert log["name"] == "/aws/lambda/${var.name}"
    assert expr(log["retention_in_days"]) == "var.log_retention_days"


def test_code_handler_runtime_and_sizes_come_from_the_manifest_entry(fn):
    lam = fn.resource["aws_lambda_function"]["this"]
    # the zip in the request, or over 50 MB from the bucket (test_code_upload.py)
    assert expr(lam["filename"]) == "local.code_object == null ? var.artifact.zip_path : null"
    # base64 SHA-256 of the zip (modules/manifest): a new zip, and only that, redeploys
    assert expr(lam["source_code_hash"]) == "var.artifact.source_code_hash"
    assert expr(lam["runtime"]) == "var.artifact.runtime"
    assert expr(lam["handler"]) == (
        "var.streaming ? var.artifact.streaming_handler : var.artifact.handler"
    )
    assert [expr(a) for a in lam["architectures"]] == ["var.artifact.arch"]
    assert expr(lam["memory_size"]) == "var.artifact.memory_mb"
    assert expr(lam["timeout"]) == "var.artifact.timeout_s"
    assert expr(lam["environment"][0]["variables"]).startswith("merge(var.artifact.environment,")


# --- streaming ---------------------------------------------------------------------------


def test_query_streaming_uses_the_web_adapter_and_a_response_stream_url(aws, fn):
    assert aws.variable["query_streaming"]["default"] is True
    query = aws.module["query"]
    assert expr(query["streaming"]) == "var.query_streaming"
    assert expr(query["web_adapter_layer_arn"]) == "local.web_adapter_layer_arn"
    for other in ("state", "sandbox"):
        assert "streaming" not in aws.module[other]  # module default: false, mangum

    url = fn.resource["aws_lambda_function_url"]["this"]
    assert expr(url["invoke_mode"]) == 'var.streaming ? "RESPONSE_STREAM" : "BUFFERED"'
    lam = fn.resource["aws_lambda_function"]["this"]
    assert expr(lam["layers"]) == "var.streaming ? [var.web_adapter_layer_arn] : []"
    assert fn.variable["streaming"]["default"] is False

    adapter = fn.locals["adapter_environment"]
    assert expr(adapter).startswith("var.streaming ? {AWS_")
    for key, value in {
        "AWS_LAMBDA_EXEC_WRAPPER": '"/opt/bootstrap"',
        "AWS_LWA_INVOKE_MODE": '"response_stream"',
        "AWS_LWA_PORT": "tostring(var.artifact.port)",
        "PORT": "tostring(var.artifact.port)",
        "AWS_LWA_READINESS_CHECK_PATH": '"/health"',
    }.items():
        assert re.search(rf"\b{key} = {re.escape(value)}", expr(adapter)), key
    # the adapter's settings are merged last: nothing else can override them
    assert expr(lam["environment"][0]["variables"]).endswith("local.adapter_environment)")


def test_the_web_adapter_layer_follows_region_and_architecture(aws):
    layer = expr(aws.locals["web_adapter_layer_arn"])
    assert layer.startswith("coalesce(var.lambda_web_adapter_layer_arn,")
    assert "arn:aws:lambda:%s:753240598075:layer:%s:%d" in layer
    assert "data.aws_region.current.region" in layer
    assert 'var.architecture == "arm64" ? "LambdaAdapterLayerArm64" : "LambdaAdapterLayerX86"' in (
        layer
    )
    assert isinstance(aws.variable["lambda_web_adapter_layer_version"]["default"], int)


# --- least privilege ---------------------------------------------------------------------


def test_each_role_may_touch_only_the_state_prefix_and_its_own_logs(fn):
    policy = fn.data["aws_iam_policy_document"]["access"]
    found = {s["sid"]: s for s in statements(policy)}
    assert set(found) == {"StateObjects", "StateListing", "OwnLogs"}

    objects = found["StateObjects"]
    assert objects["actions"] == ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    assert objects["resources"] == ["${var.state_bucket_arn}/${var.state_prefix}*"]

    listing = found["StateListing"]
    assert listing["actions"] == ["s3:ListBucket"]
    assert listing["resources"] == ["${var.state_bucket_arn}"]
    assert listing["condition"] == [
        {"test": "StringLike", "variable": "s3:prefix", "values": ["${var.state_prefix}*"]}
    ]

    logs = found["OwnLogs"]
    assert logs["actions"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert logs["resources"] == ["${aws_cloudwatch_log_group.this.arn}:*"]

    xray, extra = (d["statement"] for d in policy["dynamic"])
    # X-Ray's upload, only when traced
    assert expr(xray["for_each"]) == 'var.xray_tracing ? ["XRayWrite"] : []'
    assert xray["content"][0]["actions"] == ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    # what the caller adds goes in as given, to this role only
    assert expr(extra["for_each"]) == "var.extra_statements"


def test_the_state_prefix_ends_in_a_slash_so_no_sibling_prefix_matches(aws, fn):
    assert aws.locals["state_prefix"] == "${var.state_prefix}/"
    (validation,) = fn.variable["state_prefix"]["validation"]
    assert 'endswith(var.state_prefix, "/")' in validation["condition"]


def test_extra_permissions_name_one_secret_and_one_function(aws):
    (secret,) = aws.module["sandbox"]["extra_statements"]
    assert secret["actions"] == ["secretsmanager:GetSecretValue"]
    assert secret["resources"] == ["${local.alibaba_secret_arn}"]

    extra = expr(aws.module["query"]["extra_statements"])
    assert extra.startswith(
        'var.enable_sandbox && var.function_url_auth_type.sandbox == "AWS_IAM" ? ['
    )
    assert extra.endswith("] : []")
    assert 'actions = ["lambda:InvokeFunctionUrl", "lambda:InvokeFunction"]' in extra
    assert "resources = [one(module.sandbox[*].function_arn)]" in extra

    for name in ("state",):
        assert "extra_statements" not in aws.module[name]


def test_no_policy_grants_a_wildcard(aws, fn):
    for config in (aws, fn):
        text = config.text()
        assert not re.search(r'"[a-z0-9]+:\*"', text), "an action wildcard"
        assert "AdministratorAccess" not in text and "FullAccess" not in text
    assert not re.search(r'resources\s*=\s*\[\s*"\*"', aws.text()), "a resource wildcard"
    # the one "*": X-Ray's two upload actions, which name no resource at all
    wildcards = re.findall(r'actions\s*=\s*(\[[^]]*\])\s*resources\s*=\s*\[\s*"\*"', fn.text())
    assert wildcards == ['["xray:PutTraceSegments", "xray:PutTelemetryRecords"]']


def test_the_credentials_secret_is_created_without_a_value(aws):
    secret = aws.resource["aws_secretsmanager_secret"]["alibaba_credentials"]
    assert expr(secret["count"]) == (
        "var.enable_sandbox && var.alibaba_credentials_secret_arn == null ? 1 : 0"
    )
    assert "aws_secretsmanager_secret_version" not in aws.resource
    assert expr(aws.locals["alibaba_secret_arn"]).startswith(
        "var.enable_sandbox ? coalesce(var.alibaba_credentials_secret_arn,"
    )


# --- the sandbox function and what it is told --------------------------------------------


def test_enable_sandbox_leaves_the_sandbox_function_out(aws):
    assert aws.variable["enable_sandbox"]["default"] is True
    assert expr(aws.module["sandbox"]["count"]) == "var.enable_sandbox ? 1 : 0"
    query_env = expr(aws.module["query"]["environment"])
    assert "var.enable_sandbox ? {SANDBOX_URL = one(module.sandbox[*].url), " in query_env


def test_the_query_function_signs_its_sandbox_calls_when_the_url_demands_it(aws):
    """AWS_IAM on the sandbox URL (the default) makes Lambda refuse unsigned calls: the
    query function is told to sign them (SigV4), with a value the settings accept."""
    assert 'sandbox = optional(string, "AWS_IAM")' in expr(
        aws.variable["function_url_auth_type"]["type"]
    )
    query_env = expr(aws.module["query"]["environment"])
    assert (
        'SANDBOX_URL_AUTH = var.function_url_auth_type.sandbox == "AWS_IAM" ? "aws_iam" : "none"'
        in query_env
    )
    accepted = get_args(Settings.model_fields["sandbox_url_auth"].annotation)
    assert {"aws_iam", "none"} <= set(accepted)


def test_the_sandbox_function_gets_the_launcher_settings(aws):
    env = expr(aws.module["sandbox"]["environment"])
    assert env_keys(env) >= {
        "SANDBOX_BACKEND",
        "FC_REGION",
        "FC_ACCOUNT_ID",
        "FC_SANDBOX_FUNCTION_PREFIX",
        "ALIBABA_CLOUD_CREDENTIALS_SECRET",
    }
    # no key shared with the sandboxes: the launcher claims each with a token of its own
    assert not {k for k in env_keys(env) if "TOKEN" in k}
    assert "sandbox_token_key" not in aws.variable
    precondition = aws.output["sandbox_url"]["precondition"][0]
    assert expr(precondition["condition"]) == "!var.enable_sandbox || var.fc_account_id != null"
    assert "SANDBOX_BACKEND = var.sandbox_backend" in env
    assert "ALIBABA_CLOUD_CREDENTIALS_SECRET = local.alibaba_secret_arn" in env
    assert aws.variable["sandbox_backend"]["default"] == "fc"
    assert "agentrun" in aws.variable["sandbox_backend"]["validation"][0]["condition"]
    assert aws.variable["model_api_key"]["sensitive"] is True


def test_every_function_is_told_the_store_and_operator_settings_come_first(aws):
    assert aws.locals["store_url"] == "s3://${aws_s3_bucket.state.bucket}/${var.state_prefix}"
    assert aws.locals["store_environment"] == {"STORE_URL": "${local.store_url}"}
    for name in FUNCTIONS:
        env = expr(aws.module[name]["environment"])
        assert env.startswith(f'merge(lookup(var.environment, "{name}", {{}}),'), name
        assert "local.store_environment" in env


def test_every_variable_the_functions_get_is_a_setting_they_read(aws, fn):
    written = set()
    for name in FUNCTIONS:
        written |= env_keys(expr(aws.module[name]["environment"]))
    written |= env_keys(expr(aws.locals["model_environment"])) | set(
        aws.locals["store_environment"]
    )
    written |= env_keys(expr(aws.locals["secret_environment"]))
    written |= env_keys(expr(fn.locals["adapter_environment"]))
    written |= env_keys(module("function_environment").text())
    assert {"AUTH_MODE", "OTEL_SERVICE_NAME", "TURN_MAX_TOOL_CALLS", "AUTH_JWT_SECRET"} <= written
    unknown = unread_settings(written - PLATFORM_ENV)
    assert not unknown, f"not in functions/runtime/settings.py: {sorted(unknown)}"


# --- URLs ------------------------------------------------------------------------------


def test_function_url_auth_is_a_validated_door_per_function(aws, fn):
    """End users' doors (query, state) are open with the JWT check behind them; the
    sandbox function's is signed, for the query function (see test_identity.py)."""
    variable = aws.variable["function_url_auth_type"]
    assert expr(variable["type"]) == (
        'object({query = optional(string, "NONE"), state = optional(string, "NONE"), '
        'sandbox = optional(string, "AWS_IAM")})'
    )
    assert variable["default"] == {"query": "NONE", "state": "NONE", "sandbox": "AWS_IAM"}
    conditions = [expr(v["condition"]) for v in variable["validation"]]
    assert 'contains(["AWS_IAM", "NONE"], door)' in conditions[0]
    url = fn.resource["aws_lambda_function_url"]["this"]
    assert expr(url["authorization_type"]) == "var.url_auth_type"


def test_outputs_are_the_urls_and_the_bucket(aws):
    assert expr(aws.output["query_url"]["value"]) == "module.query.url"
    assert expr(aws.output["state_url"]["value"]) == "module.state.url"
    assert expr(aws.output["sandbox_url"]["value"]) == (
        "var.enable_sandbox ? module.sandbox[0].url : null"
    )
    assert expr(aws.output["state_bucket"]["value"]) == "aws_s3_bucket.state.bucket"


# --- the bucket --------------------------------------------------------------------------


def test_the_state_bucket_is_private_versioned_and_encrypted(aws):
    block = aws.resource["aws_s3_bucket_public_access_block"]["state"]
    for flag in (
        "block_public_acls",
        "block_public_policy",
        "ignore_public_acls",
        "restrict_public_buckets",
    ):
        assert block[flag] is True, flag
    ownership = aws.resource["aws_s3_bucket_ownership_controls"]["state"]
    assert ownership["rule"][0]["object_ownership"] == "BucketOwnerEnforced"
    versioning = aws.resource["aws_s3_bucket_versioning"]["state"]
    assert versioning["versioning_configuration"][0]["status"] == "Enabled"
    sse = aws.resource["aws_s3_bucket_server_side_encryption_configuration"]["state"]
    assert sse["rule"][0]["apply_server_side_encryption_by_default"][0]["sse_algorithm"] in (
        "AES256",
        "aws:kms",
    )
    # nothing makes it public
    assert "aws_s3_bucket_policy" not in aws.resource
    assert "aws_s3_bucket_acl" not in aws.resource
    for resource in ("aws_s3_bucket_public_access_block", "aws_s3_bucket_versioning"):
        assert expr(aws.resource[resource]["state"]["bucket"]) == "aws_s3_bucket.state.id"


def test_lifecycle_expires_sessions_sandbox_records_and_old_versions(aws):
    rules = {
        r["id"]: r for r in aws.resource["aws_s3_bucket_lifecycle_configuration"]["state"]["rule"]
    }
    prefixes = {i: r["filter"][0].get("prefix") for i, r in rules.items()}
    assert prefixes == {
        "expire-sessions": "${local.state_prefix}users/",
        "expire-sandbox-records": "${local.state_prefix}sandboxes/",
        "expire-sandbox-pool": "${local.state_prefix}sandbox-pool/",
        "expire-leases": "${local.state_prefix}leases/",
        "expire-old-versions": None,
    }
    # leases left by instances that died mid-turn: always, after a day (a live one is
    # rewritten every SESSION_LOCK_TTL_S / 3)
    assert rules["expire-leases"]["expiration"][0]["days"] == 1
    sessions = rules["expire-sessions"]
    assert expr(sessions["status"]) == 'var.session_expiry_days > 0 ? "Enabled" : "Disabled"'
    assert expr(sessions["expiration"][0]["days"]) == "max(var.session_expiry_days, 1)"
    for rule in ("expire-sandbox-records", "expire-sandbox-pool"):
        assert expr(rules[rule]["expiration"][0]["days"]) == (
            "max(var.sandbox_record_expiry_days, 1)"
        )
    old = rules["expire-old-versions"]
    assert old["status"] == "Enabled"
    assert expr(old["noncurrent_version_expiration"][0]["noncurrent_days"]) == (
        "var.noncurrent_version_expiry_days"
    )
    assert old["expiration"][0]["expired_object_delete_marker"] is True

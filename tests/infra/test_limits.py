"""What a deployment, a turn and a user may spend, and how long its traces and logs last
(issue 22 items 1-3 and 5, issue 20's tracing switch).

Every function has a concurrency limit (Lambda reserved concurrency, FC instance limit)
that the configuration passes on; the turn budgets and quotas reach the function that
enforces them only when set. Validation is run for real on the roots' variables.tf.
"""

from __future__ import annotations

import re

import pytest

from tests.infra.hcl import ROOTS, expr, module, root

FUNCTIONS = ("query", "state", "sandbox")
BUDGETS = (
    "turn_max_seconds",
    "turn_max_model_calls",
    "turn_max_tool_calls",
    "turn_max_output_tokens",
    "turn_max_output_chars",
    "user_max_turns_per_minute",
    "user_max_sandboxes",
)
JWKS = "https://idp.example/.well-known/jwks.json"


def optional_defaults(type_expression: str) -> dict[str, str]:
    """``object({a = optional(number, 10), ...})`` as {"a": "10", ...} (None: no default)."""
    fields = re.findall(r"(\w+) = optional\((\w+)(?:, ([^)]+))?\)", expr(type_expression))
    return {name: (default or None) for name, _, default in fields}


# --- every function has a concurrency limit ---------------------------------------------


def test_every_lambda_function_has_reserved_concurrency():
    aws, fn = root("aws"), module("lambda_function")
    for name in FUNCTIONS:
        call = aws.module[name]
        assert expr(call["reserved_concurrency"]) == f"var.reserved_concurrency.{name}", name
    lam = fn.resource["aws_lambda_function"]["this"]
    assert expr(lam["reserved_concurrent_executions"]) == "var.reserved_concurrency"
    # required by the module: no function can be deployed without one
    assert "default" not in fn.variable["reserved_concurrency"]
    # safe defaults: each function limited, none stopped
    defaults = optional_defaults(aws.variable["reserved_concurrency"]["type"])
    assert set(defaults) == set(FUNCTIONS)
    assert all(1 <= int(d) <= 50 for d in defaults.values()), defaults


def test_every_fc_function_has_an_instance_limit():
    ali, fn = root("alicloud"), module("fc_function")
    for name in FUNCTIONS:
        assert expr(ali.module[name]["max_instances"]) == f"var.max_instances.{name}", name
    config = fn.resource["alicloud_fcv3_concurrency_config"]["this"]
    assert expr(config["count"]) == "var.max_instances < 0 ? 0 : 1"
    assert expr(config["function_name"]) == "alicloud_fcv3_function.this.function_name"
    assert expr(config["reserved_concurrency"]) == "var.max_instances"
    assert "default" not in fn.variable["max_instances"]
    defaults = optional_defaults(ali.variable["max_instances"]["type"])
    assert set(defaults) == set(FUNCTIONS)
    assert all(1 <= int(d) <= 30 for d in defaults.values()), defaults


def test_every_sandbox_type_has_an_instance_limit_so_a_session_limit():
    ali = root("alicloud")
    config = ali.resource["alicloud_fcv3_concurrency_config"]["sandbox_type"]
    assert expr(config["for_each"]) == (
        "var.sandbox_max_instances < 0 ? {} : alicloud_fcv3_function.sandbox_type"
    )
    assert expr(config["function_name"]) == "each.value.function_name"
    assert expr(config["reserved_concurrency"]) == "var.sandbox_max_instances"
    assert 1 <= ali.variable["sandbox_max_instances"]["default"] <= 30
    # one instance per session: the instance limit is a limit on live sandboxes
    assert ali.resource["alicloud_fcv3_function"]["sandbox_type"]["instance_isolation_mode"] == (
        "SESSION_EXCLUSIVE"
    )


def test_concurrency_limits_are_validated(variables_plan):
    aws = variables_plan("aws")
    for bad in (-2, 1.5):
        said = aws.refuses(auth_jwks_url=JWKS, reserved_concurrency={"query": bad})
        assert "reserved_concurrency: whole numbers >= -1" in said, bad
    # -1: no limit of its own; 0: stopped (a kill switch)
    aws.accepts(auth_jwks_url=JWKS, reserved_concurrency={"query": -1, "state": 0})

    ali = variables_plan("alicloud")
    for bad in (-2, 1.5):
        said = ali.refuses(auth_jwks_url=JWKS, max_instances={"sandbox": bad})
        assert "max_instances: whole numbers >= -1" in said, bad
        said = ali.refuses(auth_jwks_url=JWKS, sandbox_max_instances=bad)
        assert "sandbox_max_instances must be a whole number >= -1" in said, bad
    ali.accepts(
        auth_jwks_url=JWKS, max_instances={"query": 0, "state": -1}, sandbox_max_instances=0
    )


# --- turn budgets and quotas -------------------------------------------------------------


@pytest.mark.parametrize("name", ROOTS)
def test_budgets_default_to_the_codes_own_and_reach_the_environment_module(name):
    config = root(name)
    limits = config.module["environment"]["limits"]
    for budget in BUDGETS:
        assert config.variable[budget]["default"] is None, budget
        assert limits[budget] == f"${{var.{budget}}}", budget
    assert limits["max_request_bytes"] == "${var.max_request_bytes}"
    assert optional_defaults(config.variable["max_request_bytes"]["type"]) == dict.fromkeys(
        FUNCTIONS
    )


@pytest.mark.parametrize("name", ROOTS)
def test_budget_values_are_validated(name, variables_plan):
    plan = variables_plan(name)
    for budget in BUDGETS:
        for bad in (0, 2.5):
            said = plan.refuses(auth_jwks_url=JWKS, **{budget: bad})
            assert f"{budget} must be null or a whole number >= 1" in said, (budget, bad)
    plan.accepts(auth_jwks_url=JWKS, **dict.fromkeys(BUDGETS, 5))
    ceiling = {"aws": 6291456, "alicloud": 33554432}[name]
    said = plan.refuses(auth_jwks_url=JWKS, max_request_bytes={"state": ceiling + 1})
    assert "max_request_bytes: null or whole numbers from 1024" in said
    plan.accepts(auth_jwks_url=JWKS, max_request_bytes={"state": ceiling, "query": 1024})


def test_an_fc_function_is_told_its_own_timeout():
    """FC passes no deadline with a request: FUNCTION_TIMEOUT_S is the function's timeout,
    merged last so that nothing else can state another."""
    function = module("fc_function").resource["alicloud_fcv3_function"]["this"]
    env = expr(function["environment_variables"])
    assert env.endswith(", {FUNCTION_TIMEOUT_S = tostring(var.artifact.timeout_s)})")
    assert expr(function["timeout"]) == "var.artifact.timeout_s"


# --- logs kept a year, tracing switchable -------------------------------------------------


def test_logs_are_kept_a_year_by_default(variables_plan):
    aws, ali = root("aws"), root("alicloud")
    assert aws.variable["log_retention_days"]["default"] >= 365
    for name in FUNCTIONS:
        assert expr(aws.module[name]["log_retention_days"]) == "var.log_retention_days"
    said = variables_plan("aws").refuses(auth_jwks_url=JWKS, log_retention_days=10)
    assert "log_retention_days must be 0 (forever) or one of CloudWatch's" in said

    # FC: a log store kept that long unless the operator names their own
    assert ali.variable["log_retention_days"]["default"] >= 365
    store = ali.resource["alicloud_log_store"]["functions"]
    assert expr(store["retention_period"]) == "var.log_retention_days"
    project = ali.resource["alicloud_log_project"]["functions"]
    assert expr(project["count"]) == "var.deploy_api_functions && var.log_project == null ? 1 : 0"
    for name in FUNCTIONS:
        assert expr(ali.module[name]["log_project"]) == "local.log_project"
        assert expr(ali.module[name]["log_store"]) == "local.log_store"
    assert "one(alicloud_log_project.functions[*].project_name)" in ali.locals["log_project"]
    for bad in (0, 4000):
        said = variables_plan("alicloud").refuses(auth_jwks_url=JWKS, log_retention_days=bad)
        assert "log_retention_days must be a whole number from 1 to 3650" in said
    said = variables_plan("alicloud").refuses(auth_jwks_url=JWKS, log_project="mine")
    assert "log_project and log_store go together" in said


def test_xray_active_tracing_is_a_switch_reaching_every_lambda():
    aws, fn = root("aws"), module("lambda_function")
    assert aws.variable["xray_tracing"]["default"] is True
    for name in FUNCTIONS:
        assert expr(aws.module[name]["xray_tracing"]) == "var.xray_tracing", name
    tracing = fn.resource["aws_lambda_function"]["this"]["tracing_config"][0]
    assert expr(tracing["mode"]) == 'var.xray_tracing ? "Active" : "PassThrough"'


@pytest.mark.parametrize("name", ROOTS)
def test_otel_settings_reach_the_environment_module_and_are_validated(name, variables_plan):
    observability = root(name).module["environment"]["observability"]
    assert observability["log_format"] == "${var.log_format}"
    assert observability["otlp_endpoint"] == "${var.otel_exporter_otlp_endpoint}"
    assert observability["traces_sampler"] == "${var.otel_traces_sampler}"
    assert observability["traces_sampler_arg"] == "${var.otel_traces_sampler_arg}"
    attributes = expr(observability["resource_attributes"])
    assert attributes.endswith("var.otel_resource_attributes)")  # the operator's win
    assert '"service.namespace" = var.name_prefix' in attributes
    assert root(name).variable["log_format"]["default"] == "json"

    plan = variables_plan(name)
    for variable, bad, message in (
        ("otel_traces_sampler", "sometimes", "otel_traces_sampler must be one of"),
        ("otel_traces_sampler_arg", 1.5, "between 0 and 1"),
        ("otel_exporter_otlp_endpoint", "otel:4318", "must be an http(s):// URL"),
        ("log_format", "xml", 'log_format must be "json" or "text"'),
        ("otel_resource_attributes", {"team": "a,b"}, "may hold ',' or '='"),
    ):
        assert message in plan.refuses(auth_jwks_url=JWKS, **{variable: bad}), variable
    plan.accepts(
        auth_jwks_url=JWKS,
        otel_exporter_otlp_endpoint="https://otel.example:4318",
        otel_traces_sampler="parentbased_traceidratio",
        otel_traces_sampler_arg=0.25,
        otel_resource_attributes={"deployment.environment.name": "prod"},
    )


def test_otlp_headers_come_from_the_secret_store_and_never_reach_a_sandbox():
    aws, ali = root("aws"), root("alicloud")
    assert re.search(
        r"OTEL_EXPORTER_OTLP_HEADERS = data\.aws_secretsmanager_secret_version\.otel_headers\[0\]",
        expr(aws.locals["secret_environment"]),
    )
    assert re.search(
        r"OTEL_EXPORTER_OTLP_HEADERS = sensitive\(data\.alicloud_kms_secret_versions\.otel_headers",
        expr(ali.locals["secret_environment"]),
    )
    # the sandboxes' tool servers: their own endpoint, and no secret of the functions'
    sandbox_env = expr(
        ali.resource["alicloud_fcv3_function"]["sandbox_type"]["environment_variables"]
    )
    assert "module.environment.tool_server_environment" in sandbox_env
    assert "secret_environment" not in sandbox_env
    assert expr(ali.module["environment"]["tool_server_otlp_endpoint"]) == (
        "var.sandbox_otel_exporter_otlp_endpoint"
    )

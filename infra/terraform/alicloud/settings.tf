# What every function is told beyond its store (modules/function_environment): identity
# (AUTH_*), logs and traces (LOG_FORMAT, OTEL_*), turn budgets and quotas. The two secrets
# among them come from KMS Secrets Manager, read at plan time, never from a variable's value.

data "alicloud_kms_secret_versions" "otel_headers" {
  count          = var.otel_exporter_otlp_headers_secret_name == null ? 0 : 1
  secret_name    = var.otel_exporter_otlp_headers_secret_name
  version_stage  = "ACSCurrent"
  enable_details = true
}

data "alicloud_kms_secret_versions" "auth_jwt_secret" {
  count          = var.auth_jwt_secret_name == null ? 0 : 1
  secret_name    = var.auth_jwt_secret_name
  version_stage  = "ACSCurrent"
  enable_details = true
}

module "environment" {
  source = "../modules/function_environment"

  name_prefix = var.name_prefix
  functions   = var.deploy_api_functions ? ["query", "state", "sandbox"] : []

  auth = {
    mode        = var.auth_mode
    jwks_url    = var.auth_jwks_url
    issuer      = var.auth_issuer
    audience    = var.auth_audience
    user_claim  = var.auth_user_claim
    admin_scope = var.auth_admin_scope
  }
  cors_allow_origins = var.cors_allow_origins

  observability = {
    log_format         = var.log_format
    otlp_endpoint      = var.otel_exporter_otlp_endpoint
    traces_sampler     = var.otel_traces_sampler
    traces_sampler_arg = var.otel_traces_sampler_arg
    resource_attributes = merge(
      {
        "cloud.provider"    = "alibaba_cloud"
        "cloud.platform"    = "alibaba_cloud_fc"
        "cloud.region"      = var.region
        "service.namespace" = var.name_prefix
      },
      var.otel_resource_attributes,
    )
  }
  tool_server_otlp_endpoint = var.sandbox_otel_exporter_otlp_endpoint

  limits = {
    turn_max_seconds          = var.turn_max_seconds
    turn_max_model_calls      = var.turn_max_model_calls
    turn_max_tool_calls       = var.turn_max_tool_calls
    turn_max_output_tokens    = var.turn_max_output_tokens
    turn_max_output_chars     = var.turn_max_output_chars
    user_max_turns_per_minute = var.user_max_turns_per_minute
    user_max_sandboxes        = var.user_max_sandboxes
    max_request_bytes         = var.max_request_bytes
  }
}

locals {
  # the same for the query, state and sandbox functions (never the sandboxes); empty, and
  # nothing marked sensitive, when neither is set
  secret_environment = merge(
    var.otel_exporter_otlp_headers_secret_name == null ? {} : {
      OTEL_EXPORTER_OTLP_HEADERS = sensitive(data.alicloud_kms_secret_versions.otel_headers[0].versions[0].secret_data)
    },
    var.auth_jwt_secret_name == null ? {} : {
      AUTH_JWT_SECRET = sensitive(data.alicloud_kms_secret_versions.auth_jwt_secret[0].versions[0].secret_data)
    },
  )
}

# A dev key beside the OIDC keys lets anyone holding it act as any user: say so at every plan.
check "no_development_jwt_secret" {
  assert {
    condition     = var.auth_jwt_secret_name == null
    error_message = "auth_jwt_secret_name is set: the functions accept HS256 tokens signed with a shared development key. Use auth_jwks_url alone outside development."
  }
}

# What every function of one deployment is told beyond its store, in one place for both
# roots: who may call (AUTH_*), how it reports (LOG_FORMAT, OTEL_*), and how far a turn or a
# user may go (TURN_*, USER_MAX_*, MAX_REQUEST_BYTES). A setting left null is not set at all,
# so the function keeps the code's own default. Secrets (OTEL_EXPORTER_OTLP_HEADERS,
# AUTH_JWT_SECRET) are not handled here: each root reads them from its secret store.
#
# This module uses no provider, so tests evaluate it with `terraform apply` as it is.

terraform {
  required_version = ">= 1.5"
}

variable "name_prefix" {
  description = "Prefix of the function names: OTEL_SERVICE_NAME of function f is <prefix>-<f>, its name on the platform."
  type        = string
}

variable "functions" {
  description = "The functions deployed (query, state, sandbox); each gets an entry in the outputs."
  type        = list(string)
}

variable "auth" {
  description = "Identity settings (AUTH_MODE, AUTH_JWKS_URL, AUTH_ISSUER, AUTH_AUDIENCE, AUTH_USER_CLAIM, AUTH_ADMIN_SCOPE); null fields are left unset."
  type = object({
    mode        = string
    jwks_url    = optional(string)
    issuer      = optional(string)
    audience    = optional(string)
    user_claim  = optional(string)
    admin_scope = optional(string)
  })
}

variable "cors_allow_origins" {
  description = "Origins whose web pages may call the functions (CORS_ALLOW_ORIGINS, e.g. the playground's http://127.0.0.1:8095); empty: no CORS answers."
  type        = list(string)
  default     = []
}

variable "observability" {
  description = "LOG_FORMAT and the OpenTelemetry SDK's variables; with no otlp_endpoint no OTEL_EXPORTER_* is set and tracing stays off."
  type = object({
    log_format          = string
    otlp_endpoint       = optional(string)
    traces_sampler      = optional(string)
    traces_sampler_arg  = optional(number)
    resource_attributes = optional(map(string), {})
  })
}

variable "tool_server_otlp_endpoint" {
  description = "OTEL_EXPORTER_OTLP_ENDPOINT of the tool servers in the sandboxes; null sets no OTEL_* there. No header secret goes with it: code in a sandbox can read its environment."
  type        = string
  default     = null
}

variable "limits" {
  description = "Turn budgets and quotas (null: the code's default): turn_max_* and user_max_turns_per_minute for the query function, user_max_sandboxes for the sandbox function, max_request_bytes per function."
  type = object({
    turn_max_seconds          = optional(number)
    turn_max_model_calls      = optional(number)
    turn_max_tool_calls       = optional(number)
    turn_max_output_tokens    = optional(number)
    turn_max_output_chars     = optional(number)
    user_max_turns_per_minute = optional(number)
    user_max_sandboxes        = optional(number)
    max_request_bytes         = optional(map(number), {})
  })
  default = {}
}

locals {
  auth = {
    AUTH_MODE        = var.auth.mode
    AUTH_JWKS_URL    = var.auth.jwks_url
    AUTH_ISSUER      = var.auth.issuer
    AUTH_AUDIENCE    = var.auth.audience
    AUTH_USER_CLAIM  = var.auth.user_claim
    AUTH_ADMIN_SCOPE = var.auth.admin_scope
    # pages elsewhere see answers only with a JWT of their own: no cookies are honoured
    CORS_ALLOW_ORIGINS = length(var.cors_allow_origins) > 0 ? join(",", var.cors_allow_origins) : null
  }

  # OTEL_RESOURCE_ATTRIBUTES: the SDK's key1=value1,key2=value2 list
  resource_attributes = join(",", [for k, v in var.observability.resource_attributes : "${k}=${v}"])

  otel = {
    OTEL_EXPORTER_OTLP_ENDPOINT = var.observability.otlp_endpoint
    OTEL_TRACES_SAMPLER         = var.observability.traces_sampler
    OTEL_TRACES_SAMPLER_ARG     = var.observability.traces_sampler_arg
    OTEL_RESOURCE_ATTRIBUTES    = local.resource_attributes == "" ? null : local.resource_attributes
  }

  # per function, before nulls are dropped
  settings = {
    for f in var.functions : f => merge(
      local.auth,
      local.otel,
      {
        LOG_FORMAT        = var.observability.log_format
        OTEL_SERVICE_NAME = "${var.name_prefix}-${f}"
        MAX_REQUEST_BYTES = lookup(var.limits.max_request_bytes, f, null)
      },
      f == "query" ? {
        TURN_MAX_SECONDS          = var.limits.turn_max_seconds
        TURN_MAX_MODEL_CALLS      = var.limits.turn_max_model_calls
        TURN_MAX_TOOL_CALLS       = var.limits.turn_max_tool_calls
        TURN_MAX_OUTPUT_TOKENS    = var.limits.turn_max_output_tokens
        TURN_MAX_OUTPUT_CHARS     = var.limits.turn_max_output_chars
        USER_MAX_TURNS_PER_MINUTE = var.limits.user_max_turns_per_minute
      } : {},
      f == "sandbox" ? { USER_MAX_SANDBOXES = var.limits.user_max_sandboxes } : {},
    )
  }

  tool_server = merge(
    { LOG_FORMAT = var.observability.log_format },
    var.tool_server_otlp_endpoint == null ? {} : merge(local.otel, {
      OTEL_EXPORTER_OTLP_ENDPOINT = var.tool_server_otlp_endpoint
    }),
  )
}

output "environment" {
  description = "Function => its environment variables from these settings (strings; unset settings absent)."
  value = {
    for f, settings in local.settings : f => { for k, v in settings : k => tostring(v) if v != null }
  }
}

output "tool_server_environment" {
  description = "Environment of the tool servers in the sandboxes: LOG_FORMAT, and the OTel settings when tool_server_otlp_endpoint is set (OTEL_SERVICE_NAME is the caller's: one per sandbox type)."
  value       = { for k, v in local.tool_server : k => tostring(v) if v != null }
}

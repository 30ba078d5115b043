# --- where and what --------------------------------------------------------------------

variable "region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "us-east-1"
}

variable "name_prefix" {
  description = "Prefix of every name: functions are <prefix>-query, <prefix>-state, <prefix>-sandbox."
  type        = string
  default     = "agentscope"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,30}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix: 2-32 lowercase letters, digits and hyphens, starting with a letter."
  }
  validation {
    # without state_bucket_name the bucket is named from bucket_prefix "<name_prefix>-state-",
    # which the AWS provider takes up to 37 characters
    condition     = var.state_bucket_name != null || length(var.name_prefix) <= 30
    error_message = "name_prefix: at most 30 characters unless state_bucket_name is set (the state bucket's name prefix <name_prefix>-state- may have 37 at most)."
  }
}

variable "manifest_path" {
  description = "Path of the manifest `make package` writes; null means dist/manifest.json at the repository root."
  type        = string
  default     = null
}

variable "python_version" {
  description = "Lambda Python runtime of the artifacts to deploy. 3.11 zips carry bytecode and start faster."
  type        = string
  default     = "3.11"

  validation {
    condition     = contains(["3.11", "3.12"], var.python_version)
    error_message = "python_version must be \"3.11\" or \"3.12\" (the versions `make package` builds)."
  }
}

variable "architecture" {
  description = "Lambda CPU architecture of the artifacts to deploy: x86_64 or arm64."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be \"x86_64\" or \"arm64\"."
  }
}

variable "tags" {
  description = "Tags added to every resource (besides Project = agentscope-faas)."
  type        = map(string)
  default     = {}
}

# --- state bucket ----------------------------------------------------------------------

variable "state_bucket_name" {
  description = "Name of the S3 bucket for sessions and the sandbox registry; null lets AWS pick a unique <prefix>-state-... name."
  type        = string
  default     = null

  validation {
    condition     = var.state_bucket_name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.state_bucket_name))
    error_message = "state_bucket_name must be a valid S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)."
  }
}

variable "state_prefix" {
  description = "Key prefix of all state in the bucket (STORE_URL = s3://<bucket>/<prefix>); the functions may touch nothing outside it."
  type        = string
  default     = "agentscope"

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$", var.state_prefix))
    error_message = "state_prefix: one or more path segments of letters, digits, '.', '_', '-', without leading or trailing '/'."
  }
}

variable "force_destroy_bucket" {
  description = "Let `terraform destroy` delete the state bucket with every session in it."
  type        = bool
  default     = false
}

variable "session_expiry_days" {
  description = "Delete objects under <prefix>/users/ (sessions, history, state, memory) this many days after they were last written; 0 keeps them forever. Objects of a session still in use are not rewritten, so pick a value longer than any conversation should last."
  type        = number
  default     = 0

  validation {
    condition     = var.session_expiry_days >= 0 && floor(var.session_expiry_days) == var.session_expiry_days
    error_message = "session_expiry_days must be a whole number >= 0."
  }
}

variable "sandbox_record_expiry_days" {
  description = "Delete sandbox registry records (<prefix>/sandboxes/, <prefix>/sandbox-pool/) this many days after their last renewal; 0 keeps them. Each use renews a record and FC ends a session within 6 hours, so 1 day only removes records of sandboxes that are gone."
  type        = number
  default     = 1

  validation {
    condition     = var.sandbox_record_expiry_days >= 0 && floor(var.sandbox_record_expiry_days) == var.sandbox_record_expiry_days
    error_message = "sandbox_record_expiry_days must be a whole number >= 0."
  }
}

variable "noncurrent_version_expiry_days" {
  description = "Days S3 keeps an overwritten or deleted object's old version (versioning is on; every compare-and-set update leaves one)."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_expiry_days >= 1 && floor(var.noncurrent_version_expiry_days) == var.noncurrent_version_expiry_days
    error_message = "noncurrent_version_expiry_days must be a whole number >= 1."
  }
}

# --- functions -------------------------------------------------------------------------

variable "function_url_auth_type" {
  description = "Authorization of each function's URL. NONE (the default of query and state): anyone may reach the function, which lets only callers with a valid JWT in (auth_mode \"jwt\"); a browser or any OIDC client calls it with `Authorization: Bearer <token>`. AWS_IAM (the default of sandbox): callers sign with SigV4, holding lambda:InvokeFunctionUrl and lambda:InvokeFunction; the signature takes the Authorization header, so it is the door for services, such as the query function calling the sandbox function (SANDBOX_URL_AUTH=aws_iam). A NONE door needs auth_mode \"jwt\"."
  type = object({
    query   = optional(string, "NONE")
    state   = optional(string, "NONE")
    sandbox = optional(string, "AWS_IAM")
  })
  # spelt out (the optional() defaults say the same) for tools that read defaults only
  default = { query = "NONE", state = "NONE", sandbox = "AWS_IAM" }

  validation {
    condition     = alltrue([for door in values(var.function_url_auth_type) : contains(["AWS_IAM", "NONE"], door)])
    error_message = "function_url_auth_type: each function's door is \"AWS_IAM\" or \"NONE\"."
  }
  validation {
    condition     = var.auth_mode == "jwt" || alltrue([for door in values(var.function_url_auth_type) : door == "AWS_IAM"])
    error_message = "A NONE Function URL with auth_mode \"none\" would let anyone act as any user: keep auth_mode \"jwt\" (JWT in front)."
  }
}

variable "query_streaming" {
  description = "Stream the query function's SSE through the Lambda Web Adapter (Function URL invoke mode RESPONSE_STREAM); false serves it buffered through mangum (events arrive at the end, 6 MB cap)."
  type        = bool
  default     = true
}

variable "lambda_web_adapter_layer_version" {
  description = "Version of the AWS Lambda Web Adapter layer (LambdaAdapterLayerX86 / LambdaAdapterLayerArm64 of account 753240598075) used when query_streaming is true."
  type        = number
  default     = 26
}

variable "lambda_web_adapter_layer_arn" {
  description = "Full ARN of the Lambda Web Adapter layer, for regions or partitions the default pattern does not cover; null derives it from region, architecture and version."
  type        = string
  default     = null
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps each function's logs (0: forever). A year by default: long enough to look back at a bill or an incident."
  type        = number
  default     = 365

  validation {
    condition     = contains([0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be 0 (forever) or one of CloudWatch's retention values (1, 3, 5, 7, 14, 30, 60, 90, ..., 365, ...)."
  }
}

variable "environment" {
  description = "More environment variables per function, e.g. { query = { MODEL_BASE_URL = \"...\", MODEL_NAME = \"qwen-plus\" } }. STORE_URL, SANDBOX_*, the adapter's variables and those of the settings below (LOG_FORMAT, OTEL_*, TURN_*, ...) are set by this configuration and win; AUTH_* and OTEL_EXPORTER_OTLP_HEADERS are refused here (identity comes from the auth_* variables, secrets from Secrets Manager)."
  type        = map(map(string))
  default     = {}

  validation {
    condition     = alltrue([for f in keys(var.environment) : contains(["query", "state", "sandbox"], f)])
    error_message = "environment keys must be function names: query, state, sandbox."
  }
  validation {
    # Lambda refuses its reserved names (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html)
    condition = alltrue(flatten([
      for env in values(var.environment) : [
        for k in keys(env) : can(regex("^[A-Za-z][A-Za-z0-9_]*$", k)) && !contains([
          "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
          "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
          "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
          "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
          "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
        ], k)
      ]
    ]))
    error_message = "Variable names must start with a letter, hold only letters, digits and '_', and not be one Lambda reserves (AWS_REGION, AWS_ACCESS_KEY_ID, LAMBDA_TASK_ROOT, ...)."
  }
  validation {
    condition = alltrue(flatten([
      for env in values(var.environment) : [for k in keys(env) : !startswith(k, "AUTH_") && k != "OTEL_EXPORTER_OTLP_HEADERS"]
    ]))
    error_message = "AUTH_* and OTEL_EXPORTER_OTLP_HEADERS cannot be set through environment: use the auth_* variables and otel_exporter_otlp_headers_secret_arn (a secret never sits in a variable)."
  }
}

variable "model_api_key" {
  description = "MODEL_API_KEY for the query function (the OpenAI-compatible model's key); null leaves it unset. Stored in the Lambda configuration and the Terraform state."
  type        = string
  default     = null
  sensitive   = true
}

# --- sandboxes -------------------------------------------------------------------------

variable "enable_sandbox" {
  description = "Deploy the sandbox function (which launches sandboxes on Function Compute or AgentRun) and its credentials secret; false leaves both out and the query function without SANDBOX_URL."
  type        = bool
  default     = true
}

variable "sandbox_backend" {
  description = "Where the sandbox function launches sandboxes: \"fc\" (Function Compute 3.0 sessions) or \"agentrun\"."
  type        = string
  default     = "fc"

  validation {
    condition     = contains(["fc", "agentrun"], var.sandbox_backend)
    error_message = "sandbox_backend must be \"fc\" or \"agentrun\" (Docker is not available on Lambda)."
  }
}

variable "fc_region" {
  description = "Alibaba Cloud region of the sandbox functions (FC_REGION)."
  type        = string
  default     = "cn-hangzhou"
}

variable "fc_account_id" {
  description = "Alibaba Cloud account ID that owns the sandbox functions (FC_ACCOUNT_ID); required with enable_sandbox (the alicloud root's fc_account_id output)."
  type        = string
  default     = null

  validation {
    condition     = var.fc_account_id == null || can(regex("^[0-9]+$", var.fc_account_id))
    error_message = "fc_account_id must be the numeric Alibaba Cloud account ID."
  }
}

variable "fc_sandbox_function_prefix" {
  description = "Name prefix of the sandbox functions on FC (function = prefix + sandbox type), as deployed by the alicloud root."
  type        = string
  default     = "agentscope-sandbox-"
}

variable "alibaba_credentials_secret_arn" {
  description = "ARN of an existing Secrets Manager secret holding {\"access_key_id\", \"access_key_secret\"} of the Alibaba Cloud RAM user that launches sandboxes; null creates an empty secret whose value you set (outside Terraform)."
  type        = string
  default     = null

  validation {
    condition     = var.alibaba_credentials_secret_arn == null || can(regex("^arn:[a-z-]+:secretsmanager:", var.alibaba_credentials_secret_arn))
    error_message = "alibaba_credentials_secret_arn must be a Secrets Manager secret ARN."
  }
}

variable "sandbox_internet_access" {
  description = "Whether sandboxes may reach the internet (SANDBOX_INTERNET_ACCESS, CreateSession's allowInternetAccess)."
  type        = bool
  default     = true
}

# --- who may call: end users' JWTs (AUTH_*) ----------------------------------------------

variable "auth_mode" {
  description = "How the functions tell who is calling (AUTH_MODE, given to query, state and sandbox). \"jwt\" (the default): each end-user request carries `Authorization: Bearer <JWT>` from your OIDC provider (Cognito, Auth0, Alibaba Cloud IDaaS, ...), checked with the keys at auth_jwks_url; the user is the token's auth_user_claim and may touch only their own sessions and sandboxes. \"none\" is for local runs only and refused here: a function without AUTH_MODE=jwt answers callers on 127.0.0.1 alone, so behind a Function URL it would refuse every request. Your own services call with a token of their own (client credentials), beside a SigV4 signature where their door is AWS_IAM (X-Forwarded-Authorization)."
  type        = string
  default     = "jwt"

  validation {
    condition     = contains(["jwt", "none"], var.auth_mode)
    error_message = "auth_mode must be \"jwt\" or \"none\"."
  }
  validation {
    condition     = var.auth_mode == "none" || var.auth_jwks_url != null || var.auth_jwt_secret_arn != null
    error_message = "auth_mode \"jwt\" needs the keys tokens are signed with: auth_jwks_url (your OIDC provider's jwks_uri), or for development auth_jwt_secret_arn."
  }
  validation {
    # AUTH_MODE=none answers only a loopback peer and Host (functions/runtime/auth/local.py)
    condition     = var.auth_mode == "jwt"
    error_message = "auth_mode \"none\" cannot be deployed: without AUTH_MODE=jwt a function answers only callers on 127.0.0.1 (make local), so every request through a Function URL, signed or not, would get 403. Keep \"jwt\": services sign with SigV4 where their door is AWS_IAM and send their own token in X-Forwarded-Authorization."
  }
}

variable "auth_jwks_url" {
  description = "AUTH_JWKS_URL: your OIDC provider's JSON Web Key Set, the jwks_uri of its /.well-known/openid-configuration; e.g. https://cognito-idp.<region>.amazonaws.com/<user pool id>/.well-known/jwks.json, https://<tenant>.auth0.com/.well-known/jwks.json."
  type        = string
  default     = null

  validation {
    condition     = var.auth_jwks_url == null || can(regex("^https://[^/]+", var.auth_jwks_url))
    error_message = "auth_jwks_url must be an https:// URL."
  }
}

variable "auth_issuer" {
  description = "AUTH_ISSUER: the `iss` every token must carry (the discovery document's issuer, e.g. https://cognito-idp.<region>.amazonaws.com/<user pool id>); null checks no issuer."
  type        = string
  default     = null

  validation {
    condition     = var.auth_issuer == null || try(length(trimspace(var.auth_issuer)) > 0, false)
    error_message = "auth_issuer must not be empty (null checks no issuer)."
  }
}

variable "auth_audience" {
  description = "AUTH_AUDIENCE: the `aud` every token must carry (Auth0: your API's identifier; Cognito ID tokens: the app client id; Cognito access tokens carry none, so leave it null for them); null checks no audience."
  type        = string
  default     = null

  validation {
    condition     = var.auth_audience == null || try(length(trimspace(var.auth_audience)) > 0, false)
    error_message = "auth_audience must not be empty (null checks no audience)."
  }
}

variable "auth_user_claim" {
  description = "AUTH_USER_CLAIM: the token claim that names the user (their sessions and sandboxes are theirs alone)."
  type        = string
  default     = "sub"

  validation {
    condition     = can(regex("^\\S+$", var.auth_user_claim))
    error_message = "auth_user_claim must be a claim name (no spaces)."
  }
}

variable "cors_allow_origins" {
  description = "CORS_ALLOW_ORIGINS: origins whose web pages may call the functions with a user's JWT, e.g. [\"http://127.0.0.1:8095\"] for `agentscope-faas playground` against this deployment, or your own front end's. \"*\" allows any page (each still needs a token). Empty: browsers let no page elsewhere read an answer."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for o in var.cors_allow_origins : can(regex("^(\\*|https?://[^/\\s,*]+)$", o))])
    error_message = "cors_allow_origins holds origins (scheme://host[:port], no path, no * in the host: the functions match origins exactly) or \"*\"."
  }
}

variable "auth_admin_scope" {
  description = "AUTH_ADMIN_SCOPE: a token carrying this scope may act for any user (admin routes, stopping others' turns). Cognito names custom scopes <resource server>/<scope>, e.g. agentscope/admin."
  type        = string
  default     = "agentscope:admin"

  validation {
    condition     = can(regex("^[!#-\\[\\]-~]+$", var.auth_admin_scope))
    error_message = "auth_admin_scope must be one OAuth scope token (printable ASCII, no spaces, quotes or backslashes)."
  }
}

variable "auth_jwt_secret_arn" {
  description = "Development only: a Secrets Manager secret whose value is an HS256 key (AUTH_JWT_SECRET) the functions also accept tokens signed with, e.g. those `python -m local_emulator token` mints. Terraform reads it at plan time; like all environment it then sits in the function configuration and the Terraform state. Production uses auth_jwks_url alone."
  type        = string
  default     = null

  validation {
    condition     = var.auth_jwt_secret_arn == null || can(regex("^arn:[a-z-]+:secretsmanager:", var.auth_jwt_secret_arn))
    error_message = "auth_jwt_secret_arn must be a Secrets Manager secret ARN."
  }
}

# --- limits: what the deployment, a turn and a user may spend ----------------------------

variable "reserved_concurrency" {
  description = "Reserved concurrent executions per function: the most invocations at once (a query invocation is one streaming turn), reserved out of the account's Lambda pool; requests beyond it are throttled (429). 0 stops a function (a kill switch), -1 lifts its limit. Lambda keeps 100 of an account's executions unreserved, so an account whose quota is lower (new accounts can start lower) must use -1 until the quota is raised."
  type = object({
    query   = optional(number, 10)
    state   = optional(number, 10)
    sandbox = optional(number, 10)
  })
  # spelt out (the optional() defaults say the same) for tools that read defaults only
  default = { query = 10, state = 10, sandbox = 10 }

  validation {
    condition     = alltrue([for n in values(var.reserved_concurrency) : n >= -1 && floor(n) == n])
    error_message = "reserved_concurrency: whole numbers >= -1 (-1: no limit, 0: stopped)."
  }
}

variable "turn_max_seconds" {
  description = "TURN_MAX_SECONDS (query): a turn's wall-clock budget; a turn that reaches it ends `incomplete` with error.code budget_exceeded, its output kept. null: the code's default. The function's own timeout (the manifest's) bounds a turn in any case."
  type        = number
  default     = null

  validation {
    condition     = var.turn_max_seconds == null || try(var.turn_max_seconds >= 1 && floor(var.turn_max_seconds) == var.turn_max_seconds, false)
    error_message = "turn_max_seconds must be null or a whole number >= 1."
  }
}

variable "turn_max_model_calls" {
  description = "TURN_MAX_MODEL_CALLS (query): model calls one turn may make before it ends `incomplete` (budget_exceeded); null: the code's default."
  type        = number
  default     = null

  validation {
    condition     = var.turn_max_model_calls == null || try(var.turn_max_model_calls >= 1 && floor(var.turn_max_model_calls) == var.turn_max_model_calls, false)
    error_message = "turn_max_model_calls must be null or a whole number >= 1."
  }
}

variable "turn_max_tool_calls" {
  description = "TURN_MAX_TOOL_CALLS (query): tool calls one turn may make before it ends `incomplete` (budget_exceeded); null: the code's default."
  type        = number
  default     = null

  validation {
    condition     = var.turn_max_tool_calls == null || try(var.turn_max_tool_calls >= 1 && floor(var.turn_max_tool_calls) == var.turn_max_tool_calls, false)
    error_message = "turn_max_tool_calls must be null or a whole number >= 1."
  }
}

variable "turn_max_output_tokens" {
  description = "TURN_MAX_OUTPUT_TOKENS (query): model output tokens one turn may use before it ends `incomplete` (budget_exceeded); null: the code's default."
  type        = number
  default     = null

  validation {
    condition     = var.turn_max_output_tokens == null || try(var.turn_max_output_tokens >= 1 && floor(var.turn_max_output_tokens) == var.turn_max_output_tokens, false)
    error_message = "turn_max_output_tokens must be null or a whole number >= 1."
  }
}

variable "turn_max_output_chars" {
  description = "TURN_MAX_OUTPUT_CHARS (query): characters of message text one turn may stream, counted as the agent makes them, before it ends `incomplete` (budget_exceeded); null: the code's default."
  type        = number
  default     = null

  validation {
    condition     = var.turn_max_output_chars == null || try(var.turn_max_output_chars >= 1 && floor(var.turn_max_output_chars) == var.turn_max_output_chars, false)
    error_message = "turn_max_output_chars must be null or a whole number >= 1."
  }
}

variable "user_max_turns_per_minute" {
  description = "USER_MAX_TURNS_PER_MINUTE (query): turns one user may start a minute, counted across instances through the store; more get 429 with Retry-After. null: no quota (the code's default)."
  type        = number
  default     = null

  validation {
    condition     = var.user_max_turns_per_minute == null || try(var.user_max_turns_per_minute >= 1 && floor(var.user_max_turns_per_minute) == var.user_max_turns_per_minute, false)
    error_message = "user_max_turns_per_minute must be null or a whole number >= 1."
  }
}

variable "user_max_sandboxes" {
  description = "USER_MAX_SANDBOXES (sandbox): live sandboxes one user may hold; more get 429 with Retry-After. null: no quota (the code's default)."
  type        = number
  default     = null

  validation {
    condition     = var.user_max_sandboxes == null || try(var.user_max_sandboxes >= 1 && floor(var.user_max_sandboxes) == var.user_max_sandboxes, false)
    error_message = "user_max_sandboxes must be null or a whole number >= 1."
  }
}

variable "max_request_bytes" {
  description = "MAX_REQUEST_BYTES per function: larger request bodies are refused (413); null: the code's default. A Function URL takes at most 6 MB anyway."
  type = object({
    query   = optional(number)
    state   = optional(number)
    sandbox = optional(number)
  })
  default = {}

  validation {
    condition     = alltrue([for n in values(var.max_request_bytes) : n == null || try(n >= 1024 && n <= 6291456 && floor(n) == n, false)])
    error_message = "max_request_bytes: null or whole numbers from 1024 to 6291456 (Lambda's 6 MB)."
  }
}

# --- observability: logs and traces --------------------------------------------------------

variable "log_format" {
  description = "LOG_FORMAT of every function: \"json\" (one JSON object per request: request id, trace id, user, session, route, status, duration) or \"text\"."
  type        = string
  default     = "json"

  validation {
    condition     = contains(["json", "text"], var.log_format)
    error_message = "log_format must be \"json\" or \"text\"."
  }
}

variable "xray_tracing" {
  description = "X-Ray active tracing of every function (tracing_config Active; each role may then upload segments, an action X-Ray grants on \"*\" only); the functions' OpenTelemetry spans link to the X-Ray trace header. X-Ray bills recorded traces beyond its free tier; false: PassThrough."
  type        = bool
  default     = true
}

variable "otel_exporter_otlp_endpoint" {
  description = "OTEL_EXPORTER_OTLP_ENDPOINT of every function: an OTLP/HTTP receiver (a collector, Honeycomb, Grafana, Langfuse, ...) that gets one trace per turn. null: no exporter, and the functions import nothing of OpenTelemetry."
  type        = string
  default     = null

  validation {
    condition     = var.otel_exporter_otlp_endpoint == null || can(regex("^https?://[^/]+", var.otel_exporter_otlp_endpoint))
    error_message = "otel_exporter_otlp_endpoint must be an http(s):// URL."
  }
}

variable "otel_exporter_otlp_headers_secret_arn" {
  description = "A Secrets Manager secret whose value is OTEL_EXPORTER_OTLP_HEADERS (e.g. `x-honeycomb-team=...` or `Authorization=Basic ...`, comma-separated key=value pairs), read by Terraform at plan time into every function's environment; null sets no headers."
  type        = string
  default     = null

  validation {
    condition     = var.otel_exporter_otlp_headers_secret_arn == null || can(regex("^arn:[a-z-]+:secretsmanager:", var.otel_exporter_otlp_headers_secret_arn))
    error_message = "otel_exporter_otlp_headers_secret_arn must be a Secrets Manager secret ARN."
  }
}

variable "otel_traces_sampler" {
  description = "OTEL_TRACES_SAMPLER: always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio; null: the SDK's default (parentbased_always_on)."
  type        = string
  default     = null

  validation {
    condition     = var.otel_traces_sampler == null || contains(["always_on", "always_off", "traceidratio", "parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio"], coalesce(var.otel_traces_sampler, "-"))
    error_message = "otel_traces_sampler must be one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio."
  }
}

variable "otel_traces_sampler_arg" {
  description = "OTEL_TRACES_SAMPLER_ARG: the share of traces the ratio samplers keep, 0 to 1; null: the SDK's default (1)."
  type        = number
  default     = null

  validation {
    condition     = var.otel_traces_sampler_arg == null || try(var.otel_traces_sampler_arg >= 0 && var.otel_traces_sampler_arg <= 1, false)
    error_message = "otel_traces_sampler_arg must be null or between 0 and 1."
  }
}

variable "otel_resource_attributes" {
  description = "More OTEL_RESOURCE_ATTRIBUTES, e.g. { \"deployment.environment.name\" = \"prod\" }, over the ones set here (cloud.provider, cloud.platform, cloud.region, service.namespace = name_prefix)."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.otel_resource_attributes : can(regex("^[^,=\\s]+$", k)) && can(regex("^[^,=]+$", v))])
    error_message = "otel_resource_attributes: keys without spaces, and neither keys nor values may hold ',' or '=' (the variable's separators)."
  }
}

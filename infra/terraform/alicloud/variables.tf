# --- where and what --------------------------------------------------------------------

variable "region" {
  description = "Alibaba Cloud region to deploy to."
  type        = string
  default     = "cn-hangzhou"
}

variable "name_prefix" {
  description = "Prefix of every name: functions are <prefix>-query, <prefix>-state, <prefix>-sandbox."
  type        = string
  default     = "agentscope"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,30}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix: 2-32 lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "manifest_path" {
  description = "Path of the manifest `make package` writes; null means dist/manifest.json at the repository root."
  type        = string
  default     = null
}

variable "deploy_api_functions" {
  description = "Deploy the query, state and sandbox functions and the state bucket; false deploys only the sandbox container functions (for an AWS deployment whose sandbox function launches sandboxes here)."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags for the state bucket."
  type        = map(string)
  default     = {}
}

# --- state bucket ----------------------------------------------------------------------

variable "state_bucket_name" {
  description = "Name of the OSS bucket for sessions, the sandbox registry and the uploaded zips; null picks <prefix>-state-<random>."
  type        = string
  default     = null

  validation {
    condition     = var.state_bucket_name == null || can(regex("^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$", var.state_bucket_name))
    error_message = "state_bucket_name must be a valid OSS bucket name (3-63 lowercase letters, digits, hyphens)."
  }
}

variable "state_prefix" {
  description = "Key prefix of all state in the bucket (STORE_URL = oss://<bucket>/<prefix>); the functions may touch nothing outside it."
  type        = string
  default     = "agentscope"

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$", var.state_prefix))
    error_message = "state_prefix: one or more path segments of letters, digits, '.', '_', '-', without leading or trailing '/'."
  }
}

variable "oss_endpoint" {
  description = "OSS endpoint the functions use (OSS_ENDPOINT); null means the region's internal endpoint, https://oss-<region>-internal.aliyuncs.com."
  type        = string
  default     = null
}

variable "force_destroy_bucket" {
  description = "Let `terraform destroy` delete the state bucket with every session in it."
  type        = bool
  default     = false
}

variable "session_expiry_days" {
  description = "Delete objects under <prefix>/users/ (sessions, history, state, memory) this many days after they were last written; 0 keeps them forever. Objects of a session still in use are not rewritten, so pick a value longer than any conversation should last. On this versioned bucket an expired key holds a delete marker, which OSS does not append to, until noncurrent_version_expiry_days later: a session id reused within that window cannot be written."
  type        = number
  default     = 0

  validation {
    condition     = var.session_expiry_days >= 0 && floor(var.session_expiry_days) == var.session_expiry_days
    error_message = "session_expiry_days must be a whole number >= 0."
  }
}

variable "sandbox_record_expiry_days" {
  description = "Delete sandbox registry records (<prefix>/sandboxes/, <prefix>/sandbox-pool/) this many days after their last renewal; 0 keeps them. Each use renews a record and an FC session lives at most 6 hours, so 1 day only removes records of sandboxes that are gone."
  type        = number
  default     = 1

  validation {
    condition     = var.sandbox_record_expiry_days >= 0 && floor(var.sandbox_record_expiry_days) == var.sandbox_record_expiry_days
    error_message = "sandbox_record_expiry_days must be a whole number >= 0."
  }
}

variable "noncurrent_version_expiry_days" {
  description = "Days OSS keeps an overwritten or deleted object's old version (versioning is on)."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_expiry_days >= 1 && floor(var.noncurrent_version_expiry_days) == var.noncurrent_version_expiry_days
    error_message = "noncurrent_version_expiry_days must be a whole number >= 1."
  }
}

# --- functions -------------------------------------------------------------------------

variable "http_trigger_auth_type" {
  description = "authType of each function's HTTP trigger. \"anonymous\" (the default of query and state): FC lets every request through to the function, which lets only callers with a valid JWT in (auth_mode \"jwt\"); a browser or any OIDC client calls it with `Authorization: Bearer <token>`. \"function\" (the default of sandbox): callers sign requests with an Alibaba Cloud key (ACS3-HMAC-SHA256 in the Authorization header), the door for services such as the query function calling the sandbox function (SANDBOX_URL_AUTH=fc). An anonymous trigger needs auth_mode \"jwt\"."
  type = object({
    query   = optional(string, "anonymous")
    state   = optional(string, "anonymous")
    sandbox = optional(string, "function")
  })
  # spelt out (the optional() defaults say the same) for tools that read defaults only
  default = { query = "anonymous", state = "anonymous", sandbox = "function" }

  validation {
    condition     = alltrue([for door in values(var.http_trigger_auth_type) : contains(["anonymous", "function"], door)])
    error_message = "http_trigger_auth_type: each function's door is \"anonymous\" or \"function\"."
  }
  validation {
    condition     = var.auth_mode == "jwt" || alltrue([for door in values(var.http_trigger_auth_type) : door == "function"])
    error_message = "An anonymous trigger with auth_mode \"none\" would let anyone act as any user: keep auth_mode \"jwt\" (JWT in front)."
  }
}

variable "http_trigger_methods" {
  description = "HTTP methods the functions' triggers accept."
  type        = list(string)
  default     = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]

  validation {
    condition     = length(var.http_trigger_methods) > 0 && alltrue([for m in var.http_trigger_methods : contains(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"], m)])
    error_message = "http_trigger_methods: a non-empty list of GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS."
  }
}

variable "instance_concurrency" {
  description = "Requests one instance of the query, state or sandbox function serves at once (the app is asynchronous)."
  type        = number
  default     = 10

  validation {
    condition     = var.instance_concurrency >= 1 && var.instance_concurrency <= 200
    error_message = "instance_concurrency must be between 1 and 200."
  }
}

variable "log_project" {
  description = "Existing SLS project the functions ship their logs to (with log_store; you keep its retention). null: this configuration creates a project <prefix>-logs-<random> with the log store \"functions\", kept log_retention_days."
  type        = string
  default     = null
}

variable "log_store" {
  description = "Existing log store in log_project; required with log_project."
  type        = string
  default     = null

  validation {
    condition     = (var.log_project == null) == (var.log_store == null)
    error_message = "log_project and log_store go together."
  }
}

variable "log_retention_days" {
  description = "Days the created log store keeps the functions' logs (1-3650; 3650 keeps them for good). A year by default: long enough to look back at a bill or an incident."
  type        = number
  default     = 365

  validation {
    condition     = var.log_retention_days >= 1 && var.log_retention_days <= 3650 && floor(var.log_retention_days) == var.log_retention_days
    error_message = "log_retention_days must be a whole number from 1 to 3650."
  }
}

variable "environment" {
  description = "More environment variables per function, e.g. { query = { MODEL_BASE_URL = \"...\", MODEL_NAME = \"qwen-plus\" } }. STORE_URL, OSS_*, SANDBOX_*, FUNCTION_TIMEOUT_S and those of the settings below (LOG_FORMAT, OTEL_*, TURN_*, ...) are set by this configuration and win; FC reserves FC_* names for its own; AUTH_* and OTEL_EXPORTER_OTLP_HEADERS are refused here (identity comes from the auth_* variables, secrets from KMS Secrets Manager)."
  type        = map(map(string))
  default     = {}

  validation {
    condition     = alltrue([for f in keys(var.environment) : contains(["query", "state", "sandbox"], f)])
    error_message = "environment keys must be function names: query, state, sandbox."
  }
  validation {
    condition = alltrue(flatten([
      for env in values(var.environment) : [for k in keys(env) : can(regex("^[A-Za-z][A-Za-z0-9_]*$", k)) && !startswith(k, "FC_")]
    ]))
    error_message = "Variable names must start with a letter, hold only letters, digits and '_', and not start with FC_ (reserved by Function Compute)."
  }
  validation {
    condition = alltrue(flatten([
      for env in values(var.environment) : [for k in keys(env) : !startswith(k, "AUTH_") && k != "OTEL_EXPORTER_OTLP_HEADERS"]
    ]))
    error_message = "AUTH_* and OTEL_EXPORTER_OTLP_HEADERS cannot be set through environment: use the auth_* variables and otel_exporter_otlp_headers_secret_name (a secret never sits in a variable)."
  }
}

variable "model_api_key" {
  description = "MODEL_API_KEY for the query function (e.g. a DashScope key); null leaves it unset. Stored in the function configuration and the Terraform state."
  type        = string
  default     = null
  sensitive   = true
}

# --- sandbox functions (one custom-container function per sandbox type) ----------------

variable "sandbox_types" {
  description = "Sandbox types to deploy; each gets the function <sandbox_function_prefix><type> running image runtime-sandbox-<type>."
  type        = list(string)
  default     = ["base", "filesystem", "browser", "gui"]

  validation {
    condition     = length(var.sandbox_types) > 0 && alltrue([for t in var.sandbox_types : can(regex("^[a-z][a-z0-9-]*$", t))])
    error_message = "sandbox_types: a non-empty list of lowercase names (letters, digits, hyphens)."
  }
}

variable "sandbox_desktop_door" {
  description = "Deploy the live views' anonymous door (desktop.tf) when browser or gui sandboxes are deployed and auth_mode is \"jwt\": a second function from the sandbox zip serving only /v1/sandboxes/{id}/desktop/{view token}/..., whose URL the sandbox function puts in desktop_url. false: no door, desktop_url points at the sandbox function itself (which a browser cannot open through a \"function\" trigger)."
  type        = bool
  default     = true
}

variable "sandbox_function_prefix" {
  description = "Name prefix of the sandbox functions: function = prefix + type. The sandbox function here is told it as SANDBOX_FC_FUNCTION_PREFIX (FC lets no function set an FC_* variable); an AWS deployment as FC_SANDBOX_FUNCTION_PREFIX."
  type        = string
  default     = "agentscope-sandbox-"

  validation {
    condition     = can(regex("^[A-Za-z_][A-Za-z0-9_-]*$", var.sandbox_function_prefix))
    error_message = "sandbox_function_prefix: letters, digits, '_' and '-', starting with a letter or '_'."
  }
  validation {
    # the launchers may create sessions of and invoke <prefix>* (sandboxes.tf): no function
    # of the bundle itself may fall under it
    condition     = !anytrue([for f in ["query", "state", "sandbox", "desktop"] : startswith("${var.name_prefix}-${f}", var.sandbox_function_prefix)])
    error_message = "sandbox_function_prefix must not start the name of a function of the bundle (<name_prefix>-query, -state, -sandbox, -desktop): the launchers' permissions on <sandbox_function_prefix>* would cover it."
  }
}

variable "image_registry" {
  description = "Registry of the sandbox images (RUNTIME_SANDBOX_REGISTRY); null means the region's Container Registry, registry.<region>.aliyuncs.com."
  type        = string
  default     = null
}

variable "image_namespace" {
  description = "Namespace of the sandbox images (RUNTIME_SANDBOX_IMAGE_NAMESPACE)."
  type        = string
  default     = "agentscope"
}

variable "image_tag" {
  description = "Tag of the sandbox images (RUNTIME_SANDBOX_IMAGE_TAG)."
  type        = string
  default     = "latest"
}

variable "sandbox_cpu" {
  description = "vCPUs of a sandbox instance; FC's SESSION_EXCLUSIVE isolation needs 2 or more."
  type        = number
  default     = 2

  validation {
    condition     = var.sandbox_cpu >= 2 && var.sandbox_cpu <= 16
    error_message = "sandbox_cpu must be between 2 and 16 (SESSION_EXCLUSIVE needs at least 2 vCPUs)."
  }
}

variable "sandbox_memory_mb" {
  description = "Memory of a sandbox instance in MB: a multiple of 64, 1 to 4 GB per vCPU."
  type        = number
  default     = 2048

  validation {
    condition     = var.sandbox_memory_mb % 64 == 0 && var.sandbox_memory_mb >= 128 && var.sandbox_memory_mb <= 32768
    error_message = "sandbox_memory_mb must be a multiple of 64 between 128 and 32768."
  }
}

variable "sandbox_disk_mb" {
  description = "Disk of a sandbox instance in MB: 512 or 10240."
  type        = number
  default     = 512

  validation {
    condition     = contains([512, 10240], var.sandbox_disk_mb)
    error_message = "sandbox_disk_mb must be 512 or 10240."
  }
}

variable "sandbox_timeout_s" {
  description = "Longest single request to a sandbox (a tool call), in seconds."
  type        = number
  default     = 900

  validation {
    condition     = var.sandbox_timeout_s >= 1 && var.sandbox_timeout_s <= 86400
    error_message = "sandbox_timeout_s must be between 1 and 86400."
  }
}

variable "sandbox_max_call_timeout_s" {
  description = "SANDBOX_MAX_CALL_TIMEOUT_S of the tool servers: the longest `timeout` one tool call gets, in seconds (longer ones are cut to it). At most 840, the sandbox function's own bound, and below sandbox_timeout_s, so FC never ends a request the tool server is still answering."
  type        = number
  default     = 300

  validation {
    condition     = var.sandbox_max_call_timeout_s > 0 && var.sandbox_max_call_timeout_s <= 840
    error_message = "sandbox_max_call_timeout_s must be more than 0 and at most 840."
  }
  validation {
    condition     = var.sandbox_max_call_timeout_s < var.sandbox_timeout_s
    error_message = "sandbox_max_call_timeout_s must stay below sandbox_timeout_s: FC would end a longest call before the tool server answers it."
  }
}

variable "sandbox_session_ttl_s" {
  description = "Session lifetime of the sandbox functions' affinity (sessionTTLInSeconds, 1-21600), for sessions the launcher did not create; the launcher's CreateSession sets its own."
  type        = number
  default     = 21600

  validation {
    condition     = var.sandbox_session_ttl_s >= 1 && var.sandbox_session_ttl_s <= 21600
    error_message = "sandbox_session_ttl_s must be between 1 and 21600."
  }
}

variable "sandbox_idle_timeout_s" {
  description = "Idle timeout of the sandbox functions' affinity (sessionIdleTimeoutInSeconds, 0-21600, at most the TTL): how long an instance that a stray request started lives on. The launcher's CreateSession sets its own (SANDBOX_TTL_S)."
  type        = number
  default     = 1800

  validation {
    condition     = var.sandbox_idle_timeout_s >= 0 && var.sandbox_idle_timeout_s <= 21600
    error_message = "sandbox_idle_timeout_s must be between 0 and 21600."
  }
}

variable "sandbox_max_instances" {
  description = "Most instances of each sandbox function at once, so most live sandboxes of each type (one instance per sandbox session), reserved out of the region's instance quota like max_instances; 0 stops every type, -1 lifts the limit. The sandbox function's own cap across types is MAX_SANDBOX_INSTANCES, a per-user one user_max_sandboxes."
  type        = number
  default     = 10
  nullable    = false

  validation {
    condition     = var.sandbox_max_instances >= -1 && floor(var.sandbox_max_instances) == var.sandbox_max_instances
    error_message = "sandbox_max_instances must be a whole number >= -1 (-1: no limit, 0: stopped)."
  }
}

variable "sandbox_internet_access" {
  description = "Whether sandboxes may reach the internet (the functions' internet_access and the launcher's allowInternetAccess)."
  type        = bool
  default     = true
}

variable "sandbox_trigger_auth_type" {
  description = "authType of the sandbox functions' HTTP triggers. \"function\" (default): FC's gateway passes only requests signed with an Alibaba Cloud key allowed to invoke the sandbox functions (ACS3-HMAC-SHA256 in the Authorization header): the FC launcher and the live-view door sign every call with their role's key (fc:InvokeFunction on the sandbox functions) and carry the tool server's token in X-Agentscope-Sandbox-Token. Anyone else who learns a trigger URL gets FC's 403 and can neither start a session nor claim one. \"anonymous\": FC checks nothing; every tool server route but the claim still demands the token the launcher claimed that session with, but a stranger can start a session of their own (a session header naming none starts one) and claim it: code running at your cost, with sandbox_internet_access, until sandbox_idle_timeout_s, within sandbox_max_instances."
  type        = string
  default     = "function"

  validation {
    condition     = contains(["anonymous", "function"], var.sandbox_trigger_auth_type)
    error_message = "sandbox_trigger_auth_type must be \"anonymous\" or \"function\"."
  }
}

# --- who may call: end users' JWTs (AUTH_*) ----------------------------------------------

variable "auth_mode" {
  description = "How the functions tell who is calling (AUTH_MODE, given to query, state and sandbox). \"jwt\" (the default): each end-user request carries `Authorization: Bearer <JWT>` from your OIDC provider (Alibaba Cloud IDaaS, Auth0, Cognito, ...), checked with the keys at auth_jwks_url; the user is the token's auth_user_claim and may touch only their own sessions and sandboxes. \"none\" is for local runs only and refused here (unless deploy_api_functions is false): a function without AUTH_MODE=jwt answers callers on 127.0.0.1 alone, so behind an HTTP trigger it would refuse every request. Your own services call with a token of their own (client credentials), beside an ACS3 signature where their trigger is \"function\" (X-Forwarded-Authorization)."
  type        = string
  default     = "jwt"

  validation {
    condition     = contains(["jwt", "none"], var.auth_mode)
    error_message = "auth_mode must be \"jwt\" or \"none\"."
  }
  validation {
    condition     = !var.deploy_api_functions || var.auth_mode == "none" || var.auth_jwks_url != null || var.auth_jwt_secret_name != null
    error_message = "auth_mode \"jwt\" needs the keys tokens are signed with: auth_jwks_url (your OIDC provider's jwks_uri), or for development auth_jwt_secret_name."
  }
  validation {
    # AUTH_MODE=none answers only a loopback peer and Host (functions/runtime/auth/local.py)
    condition     = !var.deploy_api_functions || var.auth_mode == "jwt"
    error_message = "auth_mode \"none\" cannot be deployed: without AUTH_MODE=jwt a function answers only callers on 127.0.0.1 (make local), so every request through an HTTP trigger, signed or not, would get 403. Keep \"jwt\": services sign with ACS3 where their trigger is \"function\" and send their own token in X-Forwarded-Authorization."
  }
}

variable "auth_jwks_url" {
  description = "AUTH_JWKS_URL: your OIDC provider's JSON Web Key Set, the jwks_uri of its /.well-known/openid-configuration; e.g. an IDaaS application's https://<instance>.aliyunidaas.com/api/v2/<application id>/oidc/jwks (copy it from the discovery document), https://<tenant>.auth0.com/.well-known/jwks.json."
  type        = string
  default     = null

  validation {
    condition     = var.auth_jwks_url == null || can(regex("^https://[^/]+", var.auth_jwks_url))
    error_message = "auth_jwks_url must be an https:// URL."
  }
}

variable "auth_issuer" {
  description = "AUTH_ISSUER: the `iss` every token must carry (the discovery document's issuer); null checks no issuer."
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

variable "auth_jwt_secret_name" {
  description = "Development only: a KMS Secrets Manager secret whose value is an HS256 key (AUTH_JWT_SECRET) the functions also accept tokens signed with, e.g. those `python -m local_emulator token` mints. Terraform reads it at plan time; like all environment it then sits in the function configuration and the Terraform state. Production uses auth_jwks_url alone."
  type        = string
  default     = null
}

# --- limits: what the deployment, a turn and a user may spend ----------------------------

variable "max_instances" {
  description = "Most instances of each function at once (FC 3.0 function concurrency: provisioned and on-demand instances, reserved out of the region's instance quota, of which all functions together may reserve 90%); an instance of query, state or sandbox serves instance_concurrency requests. 0 stops a function (a kill switch), -1 lifts its limit."
  type = object({
    query   = optional(number, 10)
    state   = optional(number, 10)
    sandbox = optional(number, 10)
  })
  # spelt out (the optional() defaults say the same) for tools that read defaults only
  default = { query = 10, state = 10, sandbox = 10 }

  validation {
    condition     = alltrue([for n in values(var.max_instances) : n >= -1 && floor(n) == n])
    error_message = "max_instances: whole numbers >= -1 (-1: no limit, 0: stopped)."
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
  description = "MAX_REQUEST_BYTES per function: larger request bodies are refused (413); null: the code's default. FC takes at most 32 MB anyway."
  type = object({
    query   = optional(number)
    state   = optional(number)
    sandbox = optional(number)
  })
  default = {}

  validation {
    condition     = alltrue([for n in values(var.max_request_bytes) : n == null || try(n >= 1024 && n <= 33554432 && floor(n) == n, false)])
    error_message = "max_request_bytes: null or whole numbers from 1024 to 33554432 (FC's 32 MB)."
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

variable "otel_exporter_otlp_endpoint" {
  description = "OTEL_EXPORTER_OTLP_ENDPOINT of every function: an OTLP/HTTP receiver (a collector, Alibaba Cloud Managed Service for OpenTelemetry, Langfuse, ...) that gets one trace per turn; FC has no tracing switch of its own that Terraform can set. null: no exporter, and the functions import nothing of OpenTelemetry."
  type        = string
  default     = null

  validation {
    condition     = var.otel_exporter_otlp_endpoint == null || can(regex("^https?://[^/]+", var.otel_exporter_otlp_endpoint))
    error_message = "otel_exporter_otlp_endpoint must be an http(s):// URL."
  }
}

variable "otel_exporter_otlp_headers_secret_name" {
  description = "A KMS Secrets Manager secret whose value is OTEL_EXPORTER_OTLP_HEADERS (e.g. `Authentication=<token>`, comma-separated key=value pairs), read by Terraform at plan time into the query, state and sandbox functions' environment (never the sandboxes'); null sets no headers."
  type        = string
  default     = null
}

variable "sandbox_otel_exporter_otlp_endpoint" {
  description = "OTEL_EXPORTER_OTLP_ENDPOINT of the tool servers in the sandbox functions, which then trace each tool run under the turn's trace. It must take spans without a secret header: code in a sandbox can read its environment, so no header ever goes there. null: the tool servers export nothing."
  type        = string
  default     = null

  validation {
    condition     = var.sandbox_otel_exporter_otlp_endpoint == null || can(regex("^https?://[^/]+", var.sandbox_otel_exporter_otlp_endpoint))
    error_message = "sandbox_otel_exporter_otlp_endpoint must be an http(s):// URL."
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

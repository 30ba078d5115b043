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
  description = "authType of the query, state and sandbox functions' HTTP triggers: \"function\" (callers sign requests with an Alibaba Cloud key; the query function signs its own calls to the sandbox function, SANDBOX_URL_AUTH=fc) or \"anonymous\" (public: anyone may call the agent, and the sandbox API, which runs code)."
  type        = string
  default     = "function"

  validation {
    condition     = contains(["anonymous", "function"], var.http_trigger_auth_type)
    error_message = "http_trigger_auth_type must be \"anonymous\" or \"function\"."
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
  description = "Existing SLS project the functions ship their logs to; null ships none (logs stay in FC's console for a short while)."
  type        = string
  default     = null
}

variable "log_store" {
  description = "Existing log store in log_project; required with log_project."
  type        = string
  default     = null
}

variable "environment" {
  description = "More environment variables per function, e.g. { query = { MODEL_BASE_URL = \"...\", MODEL_NAME = \"qwen-plus\" } }. STORE_URL, OSS_* and SANDBOX_* are set by this configuration and win; FC reserves FC_* names for its own."
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
  default     = ["base", "filesystem"]

  validation {
    condition     = length(var.sandbox_types) > 0 && alltrue([for t in var.sandbox_types : can(regex("^[a-z][a-z0-9-]*$", t))])
    error_message = "sandbox_types: a non-empty list of lowercase names (letters, digits, hyphens)."
  }
}

variable "sandbox_function_prefix" {
  description = "Name prefix of the sandbox functions: function = prefix + type. The sandbox function here is told it as SANDBOX_FC_FUNCTION_PREFIX (FC lets no function set an FC_* variable); an AWS deployment as FC_SANDBOX_FUNCTION_PREFIX."
  type        = string
  default     = "agentscope-sandbox-"

  validation {
    condition     = can(regex("^[A-Za-z_][A-Za-z0-9_-]*$", var.sandbox_function_prefix))
    error_message = "sandbox_function_prefix: letters, digits, '_' and '-', starting with a letter or '_'."
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

variable "sandbox_internet_access" {
  description = "Whether sandboxes may reach the internet (the functions' internet_access and the launcher's allowInternetAccess)."
  type        = bool
  default     = true
}

variable "sandbox_trigger_auth_type" {
  description = "authType of the sandbox functions' HTTP triggers. \"anonymous\" (default): FC checks nothing, but every route of the tool server demands the session's token (HMAC of the session id under sandbox_token_key), so a caller without it reaches no tool; it can only start an instance that lives sandbox_idle_timeout_s. \"function\" makes FC demand signed requests, which the FC launcher does not send (its Authorization header carries the tool server's token): use it only with a launcher that signs."
  type        = string
  default     = "anonymous"

  validation {
    condition     = contains(["anonymous", "function"], var.sandbox_trigger_auth_type)
    error_message = "sandbox_trigger_auth_type must be \"anonymous\" or \"function\"."
  }
}

variable "sandbox_token_key" {
  description = "HMAC key of the sandbox tokens: TOOLSERVER_TOKEN_KEY of the sandbox functions and SANDBOX_TOKEN_KEY of the sandbox function; null generates one (see the sandbox_token_key output, which an AWS deployment needs)."
  type        = string
  default     = null
  sensitive   = true
}

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
  description = "Authorization of every Function URL: AWS_IAM (callers sign with SigV4 and need lambda:InvokeFunctionUrl and lambda:InvokeFunction; the query function signs its own calls to the sandbox function, SANDBOX_URL_AUTH=aws_iam) or NONE (public: anyone may call the agent, and the sandbox API, which runs code)."
  type        = string
  default     = "AWS_IAM"

  validation {
    condition     = contains(["AWS_IAM", "NONE"], var.function_url_auth_type)
    error_message = "function_url_auth_type must be \"AWS_IAM\" or \"NONE\"."
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
  description = "Days CloudWatch keeps each function's logs."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of CloudWatch's retention values (1, 3, 5, 7, 14, 30, 60, 90, ...)."
  }
}

variable "environment" {
  description = "More environment variables per function, e.g. { query = { MODEL_BASE_URL = \"...\", MODEL_NAME = \"qwen-plus\" } }. STORE_URL, SANDBOX_* and the adapter's variables are set by this configuration and win."
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

variable "sandbox_token_key" {
  description = "HMAC key for sandbox tokens (SANDBOX_TOKEN_KEY); must equal the TOOLSERVER_TOKEN_KEY of the FC sandbox functions (the alicloud root's sandbox_token_key output). Required with enable_sandbox."
  type        = string
  default     = null
  sensitive   = true
}

variable "sandbox_internet_access" {
  description = "Whether sandboxes may reach the internet (SANDBOX_INTERNET_ACCESS, CreateSession's allowInternetAccess)."
  type        = bool
  default     = true
}

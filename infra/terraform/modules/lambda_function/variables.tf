variable "name" {
  description = "The Lambda function's name; its role, policy and log group are named after it."
  type        = string
}

variable "artifact" {
  description = "The function's entry from the manifest module: zip_path, sha256, source_code_hash, size and unzipped_size (bytes), handler, streaming_handler, runtime, arch, memory_mb, timeout_s, port, environment."
  type = object({
    function          = string
    zip_path          = string
    sha256            = string
    source_code_hash  = string
    size              = number
    unzipped_size     = number
    handler           = string
    streaming_handler = optional(string)
    runtime           = string
    arch              = string
    memory_mb         = number
    timeout_s         = number
    port              = number
    environment       = map(string)
  })

  # Lambda's own limit on a function's code unzipped (CodeSizeUnzipped, not adjustable):
  # better refused at plan time than by CreateFunction half-way through an apply
  validation {
    condition     = var.artifact.unzipped_size <= 262144000
    error_message = "The ${var.artifact.function} zip ${var.artifact.zip_path} unzips to ${format("%.1f", var.artifact.unzipped_size / 1048576)} MiB; Lambda takes at most 250 MiB (262144000 bytes) unzipped, layers included. Leave out what the function never imports (packaging/frameworks.py prunes an agent framework) and run `make package` again."
  }
}

variable "code_bucket" {
  description = "S3 bucket a zip too large for the request (over 50 MB) is uploaded to; it must be versioned (the function names the object's version). The function's role needs no access to it."
  type        = string
}

variable "code_prefix" {
  description = "Key prefix of uploaded zips in code_bucket, ending in \"/\": <prefix><name>.zip."
  type        = string

  validation {
    condition     = endswith(var.code_prefix, "/")
    error_message = "code_prefix must end in \"/\"."
  }
}

variable "environment" {
  description = "Environment variables added to the manifest's (STORE_URL and the like)."
  type        = map(string)
  default     = {}
}

variable "state_bucket_arn" {
  description = "ARN of the state bucket."
  type        = string
}

variable "state_prefix" {
  description = "Key prefix of the state in the bucket, ending in \"/\"; the role may touch nothing else."
  type        = string

  validation {
    condition     = endswith(var.state_prefix, "/") && length(var.state_prefix) > 1
    error_message = "state_prefix must be non-empty and end in \"/\"."
  }
}

variable "extra_statements" {
  description = "More IAM statements for this function's role alone (a secret, another function's URL)."
  type = list(object({
    sid       = string
    actions   = list(string)
    resources = list(string)
  }))
  default = []
}

variable "streaming" {
  description = "Serve through the Lambda Web Adapter with a RESPONSE_STREAM Function URL instead of mangum (buffered)."
  type        = bool
  default     = false
}

variable "web_adapter_layer_arn" {
  description = "The Lambda Web Adapter layer for the function's architecture (used when streaming)."
  type        = string
  default     = null
}

variable "url_auth_type" {
  description = "The Function URL's authorization_type: AWS_IAM or NONE."
  type        = string

  validation {
    condition     = contains(["AWS_IAM", "NONE"], var.url_auth_type)
    error_message = "url_auth_type must be AWS_IAM or NONE."
  }
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions: the most invocations at once, reserved out of the account's pool; 0 stops the function, -1 sets no limit (the unreserved pool)."
  type        = number

  validation {
    condition     = var.reserved_concurrency >= -1 && floor(var.reserved_concurrency) == var.reserved_concurrency
    error_message = "reserved_concurrency must be a whole number >= -1."
  }
}

variable "xray_tracing" {
  description = "X-Ray active tracing (tracing_config Active, with the role's right to upload segments); false: PassThrough."
  type        = bool
  default     = false
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps the function's logs."
  type        = number
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}

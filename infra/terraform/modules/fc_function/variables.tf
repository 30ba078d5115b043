variable "name" {
  description = "The FC function's name; its RAM role and policy are named after it."
  type        = string
}

variable "artifact" {
  description = "The function's entry from the manifest module: zip_path, sha256, handler, runtime, command, port, memory_mb, timeout_s, environment."
  type = object({
    function    = string
    zip_path    = string
    sha256      = string
    handler     = string
    runtime     = string
    command     = list(string)
    port        = number
    memory_mb   = number
    timeout_s   = number
    environment = map(string)
  })
}

variable "environment" {
  description = "Environment variables added to the manifest's (STORE_URL and the like)."
  type        = map(string)
  default     = {}
}

variable "region" {
  description = "The region the function runs in (for ARNs)."
  type        = string
}

variable "account_id" {
  description = "The Alibaba Cloud account ID (for ARNs)."
  type        = string
}

variable "state_bucket" {
  description = "Name of the OSS state bucket."
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

variable "code_bucket" {
  description = "OSS bucket the function's zip is uploaded to (FC reads it at deploy time, the role never does)."
  type        = string
}

variable "code_prefix" {
  description = "Key prefix of uploaded zips in code_bucket, outside the state prefix."
  type        = string
}

variable "state_read_only" {
  description = "Key prefix under state_prefix (e.g. \"sandboxes/\") whose objects the role may only read (oss:GetObject, no listing, no writes, nothing else of the state); null: read, write and list the whole state prefix."
  type        = string
  default     = null
}

variable "extra_statements" {
  description = "More RAM statements (Allow) for this function's role alone, e.g. FC session calls on the sandbox functions."
  type = list(object({
    actions   = list(string)
    resources = list(string)
  }))
  default = []
}

variable "cpu" {
  description = "vCPUs; null gives 1 vCPU per GB of the manifest's memory."
  type        = number
  default     = null
}

variable "instance_concurrency" {
  description = "Requests one instance serves at once."
  type        = number
  default     = 10
}

variable "max_instances" {
  description = "Most instances of the function at once (FC 3.0 reserved concurrency, reserved out of the region's instance quota); 0 stops the function; -1 sets no limit of its own (the region's quota)."
  type        = number

  validation {
    condition     = var.max_instances >= -1 && floor(var.max_instances) == var.max_instances
    error_message = "max_instances must be a whole number >= -1."
  }
}

variable "trigger_auth_type" {
  description = "The HTTP trigger's authType: \"function\" (default: FC passes only requests signed with an Alibaba Cloud key allowed to invoke the function) or \"anonymous\" (FC checks nothing: the function must, e.g. a JWT)."
  type        = string
  default     = "function"

  validation {
    condition     = contains(["anonymous", "function"], var.trigger_auth_type)
    error_message = "trigger_auth_type must be \"anonymous\" or \"function\"."
  }
}

variable "trigger_methods" {
  description = "HTTP methods the trigger accepts."
  type        = list(string)
}

variable "log_project" {
  description = "SLS project for the function's logs; null: no log shipping."
  type        = string
  default     = null
}

variable "log_store" {
  description = "SLS log store in log_project."
  type        = string
  default     = null
}

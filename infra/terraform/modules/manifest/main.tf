# The artifacts one deployment ships, picked from dist/manifest.json (written by
# packaging/build.py). Both roots read the manifest through this module so that the choice
# of zip, handler, runtime, memory and timeout is made in one place, and so that the choice
# can be tested with `terraform console` alone: this module uses no provider.

terraform {
  required_version = ">= 1.5"
}

variable "manifest_path" {
  description = "Path of dist/manifest.json; its zips are relative to the manifest's folder."
  type        = string
}

variable "target" {
  description = "The manifest target to deploy: \"aws\" (Lambda) or \"fc\" (Function Compute 3.0)."
  type        = string

  validation {
    condition     = contains(["aws", "fc"], var.target)
    error_message = "target must be \"aws\" or \"fc\"."
  }
}

variable "python" {
  description = "Python version of the artifacts (\"3.11\", \"3.12\"); null takes any (fc has one)."
  type        = string
  default     = null
}

variable "arch" {
  description = "CPU of the artifacts (\"x86_64\", \"arm64\"); null takes any (fc has one)."
  type        = string
  default     = null
}

variable "functions" {
  description = "The functions to deploy; each must have exactly one artifact for the target."
  type        = list(string)
  default     = ["query", "state", "sandbox"]
}

variable "verify_zips" {
  description = "Check at plan time that each selected zip exists and has the manifest's sha256."
  type        = bool
  default     = true
}

locals {
  manifest = jsondecode(file(var.manifest_path))
  dist_dir = dirname(var.manifest_path)

  # Every artifact of the target that matches the python version and CPU, grouped by
  # function (the `...` groups, so a manifest with two matches is reported, not merged).
  matches = {
    for a in local.manifest.artifacts : a.function => a...
    if a.target == var.target
    && (var.python == null || a.python == var.python)
    && (var.arch == null || a.arch == var.arch)
    && contains(var.functions, a.function)
  }

  # Lambda wants source_code_hash as base64 of the zip's SHA-256; the manifest has it in
  # hex and Terraform has no hex decoder, so 3 bytes (6 hex digits) become 4 base64 digits:
  # 10 groups cover 30 bytes, the last 2 bytes give 3 digits and one "=".
  b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  sha256_base64 = {
    for name, found in local.matches : name => join("", concat(
      [
        for i in range(10) : join("", [
          for d in [262144, 4096, 64, 1] :
          substr(local.b64, floor(parseint(substr(found[0].sha256, i * 6, 6), 16) / d) % 64, 1)
        ])
      ],
      [
        join("", [
          for d in [262144, 4096, 64] :
          substr(local.b64, floor(parseint(substr(found[0].sha256, 60, 4), 16) * 256 / d) % 64, 1)
        ]),
        "=",
      ],
    ))
    if can(regex("^[0-9a-f]{64}$", found[0].sha256))
  }

  # The selection: one artifact per function, with the zip's path and both hashes.
  artifacts = {
    for name, found in local.matches : name => merge(found[0], {
      zip_path         = "${local.dist_dir}/${found[0].zip}"
      source_code_hash = lookup(local.sha256_base64, name, "")
    })
  }
}

output "artifacts" {
  description = "Function name => its manifest entry (sha256, size and unzipped_size in bytes, handler, ...), plus zip_path and source_code_hash (base64 SHA-256)."
  value       = local.artifacts

  precondition {
    condition     = local.manifest.format == 1
    error_message = "Unknown manifest format ${local.manifest.format} in ${var.manifest_path}; this Terraform reads format 1."
  }
  precondition {
    condition     = alltrue([for f in var.functions : length(lookup(local.matches, f, [])) == 1])
    error_message = "Each function needs exactly one ${var.target} artifact (python ${coalesce(var.python, "any")}, ${coalesce(var.arch, "any")}) in ${var.manifest_path}; found: ${jsonencode({ for f in var.functions : f => length(lookup(local.matches, f, [])) })}. Run `make package`."
  }
  precondition {
    condition     = alltrue([for a in values(local.artifacts) : a.source_code_hash != ""])
    error_message = "A selected artifact's sha256 is not 64 lowercase hex digits."
  }
  precondition {
    condition = !var.verify_zips || alltrue([
      for a in values(local.artifacts) : fileexists(a.zip_path) ? filesha256(a.zip_path) == a.sha256 : false
    ])
    error_message = "A zip named by the manifest is missing or differs from its sha256 (rebuild with `make package`): ${jsonencode([for a in values(local.artifacts) : a.zip_path])}"
  }
}

output "manifest_dir" {
  description = "The folder the manifest's zip paths are relative to."
  value       = local.dist_dir
}

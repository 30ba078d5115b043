# One of the bundle's functions on Function Compute 3.0 (custom runtime): its own RAM role
# (the state prefix, its log store if any, and whatever `extra_statements` the caller names,
# nothing else), its code uploaded to OSS, the function from its manifest artifact with its
# instance limit, and an HTTP trigger.

terraform {
  required_version = ">= 1.5"
  required_providers {
    alicloud = {
      source = "aliyun/alicloud"
      # 1.256: instance_isolation_mode / session_affinity on alicloud_fcv3_function;
      # 1.252: role_name / assume_role_policy_document on alicloud_ram_role
      version = ">= 1.256.0"
    }
  }
}

locals {
  # FC wants 0.05-vCPU steps and memory (GB) between 1x and 4x the vCPUs: 1 vCPU per GB
  cpu = coalesce(var.cpu, max(0.05, floor(var.artifact.memory_mb / 1024 * 20) / 20))

  # the session store: objects under the state prefix, listing of that prefix only (or,
  # with state_read_only, reading the objects under that one prefix of it)
  state_statements = var.state_read_only != null ? [
    {
      Effect   = "Allow"
      Action   = ["oss:GetObject"]
      Resource = ["acs:oss:*:*:${var.state_bucket}/${var.state_prefix}${var.state_read_only}*"]
    },
    ] : [
    {
      Effect   = "Allow"
      Action   = ["oss:GetObject", "oss:PutObject", "oss:DeleteObject"]
      Resource = ["acs:oss:*:*:${var.state_bucket}/${var.state_prefix}*"]
    },
    {
      Effect    = "Allow"
      Action    = ["oss:ListObjects"]
      Resource  = ["acs:oss:*:*:${var.state_bucket}"]
      Condition = { StringLike = { "oss:Prefix" = ["${var.state_prefix}*"] } }
    },
  ]

  # FC ships the function's logs with its role: its own log store only
  log_statements = var.log_project == null ? [] : [
    {
      Effect   = "Allow"
      Action   = ["log:PostLogStoreLogs"]
      Resource = ["acs:log:${var.region}:${var.account_id}:project/${var.log_project}/logstore/${var.log_store}"]
    },
  ]

  extra_statements = [
    for s in var.extra_statements : { Effect = "Allow", Action = s.actions, Resource = s.resources }
  ]
}

resource "alicloud_ram_role" "this" {
  role_name   = "${var.name}-role"
  description = "Runs the ${var.name} function"
  assume_role_policy_document = jsonencode({
    Version = "1"
    Statement = [
      {
        Action    = "sts:AssumeRole"
        Effect    = "Allow"
        Principal = { Service = ["fc.aliyuncs.com"] }
      },
    ]
  })
  force = true
}

resource "alicloud_ram_policy" "this" {
  policy_name = "${var.name}-access"
  description = "What the ${var.name} function may touch"
  policy_document = jsonencode({
    Version   = "1"
    Statement = concat(local.state_statements, local.log_statements, local.extra_statements)
  })
  force = true
}

resource "alicloud_ram_role_policy_attachment" "this" {
  role_name   = alicloud_ram_role.this.role_name
  policy_name = alicloud_ram_policy.this.policy_name
  policy_type = "Custom"
}

# The zip goes to OSS under a name that holds its sha256, so a new build is a new object and
# FC updates the function exactly when the zip changed. Every zip takes this way, whatever
# its size: FC 3.0 takes a code package in the request (zipFile, base64) only up to 100 MB,
# from OSS (ossBucketName / ossObjectName) up to 500 MB, which a query zip carrying an agent
# framework stays well under. That 500 MB is a quota the account can have raised, so the
# plan refuses no size of its own here; FC's answer names it.
resource "alicloud_oss_bucket_object" "code" {
  bucket = var.code_bucket
  key    = "${var.code_prefix}${var.name}-${var.artifact.sha256}.zip"
  source = var.artifact.zip_path
}

resource "alicloud_fcv3_function" "this" {
  function_name        = var.name
  description          = "agentscope-faas ${var.artifact.function} function"
  role                 = alicloud_ram_role.this.arn
  runtime              = var.artifact.runtime
  handler              = var.artifact.handler
  memory_size          = var.artifact.memory_mb
  timeout              = var.artifact.timeout_s
  cpu                  = local.cpu
  disk_size            = 512
  instance_concurrency = var.instance_concurrency
  internet_access      = true

  code {
    oss_bucket_name = alicloud_oss_bucket_object.code.bucket
    oss_object_name = alicloud_oss_bucket_object.code.key
  }

  # FC starts the bootstrap and sends each request to its port
  custom_runtime_config {
    command = var.artifact.command
    port    = var.artifact.port
  }

  # FC tells a request nothing of its deadline, so the function is told its timeout here
  # (last: nothing can misstate it) and ends a turn cleanly before FC stops the instance
  environment_variables = merge(var.artifact.environment, var.environment, {
    FUNCTION_TIMEOUT_S = tostring(var.artifact.timeout_s)
  })

  dynamic "log_config" {
    for_each = var.log_project == null ? [] : [var.log_project]
    content {
      project                 = var.log_project
      logstore                = var.log_store
      enable_request_metrics  = true
      enable_instance_metrics = true
      log_begin_rule          = "None"
    }
  }

  # the role must be able to do its work before the first instance starts
  depends_on = [alicloud_ram_role_policy_attachment.this]

  lifecycle {
    precondition {
      condition     = var.artifact.memory_mb % 64 == 0
      error_message = "FC memory must be a multiple of 64 MB; the manifest says ${var.artifact.memory_mb} for ${var.name}."
    }
    precondition {
      condition     = (var.log_project == null) == (var.log_store == null)
      error_message = "log_project and log_store go together."
    }
  }
}

# The function's instance limit (FC 3.0's ConcurrencyConfig): provisioned and on-demand
# instances together, reserved out of the region's instance quota; 0 stops the function,
# -1 leaves it without a limit of its own.
resource "alicloud_fcv3_concurrency_config" "this" {
  count = var.max_instances < 0 ? 0 : 1

  function_name        = alicloud_fcv3_function.this.function_name
  reserved_concurrency = var.max_instances
}

resource "alicloud_fcv3_trigger" "http" {
  function_name = alicloud_fcv3_function.this.function_name
  trigger_name  = "http"
  trigger_type  = "http"
  qualifier     = "LATEST"
  description   = "HTTP entry of ${var.name}"
  trigger_config = jsonencode({
    authType           = var.trigger_auth_type
    methods            = var.trigger_methods
    disableURLInternet = false
  })
}

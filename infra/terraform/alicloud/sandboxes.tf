# One custom-container function per sandbox type: the type's image with its tool server on
# port 8000, one instance per session (SESSION_EXCLUSIVE) and requests routed to a session's
# instance by the x-agentscope-sandbox-session header (HEADER_FIELD affinity). The sandbox
# function's FC launcher makes each sandbox a session of these functions (CreateSession)
# and calls the trigger with that header. No token is deployed: each tool server starts
# unclaimed, and right after CreateSession the launcher claims it (`POST /claim`) with a
# random token of that sandbox alone, which every later call carries. All instances of a
# function share its environment, so nothing there could tell one session's token.
# Their triggers have function auth (sandbox_trigger_auth_type): FC passes only calls signed
# by a key that may invoke these functions (the launcher's and the live-view door's roles),
# so a stranger with a trigger URL can neither start a session nor claim one; the token then
# rides in X-Agentscope-Sandbox-Token, Authorization being the signature's.

locals {
  session_header = "x-agentscope-sandbox-session"

  # images named as the seed names them: [registry/]namespace/runtime-sandbox-<type>:tag
  image_registry = coalesce(var.image_registry, "registry.${var.region}.aliyuncs.com")

  # All of FC the launcher calls (sessions of the sandbox functions, their trigger URLs,
  # and invoking them when their triggers demand signatures), on those functions only. Not
  # fc:ListFunctions, which the reaper's orphan sweep uses: it cannot be limited to a
  # prefix and would show every function's environment in the region; FC ends abandoned
  # sessions itself (TTL and idle timeout). Nor fc:GetFunction, which no launcher calls.
  launcher_actions = [
    "fc:CreateSession",
    "fc:GetSession",
    "fc:DeleteSession",
    "fc:PauseSession",
    "fc:ResumeSession",
    "fc:ListSessions",
    "fc:ListTriggers",
    "fc:InvokeFunction",
  ]
  sandbox_functions_arn = "acs:fc:${var.region}:${local.account_id}:functions/${var.sandbox_function_prefix}*"
}

resource "alicloud_fcv3_function" "sandbox_type" {
  for_each = toset(var.sandbox_types)

  function_name   = "${var.sandbox_function_prefix}${each.key}"
  description     = "agentscope-faas ${each.key} sandbox: one instance per session"
  runtime         = "custom-container"
  handler         = "index.handler" # required by the API, unused by a container
  cpu             = var.sandbox_cpu
  memory_size     = var.sandbox_memory_mb
  disk_size       = var.sandbox_disk_mb
  timeout         = var.sandbox_timeout_s
  internet_access = var.sandbox_internet_access

  custom_container_config {
    image = "${local.image_registry}/${var.image_namespace}/runtime-sandbox-${each.key}:${var.image_tag}"
    port  = 8000 # the tool server
  }

  instance_isolation_mode = "SESSION_EXCLUSIVE"
  session_affinity        = "HEADER_FIELD"
  # FC's HeaderFieldSessionAffinityConfig (API 2023-03-30). These lifetimes apply to
  # sessions a request starts by itself; the launcher's CreateSession sets its own.
  session_affinity_config = jsonencode({
    affinityHeaderFieldName       = local.session_header
    sessionTTLInSeconds           = var.sandbox_session_ttl_s
    sessionIdleTimeoutInSeconds   = var.sandbox_idle_timeout_s
    sessionConcurrencyPerInstance = 1
    disableSessionIdReuse         = true
  })

  # LOG_FORMAT, with sandbox_otel_exporter_otlp_endpoint the OTel settings, and the cap on
  # one tool call. Never a secret: code in the sandbox can read this environment (and the
  # tool server refuses to start with a token there).
  environment_variables = merge(
    module.environment.tool_server_environment,
    {
      OTEL_SERVICE_NAME          = "${var.sandbox_function_prefix}${each.key}"
      SANDBOX_MAX_CALL_TIMEOUT_S = tostring(var.sandbox_max_call_timeout_s)
    },
  )

  lifecycle {
    precondition {
      condition     = var.sandbox_memory_mb >= var.sandbox_cpu * 1024 && var.sandbox_memory_mb <= var.sandbox_cpu * 4096
      error_message = "FC needs 1 to 4 GB of memory per vCPU: sandbox_memory_mb ${var.sandbox_memory_mb} does not fit sandbox_cpu ${var.sandbox_cpu}."
    }
    precondition {
      condition     = var.sandbox_idle_timeout_s <= var.sandbox_session_ttl_s
      error_message = "sandbox_idle_timeout_s must not exceed sandbox_session_ttl_s."
    }
  }
}

# Most live sandboxes of each type: one instance per session (SESSION_EXCLUSIVE), so the
# function's instance limit bounds its sessions.
resource "alicloud_fcv3_concurrency_config" "sandbox_type" {
  for_each = var.sandbox_max_instances < 0 ? {} : alicloud_fcv3_function.sandbox_type

  function_name        = each.value.function_name
  reserved_concurrency = var.sandbox_max_instances
}

resource "alicloud_fcv3_trigger" "sandbox_type" {
  for_each = alicloud_fcv3_function.sandbox_type

  function_name = each.value.function_name
  trigger_name  = "http"
  trigger_type  = "http"
  qualifier     = "LATEST"
  description   = "Tool calls into ${each.key} sandboxes, routed by ${local.session_header}"
  trigger_config = jsonencode({
    authType           = var.sandbox_trigger_auth_type
    methods            = ["GET", "POST", "PUT", "DELETE", "HEAD"]
    disableURLInternet = false
  })
}

# The same FC permissions as a policy of their own, for the RAM user whose access key an
# AWS deployment's sandbox function uses (attach it to that user; Terraform creates no key).
resource "alicloud_ram_policy" "sandbox_launcher" {
  policy_name = "${var.name_prefix}-sandbox-launcher"
  description = "Launch sandboxes: sessions of the ${var.sandbox_function_prefix}* functions"
  policy_document = jsonencode({
    Version = "1"
    Statement = [
      {
        Effect   = "Allow"
        Action   = local.launcher_actions
        Resource = [local.sandbox_functions_arn]
      },
    ]
  })
  force = true
}

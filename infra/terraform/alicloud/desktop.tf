# The live view's door. Browser and gui sandboxes are watched in a browser (noVNC), which can
# neither sign a request (the sandbox function's trigger wants FC's signature) nor send a
# bearer token. So the sandbox function's zip is deployed a second time, serving only the
# live-view routes (SANDBOX_ROUTES=desktop: /v1/sandboxes/{id}/desktop/{view token}/... and
# /health), behind an anonymous HTTP trigger, which carries noVNC's WebSocket. The view
# token in the path is the only credential: checked against the sandbox's record before
# anything reaches the sandbox, and no other route exists there. Its role may read the
# sandbox records and invoke the sandbox functions, nothing else: their triggers want FC's
# signature (sandbox_trigger_auth_type "function"), so the door signs what it relays (the
# FC launcher's signer, SANDBOX_BACKEND fc). The sandbox function puts this door's URL in
# the desktop_url it gives a sandbox's owner (SANDBOX_DESKTOP_URL).
#
# With auth_mode "jwt" only: under "none" a function answers loopback hosts alone.

locals {
  desktop_types = [for t in var.sandbox_types : t if contains(["browser", "gui"], t)]
  deploy_desktop_door = (
    var.deploy_api_functions && var.sandbox_desktop_door && var.auth_mode == "jwt"
    && length(local.desktop_types) > 0
  )
}

module "sandbox_desktop" {
  source = "../modules/fc_function"
  count  = local.deploy_desktop_door ? 1 : 0

  # not <prefix>-sandbox-desktop: that name lies under the default sandbox_function_prefix
  # (agentscope-sandbox-), which the launchers' RAM statements cover with a wildcard
  name     = "${var.name_prefix}-desktop"
  artifact = module.manifest[0].artifacts["sandbox"]
  # the sandbox function's settings, secrets included: AUTH_MODE=jwt with only the
  # development key (auth_jwt_secret_name, no auth_jwks_url) stops the settings from loading
  # without AUTH_JWT_SECRET, and spans go to a collector that wants its headers
  environment = merge(
    local.store_environment,
    module.environment.environment["sandbox"],
    local.secret_environment,
    { SANDBOX_ROUTES = "desktop", SANDBOX_BACKEND = "fc" },
  )
  state_read_only = "sandboxes/"

  region               = var.region
  account_id           = local.account_id
  state_bucket         = local.bucket
  state_prefix         = local.state_prefix
  code_bucket          = local.bucket
  code_prefix          = local.code_prefix
  instance_concurrency = var.instance_concurrency
  max_instances        = var.max_instances.sandbox
  trigger_auth_type    = "anonymous"
  trigger_methods      = ["GET", "HEAD"]
  # relayed calls through the sandbox functions' signed triggers, and nothing else of FC
  extra_statements = [
    {
      actions   = ["fc:InvokeFunction"]
      resources = [local.sandbox_functions_arn]
    },
  ]
  log_project = local.log_project
  log_store   = local.log_store
}

# The query, state and sandbox functions, each with its own RAM role, instance limit and HTTP
# trigger (modules/fc_function). One module call per function: the query function's
# environment holds the sandbox function's URL. Each environment is the operator's
# `environment`, then what this configuration sets (settings.tf), which wins.

locals {
  bucket       = var.deploy_api_functions ? alicloud_oss_bucket.state[0].bucket : null
  oss_endpoint = coalesce(var.oss_endpoint, "https://oss-${var.region}-internal.aliyuncs.com")

  # what every function is told about the store (credentials: FC gives each function its
  # role's temporary key)
  store_environment = var.deploy_api_functions ? {
    STORE_URL    = "oss://${local.bucket}/${var.state_prefix}"
    OSS_ENDPOINT = local.oss_endpoint
    OSS_REGION   = var.region
  } : {}

  model_environment = var.model_api_key == null ? {} : { MODEL_API_KEY = var.model_api_key }

  sandbox_api_function = "${var.name_prefix}-sandbox"
}

module "sandbox" {
  source = "../modules/fc_function"
  count  = var.deploy_api_functions ? 1 : 0

  name     = local.sandbox_api_function
  artifact = module.manifest[0].artifacts["sandbox"]
  # FC_REGION and FC_ACCOUNT_ID: FC sets them in every function (the FC_ names are FC's
  # own: a function may not set any), which is the region and account of the sandbox
  # functions here; the prefix goes by the launcher's other name, SANDBOX_FC_*.
  environment = merge(
    lookup(var.environment, "sandbox", {}),
    local.store_environment,
    module.environment.environment["sandbox"],
    local.secret_environment,
    {
      SANDBOX_BACKEND            = "fc"
      SANDBOX_FC_FUNCTION_PREFIX = var.sandbox_function_prefix
      SANDBOX_INTERNET_ACCESS    = tostring(var.sandbox_internet_access)
    },
    # the live views' anonymous door (desktop.tf), named in each desktop_url
    local.deploy_desktop_door ? { SANDBOX_DESKTOP_URL = module.sandbox_desktop[0].url } : {},
  )
  # sessions of the sandbox functions, and nothing else of FC (sandboxes.tf)
  extra_statements = [
    {
      actions   = local.launcher_actions
      resources = [local.sandbox_functions_arn]
    },
  ]

  region               = var.region
  account_id           = local.account_id
  state_bucket         = local.bucket
  state_prefix         = local.state_prefix
  code_bucket          = local.bucket
  code_prefix          = local.code_prefix
  instance_concurrency = var.instance_concurrency
  max_instances        = var.max_instances.sandbox
  trigger_auth_type    = var.http_trigger_auth_type.sandbox
  trigger_methods      = var.http_trigger_methods
  log_project          = local.log_project
  log_store            = local.log_store
}

module "state" {
  source = "../modules/fc_function"
  count  = var.deploy_api_functions ? 1 : 0

  name     = "${var.name_prefix}-state"
  artifact = module.manifest[0].artifacts["state"]
  environment = merge(
    lookup(var.environment, "state", {}),
    local.store_environment,
    module.environment.environment["state"],
    local.secret_environment,
  )

  region               = var.region
  account_id           = local.account_id
  state_bucket         = local.bucket
  state_prefix         = local.state_prefix
  code_bucket          = local.bucket
  code_prefix          = local.code_prefix
  instance_concurrency = var.instance_concurrency
  max_instances        = var.max_instances.state
  trigger_auth_type    = var.http_trigger_auth_type.state
  trigger_methods      = var.http_trigger_methods
  log_project          = local.log_project
  log_store            = local.log_store
}

module "query" {
  source = "../modules/fc_function"
  count  = var.deploy_api_functions ? 1 : 0

  name     = "${var.name_prefix}-query"
  artifact = module.manifest[0].artifacts["query"]
  environment = merge(
    lookup(var.environment, "query", {}),
    local.model_environment,
    local.store_environment,
    module.environment.environment["query"],
    local.secret_environment,
    {
      SANDBOX_URL = module.sandbox[0].url
      # with "function" auth the sandbox SDK signs each call with the role's key (ACS3)
      SANDBOX_URL_AUTH = var.http_trigger_auth_type.sandbox == "function" ? "fc" : "none"
    },
  )
  # With "function" auth on the sandbox function's trigger, the query function may invoke
  # that function (and no other): it signs its requests with its role.
  extra_statements = var.http_trigger_auth_type.sandbox == "function" ? [
    {
      actions   = ["fc:InvokeFunction"]
      resources = ["acs:fc:${var.region}:${local.account_id}:functions/${local.sandbox_api_function}"]
    },
  ] : []

  region               = var.region
  account_id           = local.account_id
  state_bucket         = local.bucket
  state_prefix         = local.state_prefix
  code_bucket          = local.bucket
  code_prefix          = local.code_prefix
  instance_concurrency = var.instance_concurrency
  max_instances        = var.max_instances.query
  trigger_auth_type    = var.http_trigger_auth_type.query
  trigger_methods      = var.http_trigger_methods
  log_project          = local.log_project
  log_store            = local.log_store
}

# One Lambda function per function of the manifest, each with its own role, concurrency
# limit and Function URL (modules/lambda_function). One module call per function: the query
# function's environment holds the sandbox function's URL, which a single for_each could
# not express without a dependency cycle. Each environment is the operator's `environment`,
# then what this configuration sets (settings.tf), which wins.

locals {
  # what every function is told about the store
  store_environment = { STORE_URL = local.store_url }

  model_environment = var.model_api_key == null ? {} : { MODEL_API_KEY = var.model_api_key }

  # the state bucket named through its versioning, so that a zip is uploaded only once
  # versioning is on and the object has the version id its function names
  code_bucket = aws_s3_bucket_versioning.state.bucket
}

module "sandbox" {
  source = "../modules/lambda_function"
  count  = var.enable_sandbox ? 1 : 0

  name     = "${var.name_prefix}-sandbox"
  artifact = module.manifest.artifacts["sandbox"]
  environment = merge(
    lookup(var.environment, "sandbox", {}),
    local.store_environment,
    module.environment.environment["sandbox"],
    local.secret_environment,
    {
      SANDBOX_BACKEND                  = var.sandbox_backend
      FC_REGION                        = var.fc_region
      FC_ACCOUNT_ID                    = var.fc_account_id == null ? "" : var.fc_account_id
      FC_SANDBOX_FUNCTION_PREFIX       = var.fc_sandbox_function_prefix
      AGENTRUN_TEMPLATE_PREFIX         = var.fc_sandbox_function_prefix
      ALIBABA_CLOUD_CREDENTIALS_SECRET = local.alibaba_secret_arn
      SANDBOX_INTERNET_ACCESS          = tostring(var.sandbox_internet_access)
    },
  )
  extra_statements = [
    {
      sid       = "ReadAlibabaCredentials"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [local.alibaba_secret_arn]
    },
  ]

  state_bucket_arn     = aws_s3_bucket.state.arn
  state_prefix         = local.state_prefix
  code_bucket          = local.code_bucket
  code_prefix          = local.code_prefix
  url_auth_type        = var.function_url_auth_type.sandbox
  reserved_concurrency = var.reserved_concurrency.sandbox
  xray_tracing         = var.xray_tracing
  log_retention_days   = var.log_retention_days
}

module "state" {
  source = "../modules/lambda_function"

  name     = "${var.name_prefix}-state"
  artifact = module.manifest.artifacts["state"]
  environment = merge(
    lookup(var.environment, "state", {}),
    local.store_environment,
    module.environment.environment["state"],
    local.secret_environment,
  )
  state_bucket_arn     = aws_s3_bucket.state.arn
  state_prefix         = local.state_prefix
  code_bucket          = local.code_bucket
  code_prefix          = local.code_prefix
  url_auth_type        = var.function_url_auth_type.state
  reserved_concurrency = var.reserved_concurrency.state
  xray_tracing         = var.xray_tracing
  log_retention_days   = var.log_retention_days
}

module "query" {
  source = "../modules/lambda_function"

  name     = "${var.name_prefix}-query"
  artifact = module.manifest.artifacts["query"]
  environment = merge(
    lookup(var.environment, "query", {}),
    local.model_environment,
    local.store_environment,
    module.environment.environment["query"],
    local.secret_environment,
    # with an AWS_IAM door the sandbox SDK signs each call with the role's credentials
    # (SigV4). one(module.sandbox[*]...) rather than module.sandbox[0]: the same value, and
    # one that checkov can follow (with [0] it evaluates nothing of this module call)
    var.enable_sandbox ? {
      SANDBOX_URL      = one(module.sandbox[*].url)
      SANDBOX_URL_AUTH = var.function_url_auth_type.sandbox == "AWS_IAM" ? "aws_iam" : "none"
    } : {},
  )
  # With AWS_IAM on the sandbox function's URL, the query function may call that URL
  # (and nothing else): it signs its requests with its role (SigV4, service "lambda").
  extra_statements = var.enable_sandbox && var.function_url_auth_type.sandbox == "AWS_IAM" ? [
    {
      sid       = "CallSandboxFunctionUrl"
      actions   = ["lambda:InvokeFunctionUrl", "lambda:InvokeFunction"]
      resources = [one(module.sandbox[*].function_arn)]
    },
  ] : []

  streaming             = var.query_streaming
  web_adapter_layer_arn = local.web_adapter_layer_arn

  state_bucket_arn     = aws_s3_bucket.state.arn
  state_prefix         = local.state_prefix
  code_bucket          = local.code_bucket
  code_prefix          = local.code_prefix
  url_auth_type        = var.function_url_auth_type.query
  reserved_concurrency = var.reserved_concurrency.query
  xray_tracing         = var.xray_tracing
  log_retention_days   = var.log_retention_days
}

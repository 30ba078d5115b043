# A development deployment on Function Compute 3.0, sandboxes included:
#   terraform -chdir=infra/terraform/alicloud apply -var-file=examples/dev.tfvars
# The sandbox images must be in Container Registry first (see the README's Deploy section).

region      = "cn-hangzhou"
name_prefix = "agentscope-dev"

# Who may call: the users of an Alibaba Cloud IDaaS application (OIDC), each with their own
# sessions and sandboxes; copy issuer and jwks_uri from the application's discovery
# document (.../oidc/.well-known/openid-configuration). The query and state triggers are
# open doors with the JWT check behind them; the sandbox function's takes only requests
# signed with an Alibaba Cloud key, the query function's.
auth_jwks_url = "https://example.aliyunidaas.com/api/v2/app_example/oidc/jwks"
auth_issuer   = "https://example.aliyunidaas.com/api/v2/app_example/oidc"
auth_audience = "app_example"
http_trigger_auth_type = {
  query   = "anonymous"
  state   = "anonymous"
  sandbox = "function"
}

# What a runaway loop or a busy user can spend
max_instances             = { query = 5, state = 5, sandbox = 5 }
sandbox_max_instances     = 5
turn_max_tool_calls       = 20
user_max_turns_per_minute = 10
user_max_sandboxes        = 2

session_expiry_days  = 90
force_destroy_bucket = true
log_retention_days   = 30 # a dev stack's logs; the default keeps them a year

environment = {
  query = {
    MODEL_BASE_URL = "https://dashscope.aliyuncs.com/compatible-mode/v1"
    MODEL_NAME     = "qwen-turbo"
  }
}
# MODEL_API_KEY: export TF_VAR_model_api_key=sk-...

sandbox_types     = ["base", "filesystem"]
image_namespace   = "agentscope"
image_tag         = "latest"
sandbox_cpu       = 2
sandbox_memory_mb = 4096

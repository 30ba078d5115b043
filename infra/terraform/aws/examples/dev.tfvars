# A development deployment on AWS with sandboxes on Alibaba Cloud Function Compute:
#   terraform -chdir=infra/terraform/aws apply -var-file=examples/dev.tfvars
# The sandbox functions come from the alicloud root (examples/sandboxes-only.tfvars); no key
# is shared with them: the launcher claims each sandbox's tool server with its own token.

region         = "us-east-1"
name_prefix    = "agentscope-dev"
python_version = "3.11"
architecture   = "x86_64"

query_streaming    = true
log_retention_days = 14 # a dev stack's logs; the default keeps them a year

# Who may call: the users of a Cognito user pool, each with their own sessions and
# sandboxes. The query and state URLs are open doors with the JWT check behind them; the
# sandbox URL takes only SigV4-signed calls, the query function's.
auth_jwks_url    = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_EXAMPLE/.well-known/jwks.json"
auth_issuer      = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_EXAMPLE"
auth_admin_scope = "agentscope/admin" # Cognito's custom scopes: <resource server>/<scope>
function_url_auth_type = {
  query   = "NONE"
  state   = "NONE"
  sandbox = "AWS_IAM"
}

# What a runaway loop or a busy user can spend
reserved_concurrency      = { query = 5, state = 5, sandbox = 5 }
turn_max_tool_calls       = 20
user_max_turns_per_minute = 10
user_max_sandboxes        = 2

# sessions untouched for 90 days go; a dev bucket may be destroyed with its contents
session_expiry_days  = 90
force_destroy_bucket = true

environment = {
  query = {
    MODEL_BASE_URL = "https://dashscope.aliyuncs.com/compatible-mode/v1"
    MODEL_NAME     = "qwen-turbo"
  }
}
# MODEL_API_KEY: export TF_VAR_model_api_key=sk-...

enable_sandbox  = true
sandbox_backend = "fc"
fc_region       = "cn-hangzhou"
fc_account_id   = "1234567890123456" # terraform -chdir=infra/terraform/alicloud output -raw fc_account_id

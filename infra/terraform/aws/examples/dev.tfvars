# A development deployment on AWS with sandboxes on Alibaba Cloud Function Compute:
#   terraform -chdir=infra/terraform/aws apply -var-file=examples/dev.tfvars
# The sandbox functions come from the alicloud root (examples/sandboxes-only.tfvars); their
# HMAC key is passed in the environment, never written here:
#   export TF_VAR_sandbox_token_key="$(terraform -chdir=infra/terraform/alicloud output -raw sandbox_token_key)"

region         = "us-east-1"
name_prefix    = "agentscope-dev"
python_version = "3.11"
architecture   = "x86_64"

query_streaming        = true
function_url_auth_type = "AWS_IAM"
log_retention_days     = 14

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

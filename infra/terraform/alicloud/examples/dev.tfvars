# A development deployment on Function Compute 3.0, sandboxes included:
#   terraform -chdir=infra/terraform/alicloud apply -var-file=examples/dev.tfvars
# The sandbox images must be in Container Registry first (see the README's Deploy section).

region      = "cn-hangzhou"
name_prefix = "agentscope-dev"

# "anonymous" lets plain curl call the functions: fine for a short-lived dev stack, not for
# production, where "function" (signed requests) is the default
http_trigger_auth_type = "anonymous"

session_expiry_days  = 90
force_destroy_bucket = true

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

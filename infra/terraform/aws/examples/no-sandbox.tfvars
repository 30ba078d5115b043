# The agent and the state API only: no sandbox function, no Alibaba Cloud account needed.
# Friday's code tool then answers that sandboxes are unavailable.
#   terraform -chdir=infra/terraform/aws apply -var-file=examples/no-sandbox.tfvars

region         = "eu-west-1"
name_prefix    = "agentscope"
python_version = "3.12"
architecture   = "arm64"
enable_sandbox = false

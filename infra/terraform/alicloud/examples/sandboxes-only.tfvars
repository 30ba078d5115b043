# Only the sandbox functions, for an AWS deployment whose sandbox function launches its
# sandboxes here (infra/terraform/aws with sandbox_backend = "fc"):
#   terraform -chdir=infra/terraform/alicloud apply -var-file=examples/sandboxes-only.tfvars
# Then attach the sandbox_launcher_policy output to a RAM user and put that user's access
# key in the AWS secret (see the README's Deploy section).

region                = "cn-hangzhou"
name_prefix           = "agentscope"
deploy_api_functions  = false
sandbox_types         = ["base", "filesystem"]
sandbox_max_instances = 10 # live sandboxes of each type at most

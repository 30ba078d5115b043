# agentscope-faas on Alibaba Cloud Function Compute 3.0: the state bucket (storage.tf), the
# query, state and sandbox functions with their own RAM roles and HTTP triggers
# (functions.tf), and one custom-container function per sandbox type (sandboxes.tf).

data "alicloud_account" "current" {}

locals {
  manifest_path = coalesce(var.manifest_path, "${path.module}/../../../dist/manifest.json")
  account_id    = data.alicloud_account.current.id

  # STORE_URL names a prefix, the RAM policies the same prefix with its slash
  state_prefix = "${var.state_prefix}/"
  # the zips FC deploys from, beside the state and never readable by the functions
  # (a state prefix starts with a letter or digit, so it cannot be this one)
  code_prefix = "_deploy/"
}

# The artifacts of the fc target: see modules/manifest.
module "manifest" {
  source = "../modules/manifest"
  count  = var.deploy_api_functions ? 1 : 0

  manifest_path = local.manifest_path
  target        = "fc"
  functions     = ["query", "state", "sandbox"]
}

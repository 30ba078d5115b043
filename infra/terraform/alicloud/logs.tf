# Where the query, state and sandbox functions' logs go: an SLS log store, kept
# log_retention_days (a year by default), created here unless log_project / log_store name
# an existing one. FC ships each function's lines with the function's role, which may post
# to that one log store only (modules/fc_function).

resource "alicloud_log_project" "functions" {
  count = var.deploy_api_functions && var.log_project == null ? 1 : 0

  project_name = "${var.name_prefix}-logs-${random_id.bucket.hex}"
  description  = "Logs of the ${var.name_prefix} functions"
  tags         = var.tags
}

resource "alicloud_log_store" "functions" {
  count = length(alicloud_log_project.functions)

  project_name     = alicloud_log_project.functions[0].project_name
  logstore_name    = "functions"
  retention_period = var.log_retention_days
  shard_count      = 2
  append_meta      = true
}

# a full-text index: what FC's console and SLS queries need to search the lines
resource "alicloud_log_store_index" "functions" {
  count = length(alicloud_log_store.functions)

  project  = alicloud_log_store.functions[0].project_name
  logstore = alicloud_log_store.functions[0].logstore_name

  full_text {
    case_sensitive = false
  }
}

locals {
  log_project = var.log_project != null ? var.log_project : one(alicloud_log_project.functions[*].project_name)
  log_store   = var.log_store != null ? var.log_store : one(alicloud_log_store.functions[*].logstore_name)
}

output "query_url" {
  description = "The query function's HTTP trigger: POST /process (SSE), GET /health."
  value       = var.deploy_api_functions ? module.query[0].url : null
}

output "state_url" {
  description = "The state function's HTTP trigger: /v1/users/..."
  value       = var.deploy_api_functions ? module.state[0].url : null
}

output "sandbox_url" {
  description = "The sandbox function's HTTP trigger: /v1/sandboxes/..."
  value       = var.deploy_api_functions ? module.sandbox[0].url : null
}

output "sandbox_function_urls" {
  description = "Sandbox type => its custom-container function's HTTP trigger (the launcher finds these itself)."
  value       = { for type, t in alicloud_fcv3_trigger.sandbox_type : type => trimsuffix(t.http_trigger[0].url_internet, "/") }
}

output "sandbox_desktop_url" {
  description = "The live views' anonymous door (browser and gui sandboxes' desktop_url); null when not deployed."
  value       = local.deploy_desktop_door ? module.sandbox_desktop[0].url : null
}

output "state_bucket" {
  description = "The OSS bucket holding sessions, the sandbox registry and the deployed zips."
  value       = local.bucket
}

output "store_url" {
  description = "STORE_URL the functions use."
  value       = lookup(local.store_environment, "STORE_URL", null)
}

output "fc_account_id" {
  description = "The account the sandbox functions live in (FC_ACCOUNT_ID, also for the aws root)."
  value       = local.account_id
}

output "sandbox_function_prefix" {
  description = "FC_SANDBOX_FUNCTION_PREFIX: sandbox function = prefix + type."
  value       = var.sandbox_function_prefix
}

output "sandbox_launcher_policy" {
  description = "RAM policy to attach to the user whose access key another cloud's sandbox function launches sandboxes with."
  value       = alicloud_ram_policy.sandbox_launcher.policy_name
}

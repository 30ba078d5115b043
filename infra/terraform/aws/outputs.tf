output "query_url" {
  description = "The query function's Function URL: POST /process (SSE), GET /health."
  value       = module.query.url
}

output "state_url" {
  description = "The state function's Function URL: /v1/users/..."
  value       = module.state.url
}

output "sandbox_url" {
  description = "The sandbox function's Function URL (/v1/sandboxes/...); null without enable_sandbox."
  value       = var.enable_sandbox ? module.sandbox[0].url : null

  precondition {
    condition     = !var.enable_sandbox || var.fc_account_id != null
    error_message = "enable_sandbox needs fc_account_id (from the alicloud root: `terraform output fc_account_id`)."
  }
}

output "function_names" {
  description = "Function name per function, for logs (`aws logs tail /aws/lambda/<name>`)."
  value = merge(
    { query = module.query.function_name, state = module.state.function_name },
    var.enable_sandbox ? { sandbox = module.sandbox[0].function_name } : {},
  )
}

output "state_bucket" {
  description = "The S3 bucket holding sessions and the sandbox registry."
  value       = aws_s3_bucket.state.bucket
}

output "store_url" {
  description = "STORE_URL the functions use."
  value       = local.store_url
}

output "alibaba_credentials_secret_arn" {
  description = "The Secrets Manager secret the sandbox function reads Alibaba Cloud credentials from; put {\"access_key_id\", \"access_key_secret\"} in it."
  value       = local.alibaba_secret_arn
}

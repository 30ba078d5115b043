output "function_name" {
  description = "The FC function's name."
  value       = alicloud_fcv3_function.this.function_name
}

output "url" {
  description = "The HTTP trigger's public URL, without a trailing slash."
  value       = trimsuffix(alicloud_fcv3_trigger.http.http_trigger[0].url_internet, "/")
}

output "role_arn" {
  description = "The function's RAM role."
  value       = alicloud_ram_role.this.arn
}

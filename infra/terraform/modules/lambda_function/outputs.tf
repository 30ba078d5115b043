output "function_name" {
  description = "The Lambda function's name."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "The Lambda function's ARN."
  value       = aws_lambda_function.this.arn
}

output "url" {
  description = "The Function URL, without its trailing slash."
  value       = trimsuffix(aws_lambda_function_url.this.function_url, "/")
}

output "role_name" {
  description = "The function's IAM role."
  value       = aws_iam_role.this.name
}

output "log_group_name" {
  description = "The function's CloudWatch log group."
  value       = aws_cloudwatch_log_group.this.name
}

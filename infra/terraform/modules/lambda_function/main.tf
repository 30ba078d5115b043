# One of the bundle's functions on AWS Lambda: its own IAM role (the state prefix, its own
# log group, X-Ray when traced, and whatever `extra_statements` the caller names, nothing
# else), its log group, the function from its manifest artifact with its concurrency limit
# (a zip too large for Lambda's request through an object in the code bucket: code.tf), and
# its Function URL.

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.28"
    }
  }
}

locals {
  # Under the Lambda Web Adapter the runtime starts `run.sh` (the app under uvicorn on
  # PORT) and the adapter's layer turns invocations into HTTP, streaming the response;
  # otherwise the runtime calls mangum's lambda_handler, which buffers it.
  adapter_environment = var.streaming ? {
    AWS_LAMBDA_EXEC_WRAPPER      = "/opt/bootstrap"
    AWS_LWA_INVOKE_MODE          = "response_stream"
    AWS_LWA_PORT                 = tostring(var.artifact.port)
    PORT                         = tostring(var.artifact.port)
    AWS_LWA_READINESS_CHECK_PATH = "/health"
  } : {}
}

data "aws_iam_policy_document" "assume" {
  statement {
    sid     = "LambdaAssumesThisRole"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = "${var.name}-role"
  description        = "Runs the ${var.name} function"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/aws/lambda/${var.name}"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

data "aws_iam_policy_document" "access" {
  # the session store: objects under the state prefix only
  statement {
    sid       = "StateObjects"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${var.state_bucket_arn}/${var.state_prefix}*"]
  }

  # listing, of the state prefix only (with it, a missing key reads as 404, not 403)
  statement {
    sid       = "StateListing"
    actions   = ["s3:ListBucket"]
    resources = [var.state_bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.state_prefix}*"]
    }
  }

  # its own log group (Terraform creates it, so no logs:CreateLogGroup)
  statement {
    sid       = "OwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }

  # X-Ray's trace upload has no resource to name: "*" is the only resource it accepts
  # (https://docs.aws.amazon.com/xray/latest/devguide/security_iam_service-with-iam.html)
  dynamic "statement" {
    for_each = var.xray_tracing ? ["XRayWrite"] : []
    content {
      sid       = statement.value
      actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
      resources = ["*"]
    }
  }

  dynamic "statement" {
    for_each = var.extra_statements
    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = statement.value.resources
    }
  }
}

resource "aws_iam_role_policy" "access" {
  name   = "${var.name}-access"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.access.json
}

# A zip too large to go in the request (code.tf) goes to the code bucket first; Lambda reads
# it there with the deployer's credentials when it creates or updates the function, and keeps
# its own copy. The function's role never reads it.
resource "aws_s3_object" "code" {
  count = local.code_object == null ? 0 : 1

  bucket      = local.code_object.bucket
  key         = local.code_object.key
  source      = local.code_object.source
  source_hash = local.code_object.source_hash

  lifecycle {
    # under the state prefix the function's role could read and replace its own next code
    precondition {
      condition     = !startswith(local.code_object.key, var.state_prefix)
      error_message = "code_prefix ${var.code_prefix} lies under the state prefix ${var.state_prefix}, which the function's role may write."
    }
  }
}

resource "aws_lambda_function" "this" {
  function_name = var.name
  description   = "agentscope-faas ${var.artifact.function} function"
  role          = aws_iam_role.this.arn

  # the zip in the request, or the uploaded object's version
  filename          = local.code_object == null ? var.artifact.zip_path : null
  s3_bucket         = one(aws_s3_object.code[*].bucket)
  s3_key            = one(aws_s3_object.code[*].key)
  s3_object_version = one(aws_s3_object.code[*].version_id)
  source_code_hash  = var.artifact.source_code_hash

  runtime       = var.artifact.runtime
  handler       = var.streaming ? var.artifact.streaming_handler : var.artifact.handler
  architectures = [var.artifact.arch]
  memory_size   = var.artifact.memory_mb
  timeout       = var.artifact.timeout_s
  layers        = var.streaming ? [var.web_adapter_layer_arn] : []

  # at most this many invocations at once (and as many reserved for it); 0 stops the
  # function, -1 lets it take the account's unreserved pool
  reserved_concurrent_executions = var.reserved_concurrency

  tracing_config {
    mode = var.xray_tracing ? "Active" : "PassThrough"
  }

  environment {
    # the platform's settings last, so that nothing the manifest or the operator says can
    # point a function at another store or break the adapter
    variables = merge(var.artifact.environment, var.environment, local.adapter_environment)
  }

  # "Text": each line as the function writes it; with LOG_FORMAT=json the function writes
  # one JSON object a line itself
  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.this.name
  }

  tags = var.tags

  # the role's policy must exist before the first cold start writes a log line
  depends_on = [aws_iam_role_policy.access]

  lifecycle {
    precondition {
      condition     = !var.streaming || (var.artifact.streaming_handler != null && var.web_adapter_layer_arn != null)
      error_message = "Streaming ${var.name} needs the manifest's streaming_handler (run.sh) and the Lambda Web Adapter layer ARN."
    }
  }
}

resource "aws_lambda_function_url" "this" {
  function_name      = aws_lambda_function.this.function_name
  authorization_type = var.url_auth_type
  invoke_mode        = var.streaming ? "RESPONSE_STREAM" : "BUFFERED"
  # With authorization_type NONE the provider (>= 6.28) adds the two public grants a URL
  # needs, lambda:InvokeFunctionUrl and lambda:InvokeFunction via the URL; with AWS_IAM
  # callers need both actions in their own identity policy and sign with SigV4.
}

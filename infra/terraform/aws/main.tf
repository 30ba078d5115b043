# agentscope-faas on AWS: the state bucket (storage.tf), one Lambda function per function
# of the manifest with its own role and Function URL (functions.tf), and the credentials the
# sandbox function uses to launch sandboxes on Alibaba Cloud (sandbox.tf).

data "aws_region" "current" {}

locals {
  manifest_path = coalesce(var.manifest_path, "${path.module}/../../../dist/manifest.json")
  functions     = var.enable_sandbox ? ["query", "state", "sandbox"] : ["query", "state"]

  # STORE_URL names a prefix, the IAM policies the same prefix with its slash
  state_prefix = "${var.state_prefix}/"
  store_url    = "s3://${aws_s3_bucket.state.bucket}/${var.state_prefix}"

  # Zips too large for Lambda's request (modules/lambda_function/code.tf) are uploaded to the
  # state bucket under this prefix, as on Alibaba Cloud, rather than to a bucket of their
  # own: the bucket is already private, versioned (the functions name the object version),
  # encrypted and public-access-blocked; no role of a function may touch anything outside
  # the state prefix (a state prefix starts with a letter or digit, so never this one); and
  # no lifecycle rule expires a current object outside the state prefix (expire-old-versions
  # removes only the versions a newer upload replaced, which no function uses any more:
  # Lambda keeps its own copy of the code it was deployed with).
  code_prefix = "_deploy/"

  web_adapter_layer_arn = coalesce(
    var.lambda_web_adapter_layer_arn,
    format(
      "arn:aws:lambda:%s:753240598075:layer:%s:%d",
      data.aws_region.current.region,
      var.architecture == "arm64" ? "LambdaAdapterLayerArm64" : "LambdaAdapterLayerX86",
      var.lambda_web_adapter_layer_version,
    ),
  )
}

# The artifacts of this target, python version and CPU: see modules/manifest.
module "manifest" {
  source = "../modules/manifest"

  manifest_path = local.manifest_path
  target        = "aws"
  python        = var.python_version
  arch          = var.architecture
  functions     = local.functions
}

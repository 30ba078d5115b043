# The sandbox function on AWS launches sandboxes on Alibaba Cloud (SANDBOX_BACKEND=fc: one
# Function Compute session per sandbox, of the custom-container functions the alicloud
# root deploys; or AgentRun). It signs those calls with a RAM user's access key, which it
# reads once per instance from a Secrets Manager secret: the ARN is in its environment
# (ALIBABA_CLOUD_CREDENTIALS_SECRET) and its role may read that one secret only.
#
# The secret is created empty: its value, {"access_key_id": "...", "access_key_secret":
# "..."}, is set by the operator (`aws secretsmanager put-secret-value`), so the key never
# passes through Terraform's state. Or name an existing secret in
# alibaba_credentials_secret_arn. (A customer-managed KMS key on that secret would also need
# kms:Decrypt for the sandbox role; the default aws/secretsmanager key does not.)
#
# Reaping: the sandbox function offers POST /v1/reaper/run, and nothing schedules it here.
# A scheduled EventBridge rule invokes a function with an EventBridge event, which mangum
# does not route to an HTTP path (only a hand-built Function URL event as the rule's input
# would), and nothing needs it: every FC session carries its own TTL and idle timeout
# (CreateSession), as every AgentRun sandbox does, so the platform ends abandoned sandboxes
# itself, and the sandbox_record_expiry_days lifecycle rule removes their registry records.

resource "aws_secretsmanager_secret" "alibaba_credentials" {
  count = var.enable_sandbox && var.alibaba_credentials_secret_arn == null ? 1 : 0

  name_prefix             = "${var.name_prefix}-alibaba-credentials-"
  description             = "Alibaba Cloud access key the ${var.name_prefix}-sandbox function launches sandboxes with: JSON {\"access_key_id\", \"access_key_secret\"}, set outside Terraform."
  recovery_window_in_days = 7
}

locals {
  alibaba_secret_arn = var.enable_sandbox ? coalesce(
    var.alibaba_credentials_secret_arn,
    try(aws_secretsmanager_secret.alibaba_credentials[0].arn, null),
  ) : null
}

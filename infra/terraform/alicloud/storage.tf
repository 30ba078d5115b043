# The state bucket: sessions (<prefix>/users/...), running turns' leases (<prefix>/leases/...),
# the sandbox registry (<prefix>/sandboxes/..., <prefix>/sandbox-pool/...), and the zips FC deploys from
# (_deploy/). Private, public access blocked, versioned, encrypted.

resource "random_id" "bucket" {
  byte_length = 4
}

resource "alicloud_oss_bucket" "state" {
  count = var.deploy_api_functions ? 1 : 0

  bucket        = coalesce(var.state_bucket_name, "${var.name_prefix}-state-${random_id.bucket.hex}")
  force_destroy = var.force_destroy_bucket
  tags          = var.tags

  versioning {
    status = "Enabled"
  }

  # OSS-managed keys: the store writes appendable objects, which OSS cannot encrypt with a
  # customer-specified KMS key
  server_side_encryption_rule {
    sse_algorithm = "AES256"
  }

  # the rules below overlap (the last one covers the whole bucket)
  lifecycle_rule_allow_same_action_overlap = true

  # Expiry counts from an object's last write.
  lifecycle_rule {
    id      = "expire-sessions"
    prefix  = "${local.state_prefix}users/"
    enabled = var.session_expiry_days > 0

    expiration {
      days = max(var.session_expiry_days, 1)
    }
  }

  lifecycle_rule {
    id      = "expire-sandbox-records"
    prefix  = "${local.state_prefix}sandboxes/"
    enabled = var.sandbox_record_expiry_days > 0

    expiration {
      days = max(var.sandbox_record_expiry_days, 1)
    }
  }

  lifecycle_rule {
    id      = "expire-sandbox-pool"
    prefix  = "${local.state_prefix}sandbox-pool/"
    enabled = var.sandbox_record_expiry_days > 0

    expiration {
      days = max(var.sandbox_record_expiry_days, 1)
    }
  }

  # a lease is rewritten while its turn runs (every SESSION_LOCK_TTL_S / 3): one a day old
  # was left by an instance that died mid-turn, and only slows the running-turns listing
  lifecycle_rule {
    id      = "expire-leases"
    prefix  = "${local.state_prefix}leases/"
    enabled = true

    expiration {
      days = 1
    }
  }

  lifecycle_rule {
    id      = "expire-old-versions"
    enabled = true

    noncurrent_version_expiration {
      days = var.noncurrent_version_expiry_days
    }

    expiration {
      expired_object_delete_marker = true
    }

    abort_multipart_upload {
      days = 1
    }
  }

  lifecycle {
    ignore_changes = [acl] # alicloud_oss_bucket_acl owns it
  }
}

resource "alicloud_oss_bucket_acl" "state" {
  count = var.deploy_api_functions ? 1 : 0

  bucket = alicloud_oss_bucket.state[0].bucket
  acl    = "private"
}

resource "alicloud_oss_bucket_public_access_block" "state" {
  count = var.deploy_api_functions ? 1 : 0

  bucket              = alicloud_oss_bucket.state[0].bucket
  block_public_access = true
}

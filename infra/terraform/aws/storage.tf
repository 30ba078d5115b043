# The state bucket: sessions (<prefix>/users/...), running turns' leases (<prefix>/leases/...),
# the sandbox registry (<prefix>/sandboxes/..., <prefix>/sandbox-pool/...), and the zips too
# large for Lambda's request (_deploy/, see local.code_prefix). Private, versioned, encrypted.

resource "aws_s3_bucket" "state" {
  bucket        = var.state_bucket_name
  bucket_prefix = var.state_bucket_name == null ? "${var.name_prefix}-state-" : null
  force_destroy = var.force_destroy_bucket
}

resource "aws_s3_bucket_public_access_block" "state" {
  bucket = aws_s3_bucket.state.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "state" {
  bucket = aws_s3_bucket.state.id

  rule {
    object_ownership = "BucketOwnerEnforced" # ACLs off: the bucket policy and IAM decide
  }
}

resource "aws_s3_bucket_versioning" "state" {
  bucket = aws_s3_bucket.state.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "state" {
  bucket = aws_s3_bucket.state.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

# Expiry counts from an object's last write (S3 keeps no access time). Noncurrent versions
# and expired delete markers go everywhere; sessions only when session_expiry_days > 0.
resource "aws_s3_bucket_lifecycle_configuration" "state" {
  bucket = aws_s3_bucket.state.id

  rule {
    id     = "expire-sessions"
    status = var.session_expiry_days > 0 ? "Enabled" : "Disabled"

    filter {
      prefix = "${local.state_prefix}users/"
    }

    expiration {
      days = max(var.session_expiry_days, 1)
    }
  }

  rule {
    id     = "expire-sandbox-records"
    status = var.sandbox_record_expiry_days > 0 ? "Enabled" : "Disabled"

    filter {
      prefix = "${local.state_prefix}sandboxes/"
    }

    expiration {
      days = max(var.sandbox_record_expiry_days, 1)
    }
  }

  rule {
    id     = "expire-sandbox-pool"
    status = var.sandbox_record_expiry_days > 0 ? "Enabled" : "Disabled"

    filter {
      prefix = "${local.state_prefix}sandbox-pool/"
    }

    expiration {
      days = max(var.sandbox_record_expiry_days, 1)
    }
  }

  # a lease is rewritten while its turn runs (every SESSION_LOCK_TTL_S / 3): one a day old
  # was left by an instance that died mid-turn, and only slows the running-turns listing
  rule {
    id     = "expire-leases"
    status = "Enabled"

    filter {
      prefix = "${local.state_prefix}leases/"
    }

    expiration {
      days = 1
    }
  }

  rule {
    id     = "expire-old-versions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiry_days
    }

    expiration {
      expired_object_delete_marker = true
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  # lifecycle rules on a versioned bucket act on versions: versioning first
  depends_on = [aws_s3_bucket_versioning.state]
}

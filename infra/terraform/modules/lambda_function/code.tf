# How the function's zip reaches Lambda: in the request itself, or through an S3 object.
# Locals only, nothing that needs a provider, so the tests run this file with variables.tf
# through terraform itself (tests/infra/test_code_upload.py).

locals {
  # Lambda takes a zip inside CreateFunction / UpdateFunctionCode (ZipFile) up to 50 MB
  # (CodeSizeZipped, 52428800 bytes): the whole request, with the zip in base64 (a third
  # larger), must stay under 69905067 bytes. 50 million bytes leave the request's other
  # fields (environment, description, layers) their room; a larger zip Lambda reads from S3.
  direct_upload_max_bytes = 50000000

  # null: the zip goes in the request; otherwise the object it is uploaded as. One key per
  # function in a versioned bucket: a new zip is a new version of it (source_hash is the
  # manifest's sha256, so a changed zip and only that is uploaded again), and the function
  # names that version, so an update always deploys the zip just uploaded.
  code_object = var.artifact.size <= local.direct_upload_max_bytes ? null : {
    bucket      = var.code_bucket
    key         = "${var.code_prefix}${var.name}.zip"
    source      = var.artifact.zip_path
    source_hash = var.artifact.sha256
  }
}

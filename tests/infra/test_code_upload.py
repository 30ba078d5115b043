"""How each zip reaches its function: inside Lambda's request, or as an object in the bucket.

modules/lambda_function/code.tf makes the choice in locals that need no provider, so terraform
itself evaluates it here, fed by modules/manifest from a manifest like `make package` writes,
with the module's variables.tf and its validation rules: the same inputs, type conversion and
refusals as a plan of either root. What the resources do with the choice is read from the HCL
(the aws provider cannot run here).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from tests.infra.hcl import TERRAFORM, expr, module, parse_file, root

MANIFEST = TERRAFORM / "modules" / "manifest"
LAMBDA = TERRAFORM / "modules" / "lambda_function"
QUERY_ZIP = "aws/query-python3.11-x86_64.zip"
# Lambda's limits, in bytes
DIRECT_UPLOAD_MAX = 50_000_000  # under CodeSizeZipped (52428800) with the request's other fields
UNZIPPED_MAX = 262_144_000  # CodeSizeUnzipped, 250 MiB


def set_query_zip(manifest: Path, write) -> dict:
    """Replace the aws 3.11 x86_64 query zip with what ``write(zip)`` puts in it, and its entry."""
    path = manifest.parent / QUERY_ZIP
    with zipfile.ZipFile(path, "w") as z:
        write(z)
    with zipfile.ZipFile(path) as z:
        unzipped = sum(i.file_size for i in z.infolist())
    data = json.loads(manifest.read_text())
    (entry,) = [a for a in data["artifacts"] if a["zip"] == QUERY_ZIP]
    entry.update(
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        size=path.stat().st_size,
        unzipped_size=unzipped,
    )
    manifest.write_text(json.dumps(data))
    return entry


def set_query_sizes(manifest: Path, **sizes: int) -> None:
    """Change what the manifest records of the query zip (size, unzipped_size) alone."""
    data = json.loads(manifest.read_text())
    (entry,) = [a for a in data["artifacts"] if a["zip"] == QUERY_ZIP]
    entry.update(sizes)
    manifest.write_text(json.dumps(data))


def choose(terraform, work: Path, manifest: Path) -> dict:
    """The lambda_function module's code choice for the query artifact (code.tf's locals).

    AssertionError with terraform's words when the plan is refused.
    """
    code = work / "lambda_function"
    code.mkdir(parents=True)
    for name in ("variables.tf", "code.tf"):
        shutil.copy(LAMBDA / name, code / name)
    (code / "outputs.tf").write_text(
        'output "code_object" {\n  value = local.code_object\n}\n'
        'output "direct_upload_max_bytes" {\n  value = local.direct_upload_max_bytes\n}\n'
    )
    (work / "main.tf").write_text(
        f'module "manifest" {{\n  source = {json.dumps(str(MANIFEST))}\n'
        f"  manifest_path = {json.dumps(str(manifest))}\n"
        '  target = "aws"\n  python = "3.11"\n  arch = "x86_64"\n  functions = ["query"]\n}\n'
        'module "query" {\n  source = "./lambda_function"\n'
        '  name = "agentscope-query"\n  artifact = module.manifest.artifacts["query"]\n'
        '  state_bucket_arn = "arn:aws:s3:::agentscope-state"\n  state_prefix = "agentscope/"\n'
        '  code_bucket = "agentscope-state"\n  code_prefix = "_deploy/"\n'
        '  url_auth_type = "NONE"\n  reserved_concurrency = 10\n  log_retention_days = 365\n}\n'
        # in one object: terraform leaves a null output out
        'output "choice" {\n  value = {\n    code_object = module.query.code_object\n'
        "    direct_upload_max_bytes = module.query.direct_upload_max_bytes\n  }\n}\n"
    )
    init = terraform("init", "-backend=false", "-input=false", "-no-color", cwd=work)
    assert init.returncode == 0, init.stdout + init.stderr
    done = terraform("apply", "-auto-approve", "-input=false", "-no-color", cwd=work)
    assert done.returncode == 0, done.stdout + done.stderr
    out = terraform("output", "-json", "choice", cwd=work)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def refused(terraform, work: Path, manifest: Path) -> str:
    with pytest.raises(AssertionError) as failed:
        choose(terraform, work, manifest)
    return " ".join(str(failed.value).replace("│", " ").split())


# --- the choice, evaluated by terraform ----------------------------------------------------


def test_a_small_zip_goes_in_the_request(terraform, tmp_path, fixture_manifest):
    got = choose(terraform, tmp_path / "root", fixture_manifest)

    assert got["direct_upload_max_bytes"] == DIRECT_UPLOAD_MAX
    assert got["code_object"] is None


def test_a_zip_over_the_request_limit_is_uploaded_with_its_hash(
    terraform, tmp_path, fixture_manifest
):
    # 51 MB that do not compress, as large as an agentscope query zip's packages are
    entry = set_query_zip(
        fixture_manifest,
        lambda z: z.writestr("blob", hashlib.shake_256(b"agentscope").digest(51_000_000)),
    )
    assert entry["size"] > DIRECT_UPLOAD_MAX

    got = choose(terraform, tmp_path / "root", fixture_manifest)

    zip_path = fixture_manifest.parent / QUERY_ZIP
    assert got["code_object"] == {
        "bucket": "agentscope-state",
        # one key per function: a new zip is a new version of it, which the function names
        "key": "_deploy/agentscope-query.zip",
        "source": str(zip_path),
        # the zip's sha256 as the manifest has it: a changed zip is uploaded again
        "source_hash": hashlib.sha256(zip_path.read_bytes()).hexdigest(),
    }


@pytest.mark.parametrize(
    ("size", "uploaded"), [(DIRECT_UPLOAD_MAX, False), (DIRECT_UPLOAD_MAX + 1, True)]
)
def test_the_choice_follows_the_size_the_manifest_records(
    terraform, tmp_path, fixture_manifest, size, uploaded
):
    set_query_sizes(fixture_manifest, size=size)
    got = choose(terraform, tmp_path / "root", fixture_manifest)
    assert (got["code_object"] is not None) is uploaded


def test_a_zip_over_lambdas_unzipped_limit_is_refused(terraform, tmp_path, fixture_manifest):
    def zeros(z: zipfile.ZipFile) -> None:
        with z.open("site-packages/big.bin", "w", force_zip64=True) as f:
            chunk = bytes(1 << 20)
            for _ in range(251):  # 251 MiB, a few KB zipped
                f.write(chunk)

    set_query_zip(fixture_manifest, zeros)

    said = refused(terraform, tmp_path / "root", fixture_manifest)
    assert "The query zip" in said
    assert QUERY_ZIP in said
    assert "unzips to 251.0 MiB" in said
    assert "at most 250 MiB (262144000 bytes) unzipped" in said
    assert "make package" in said


def test_a_zip_at_lambdas_unzipped_limit_is_deployed(terraform, tmp_path, fixture_manifest):
    set_query_sizes(fixture_manifest, size=DIRECT_UPLOAD_MAX + 1, unzipped_size=UNZIPPED_MAX)
    got = choose(terraform, tmp_path / "root", fixture_manifest)
    assert got["code_object"]["key"] == "_deploy/agentscope-query.zip"


# --- what the module does with it (HCL) ----------------------------------------------------


@pytest.fixture(scope="module")
def fn():
    return module("lambda_function")


def test_an_uploaded_zip_is_one_object_made_from_the_choice(fn):
    upload = fn.resource["aws_s3_object"]["code"]
    assert expr(upload["count"]) == "local.code_object == null ? 0 : 1"
    for field in ("bucket", "key", "source", "source_hash"):
        assert expr(upload[field]) == f"local.code_object.{field}"
    # no etag: S3's is an MD5, or no digest at all for a multipart upload
    assert "etag" not in upload
    # never where the function's own role could replace its next code
    (check,) = upload["lifecycle"][0]["precondition"]
    assert expr(check["condition"]) == "!startswith(local.code_object.key, var.state_prefix)"


def test_the_function_takes_the_zip_from_the_request_or_the_objects_version(fn):
    lam = fn.resource["aws_lambda_function"]["this"]
    assert expr(lam["filename"]) == "local.code_object == null ? var.artifact.zip_path : null"
    assert expr(lam["s3_bucket"]) == "one(aws_s3_object.code[*].bucket)"
    assert expr(lam["s3_key"]) == "one(aws_s3_object.code[*].key)"
    assert expr(lam["s3_object_version"]) == "one(aws_s3_object.code[*].version_id)"
    # either way the zip's hash decides whether the code is updated
    assert expr(lam["source_code_hash"]) == "var.artifact.source_code_hash"


def test_the_code_file_needs_no_provider():
    code = parse_file(LAMBDA / "code.tf")
    assert set(code) == {"locals"}, "the tests above evaluate code.tf with terraform alone"


# --- where the objects live (the AWS root) -------------------------------------------------


@pytest.fixture(scope="module")
def aws():
    return root("aws")


def test_zips_go_to_the_state_bucket_outside_the_state_prefix(aws):
    assert aws.locals["code_prefix"] == "_deploy/"
    # through the versioning resource: uploaded once versioning is on, so with a version id
    assert expr(aws.locals["code_bucket"]) == "aws_s3_bucket_versioning.state.bucket"
    versioning = aws.resource["aws_s3_bucket_versioning"]["state"]
    assert versioning["versioning_configuration"][0]["status"] == "Enabled"
    for name in ("query", "state", "sandbox"):
        call = aws.module[name]
        assert expr(call["code_bucket"]) == "local.code_bucket"
        assert expr(call["code_prefix"]) == "local.code_prefix"
    # the roles hold the state prefix only, and a state prefix starts with a letter or digit
    condition = aws.variable["state_prefix"]["validation"][0]["condition"]
    assert "^[A-Za-z0-9]" in condition
    assert aws.locals["state_prefix"] == "${var.state_prefix}/"


def test_no_lifecycle_rule_expires_a_current_zip(aws):
    rules = aws.resource["aws_s3_bucket_lifecycle_configuration"]["state"]["rule"]
    for rule in rules:
        prefix = rule["filter"][0].get("prefix")
        for expiration in rule.get("expiration", []):
            if "days" in expiration or "date" in expiration:
                # expiry of current objects: only ever of a part of the state
                assert prefix and prefix.startswith("${local.state_prefix}"), rule["id"]
            else:
                assert set(expiration) == {"expired_object_delete_marker"}, rule["id"]


# --- Function Compute ----------------------------------------------------------------------


def test_every_fc_zip_goes_through_oss():
    """FC 3.0 takes a zip in the request only up to 100 MB; from OSS up to 500 MB."""
    fc = module("fc_function")
    code = fc.resource["alicloud_fcv3_function"]["this"]["code"][0]
    assert set(code) == {"oss_bucket_name", "oss_object_name"}
    assert "count" not in fc.resource["alicloud_oss_bucket_object"]["code"]

"""What `make package` builds: the functions, the platforms they run on, and why these.

Functions (one table, read by build.py and echoed into the manifest that Terraform and the
emulator read): the pyproject extras each needs on top of the core dependencies, its
memory and timeout. query streams agent answers for minutes; sandbox proxies tool calls
that may run for up to 900 s (TOOL_CALL_TIMEOUT_S in functions/sandbox/app.py); state is
plain request/response. The sandbox function needs the launcher SDKs of the clouds (fc,
agentrun) but never the docker SDK: there is no Docker engine in a function.

botocore ships the models of every AWS service: ~28 MB unzipped, ~16 MB zipped, over half
of an AWS zip, enough to push query and sandbox past 30 MB. Our code talks to S3 (and, for
credentials, possibly STS/SSO and Secrets Manager), so the zips keep just those models. An
agent app that calls other AWS services (Bedrock...) names them with ``--aws-services``
(build.py), which adds them to the query zip; a missing one fails in the emulator's
artifact mode as in the cloud (botocore's UnknownServiceError).

Platforms (facts as of the cited documentation):
- AWS Lambda managed runtimes python3.11 (Amazon Linux 2, glibc 2.26) and python3.12
  (Amazon Linux 2023, glibc 2.34), each on x86_64 and arm64
  (https://docs.aws.amazon.com/lambda/latest/dg/lambda-python.html). Wheels are
  manylinux2014 (= manylinux_2_17, glibc 2.17) for all: the floor that every target meets.
- Alibaba Cloud Function Compute 3.0, custom runtime ``custom.debian12`` (Debian 12,
  x86_64 only; code in /code, the working directory; the runtime starts the command in
  customRuntimeConfig, by convention /code/bootstrap, and routes HTTP to its port, 9000 by
  default). Its built-in interpreters are Python 3.11.2 at /usr/bin/python3 (Debian's own,
  on PATH) and Python 3.12.4 under /opt/python3.12 (needs PATH=/opt/python3.12/bin:$PATH)
  (https://www.alibabacloud.com/help/en/functioncompute/user-guide/overview-10 ,
  https://help.aliyun.com/zh/functioncompute/custom-runtime/). We pick /usr/bin/python3,
  3.11: no PATH setting to forget, and the same minor version as the interpreter that
  builds here, so the zip can carry valid precompiled bytecode. custom.debian11 has only
  3.12 under /var/fc/lang; custom.debian10 and custom (Debian 9) are older still.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Function:
    name: str
    extras: tuple[str, ...]
    memory_mb: int
    timeout_s: int
    # the query function carries the user's agent app (AGENT_APP)
    carries_app: bool = False
    environment: tuple[tuple[str, str], ...] = ()


# the AWS services our own code may reach, whose botocore models every AWS zip keeps: S3 (the
# store), the credential providers' STS/SSO, Secrets Manager (launcher credentials)
OWN_AWS_SERVICES = ("s3", "sts", "sso", "sso-oidc", "secretsmanager")

FUNCTIONS: dict[str, Function] = {
    f.name: f
    for f in (
        Function("query", ("query",), 1024, 300, carries_app=True),
        Function("state", ("state",), 512, 30),
        Function(
            "sandbox",
            ("sandbox", "fc", "agentrun"),
            512,
            900,
            # the local default, docker, cannot run in a function
            environment=(("SANDBOX_BACKEND", "fc"),),
        ),
    )
}


@dataclass(frozen=True)
class Platform:
    target: str  # aws | fc
    runtime: str  # Lambda runtime id or FC runtime id
    python: str  # X.Y
    arch: str  # x86_64 | arm64
    extras: tuple[str, ...]  # the cloud's store backend and the HTTP server
    port: int  # where run.sh / bootstrap serve
    # the interpreter run.sh / bootstrap start: on PATH in Lambda; FC's fixed path
    interpreter: str

    @property
    def wheel_platform(self) -> str:
        """uv's ``--python-platform``: manylinux_2_17 (manylinux2014) and older wheels, which
        Lambda's and FC's glibc (2.26 and up) load."""
        machine = "aarch64" if self.arch == "arm64" else self.arch
        return f"{machine}-manylinux_2_17"

    @property
    def slug(self) -> str:
        return f"python{self.python}-{self.arch}"


AWS_PYTHONS = ("3.11", "3.12")
AWS_ARCHES = ("x86_64", "arm64")
LWA_PORT = 8080  # the Lambda Web Adapter's default AWS_LWA_PORT
FC_PORT = 9000  # FC's default customRuntimeConfig.port

PLATFORMS: tuple[Platform, ...] = (
    *(
        Platform("aws", f"python{py}", py, arch, ("aws", "serve"), LWA_PORT, "python3")
        for py in AWS_PYTHONS
        for arch in AWS_ARCHES
    ),
    Platform(
        "fc",
        "custom.debian12",
        "3.11",
        "x86_64",
        ("alicloud", "serve"),
        FC_PORT,
        "/usr/bin/python3",
    ),
)


def zip_rel(function: Function, platform: Platform) -> str:
    """Where a function's zip for a platform lies, relative to the manifest."""
    return f"{platform.target}/{function.name}-{platform.slug}.zip"


def manifest_entry(
    function: Function, platform: Platform, app: str, sha256: str, size: int, unzipped: int
) -> dict:
    """One artifact as the manifest lists it: what Terraform and the emulator deploy from."""
    environment = dict(function.environment)
    if function.carries_app:
        environment["AGENT_APP"] = app
    aws = platform.target == "aws"
    return {
        "function": function.name,
        "target": platform.target,
        "runtime": platform.runtime,
        "python": platform.python,
        "arch": platform.arch,
        "handler": f"functions.{function.name}.handler.lambda_handler" if aws else "bootstrap",
        "command": None if aws else ["/code/bootstrap"],
        "streaming_handler": "run.sh" if aws and function.name == "query" else None,
        "port": platform.port,
        "memory_mb": function.memory_mb,
        "timeout_s": function.timeout_s,
        "environment": dict(sorted(environment.items())),
        "zip": zip_rel(function, platform),
        "sha256": sha256,
        "size": size,
        "unzipped_size": unzipped,
    }

"""Every knob of every function, read from environment variables.

One class so that a deployment (Terraform, the emulator, a test) configures all three
functions the same way; each function reads only the fields it uses.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _also(name: str, other: str, default: Any) -> Any:
    """A setting read from env ``name`` or, when that is unset, ``other``."""
    return Field(default, validation_alias=AliasChoices(name, other))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=None, extra="ignore", case_sensitive=False, populate_by_name=True
    )

    # caller identity (functions/runtime/auth): "jwt" verifies a bearer JWT on every request;
    # "none" trusts callers but answers only loopback, same-site, JSON requests (local runs)
    auth_mode: Literal["none", "jwt"] = "none"
    auth_jwks_url: str | None = None  # the OIDC provider's key set
    auth_jwt_secret: SecretStr | None = None  # HS256, development only
    auth_issuer: str | None = None  # checked when set
    auth_audience: str | None = None  # checked when set
    auth_user_claim: str = "sub"
    auth_admin_scope: str = "agentscope:admin"  # may act for any user
    auth_leeway_s: float = 30.0  # clock skew allowed on exp / nbf / iat
    auth_jwks_min_refresh_s: float = 30.0  # an unknown kid refetches the keys at most this often
    sandbox_token: SecretStr | None = None  # the SDK's bearer token for SANDBOX_URL

    # every function: request bodies over this are refused with 413 (Lambda's own cap is 6 MB)
    max_request_bytes: int = Field(default=6 * 1024 * 1024, ge=1024)
    # sandbox function: file uploads into a workspace (the tool server's own cap is 64 MiB)
    max_upload_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)

    # query function
    agent_app: str = "examples.friday:agent_app"
    sse_ping_interval_s: float = 15.0
    session_lock_ttl_s: float = 900.0
    default_user_id: str = "default"

    # model client (unset MODEL_BASE_URL and MODEL_API_KEY: the offline demo model)
    model_base_url: str | None = None
    model_api_key: SecretStr | None = None
    model_name: str = "qwen-plus"
    model_timeout_s: float = 120.0

    # object store
    store_url: str = "file://.data/store"
    store_retry_attempts: int = 4
    store_retry_base_s: float = 0.05
    store_timeout_s: float = 10.0
    # file:// only: fsync every object before it is renamed into place. Off by default because
    # the rename alone keeps objects whole across a process crash, which is what the local
    # folder store must survive; turn it on where a power cut must not lose recent writes.
    file_store_fsync: bool = False
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    oss_endpoint: str | None = None
    oss_region: str | None = None
    oss_access_key_id: SecretStr | None = None
    oss_access_key_secret: SecretStr | None = None
    oss_security_token: SecretStr | None = None

    # sandboxes on Function Compute 3.0 (SANDBOX_BACKEND=fc): one pre-deployed function per
    # type, named prefix + type; a sandbox is one of its sessions (FC_REGION, FC_ACCOUNT_ID
    # and the ALIBABA_CLOUD_* credentials are below, shared with AgentRun)
    # FC refuses a function's own variable named FC_*, so a sandbox function hosted on FC
    # is told these as SANDBOX_FC_* (the second name of each)
    fc_endpoint: str | None = _also("fc_endpoint", "sandbox_fc_endpoint", None)  # unset: FC's
    fc_sandbox_function_prefix: str = _also(
        "fc_sandbox_function_prefix", "sandbox_fc_function_prefix", "agentscope-sandbox-"
    )
    fc_sandbox_qualifier: str = _also("fc_sandbox_qualifier", "sandbox_fc_qualifier", "LATEST")
    # an FC session's hard lifetime (FC allows 1..21600)
    fc_session_ttl_s: int = _also("fc_session_ttl_s", "sandbox_fc_session_ttl_s", 21600)
    # per control-plane call that is safe to repeat
    fc_retry_attempts: int = _also("fc_retry_attempts", "sandbox_fc_retry_attempts", 3)
    # read by nothing: a deployment's Terraform still sets SANDBOX_TOKEN_KEY until it drops the
    # key (tool servers are claimed with a token per sandbox now, no key derives them); remove
    # this field with that Terraform line
    sandbox_token_key: SecretStr | None = None
    # whether code in a sandbox may reach the internet: FC's CreateSession allowInternetAccess;
    # on Docker the egress of the sandboxes' network (the firewall cuts it when false)
    sandbox_internet_access: bool = True
    # on AWS: a Secrets Manager ARN holding {"access_key_id", "access_key_secret"}, read once
    alibaba_cloud_credentials_secret: str | None = None
    secretsmanager_endpoint_url: str | None = None  # e.g. moto on 127.0.0.1 in tests

    # sandboxes: images are [registry/]namespace/runtime-sandbox-<type>:tag, as in the seed
    runtime_sandbox_registry: str = ""
    runtime_sandbox_image_namespace: str = "agentscope"
    runtime_sandbox_image_tag: str = "latest"
    sandbox_url: str | None = None  # the sandbox function; unset = launch directly (embedded)
    # how calls to SANDBOX_URL are signed: "aws_iam" (SigV4, a Function URL with AWS_IAM
    # auth), "fc" (ACS3, an FC HTTP trigger with "function" auth) or "none" (an open URL)
    sandbox_url_auth: Literal["none", "aws_iam", "fc"] = "none"
    sandbox_backend: str = "docker"
    sandbox_ttl_s: float = 1800.0
    max_sandbox_instances: int = 20
    sandbox_pool_size: int = 0  # warm sandboxes kept ready per pooled type
    sandbox_pool_types: str = "base"  # comma-separated
    sandbox_memory: str = "1g"
    sandbox_cpus: float = 1.0
    sandbox_pids_limit: int = 256
    sandbox_workspace_size: str = "512m"
    sandbox_ready_timeout_s: float = 60.0
    # the longest `timeout` a tool call gets (longer ones are cut to it); passed into the
    # containers (the Docker launcher, the FC functions' and AgentRun templates' environment)
    sandbox_max_call_timeout_s: float = Field(default=300.0, gt=0, le=840)
    # Docker: the bridge network sandboxes run on (created when missing, inter-container
    # traffic off); unset: agentscope-faas-sandboxes, or ...-offline without internet access
    sandbox_docker_network: str | None = None
    # Docker: "iptables" keeps sandboxes off SANDBOX_BLOCKED_CIDRS (and, without internet
    # access, off everything) with rules for that bridge; "off" adds none (a host that cannot:
    # sandboxes then reach what the bridge routes to, metadata addresses included)
    sandbox_docker_firewall: Literal["iptables", "off"] = "iptables"
    # what a sandbox with internet access still never reaches: link-local (the metadata
    # services of AWS, GCP, Azure, ECS task roles) and Alibaba Cloud's metadata address
    sandbox_blocked_cidrs: str = "169.254.0.0/16,100.100.100.200/32"
    # the live view's door (browser and gui sandboxes on FC and AgentRun): the base URL of a
    # sandbox function that a browser can open without signing (an anonymous trigger of its
    # own, SANDBOX_ROUTES=desktop); unset: this function's own URL, as the request named it.
    # Docker sandboxes' live view is the container's own port on 127.0.0.1.
    sandbox_desktop_url: str | None = None
    # "desktop": serve the live-view routes alone (the anonymous door); "all": every route
    sandbox_routes: Literal["all", "desktop"] = "all"
    sandbox_reap_interval_s: float = 30.0  # the emulator's reaper; on FaaS a timer trigger
    # an unrecorded container younger than this may still be starting: the reaper spares it
    sandbox_orphan_grace_s: float = 120.0

    # Alibaba Cloud credentials and account, shared by the FC and AgentRun launchers
    alibaba_cloud_access_key_id: SecretStr | None = None
    alibaba_cloud_access_key_secret: SecretStr | None = None
    alibaba_cloud_security_token: SecretStr | None = None
    fc_region: str = "cn-hangzhou"
    fc_account_id: str | None = None

    # AgentRun launcher (SANDBOX_BACKEND=agentrun): one template per sandbox type
    agentrun_endpoint: str | None = None  # control plane, e.g. http://127.0.0.1:9200 (emulator)
    agentrun_data_endpoint: str | None = None  # unset: the account's agentrun-data endpoint
    agentrun_region: str | None = None  # unset: FC_REGION
    agentrun_template_prefix: str = "agentscope-sandbox-"  # template = prefix + sandbox type
    agentrun_idle_timeout_s: int | None = None  # unset: SANDBOX_TTL_S
    agentrun_retry_attempts: int = 3  # per control-plane call (all of them safe to repeat)

    # local emulator
    emulator_host: str = "127.0.0.1"
    query_port: int = 8090
    state_port: int = 8091
    sandbox_port: int = 8092
    # with --artifacts --platform fc: the live view's anonymous door (the sandbox function's
    # zip again, SANDBOX_ROUTES=desktop), as Terraform deploys it beside the signed one
    sandbox_desktop_port: int = 8093
    # set by Lambda in every function: a Function URL carries no WebSocket, so a sandbox
    # function there has no live-view door of its own (SANDBOX_DESKTOP_URL may name one)
    aws_lambda_function_name: str | None = None

    @model_validator(mode="after")
    def _oss_key_from_role(self) -> Settings:
        """On FC a function with a RAM role gets its temporary key as ALIBABA_CLOUD_*: with no
        OSS_* key set, the OSS store uses that key (all three parts, never mixed with OSS_*)."""
        if self.oss_access_key_id is None and self.oss_access_key_secret is None:
            self.oss_access_key_id = self.alibaba_cloud_access_key_id
            self.oss_access_key_secret = self.alibaba_cloud_access_key_secret
            self.oss_security_token = self.alibaba_cloud_security_token
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests build ``Settings(...)`` directly instead."""
    return Settings()


def sandbox_image(sandbox_type: str, settings: Settings) -> str:
    """The image for a sandbox type, named the way the seed's env vars name it."""
    registry = settings.runtime_sandbox_registry.strip("/")
    name = (
        f"{settings.runtime_sandbox_image_namespace}/runtime-sandbox-{sandbox_type}:"
        f"{settings.runtime_sandbox_image_tag}"
    )
    return f"{registry}/{name}" if registry else name

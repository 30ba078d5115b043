"""Every knob of every function, read from environment variables.

One class so that a deployment (Terraform, the emulator, a test) configures all three
functions the same way; each function reads only the fields it uses.
"""

# no ``from __future__ import annotations``: pydantic would compile and evaluate each of the
# class's annotations from its string, a millisecond of every function's start

import re
from functools import lru_cache
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

# a memory limit as Docker takes it: bytes, or a number with a unit b, k(b), m(b) or g(b)
DOCKER_SIZE = r"^[0-9]+(\.[0-9]+)?([kmgKMG][bB]?|[bB])?$"
# a tmpfs size as the kernel's tmpfs takes it (mount option size=): whole units k..e, or %
TMPFS_SIZE = r"^([0-9]+[kKmMgGtTpPeE]?|[0-9]+%)$"
# an origin as a browser sends it: scheme://host[:port], no path (http://[::1]:3000 and
# chrome-extension://id are origins too; a "*" in a host matches nothing)
ORIGIN = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/\s,*]+/?$")  # cors.py drops a last "/"
STORE_SCHEMES = ("file", "memory", "s3", "oss")


def _also(name: str, other: str, default: Any) -> Any:
    """A setting read from env ``name`` or, when that is unset, ``other``."""
    return Field(default, validation_alias=AliasChoices(name, other))


def _seed(name: str, *seed_names: str, default: Any) -> Any:
    """A setting read from env ``name`` or, when that is unset, by the name AgentScope
    Runtime's sandbox server reads it (``runtime-sandbox-server --config fc.env``)."""
    return Field(default, validation_alias=AliasChoices(name, *seed_names))


class Settings(BaseSettings):
    # hide_input_in_errors: an error's input is the whole environment read, secrets too
    model_config = SettingsConfigDict(
        env_file=None,
        extra="ignore",
        case_sensitive=False,
        populate_by_name=True,
        hide_input_in_errors=True,
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
    auth_leeway_s: float = Field(default=30.0, ge=0)  # clock skew allowed on exp / nbf / iat
    # an unknown kid refetches the keys at most this often
    auth_jwks_min_refresh_s: float = Field(default=30.0, ge=0)
    # browsers on these origins (comma-separated; "*" for any) may call the functions from
    # their pages: CORS answers (functions/runtime/cors.py); unset, no CORS headers at all
    cors_allow_origins: str = ""
    sandbox_token: SecretStr | None = None  # the SDK's bearer token for SANDBOX_URL

    # every function: "json" writes one JSON object per log line and one line per request
    # (request id, trace id, user, session, route, status, duration; tokens and tool calls
    # for turns); "text" keeps the plain lines (Terraform deploys json)
    log_format: Literal["text", "json"] = "text"

    # OpenTelemetry tracing (functions/runtime/tracing), by the SDK's own variables: on when
    # an OTLP/HTTP endpoint is set, unless OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none.
    # The SDK reads the rest itself: OTEL_TRACES_SAMPLER(_ARG), OTEL_RESOURCE_ATTRIBUTES,
    # OTEL_EXPORTER_OTLP_TIMEOUT / _COMPRESSION.
    otel_exporter_otlp_endpoint: str | None = None  # the base URL: spans go to <it>/v1/traces
    otel_exporter_otlp_traces_endpoint: str | None = None  # the full URL, over the one above
    otel_exporter_otlp_headers: SecretStr | None = None  # "k1=v1,k2=v2": a collector's key
    otel_sdk_disabled: bool = False
    otel_traces_exporter: str = "otlp"
    otel_service_name: str | None = None  # unset: agentscope-<function>
    # prompts, completions, tool arguments and results on spans: "true" (or the semantic
    # conventions' SPAN_ONLY / SPAN_AND_EVENT) records them; anything else does not
    otel_instrumentation_genai_capture_message_content: str = "false"

    # every function: request bodies over this are refused with 413 (Lambda's own cap is 6 MB)
    max_request_bytes: int = Field(default=6 * 1024 * 1024, ge=1024)
    # sandbox function: file uploads into a workspace (the tool server's own cap is 64 MiB)
    max_upload_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)

    # query function
    agent_app: str = "examples.friday:agent_app"
    sse_ping_interval_s: float = Field(default=15.0, ge=0)  # 0: no pings
    # a turn's session lease lasts this long unless renewed; the running turn renews it every
    # third of it, so a crashed instance frees its sessions within this time
    session_lock_ttl_s: float = Field(default=30.0, ge=1.0)
    # how often a running turn reads its lease (renewal, stop marks from POST /process/stop)
    stop_poll_interval_s: float = Field(default=0.5, gt=0)
    default_user_id: str = "default"
    # A2A (protocols/a2a.py): the base URL the agent card advertises (unset: the request's),
    # its skills (a JSON list of A2A AgentSkill objects; unset: one named for the app), its
    # version, and how often a task's streaming answer is saved at most (other readers of
    # the task see it that far behind; status changes are always saved at once)
    a2a_public_url: str | None = None
    a2a_skills: list[dict[str, Any]] | None = None
    a2a_agent_version: str = "1.0.0"
    a2a_save_interval_s: float = Field(default=0.5, ge=0)

    # query function: what one turn may spend (budgets.py). Reached, the turn ends
    # `incomplete` with error.code budget_exceeded, what it produced kept
    turn_max_seconds: float = Field(default=900.0, gt=0)  # wall clock from its start
    turn_max_model_calls: int = Field(default=100, ge=1)
    turn_max_tool_calls: int = Field(default=200, ge=1)
    turn_max_output_tokens: int = Field(default=200_000, ge=1)  # summed over its model calls
    turn_max_output_chars: int = Field(default=32 * 1024 * 1024, ge=1)  # streamed message text
    # FC passes no deadline with a request: its function timeout (Terraform sets it). With it
    # (or Lambda's time left) a turn ends cleanly this long before the platform's kill
    function_timeout_s: float | None = Field(default=None, gt=0)
    turn_deadline_margin_s: float = Field(default=3.0, ge=0)
    # per-user quotas, counted across instances in the store (services/quotas.py); unset: none
    user_max_turns_per_minute: int | None = Field(default=None, ge=1)  # query function
    user_max_sandboxes: int | None = Field(default=None, ge=1)  # sandbox function: live ones

    # model client (unset MODEL_BASE_URL and MODEL_API_KEY: the offline demo model)
    model_base_url: str | None = None
    model_api_key: SecretStr | None = None
    model_name: str = "qwen-plus"
    model_timeout_s: float = Field(default=120.0, gt=0)

    # object store
    store_url: str = "file://.data/store"
    store_retry_attempts: int = Field(default=4, ge=1)
    store_retry_base_s: float = Field(default=0.05, ge=0)
    store_timeout_s: float = Field(default=10.0, gt=0)
    # GET /health writes one small object to prove the store takes writes; a success is
    # trusted this long per instance, so frequent health checks cost one write per interval
    store_health_interval_s: float = Field(default=30.0, ge=0)
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
    fc_session_ttl_s: int = Field(
        default=21600,
        ge=1,
        le=21600,
        validation_alias=AliasChoices("fc_session_ttl_s", "sandbox_fc_session_ttl_s"),
    )
    # per control-plane call that is safe to repeat
    fc_retry_attempts: int = Field(
        default=3,
        ge=1,
        validation_alias=AliasChoices("fc_retry_attempts", "sandbox_fc_retry_attempts"),
    )
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
    # docker, fc or agentrun; the seed's CONTAINER_DEPLOYMENT names it too
    sandbox_backend: str = _seed("sandbox_backend", "container_deployment", default="docker")
    sandbox_ttl_s: float = Field(default=1800.0, gt=0, le=86400)
    max_sandbox_instances: int = Field(default=20, ge=1)
    sandbox_pool_size: int = Field(default=0, ge=0)  # warm sandboxes kept ready per pooled type
    sandbox_pool_types: str = "base"  # comma-separated
    # seconds between a claim of a desktop sandbox (browser, gui) from the pool and its
    # refill: the claimer's first calls come right after the claim, and a desktop's start at
    # that moment (a browser's launch) competes with them for the host's CPU
    sandbox_pool_refill_delay_s: float = Field(default=1.0, ge=0, le=300)
    # sizes: the memory limit as Docker reads it ("1.5gb"), the workspace as tmpfs ("1t", "50%")
    sandbox_memory: str = Field(default="1g", pattern=DOCKER_SIZE)
    sandbox_cpus: float = Field(default=1.0, gt=0)
    sandbox_pids_limit: int = Field(default=256, ge=1)
    sandbox_workspace_size: str = Field(default="512m", pattern=TMPFS_SIZE)
    sandbox_ready_timeout_s: float = Field(default=60.0, gt=0)
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
    # the emulator's reaper; on FaaS a timer trigger
    sandbox_reap_interval_s: float = Field(default=30.0, gt=0)
    # an unrecorded container younger than this may still be starting: the reaper spares it
    sandbox_orphan_grace_s: float = Field(default=120.0, ge=0)

    # Alibaba Cloud credentials and account, shared by the FC and AgentRun launchers
    alibaba_cloud_access_key_id: SecretStr | None = _seed(
        "alibaba_cloud_access_key_id", "fc_access_key_id", "agent_run_access_key_id", default=None
    )
    alibaba_cloud_access_key_secret: SecretStr | None = _seed(
        "alibaba_cloud_access_key_secret",
        "fc_access_key_secret",
        "agent_run_access_key_secret",
        default=None,
    )
    alibaba_cloud_security_token: SecretStr | None = None
    fc_region: str = _seed("fc_region", "fc_region_id", default="cn-hangzhou")
    fc_account_id: str | None = _seed("fc_account_id", "agent_run_account_id", default=None)

    # AgentRun launcher (SANDBOX_BACKEND=agentrun): one template per sandbox type
    agentrun_endpoint: str | None = None  # control plane, e.g. http://127.0.0.1:9200 (emulator)
    agentrun_data_endpoint: str | None = None  # unset: the account's agentrun-data endpoint
    agentrun_region: str | None = _seed(  # unset: FC_REGION
        "agentrun_region", "agent_run_region_id", default=None
    )
    agentrun_template_prefix: str = "agentscope-sandbox-"  # template = prefix + sandbox type
    agentrun_idle_timeout_s: int | None = Field(default=None, ge=1)  # unset: SANDBOX_TTL_S
    # per control-plane call (all of them safe to repeat)
    agentrun_retry_attempts: int = Field(default=3, ge=1)

    # local emulator
    emulator_host: str = "127.0.0.1"
    query_port: int = Field(default=8090, ge=1, le=65535)
    state_port: int = Field(default=8091, ge=1, le=65535)
    sandbox_port: int = Field(default=8092, ge=1, le=65535)
    # the offline demo model's Chat Completions endpoint
    model_port: int = Field(default=8093, ge=1, le=65535)
    # with --artifacts --platform fc: the live view's anonymous door (the sandbox function's
    # zip again, SANDBOX_ROUTES=desktop), as Terraform deploys it beside the signed one
    sandbox_desktop_port: int = Field(default=8094, ge=1, le=65535)
    # set by Lambda in every function: a Function URL carries no WebSocket, so a sandbox
    # function there has no live-view door of its own (SANDBOX_DESKTOP_URL may name one)
    aws_lambda_function_name: str | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then the environment: the sources a function has (no ``.env`` file, no
        secrets directory; pydantic-settings' dotenv source reads the environment again
        even without a file, a third of the settings' start)."""
        return init_settings, env_settings

    @model_validator(mode="after")
    def _lease_renewed_in_time(self) -> "Settings":
        """A running turn renews its lease only when it reads it (every
        ``STOP_POLL_INTERVAL_S``), and must do so every third of ``SESSION_LOCK_TTL_S``:
        a slower poll lets the lease lapse under a live turn."""
        if self.stop_poll_interval_s > self.session_lock_ttl_s / 3:
            raise ValueError(
                f"STOP_POLL_INTERVAL_S ({self.stop_poll_interval_s:g}) must be at most "
                f"SESSION_LOCK_TTL_S / 3 ({self.session_lock_ttl_s / 3:g}): a running turn "
                "renews its session lease when it polls it"
            )
        return self

    @model_validator(mode="after")
    def _usable(self) -> "Settings":
        """Values that would pass as types but leave every request failing later: refused
        at start, naming the variable."""
        scheme = self.store_url.partition("://")[0]
        if "://" not in self.store_url or scheme not in STORE_SCHEMES:
            raise ValueError(
                f"STORE_URL {self.store_url!r}: use file://, memory://, s3:// or oss://"
            )
        if self.auth_mode == "jwt" and not (
            secret_value(self.auth_jwt_secret) or self.auth_jwks_url
        ):
            raise ValueError(
                "AUTH_MODE=jwt needs AUTH_JWKS_URL (or AUTH_JWT_SECRET in development): "
                "without either no token can be verified"
            )
        for origin in self.cors_allow_origins.split(","):
            origin = origin.strip()
            if origin and origin != "*" and not ORIGIN.match(origin):
                raise ValueError(
                    f'CORS_ALLOW_ORIGINS: {origin!r} is not an origin (scheme://host[:port]) or "*"'
                )
        return self

    @model_validator(mode="after")
    def _oss_key_from_role(self) -> "Settings":
        """On FC a function with a RAM role gets its temporary key as ALIBABA_CLOUD_*: with no
        OSS_* key set, the OSS store uses that key (all three parts, never mixed with OSS_*)."""
        if self.oss_access_key_id is None and self.oss_access_key_secret is None:
            self.oss_access_key_id = self.alibaba_cloud_access_key_id
            self.oss_access_key_secret = self.alibaba_cloud_access_key_secret
            self.oss_security_token = self.alibaba_cloud_security_token
        return self


def secret_value(value: SecretStr | str | None) -> str | None:
    """The plain string of a ``SecretStr`` setting (or str); None when unset or empty."""
    if value is None:
        return None
    plain = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
    return plain or None


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

"""Sandboxes on Alibaba Cloud AgentRun, through its official SDK (alibabacloud-agentrun20250910).

One AgentRun template per sandbox type (``AGENTRUN_TEMPLATE_PREFIX`` + type, e.g.
``agentscope-sandbox-base``), deployed beforehand with the type's image and port 8000, and
no secret in its environment variables. A sandbox is an AgentRun sandbox of that template
whose id we choose (``asf-<owner>-<sandbox id>``): the id makes CreateSandbox safe to retry
and tells which sandboxes belong to this deployment, since sandboxes carry no tags.

What the SDK (5.7) offers for sandboxes, all ROA over HTTPS at
``agentrun.<region>.aliyuncs.com``, version 2025-09-10, signed ACS3-HMAC-SHA256:

==================  ======  ==========================================  =========
operation           method  path                                        used here
==================  ======  ==========================================  =========
CreateTemplate      POST    /2025-09-10/templates                       emulator setup
GetTemplate         GET     /2025-09-10/templates/{templateName}        no
ListTemplates       GET     /2025-09-10/templates                       no
UpdateTemplate      PUT     /2025-09-10/templates/{templateName}        no
DeleteTemplate      DELETE  /2025-09-10/templates/{templateName}        no
Activate/StopTemplateMCP  PATCH  /templates/{templateName}/mcp/...      no
CreateSandbox       POST    /2025-09-10/sandboxes                       start
GetSandbox          GET     /2025-09-10/sandboxes/{sandboxId}           alive, start
ListSandboxes       GET     /2025-09-10/sandboxes?templateName=&status=&maxResults=&nextToken=
                                                                        owned
StopSandbox         POST    /2025-09-10/sandboxes/{sandboxId}/stop      no
DeleteSandbox       DELETE  /2025-09-10/sandboxes/{sandboxId}           stop
PauseSandbox        PUT     /2025-09-10/sandboxes/{sandboxId}/pause     pause
ResumeSandbox       PUT     /2025-09-10/sandboxes/{sandboxId}/resume    resume
GetAccessToken      GET     /2025-09-10/agents/accessToken?resourceId=&resourceType=sandbox
                                                                        start
==================  ======  ==========================================  =========

The SDK has no data-plane operation. Calls into a sandbox go to AgentRun's data endpoint,
``https://<account>.agentrun-data.<region>.aliyuncs.com/sandboxes/<sandboxId>/<path>``
with an ``Agentrun-Access-Token`` header from GetAccessToken (as AgentRun's own Python SDK,
agentrun-sdk, calls it); the path after the prefix reaches the sandbox's port.
The tool server's token is the sandbox's own: the launcher claims the tool server with it
(``POST /claim`` through the data plane, ``claim``) as soon as it answers, before the sandbox
id is known to anyone else; the template's environment, shared by all its sandboxes, holds no
secret for code in one sandbox to read.

Errors: a missing sandbox (404) is "gone"; a missing template fails the launch with a message
naming it; throttling (``ThrottlingException``, HTTP 429) becomes ``BackendThrottled``, quota
and a control plane that keeps failing ``BackendUnavailable``. Every call made here is safe to
repeat (reads, deletes, pause/resume, and CreateSandbox with our own id), so transport errors,
5xx and short throttles are retried with backoff; code execution never goes through here (the
sandbox function's proxy makes one attempt).

The SDK takes ``Config(endpoint=..., protocol="http")``: ``AGENTRUN_ENDPOINT`` points it at
the local emulator (``local_emulator/agentrun``), which then also serves the data plane.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import quote, urlsplit

from ...retry import RetryPolicy, retry_async
from ...settings import Settings
from ..errors import (
    BackendThrottled,
    BackendUnavailable,
    LaunchError,
    SandboxBusy,
    SandboxGone,
    SandboxRefused,
    SandboxUnreachable,
)
from .alibaba import alibaba_credentials, iso_time
from .base import Launched, Launcher
from .claim import claim
from .docker import owner_id

HANDLE_PREFIX = "asf-"
ACCESS_TOKEN_HEADER = "Agentrun-Access-Token"
SESSION_HEADER = "x-agentscope-sandbox-session"  # the tool server's default
DEAD = {"TERMINATED", "FAILED", "DELETED", "DELETING", "STOPPED", "STOPPING", "ERROR"}
_POLL_S = 0.05
_STATUS_EVERY_S = 1.0
_MAX_INLINE_WAIT_S = 2.0  # a throttle asking for longer goes back to the caller as a 429


class _Missing(Exception):
    """AgentRun answered 404 for what we asked about."""


class _Exists(Exception):
    """AgentRun answered that what we create already exists."""


def _exists(exc: Any) -> bool:
    return "already exist" in str(exc.message).lower()


class AgentRunLauncher(Launcher):
    name = "agentrun"
    ends_idle = True
    can_pause = True

    def __init__(self, settings: Settings, owner: str | None = None) -> None:
        self.settings = settings
        self.owner = owner or owner_id(settings)
        self.prefix = f"{HANDLE_PREFIX}{self.owner}-"
        self._client: Any = None
        self._client_key: Any = None  # the credentials it signs with

    # -- configuration ---------------------------------------------------------------------

    @property
    def region(self) -> str:
        return self.settings.agentrun_region or self.settings.fc_region

    def template(self, sandbox_type: str) -> str:
        return f"{self.settings.agentrun_template_prefix}{sandbox_type}"

    def data_endpoint(self) -> str:
        s = self.settings
        if s.agentrun_data_endpoint:
            return s.agentrun_data_endpoint.rstrip("/")
        if s.agentrun_endpoint and "://" in s.agentrun_endpoint:
            return s.agentrun_endpoint.rstrip("/")  # the local emulator serves both planes
        if not s.fc_account_id:
            raise LaunchError("set FC_ACCOUNT_ID (or AGENTRUN_DATA_ENDPOINT) for AgentRun")
        return f"https://{s.fc_account_id}.agentrun-data.{self.region}.aliyuncs.com"

    def client(self) -> Any:
        s = self.settings
        credentials = alibaba_credentials(s)
        if self._client is None or self._client_key != credentials:  # a fresh role key
            from alibabacloud_agentrun20250910.client import Client
            from alibabacloud_tea_openapi.utils_models import Config

            config = Config(
                access_key_id=credentials.access_key_id,
                access_key_secret=credentials.access_key_secret,
                security_token=credentials.security_token,
                region_id=self.region,
            )
            if s.agentrun_endpoint:
                url = urlsplit(
                    s.agentrun_endpoint
                    if "://" in s.agentrun_endpoint
                    else f"https://{s.agentrun_endpoint}"
                )
                config.endpoint, config.protocol = url.netloc, url.scheme
            self._client, self._client_key = Client(config), credentials
        return self._client

    # -- calls -----------------------------------------------------------------------------

    async def _call(self, action: str, method: str, *args: Any) -> Any:
        """One control-plane call with retries; raises _Missing, _Exists or a Backend* error."""
        from alibabacloud_tea_openapi.exceptions import AlibabaCloudException, ThrottlingException
        from darabonba.runtime import RuntimeOptions
        from Tea.exceptions import UnretryableException

        runtime = RuntimeOptions(read_timeout=30_000, connect_timeout=5_000)

        def retryable(exc: BaseException) -> bool | float:
            if isinstance(exc, ThrottlingException):
                wait_s = (exc.retry_after or 1000) / 1000
                return wait_s if wait_s <= _MAX_INLINE_WAIT_S else False
            if isinstance(exc, AlibabaCloudException):
                status, code = exc.status_code or 0, str(exc.code or "")
                if status == 404 or _exists(exc) or "quota" in code.lower():
                    return False
                return status == 429 or status >= 500
            return isinstance(exc, UnretryableException)

        async def once(_: int) -> Any:
            call = getattr(self.client(), f"{method}_with_options_async")
            return await call(*args, {}, runtime)

        policy = RetryPolicy(max(1, self.settings.agentrun_retry_attempts), 0.1, 2.0)
        try:
            return await retry_async(once, policy=policy, retryable=retryable)
        except ThrottlingException as exc:
            wait_s = (exc.retry_after or 1000) / 1000
            raise BackendThrottled(wait_s, f"AgentRun throttled {action}") from None
        except AlibabaCloudException as exc:
            status, code = exc.status_code or 0, str(exc.code or "")
            if status == 404:
                raise _Missing(exc.message) from None
            if _exists(exc):
                raise _Exists(exc.message) from None
            if "quota" in code.lower():
                raise BackendUnavailable(f"AgentRun quota reached ({action}: {code})") from None
            if status == 429:
                raise BackendThrottled(1.0, f"AgentRun throttled {action}") from None
            if status < 500:
                raise LaunchError(f"AgentRun refused {action}: {code} {exc.message}") from None
            raise BackendUnavailable(f"AgentRun failed {action}: {code}") from None
        except UnretryableException as exc:
            raise BackendUnavailable(f"AgentRun is unreachable ({action}): {exc}") from None

    # -- the Launcher protocol -------------------------------------------------------------

    async def start(
        self,
        sandbox_type: str,
        sandbox_id: str,
        token: str,
        idle_timeout_s: float | None = None,
    ) -> Launched:
        """Create the sandbox, then return once its tool server, reached through the data
        plane, has been claimed with ``token``."""
        from alibabacloud_agentrun20250910 import models

        handle = f"{self.prefix}{sandbox_id}"
        template = self.template(sandbox_type)
        idle_s = int(
            idle_timeout_s or self.settings.agentrun_idle_timeout_s or self.settings.sandbox_ttl_s
        )
        request = models.CreateSandboxRequest(
            body=models.CreateSandboxInput(
                template_name=template, sandbox_id=handle, sandbox_idle_timeout_seconds=idle_s
            )
        )
        try:
            await self._call("CreateSandbox", "create_sandbox", request)
        except _Missing as exc:
            raise LaunchError(
                f"AgentRun template {template!r} does not exist in {self.region} ({exc}); "
                "deploy the sandbox templates or set AGENTRUN_TEMPLATE_PREFIX"
            ) from None
        except _Exists:
            pass  # an earlier attempt of ours created it: the id is ours alone
        try:
            access = await self._call(
                "GetAccessToken",
                "get_access_token",
                models.GetAccessTokenRequest(resource_id=handle, resource_type="sandbox"),
            )
            headers = {
                SESSION_HEADER: handle,
                ACCESS_TOKEN_HEADER: access.body.data.access_token,
            }
            endpoint = f"{self.data_endpoint()}/sandboxes/{quote(handle, safe='')}"
            await self._claim(handle, endpoint, token, headers)
        except BaseException:
            await asyncio.shield(self._forget(handle))
            raise
        return Launched(handle=handle, endpoint=endpoint, headers=headers)

    async def _forget(self, handle: str) -> None:
        try:
            await self.stop(handle)
        except Exception:  # the reaper removes it later: it is ours by its id
            pass

    async def _claim(self, handle: str, endpoint: str, token: str, headers: dict[str, str]) -> None:
        """Claim the tool server through the data plane until it answers; check the
        sandbox's status now and then."""
        import httpx

        deadline = time.monotonic() + self.settings.sandbox_ready_timeout_s
        next_status = time.monotonic() + _STATUS_EVERY_S
        async with httpx.AsyncClient(timeout=5.0) as http:
            while True:
                if await claim(http, endpoint, token, headers) is None:
                    return
                if time.monotonic() >= next_status:
                    next_status = time.monotonic() + _STATUS_EVERY_S
                    status = await self._status(handle)
                    if status is None or status in DEAD:
                        raise LaunchError(
                            f"AgentRun sandbox {handle} is {status or 'gone'} before it was ready"
                        )
                if time.monotonic() > deadline:
                    raise LaunchError("the AgentRun sandbox's tool server did not become ready")
                await asyncio.sleep(_POLL_S)

    async def _status(self, handle: str) -> str | None:
        try:
            found = await self._call("GetSandbox", "get_sandbox", handle)
        except _Missing:
            return None
        return str(found.body.data.status or "").upper()

    async def stop(self, handle: str) -> None:
        try:
            await self._call("DeleteSandbox", "delete_sandbox", handle)
        except _Missing:
            pass

    async def alive(self, handle: str) -> bool:
        try:
            status = await self._status(handle)
        except (LaunchError, BackendUnavailable, BackendThrottled):
            return True  # cannot tell: keep the record, the caller gets a retryable error
        return status is not None and status not in DEAD

    async def owned(self) -> dict[str, tuple[str, float]]:
        from alibabacloud_agentrun20250910 import models

        found: dict[str, tuple[str, float]] = {}
        next_token = None
        while True:
            page = await self._call(
                "ListSandboxes",
                "list_sandboxes",
                models.ListSandboxesRequest(max_results=100, next_token=next_token),
            )
            data = page.body.data
            for item in (data.items if data else None) or []:
                if item.sandbox_id and item.sandbox_id.startswith(self.prefix):
                    found[item.sandbox_id] = (
                        item.sandbox_id.removeprefix(self.prefix),
                        iso_time(item.created_at),
                    )
            next_token = data.next_token if data else None
            if not next_token:
                return found

    def call_error(self, status: int, body: bytes) -> Exception | None:
        """AgentRun's data plane refusing a call (its ``{code: ERR_*, requestId}`` body), as
        the error to raise; None when the answer is the tool server's own."""
        if status < 400:
            return None
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
        if not (isinstance(answer, dict) and str(answer.get("code", "")).startswith("ERR_")):
            return None
        if "requestId" not in answer:
            return None
        message = str(answer.get("message") or answer["code"])
        if status == 404:
            return SandboxGone(f"the AgentRun sandbox ended ({message})")
        if status == 429:
            return BackendThrottled(1.0, f"AgentRun throttled the call ({message})")
        if status == 409:
            return SandboxBusy(f"AgentRun: {message}")
        if status in (401, 403):
            return SandboxRefused(f"AgentRun refused the call ({message})")
        return SandboxUnreachable(f"AgentRun: {message}; retry")

    async def pause(self, handle: str) -> None:
        try:
            await self._call("PauseSandbox", "pause_sandbox", handle)
        except _Missing:
            raise LaunchError(f"AgentRun sandbox {handle} is gone") from None

    async def resume(self, handle: str) -> None:
        try:
            await self._call("ResumeSandbox", "resume_sandbox", handle)
        except _Missing:
            raise LaunchError(f"AgentRun sandbox {handle} is gone") from None

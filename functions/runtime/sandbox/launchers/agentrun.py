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

An answer can be lost after AgentRun did the work. A lost CreateSandbox answer is met by
the retry's "already exists" (the sandbox is ours); a create that fails all the same
deletes the id it chose before it fails, so no sandbox is left that no record knows. A lost
PauseSandbox/ResumeSandbox answer is met by the retry's 409 ("is PAUSED, not READY"): a
step that fails is checked against the sandbox's status, and one already there is done.
A 200 answer without the fields the SDK's models promise (or no JSON at all) is the
backend's fault, ``SandboxBackendError`` (502), never an internal error; messages that reach
callers never quote a body the SDK could not read nor name a sandbox's AgentRun id
(``scrub``).

The SDK takes ``Config(endpoint=..., protocol="http")``: ``AGENTRUN_ENDPOINT`` points it at
the local emulator (``local_emulator/agentrun``), which then also serves the data plane.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import Iterator
from typing import Any, NoReturn
from urllib.parse import quote, urlsplit

from ...retry import RetryPolicy, retry_async
from ...settings import Settings
from ..errors import (
    BackendThrottled,
    BackendUnavailable,
    LaunchError,
    SandboxBackendError,
    SandboxBusy,
    SandboxGone,
    SandboxPaused,
    SandboxRefused,
    SandboxUnreachable,
)
from .alibaba import alibaba_credentials, iso_time
from .base import Launched, Launcher
from .claim import claim
from .docker import owner_id

log = logging.getLogger("agentscope_faas.sandbox")

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


def _malformed(action: str, what: str) -> NoReturn:
    raise SandboxBackendError(f"AgentRun's answer to {action} is malformed ({what})")


@contextlib.contextmanager
def _reading(action: str) -> Iterator[None]:
    """Reading a control-plane answer: one without the fields the SDK's models promise
    (no ``data``, ``data: null``, a list where an object belongs), or that is no JSON at
    all, is the backend's fault (502 ``sandbox_backend_error``), not an internal error."""
    try:
        yield
    except (AttributeError, TypeError, ValueError, KeyError) as exc:
        _malformed(action, type(exc).__name__)


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
            with _reading(action):  # the SDK reads the answer into its models
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
                said = self.scrub(str(exc.message))
                raise LaunchError(f"AgentRun refused {action}: {code} {said}") from None
            raise BackendUnavailable(f"AgentRun failed {action}: {code}") from None
        except UnretryableException as exc:
            inner = exc.inner_exception
            # darabonba's words for a body that is no JSON (a cut answer, a gateway's page);
            # they quote the body, which may hold an access token: never passed on
            if isinstance(inner, RuntimeError) and "as json format" in str(inner):
                _malformed(action, "no JSON")
            raise BackendUnavailable(f"AgentRun is unreachable ({action}): {inner}") from None

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
        except _Missing as exc:  # nothing was made: no template to make it of
            raise LaunchError(
                f"AgentRun template {template!r} does not exist in {self.region} ({exc}); "
                "deploy the sandbox templates or set AGENTRUN_TEMPLATE_PREFIX"
            ) from None
        except _Exists:
            pass  # an earlier attempt of ours created it: the id is ours alone
        except BaseException:
            # an attempt may have made it and lost its answer (a 5xx or a dropped connection,
            # then retries refused as "already exists" or failing too): the id is ours, so
            # delete it now rather than leave a sandbox no record knows until the reaper
            await asyncio.shield(self._forget(handle))
            raise
        try:
            access = await self._call(
                "GetAccessToken",
                "get_access_token",
                models.GetAccessTokenRequest(resource_id=handle, resource_type="sandbox"),
            )
            with _reading("GetAccessToken"):
                access_token = access.body.data.access_token
            if not isinstance(access_token, str) or not access_token:
                _malformed("GetAccessToken", "no data.accessToken")
            headers = {SESSION_HEADER: handle, ACCESS_TOKEN_HEADER: access_token}
            endpoint = f"{self.data_endpoint()}/sandboxes/{quote(handle, safe='')}"
            await self._claim(handle, endpoint, token, headers)
        except BaseException:
            await asyncio.shield(self._forget(handle))
            raise
        return Launched(handle=handle, endpoint=endpoint, headers=headers)

    async def _forget(self, handle: str) -> None:
        """Delete a sandbox a failed start leaves (best effort: the reaper removes it later,
        as ours by its id)."""
        try:
            await self.stop(handle)
        except Exception as exc:
            log.warning("could not delete the AgentRun sandbox of a failed start: %s", exc)

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
                            f"the AgentRun sandbox is {status or 'gone'} before it was ready"
                        )
                if time.monotonic() > deadline:
                    raise LaunchError("the AgentRun sandbox's tool server did not become ready")
                await asyncio.sleep(_POLL_S)

    async def _status(self, handle: str) -> str | None:
        try:
            found = await self._call("GetSandbox", "get_sandbox", handle)
        except _Missing:
            return None
        with _reading("GetSandbox"):
            status = found.body.data.status
        if not isinstance(status, str) or not status:
            _malformed("GetSandbox", "no data.status")
        return status.upper()

    async def stop(self, handle: str) -> None:
        try:
            await self._call("DeleteSandbox", "delete_sandbox", handle)
        except _Missing:
            pass

    async def alive(self, handle: str) -> bool:
        try:
            status = await self._status(handle)
        except (LaunchError, SandboxBackendError):
            return True  # cannot tell: keep the record, the caller gets a retryable error
        return status is not None and status not in DEAD

    async def owned(self) -> dict[str, tuple[str, float]]:
        from alibabacloud_agentrun20250910 import models

        found: dict[str, tuple[str, float]] = {}
        next_token = None
        seen: set[str] = set()
        while True:
            page = await self._call(
                "ListSandboxes",
                "list_sandboxes",
                models.ListSandboxesRequest(max_results=100, next_token=next_token),
            )
            with _reading("ListSandboxes"):
                data = page.body.data
                for item in (data.items if data else None) or []:
                    if isinstance(item.sandbox_id, str) and item.sandbox_id.startswith(self.prefix):
                        found[item.sandbox_id] = (
                            item.sandbox_id.removeprefix(self.prefix),
                            iso_time(item.created_at),
                        )
                next_token = data.next_token if data else None
            if not next_token:
                return found
            if next_token in seen:  # a page pointing back: the listing would never end
                _malformed("ListSandboxes", "a nextToken given before")
            seen.add(next_token)

    def scrub(self, message: str) -> str:
        """AgentRun's message without our sandboxes' ids (a backend handle never reaches
        a caller, ``functions/sandbox/registry.py``)."""
        return re.sub(re.escape(self.prefix) + r"[A-Za-z0-9_-]*", "<sandbox>", message)

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
        message = self.scrub(str(answer.get("message") or answer["code"]))
        if status == 404:
            return SandboxGone(f"the AgentRun sandbox ended ({message})")
        if status == 429:
            return BackendThrottled(1.0, f"AgentRun throttled the call ({message})")
        if status == 409:
            if "paused" in message.lower():  # AgentRun's "sandbox ... is PAUSED"
                return SandboxPaused("the sandbox is paused; resume it first")
            return SandboxBusy(f"AgentRun: {message}")
        if status in (401, 403):
            return SandboxRefused(f"AgentRun refused the call ({message})")
        return SandboxUnreachable(f"AgentRun: {message}; retry")

    async def pause(self, handle: str) -> None:
        await self._step("PauseSandbox", "pause_sandbox", handle, "PAUSED")

    async def resume(self, handle: str) -> None:
        await self._step("ResumeSandbox", "resume_sandbox", handle, "READY")

    async def _step(self, action: str, method: str, handle: str, target: str) -> None:
        """Pause or resume; a sandbox found ``target`` after a failed attempt is done.

        AgentRun refuses a step the sandbox has already had (409 "is PAUSED, not READY");
        a retry meets that refusal whenever an attempt did the step and its answer was
        lost; an answer lost on every attempt leaves it unknown. Either way the sandbox's
        status says whether what was asked holds, so record and backend agree."""
        try:
            await self._call(action, method, handle)
        except _Missing:
            raise LaunchError("the AgentRun sandbox is gone") from None
        except (LaunchError, SandboxBackendError) as failure:
            try:
                status = await self._status(handle)
            except (_Missing, LaunchError, SandboxBackendError):
                raise failure from None  # cannot tell: the step's own failure stands
            if status != target:
                raise
            log.info("AgentRun %s: the sandbox is %s already", action, target)

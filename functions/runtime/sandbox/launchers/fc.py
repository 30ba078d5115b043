"""Sandboxes as Function Compute 3.0 sessions (``SANDBOX_BACKEND=fc``), through the official SDK.

Each sandbox type has one pre-deployed custom-container function, ``FC_SANDBOX_FUNCTION_PREFIX``
+ type (the Terraform of the packaging creates them): the type's image, its tool server on
port 8000, ``instanceIsolationMode`` SESSION_EXCLUSIVE and ``sessionAffinity`` HEADER_FIELD on
the ``x-agentscope-sandbox-session`` header, and an HTTP trigger. A sandbox is one session of
that function: ``CreateSession`` with the sandbox id as the session id gives it an instance of
its own, and every call goes to the trigger's URL carrying the session header, so FC routes it
to that instance. ``GetSession`` tells whether it still lives, ``DeleteSession`` ends it,
``ListSessions`` finds what the reaper owns, ``PauseSession`` / ``ResumeSession`` freeze it.

The token: a function's instances all share its environment, so none is put there (a key
there would let code in one session derive every other session's token). Right after
CreateSession the launcher claims the session's tool server with the sandbox's own token
(``POST /claim`` through the trigger, ``claim``), before the session id is known to anyone
else.

The trigger: with ``authType`` ``anonymous`` anyone who learns its URL could open a session
of their own (a new affinity id starts one) and claim it, so the Terraform deploys it with
``function`` auth, and every request sent through it - the claim, the proxied calls, the live
view's files and WebSocket, an embedded handle's calls - is signed with ACS3-HMAC-SHA256 by
this deployment's credentials (``call_auth``: ``url_auth.FcSignatureAuth``, the one signer
of FC triggers). The signature takes ``Authorization``, so the tool server's token rides in
``X-Agentscope-Sandbox-Token`` (``claim.TOKEN_HEADER``). A signed request to an anonymous
trigger is served as well, so the launcher signs whatever the trigger's auth type.

Failures: calls that are safe to repeat (get, list, delete, pause, resume, and a create that
FC throttled, so made nothing) are retried with jittered exponential backoff; tool calls never
are (they go through the sandbox function's proxy, not through here). What is left maps to
the sandbox function's errors: throttling -> 429 with Retry-After, quota -> 503, a missing
function -> 404, a missing or expired session -> 410, refused credentials -> 503, an answer
that is not the API's (a 200 the SDK reads as no object, fields of the wrong type, a page
token given before) -> 502. The launcher names each session itself, so a create it cannot
confirm (no answer, a 5xx, a malformed 200, a claim that failed) deletes that session before
raising; only FC's own refusal (a 4xx) made nothing to delete. A ``ttl_s`` past the session
TTL FC keeps (``max_idle_s``) is refused (422), never quietly shortened.

The SDK (``alibabacloud-fc20230330``, with aiohttp under its async methods) is imported on the
first call, so a sandbox function on another backend never loads it.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ...retry import RetryPolicy, retry_async
from ...settings import Settings
from ..errors import (
    BackendThrottled,
    BackendUnavailable,
    LaunchError,
    SandboxBackendError,
    SandboxError,
    SandboxGone,
    SandboxPaused,
    SandboxTypeNotDeployed,
)
from .alibaba import alibaba_credentials, iso_time
from .base import Launched, Launcher
from .claim import claim

SESSION_HEADER = "x-agentscope-sandbox-session"
MAX_SESSION_S = 21600  # FC's bound on a session's TTL and idle timeout
_SESSION_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$")  # CreateSessionInput.sessionId
_THROTTLED = ("ResourceExhausted", "ResourceThrottled", "TooManyRequests", "Throttling")
_QUOTA = ("LimitExceeded", "QuotaExceeded", "ExceededQuota")
_GONE = ("SessionNotFound", "SessionExpired")
_BACKOFF_BASE_S = 0.1
_BACKOFF_CAP_S = 2.0
_CLAIM_RETRY_S = 0.05
# the code of an answer FC gave (a 200) that does not hold what the API documents
MALFORMED = "MalformedAnswer"

log = logging.getLogger("agentscope_faas.sandbox")


@dataclass(frozen=True)
class FcFailure:
    """An FC API answer that is not a success; status None when no answer came at all."""

    status: int | None
    code: str
    message: str
    retry_after_s: float | None = None

    @property
    def throttled(self) -> bool:
        return self.status == 429 or self.code.startswith(_THROTTLED)

    @property
    def quota(self) -> bool:
        return any(word in self.code for word in _QUOTA)

    @property
    def gone(self) -> bool:
        return self.code in _GONE or self.status == 410

    @property
    def transient(self) -> bool:
        """Worth repeating a call that is safe to repeat: no answer, throttled, FC's fault."""
        return self.status is None or self.throttled or self.status >= 500


def fc_failure(exc: BaseException) -> FcFailure | None:
    """What the SDK raised, as status and code; None for anything else (a bug: re-raise it)."""
    from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
    from Tea.exceptions import UnretryableException

    if isinstance(exc, AlibabaCloudException):
        retry_after = getattr(exc, "retry_after", None)
        return FcFailure(
            exc.status_code,
            str(exc.code or ""),
            str(exc.message or ""),
            retry_after / 1000 if retry_after else None,  # x-acs-retry-after: milliseconds
        )
    if isinstance(exc, (UnretryableException, OSError, asyncio.TimeoutError)):
        return FcFailure(None, "NetworkError", str(exc) or type(exc).__name__)
    return None


def fc_error(failure: FcFailure, what: str) -> SandboxError:
    """The sandbox function's answer to an FC failure of ``what`` (an operation, in words)."""
    said = f"{failure.code}: {failure.message}" if failure.message else failure.code
    if failure.status is None:
        return BackendUnavailable(f"Function Compute did not answer {what} ({said})")
    if failure.code == MALFORMED:
        return SandboxBackendError(f"Function Compute answered {what} with {failure.message}")
    if failure.throttled:
        return BackendThrottled(
            failure.retry_after_s or 1.0, f"Function Compute throttled {what} ({failure.code})"
        )
    if failure.quota:
        return BackendUnavailable(f"Function Compute quota reached for {what} ({said})")
    if failure.code == "FunctionNotFound":
        return SandboxTypeNotDeployed(
            f"{what}: the sandbox type's FC function does not exist ({said}); deploy it"
        )
    if failure.gone:
        return SandboxGone(f"the sandbox's FC session is gone ({said})")
    if failure.code == "SessionPaused":
        return SandboxPaused("the sandbox is paused; resume it first")
    if failure.status in (401, 403):
        return BackendUnavailable(
            f"Function Compute refused this deployment's credentials for {what} "
            f"({failure.code}); check ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET and the role"
        )
    if failure.code == "CAExited" or failure.status == 412:
        return LaunchError(f"the sandbox instance did not start ({said})")
    if failure.status >= 500:
        return BackendUnavailable(f"Function Compute failed {what} ({said})")
    return SandboxBackendError(f"Function Compute refused {what} ({said})")


def malformed(what: str, why: str) -> SandboxError:
    """The error for an FC answer to ``what`` that lacks what the API documents (``why``)."""
    return fc_error(FcFailure(200, MALFORMED, why), what)


def _body(answer: Any, what: str) -> Any:
    """The body the SDK read from FC's answer to ``what``: the SDK leaves it None when the
    answer was JSON but no object (``[1]``, ``"x"``, ``null``) or not of the API's shape."""
    body = getattr(answer, "body", None)
    if body is None:
        raise malformed(what, "an answer that is not the API's JSON object")
    return body


def _text(value: Any) -> str | None:
    """A string field of an answer, or None (the SDK does not check fields' types)."""
    return value if isinstance(value, str) and value else None


def _next_token(body: Any, seen: set[str], what: str) -> str | None:
    """The page token of a list answer; one given before would page forever."""
    token = _text(getattr(body, "next_token", None))
    if token is not None:
        if token in seen:
            raise malformed(what, f"a nextToken it gave before ({token!r})")
        seen.add(token)
    return token


def _endpoint(settings: Settings) -> tuple[str | None, str]:
    """(host[:port], protocol) of the FC API; (None, https) lets the SDK pick by region."""
    if settings.fc_endpoint:
        value = settings.fc_endpoint.rstrip("/")
        for scheme in ("http", "https"):
            if value.startswith(f"{scheme}://"):
                return value[len(scheme) + 3 :], scheme
        return value, "https"
    if settings.fc_account_id:
        return f"{settings.fc_account_id}.{settings.fc_region}.fc.aliyuncs.com", "https"
    return None, "https"


class FcLauncher(Launcher):
    name = "fc"
    ends_idle = True
    can_pause = True

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: Any = None
        self._client_key: Any = None  # the credentials it signs with
        self._trigger_urls: dict[str, str] = {}
        self._auth: Any = None

    # -- plumbing ----------------------------------------------------------------------------

    def client(self) -> Any:
        credentials = alibaba_credentials(self.settings)
        if self._client is None or self._client_key != credentials:  # a fresh role key
            from alibabacloud_fc20230330.client import Client
            from alibabacloud_tea_openapi.utils_models import Config

            endpoint, protocol = _endpoint(self.settings)
            self._client = Client(
                Config(
                    access_key_id=credentials.access_key_id,
                    access_key_secret=credentials.access_key_secret,
                    security_token=credentials.security_token,
                    region_id=self.settings.fc_region,
                    endpoint=endpoint,
                    protocol=protocol,
                    connect_timeout=5_000,
                    read_timeout=120_000,  # CreateSession waits for the instance to start
                )
            )
            self._client_key = credentials
        return self._client

    def function_name(self, sandbox_type: str) -> str:
        return f"{self.settings.fc_sandbox_function_prefix}{sandbox_type}"

    @staticmethod
    def _split(handle: str) -> tuple[str, str]:
        function, _, session = handle.partition("/")
        return function, session

    async def _call(
        self, what: str, call: Callable[[], Awaitable[Any]], *, safe: bool = True
    ) -> Any:
        """One SDK call; repeated on transient failures when ``safe``, on throttling always.

        A throttled call did nothing, so even a create may be repeated then.
        """

        def retryable(exc: BaseException) -> bool | float:
            failure = fc_failure(exc)
            if failure is None or not (failure.throttled or (safe and failure.transient)):
                return False
            return failure.retry_after_s or True

        policy = RetryPolicy(
            max(1, self.settings.fc_retry_attempts), _BACKOFF_BASE_S, _BACKOFF_CAP_S
        )
        try:
            return await retry_async(lambda _: call(), policy=policy, retryable=retryable)
        except Exception as exc:
            failure = fc_failure(exc)
            if failure is None:
                raise
            raise _Failed(failure, what) from None

    async def _do(self, what: str, call: Callable[[], Awaitable[Any]], safe: bool = True) -> Any:
        """``_call``, with what is left of a failure turned into the sandbox function's error."""
        try:
            return await self._call(what, call, safe=safe)
        except _Failed as failed:
            raise fc_error(failed.failure, what) from None

    def _options(self) -> Any:
        from darabonba.runtime import RuntimeOptions

        return RuntimeOptions()

    # -- the trigger -------------------------------------------------------------------------

    async def trigger_url(self, function: str) -> str:
        """The public URL of the function's HTTP trigger (looked up once per function)."""
        if function in self._trigger_urls:
            return self._trigger_urls[function]
        from alibabacloud_fc20230330 import models

        found: list[tuple[bool, str]] = []
        token: str | None = None
        seen: set[str] = set()
        what = f"ListTriggers of {function}"
        while True:
            page = await self._do(
                what,
                functools.partial(
                    self.client().list_triggers_with_options_async,
                    function,
                    models.ListTriggersRequest(limit=100, next_token=token),
                    {},
                    self._options(),
                ),
            )
            body = _body(page, what)
            for trigger in body.triggers or []:
                http = getattr(trigger, "http_trigger", None)
                url = _text(getattr(http, "url_internet", None))
                if trigger.trigger_type == "http" and url:
                    found.append((trigger.qualifier == self.settings.fc_sandbox_qualifier, url))
            token = _next_token(body, seen, what)
            if not token:
                break
        if not found:
            raise LaunchError(f"FC function {function} has no HTTP trigger; deploy one")
        url = max(found, key=lambda pair: pair[0])[1].rstrip("/")  # this qualifier's first
        self._trigger_urls[function] = url
        return url

    def call_auth(self) -> Any:
        """The ACS3 signer of every request through the sandbox functions' triggers (their
        ``function`` auth), with the credentials this launcher calls FC's API with."""
        if self._auth is None:
            from ..url_auth import FcSignatureAuth

            self._auth = FcSignatureAuth(self.settings)
        return self._auth

    def call_error(self, status: int, body: bytes) -> Exception | None:
        """FC's own refusal of a call through the trigger, told from the tool server's answers.

        FC answers with ``{"Code", "Message", "RequestId"}`` (the tool server never uses
        capitalised keys: its errors are ``{"detail", "code"}``).
        """
        if status < 400:
            return None
        try:
            data = json.loads(body)
        except ValueError:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("Code"), str):
            return None
        failure = FcFailure(status, data["Code"], str(data.get("Message") or ""))
        return fc_error(failure, "the call to the sandbox")

    # -- the Launcher protocol ---------------------------------------------------------------

    def max_idle_s(self) -> float:
        """FC ends a session at its TTL (FC_SESSION_TTL_S, at most FC's 21600 s) however
        busy, and refuses an idle timeout longer than that TTL (CreateSessionInput): no
        sandbox idles longer."""
        return float(self._session_ttl())

    def _session_ttl(self) -> int:
        return max(1, min(self.settings.fc_session_ttl_s, MAX_SESSION_S))

    async def start(
        self,
        sandbox_type: str,
        sandbox_id: str,
        token: str,
        idle_timeout_s: float | None = None,
    ) -> Launched:
        from alibabacloud_fc20230330 import models

        if not _SESSION_ID.match(sandbox_id):
            raise LaunchError(f"{sandbox_id!r} cannot be an FC session id")
        ttl = self._session_ttl()
        # refused past the TTL, not shortened: FC would end the session sooner than the
        # caller's ttl_s says (the embedded SDK's handles call here directly)
        idle = int(self.idle_lifetime(idle_timeout_s, self.settings.sandbox_ttl_s))
        function = self.function_name(sandbox_type)
        request = models.CreateSessionRequest(
            qualifier=self.settings.fc_sandbox_qualifier,
            body=models.CreateSessionInput(
                session_id=sandbox_id,
                session_ttlin_seconds=ttl,
                session_idle_timeout_in_seconds=max(1, idle),
                allow_internet_access=self.settings.sandbox_internet_access,
                disable_session_id_reuse=True,  # an expired id must not quietly start afresh
            ),
        )
        what = f"CreateSession on {function}"
        # the id is ours, so the session is known even when FC's answer is not: only FC's own
        # refusal (a 4xx: throttled, quota, a bad argument, an id in use) made nothing
        made_nothing = False

        async def create() -> Any:
            nonlocal made_nothing
            try:
                answer = await self._call(
                    what,
                    lambda: self.client().create_session_with_options_async(
                        function, request, {}, self._options()
                    ),
                    safe=False,
                )
            except _Failed as failed:
                status = failed.failure.status
                made_nothing = status is not None and 400 <= status < 500
                raise fc_error(failed.failure, what) from None
            _body(answer, what)  # a 200 that is no Session: made, maybe, but unconfirmed
            return answer

        handle = f"{function}/{sandbox_id}"
        headers = {SESSION_HEADER: sandbox_id}  # the id asked for: FC keeps a custom one
        try:
            # both run to their end (a create must not outlive the cleanup below)
            created: Any
            url: Any
            created, url = await asyncio.gather(
                create(), self.trigger_url(function), return_exceptions=True
            )
            for outcome in (created, url):
                if isinstance(outcome, BaseException):
                    raise outcome
            await self._claim(url, token, headers)
        except BaseException as exc:
            if not made_nothing:  # never leave a session unrecorded or unusable
                await asyncio.shield(self._forget(handle, exc))
            raise
        return Launched(handle=handle, endpoint=url, headers=headers)

    async def _claim(self, url: str, token: str, headers: dict[str, str]) -> None:
        """Claim the session's tool server, through the trigger, until the deadline.

        CreateSession answers once the instance listens, so the first claim normally holds;
        an instance still starting (no answer, throttled, FC's 5xx) is asked again, FC's
        refusal (a 4xx: the session is gone, paused...) is final.
        """
        import httpx

        deadline = asyncio.get_running_loop().time() + self.settings.sandbox_ready_timeout_s
        async with httpx.AsyncClient(timeout=10.0, auth=self.call_auth()) as http:
            while True:
                why = await claim(http, url, token, headers, signed=True)
                if why is None:
                    return
                final = why.status is not None and why.status < 500 and why.status != 429
                if final or asyncio.get_running_loop().time() > deadline:
                    raise LaunchError(f"the FC session's tool server could not be claimed: {why}")
                await asyncio.sleep(_CLAIM_RETRY_S)

    async def _forget(self, handle: str, why: BaseException) -> None:
        """End the session of a start that failed (``why``), best effort."""
        log.info("FC session %s: start failed (%s); deleting it", handle, type(why).__name__)
        try:
            await self.stop(handle)
        except Exception as exc:  # the reaper ends it later: it is one of our functions'
            log.warning("FC session %s: could not delete it after a failed start: %s", handle, exc)

    async def _session(self, handle: str) -> Any | None:
        from alibabacloud_fc20230330 import models

        function, session = self._split(handle)
        if not function or not session:
            return None  # not a handle of ours (function/session): nothing FC knows
        try:
            found = await self._call(
                f"GetSession {session}",
                lambda: self.client().get_session_with_options_async(
                    function,
                    session,
                    models.GetSessionRequest(qualifier=self.settings.fc_sandbox_qualifier),
                    {},
                    self._options(),
                ),
            )
        except _Failed as failed:
            if failed.failure.gone or failed.failure.status == 404:
                return None
            raise fc_error(failed.failure, f"GetSession {session}") from None
        body = _body(found, f"GetSession {session}")
        if _text(body.session_status) is None:  # alive or not: the answer does not say
            raise malformed(f"GetSession {session}", "a session without its sessionStatus")
        return body

    async def stop(self, handle: str) -> None:
        from alibabacloud_fc20230330 import models

        function, session = self._split(handle)
        if not function or not session:
            return  # not a handle of ours: nothing to end
        try:
            await self._call(
                f"DeleteSession {session}",
                lambda: self.client().delete_session_with_options_async(
                    function,
                    session,
                    models.DeleteSessionRequest(qualifier=self.settings.fc_sandbox_qualifier),
                    {},
                    self._options(),
                ),
            )
        except _Failed as failed:
            if failed.failure.gone or failed.failure.status == 404:
                return  # already gone: what stop wants
            raise fc_error(failed.failure, f"DeleteSession {session}") from None

    async def alive(self, handle: str) -> bool:
        session = await self._session(handle)
        return session is not None and session.session_status != "Expired"

    async def owned(self) -> dict[str, tuple[str, float]]:
        """Every live session of this deployment's sandbox functions (by name prefix)."""
        from alibabacloud_fc20230330 import models

        prefix = self.settings.fc_sandbox_function_prefix
        functions: list[str] = []
        token: str | None = None
        seen: set[str] = set()
        while True:
            page = await self._do(
                "ListFunctions",
                functools.partial(
                    self.client().list_functions_with_options_async,
                    models.ListFunctionsRequest(prefix=prefix, limit=100, next_token=token),
                    {},
                    self._options(),
                ),
            )
            body = _body(page, "ListFunctions")
            for found in body.functions or []:
                name = _text(found.function_name)
                if name is not None and name.startswith(prefix):
                    functions.append(name)
            token = _next_token(body, seen, "ListFunctions")
            if not token:
                break
        owned: dict[str, tuple[str, float]] = {}
        for function in functions:
            token = None
            seen = set()
            what = f"ListSessions of {function}"
            while True:
                page = await self._do(
                    what,
                    functools.partial(
                        self.client().list_sessions_with_options_async,
                        function,
                        models.ListSessionsRequest(
                            qualifier=self.settings.fc_sandbox_qualifier,
                            limit=100,
                            next_token=token,
                        ),
                        {},
                        self._options(),
                    ),
                )
                body = _body(page, what)
                for session in body.sessions or []:
                    session_id = _text(session.session_id)
                    if session_id and session.session_status != "Expired":
                        owned[f"{function}/{session_id}"] = (
                            session_id,
                            iso_time(_text(session.created_time)),
                        )
                token = _next_token(body, seen, what)
                if not token:
                    break
        return owned

    async def pause(self, handle: str) -> None:
        from alibabacloud_fc20230330 import models

        function, session = self._split(handle)
        await self._do(
            f"PauseSession {session}",
            lambda: self.client().pause_session_with_options_async(
                function,
                session,
                models.PauseSessionRequest(qualifier=self.settings.fc_sandbox_qualifier),
                {},
                self._options(),
            ),
        )

    async def resume(self, handle: str) -> None:
        from alibabacloud_fc20230330 import models

        function, session = self._split(handle)
        await self._do(
            f"ResumeSession {session}",
            lambda: self.client().resume_session_with_options_async(
                function,
                session,
                models.ResumeSessionRequest(qualifier=self.settings.fc_sandbox_qualifier),
                {},
                self._options(),
            ),
        )


class _Failed(Exception):
    """An SDK call that failed for good, with FC's status and code, before it is mapped."""

    def __init__(self, failure: FcFailure, what: str) -> None:
        super().__init__(f"{what}: {failure.code}")
        self.failure = failure

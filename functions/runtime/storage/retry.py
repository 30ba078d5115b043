"""Bounded retries for object-store calls, shared by every networked backend.

Object stores fail transiently (a 503 SlowDown, a reset connection, a read timeout) far
more often than they fail for good, so each call gets a few attempts. But a function has
a deadline and a caller waiting, so the retries are bounded (``store_retry_attempts``, through the
runtime's one retry loop, ``functions.runtime.retry``), and when the budget is spent the
caller sees one exception type, ``StoreUnavailable``, which the HTTP layers turn into 503.

What is never retried:

* our own ``StoreError``s, above all ``PreconditionFailed``: a lost race is an answer, not
  a fault, and the caller decides whether to re-read and try again;
* client errors (4xx), including ``RequestTimeTooSkewed``: the clock will not fix itself
  in 50 ms, and retrying only delays the real error.

The SDKs' own retry loops are switched off where they exist (see ``boto_config``) so that
one store call costs at most ``store_retry_attempts`` requests, not that times the SDK's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ..retry import RetryPolicy, retry_async
from .base import StoreError, StoreUnavailable

if TYPE_CHECKING:
    from ..settings import Settings

T = TypeVar("T")

# Error codes that mean "slow down / try again" whatever their HTTP status says.
_THROTTLE_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequests",
        "RequestTimeout",
        "InternalError",
        "ServiceUnavailable",
        "QpsLimitExceeded",
    }
)
# Never transient, even if some proxy dresses them up with a 5xx.
_PERMANENT_CODES = frozenset({"RequestTimeTooSkewed", "AccessDenied", "SignatureDoesNotMatch"})


def store_policy(settings: Settings) -> RetryPolicy:
    """The retry policy of store calls: ``STORE_RETRY_ATTEMPTS`` / ``STORE_RETRY_BASE_S``."""
    return RetryPolicy(
        attempts=max(1, int(settings.store_retry_attempts)),
        base_s=max(0.0, float(settings.store_retry_base_s)),
    )


def store_call_bound_s(settings: Settings) -> float:
    """The longest one store call of a networked backend takes before it answers or
    raises (seconds): every attempt timing out on connect and on read, with the longest
    backoffs between them."""
    policy = store_policy(settings)
    waits = sum(min(policy.cap_s, policy.base_s * 2**n) for n in range(policy.attempts - 1))
    return policy.attempts * 2 * float(settings.store_timeout_s) + waits


def _status_and_code(exc: BaseException) -> tuple[int | None, str]:
    """HTTP status and service error code of an SDK error, without importing the SDKs."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):  # botocore ClientError
        err = response.get("Error") or {}
        meta = response.get("ResponseMetadata") or {}
        status = meta.get("HTTPStatusCode")
        return (int(status) if status is not None else None), str(err.get("Code") or "")
    status = getattr(exc, "status", None)  # oss2 OssError
    if isinstance(status, int):
        return status, str(getattr(exc, "code", "") or "")
    return None, ""


def is_transient(exc: BaseException) -> bool:
    """True for errors where the same request may well succeed a moment later."""
    if isinstance(exc, StoreError):
        return False
    if isinstance(exc, (ConnectionError, TimeoutError)):  # builtins, incl. refused/reset
        return True
    status, code = _status_and_code(exc)
    if code in _PERMANENT_CODES:
        return False
    if status is not None:
        # oss2 reports transport failures (refused, reset, timeouts) as status -2 and a
        # CRC mismatch of the transferred bytes as -3; both deserve another try.
        if status in (-2, -3):
            return True
        if status >= 500 or status == 429 or code in _THROTTLE_CODES:
            return True
        return False
    try:
        from botocore import exceptions as be
    except ImportError:  # pragma: no cover - boto3 not installed
        return False
    return isinstance(
        exc, (be.ConnectionError, be.HTTPClientError, be.IncompleteReadError, be.ChecksumError)
    )


async def call_with_retry(
    fn: Callable[[int], T],
    *,
    policy: RetryPolicy,
    what: str,
    transient: Callable[[BaseException], bool] = is_transient,
    describe: Callable[[BaseException], str] = str,
) -> T:
    """Run blocking ``fn(attempt)`` in a worker thread, retrying transient failures.
    ``describe``: a failure as the error may say it (a client whose errors carry what it
    signed says less than ``str``).

    ``fn`` gets the 0-based attempt number so that a conditional write can tell a genuine
    conflict from its own earlier attempt that landed but whose answer was lost (a timeout
    after the server committed): on attempt > 0 a "precondition failed" needs a second look.
    Non-transient exceptions propagate unchanged (the backend maps them); transient ones
    that outlast the attempts become ``StoreUnavailable``.
    """
    try:
        return await retry_async(
            lambda attempt: asyncio.to_thread(fn, attempt), policy=policy, retryable=transient
        )
    except StoreError:
        raise
    except Exception as exc:
        if not transient(exc):
            raise
        failure = StoreUnavailable(
            f"{what}: still failing after {policy.attempts} attempts: {type(exc).__name__}: "
            f"{describe(exc)}"
        )
        if describe is str:
            raise failure from exc
        raise failure from None  # a traceback must say no more than describe does


def boto_config(settings: Settings, **extra: Any) -> Any:
    """A botocore Config whose own retries are off: ``call_with_retry`` is the only loop.

    ``total_max_attempts`` counts the first try (botocore's older ``max_attempts`` counts
    only retries, so ``max_attempts=1`` would quietly double every call): 1 means exactly
    one request per SDK call. Timeouts come from ``store_timeout_s`` for both the connect
    and the read, so a hung store costs a bounded ``attempts * timeout``.
    """
    from botocore.config import Config

    return Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=settings.store_timeout_s,
        read_timeout=settings.store_timeout_s,
        **extra,
    )

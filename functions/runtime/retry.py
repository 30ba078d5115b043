"""The one retry loop: a bounded policy with full-jitter backoff, and a classifier per caller.

Every networked dependency (object stores, the FC and AgentRun control planes) fails
transiently far more often than for good, and every caller has a deadline. So each gets a
few attempts (``RetryPolicy.attempts``), sleeps drawn uniformly from
``[0, min(cap, base * 2**n)]`` (full jitter: functions retrying in lockstep would otherwise
hammer a throttled service together), or the service's own ``Retry-After`` when it gave one.

What to repeat is the caller's call, made by a classifier over the exception: ``False``
(raise it now), ``True`` (retry after the backoff) or a number of seconds to wait. When the
attempts are spent, the last exception propagates unchanged; the caller maps it.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

Classifier = Callable[[BaseException], "bool | float"]


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    base_s: float = 0.05
    cap_s: float = 2.0

    def backoff(self, retry: int) -> float:
        """Sleep before retry number ``retry`` (0-based): uniform in [0, min(cap, base*2^n)]."""
        return random.uniform(0.0, min(self.cap_s, self.base_s * (2**retry)))


async def retry_async(
    call: Callable[[int], Awaitable[T]], *, policy: RetryPolicy, retryable: Classifier
) -> T:
    """Await ``call(attempt)`` until it succeeds, ``retryable`` says no, or attempts run out.

    ``call`` gets the 0-based attempt number, so a conditional write can tell a genuine
    conflict from its own earlier attempt that landed but whose answer was lost.
    """
    attempts = max(1, policy.attempts)
    for attempt in range(attempts):
        try:
            return await call(attempt)
        except Exception as exc:
            verdict = retryable(exc)
            if verdict is False or attempt + 1 >= attempts:
                raise
            wait = policy.backoff(attempt) if verdict is True else min(policy.cap_s, verdict)
        await asyncio.sleep(wait)
    raise AssertionError("unreachable")

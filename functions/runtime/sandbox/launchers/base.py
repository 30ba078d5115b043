"""What the sandbox function needs from a backend: start, stop, and find what it owns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


class LaunchError(Exception):
    """The backend could not start a sandbox (no image, no capacity, never became ready)."""


class BackendThrottled(LaunchError):
    """The cloud API throttled us: the caller should retry after ``retry_after_s`` (HTTP 429)."""

    def __init__(self, retry_after_s: float, message: str) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class BackendUnavailable(LaunchError):
    """The cloud API is out of quota or keeps failing: nothing to do but retry later (503)."""


@dataclass(frozen=True)
class Launched:
    handle: str  # the backend's id for it (a container id, an FC session id)
    endpoint: str  # base URL of its tool server, as this function reaches it
    # the tool server's token when the backend decides it (derived, not injected); else the
    # token passed to start() is the one
    token: str | None = None
    # headers every call to the sandbox must carry (session affinity, a data-plane token)
    headers: dict[str, str] = field(default_factory=dict)
    # a desktop sandbox's live-view base URL, as this function reaches it (None: no desktop)
    desktop_endpoint: str | None = None


class Launcher(Protocol):
    name: str
    # the backend itself ends a sandbox left idle for the timeout given at start (FC,
    # AgentRun); Docker's containers live until our reaper removes them
    ends_idle: bool

    async def start(
        self,
        sandbox_type: str,
        sandbox_id: str,
        token: str,
        idle_timeout_s: float | None = None,
    ) -> Launched:
        """Start a sandbox and return once its tool server answers.

        ``idle_timeout_s`` is the sandbox's own ``ttl_s``: a backend that ends idle
        sandboxes must not end this one sooner. None: the backend's default (SANDBOX_TTL_S;
        on AgentRun AGENTRUN_IDLE_TIMEOUT_S first).
        """
        ...

    async def stop(self, handle: str) -> None:
        """Remove it; a handle that is already gone is not an error."""
        ...

    async def alive(self, handle: str) -> bool:
        """Whether the sandbox still runs (after a call to it failed)."""
        ...

    async def owned(self) -> dict[str, tuple[str, float]]:
        """``handle -> (sandbox_id, started_at)`` of every sandbox this deployment has."""
        ...


class Pausable(Protocol):
    """Backends that can freeze a sandbox and thaw it with its memory and files intact."""

    async def pause(self, handle: str) -> None: ...

    async def resume(self, handle: str) -> None: ...


class CallJudge(Protocol):
    """Backends with a gateway in front of the tool server (FC's HTTP trigger).

    ``call_error`` tells the gateway's own refusals (session gone, paused, throttled) from
    the tool server's answers, which pass through untouched: it returns the exception to
    raise (an ``ApiError``, ``BackendThrottled``...), or None when the tool server answered.
    An ``ApiError`` with status 410 means the sandbox is gone for good.
    """

    def call_error(self, status: int, body: bytes) -> Exception | None: ...

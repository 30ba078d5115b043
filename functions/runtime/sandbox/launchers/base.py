"""What the sandbox function needs from a backend: start, stop, find what it owns.

Optional features are declared, not discovered: every launcher subclasses
:class:`Launcher` and says what it can do (``can_pause``, ``ends_idle``); the base gives
the "cannot" answers (``pause`` raises ``NotSupported``, ``call_error`` finds nothing).
Errors are the named sandbox errors of ``..errors``; no launcher knows HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from ...errors import InvalidRequest
from ..errors import NotSupported
from .claim import token_headers

if TYPE_CHECKING:
    import httpx


@dataclass(frozen=True)
class Launched:
    handle: str  # the backend's id for it (a container id, an FC session id)
    endpoint: str  # base URL of its tool server, as this function reaches it
    # headers every call to the sandbox must carry (session affinity, a data-plane token)
    headers: dict[str, str] = field(default_factory=dict)
    # a desktop sandbox's live-view base URL, as this function reaches it (None: no desktop)
    desktop_endpoint: str | None = None


class Launcher:
    """A sandbox backend. Subclasses implement the four lifecycle methods."""

    name: ClassVar[str]
    # the backend itself ends a sandbox left idle for the timeout given at start (FC,
    # AgentRun); Docker's containers live until our reaper removes them
    ends_idle: ClassVar[bool] = False
    # pause() / resume() freeze and thaw a sandbox with its memory and files intact
    can_pause: ClassVar[bool] = False

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
        on AgentRun AGENTRUN_IDLE_TIMEOUT_S first). Raises ``LaunchError`` (or its
        ``BackendThrottled`` / ``BackendUnavailable``).
        """
        raise NotImplementedError

    async def stop(self, handle: str) -> None:
        """Remove it; a handle that is already gone is not an error."""
        raise NotImplementedError

    async def alive(self, handle: str) -> bool:
        """Whether the sandbox still runs (after a call to it failed)."""
        raise NotImplementedError

    async def owned(self) -> dict[str, tuple[str, float]]:
        """``handle -> (sandbox_id, started_at)`` of every sandbox this deployment has."""
        raise NotImplementedError

    async def pause(self, handle: str) -> None:
        """Freeze it (only where ``can_pause``)."""
        raise NotSupported(f"the {self.name} backend cannot pause and resume sandboxes")

    async def resume(self, handle: str) -> None:
        """Thaw it (only where ``can_pause``)."""
        raise NotSupported(f"the {self.name} backend cannot pause and resume sandboxes")

    def max_idle_s(self) -> float | None:
        """The longest ``ttl_s`` (idle lifetime) this backend can give a sandbox; None: no
        bound beyond the API's. A backend that would end a sandbox sooner says so here, so
        that a longer ``ttl_s`` is refused rather than promised (FC: its session TTL)."""
        return None

    def idle_lifetime(self, ttl_s: float | None, default: float) -> float:
        """The idle lifetime of a sandbox asked for with ``ttl_s`` (None: the deployment's
        ``default``, SANDBOX_TTL_S), as this backend keeps it.

        A ``ttl_s`` past ``max_idle_s`` is refused (``InvalidRequest``, 422) rather than
        shortened: the caller learns the bound instead of losing the sandbox sooner than
        its ``expires_at`` said. The deployment's own default is held to the bound.
        """
        bound = self.max_idle_s()
        if bound is None:
            return float(ttl_s or default)
        if ttl_s is not None and ttl_s > bound:
            raise InvalidRequest(
                f"ttl_s {ttl_s:g} is longer than the {self.name} backend keeps a sandbox "
                f"({bound:g} s); ask for {bound:g} or less"
            )
        return float(min(ttl_s or default, bound))

    def call_auth(self) -> httpx.Auth | None:
        """How every request to this backend's endpoints is signed (``Launched.endpoint``
        and the live view behind it), or None: they are not. FC signs its HTTP triggers'
        calls for ``function`` auth; a signed request carries the sandbox's token in
        ``claim.TOKEN_HEADER`` (``tool_headers``), since the signature takes Authorization."""
        return None

    def tool_headers(self, token: str) -> dict[str, str]:
        """The headers giving the tool server the sandbox's ``token``, as this backend's
        requests carry it (beside the signature of ``call_auth``, if any)."""
        return token_headers(token, signed=self.call_auth() is not None)

    def call_error(self, status: int, body: bytes) -> Exception | None:
        """A gateway's own refusal of a call to the tool server, as the error to raise.

        Backends with a gateway in front of the tool server (FC's HTTP trigger, AgentRun's
        data plane) tell its refusals (session gone, paused, throttled) from the tool
        server's answers, which pass through untouched. None: the tool server answered.
        A ``SandboxGone`` means the sandbox is gone for good.
        """
        return None

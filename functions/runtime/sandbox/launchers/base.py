"""What the sandbox function needs from a backend: start, stop, and find what it owns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class LaunchError(Exception):
    """The backend could not start a sandbox (no image, no capacity, never became ready)."""


@dataclass(frozen=True)
class Launched:
    handle: str  # the backend's id for it (a container id, an FC session id)
    endpoint: str  # base URL of its tool server, as this function reaches it


class Launcher(Protocol):
    name: str

    async def start(self, sandbox_type: str, sandbox_id: str, token: str) -> Launched:
        """Start a sandbox and return once its tool server answers."""
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

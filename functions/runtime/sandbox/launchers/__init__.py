"""Where sandbox containers run; ``SANDBOX_BACKEND`` picks one."""

from __future__ import annotations

from ...settings import Settings
from ..errors import LaunchError
from .base import Launched, Launcher

BACKENDS = ("docker", "fc", "agentrun")


def get_launcher(settings: Settings, owner: str | None = None) -> Launcher:
    """The configured backend; ``owner`` overrides whose containers these are (reaping)."""
    if settings.sandbox_backend == "docker":
        from .docker import DockerLauncher

        return DockerLauncher(settings, owner=owner)
    if settings.sandbox_backend == "fc":
        from .fc import FcLauncher

        return FcLauncher(settings)
    if settings.sandbox_backend == "agentrun":
        from .agentrun import AgentRunLauncher

        return AgentRunLauncher(settings, owner=owner)
    raise ValueError(
        f"unknown SANDBOX_BACKEND {settings.sandbox_backend!r}; use one of {', '.join(BACKENDS)}"
    )


__all__ = ["BACKENDS", "LaunchError", "Launched", "Launcher", "get_launcher"]

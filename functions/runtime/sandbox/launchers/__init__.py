"""Where sandbox containers run; ``SANDBOX_BACKEND`` picks one."""

from __future__ import annotations

from ...settings import Settings
from .base import Launched, Launcher, LaunchError

BACKENDS = ("docker",)


def get_launcher(settings: Settings) -> Launcher:
    if settings.sandbox_backend == "docker":
        from .docker import DockerLauncher

        return DockerLauncher(settings)
    raise ValueError(
        f"unknown SANDBOX_BACKEND {settings.sandbox_backend!r}; use one of {', '.join(BACKENDS)}"
    )


__all__ = ["BACKENDS", "LaunchError", "Launched", "Launcher", "get_launcher"]

"""The sandbox types, as data: one registry read by everything that names a type.

The sandbox function validates and pools by it, ``sandbox_images/build.py`` builds one
image per entry (``parent`` first), the FC and AgentRun emulators deploy one function or
template per entry, the SDK has one class per entry, and Terraform's ``sandbox_types``
default lists the same names (the tests check each of these, and that the tool server's
own ``TOOLSETS`` holds every tool set named here).

A type's image is ``sandbox_image(name)`` (the seed's ``RUNTIME_SANDBOX_*`` naming) built
from ``sandbox_images/<name>/Dockerfile``; its tool server offers ``toolsets``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import UnknownSandboxType


@dataclass(frozen=True)
class SandboxType:
    name: str
    description: str
    toolsets: tuple[str, ...]
    # the type whose image this one's is built FROM; None: built from the base OS image
    parent: str | None = None
    # a desktop (X display, window manager, Chromium) with a live view (desktop_url)
    desktop: bool = False


SANDBOX_TYPES: dict[str, SandboxType] = {
    t.name: t
    for t in (
        SandboxType(
            "base",
            "stateful Python (run_ipython_cell) and the shell (run_shell_command)",
            ("base",),
        ),
        SandboxType(
            "filesystem",
            "base, plus the MCP filesystem server's tools confined to /workspace",
            ("base", "filesystem"),
            parent="base",
        ),
        SandboxType(
            "browser",
            "base, plus Playwright MCP's browser tools driving Chromium on a desktop with a"
            " live view",
            ("base", "browser"),
            desktop=True,
        ),
        SandboxType(
            "gui",
            "base, plus computer_use (mouse, keyboard, screenshots) on a desktop with a live view",
            ("base", "gui"),
            # the browser image's desktop and programs, without its browser tools
            parent="browser",
            desktop=True,
        ),
    )
}


def get_sandbox_type(name: str) -> SandboxType:
    """The registered type; ``UnknownSandboxType`` (422) naming the known ones otherwise."""
    found = SANDBOX_TYPES.get(name)
    if found is None:
        raise UnknownSandboxType(f"type must be one of {', '.join(SANDBOX_TYPES)}, got {name!r}")
    return found

"""Paths confined to the workspace: no ``..``, no absolute escape, no symlink out of it."""

from __future__ import annotations

import os
from pathlib import Path

from .registry import ToolError


class Workspace:
    def __init__(self, root: str) -> None:
        self.root = Path(os.path.realpath(root))

    def resolve(self, path: str, *, must_exist: bool = False) -> Path:
        """The real path for ``path`` (relative to the root, or absolute inside it).

        Refuses ``..`` outright rather than normalising it away, and checks the *real* path
        (symlinks followed) so a link inside the workspace cannot lead out of it.
        """
        if not isinstance(path, str) or "\x00" in path:
            raise ToolError("path must be a string without NUL bytes")
        parts = Path(path).parts
        if ".." in parts:
            raise ToolError(f"path may not contain '..': {path!r}")
        candidate = Path(path) if Path(path).is_absolute() else self.root / path
        real = Path(os.path.realpath(candidate))
        if real != self.root and self.root not in real.parents:
            raise ToolError(f"path is outside the workspace {self.root}: {path!r}")
        if must_exist and not real.exists():
            raise ToolError(f"no such file or directory: {path!r}")
        return real

    def relative(self, real: Path) -> str:
        rel = real.relative_to(self.root).as_posix()
        return rel if rel != "." else ""

"""Paths confined to the workspace: no ``..``, no absolute escape, no symlink out of it."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from .errors import ToolError


class Workspace:
    def __init__(self, root: str) -> None:
        self.root = Path(os.path.realpath(root))

    def resolve(self, path: str, *, must_exist: bool = False) -> Path:
        """The real path for ``path`` (relative to the root, or absolute inside it).

        Refuses ``..`` outright rather than normalising it away, and checks the *real* path
        (symlinks followed) so a link inside the workspace cannot lead out of it.
        """
        candidate = self._named(path)
        real = Path(os.path.realpath(candidate))
        if real != self.root and self.root not in real.parents:
            raise ToolError(f"path is outside the workspace {self.root}: {path!r}")
        if must_exist and not real.exists():
            raise ToolError(f"no such file or directory: {path!r}")
        return real

    def entry(self, path: str) -> Path:
        """The entry ``path`` names, its last component not followed (a symlink is the
        link itself: what ``rm`` and ``mv`` act on), in a directory whose real path is in
        the workspace. Refuses what :meth:`resolve` refuses."""
        candidate = self._named(path)
        if candidate.name in ("", "."):
            return self.resolve(path)
        parent = Path(os.path.realpath(candidate.parent))
        if parent != self.root and self.root not in parent.parents:
            raise ToolError(f"path is outside the workspace {self.root}: {path!r}")
        return parent / candidate.name

    def _named(self, path: str) -> Path:
        """``path`` joined to the root, refused if it is no string, holds NUL or ``..``."""
        if not isinstance(path, str) or "\x00" in path:
            raise ToolError("path must be a string without NUL bytes")
        if ".." in Path(path).parts:
            raise ToolError(f"path may not contain '..': {path!r}")
        return Path(path) if Path(path).is_absolute() else self.root / path

    def relative(self, real: Path) -> str:
        rel = real.relative_to(self.root).as_posix()
        return rel if rel != "." else ""


def write_atomic(real: Path, data: bytes) -> None:
    """Write via a temporary file in the same directory and ``os.replace``.

    A reader never sees half a file, and a failed write leaves the old one. An overwritten
    file keeps its mode; a new one gets the umask's (``os.open`` applies it, unlike mkstemp).
    """
    real.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode: int | None = stat.S_IMODE(real.stat().st_mode)
    except FileNotFoundError:
        mode = None
    tmp = real.with_name(f".{real.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, real)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise

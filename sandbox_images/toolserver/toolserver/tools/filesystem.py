"""The filesystem tool set: the tools of the MCP filesystem server, confined to the workspace.

Names and argument names (camelCase included) match the MCP server that AgentScope Runtime's
filesystem sandbox offers, so an agent written against that sandbox calls these unchanged.
Every path goes through ``Workspace.resolve`` and is shown back relative to the workspace.
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import json
import os
import shutil
import stat
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..output import cut_marker, output_limit, read_capped
from ..registry import ToolError, ToolSet, schema, string
from ..workspace import Workspace, write_atomic


def _cap(text: str) -> str:
    """``text`` cut to the output limit (in UTF-8 bytes), with the usual marker."""
    limit = output_limit()
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", errors="ignore") + cut_marker(len(data) - limit)


def _read_text(real: Path, limit: int) -> str:
    """A file's text, at most ``limit`` bytes of it; a big file is not read past the limit."""
    with real.open("rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size <= limit:
            return read_capped(f, limit)  # also right if the file grew since the stat
        kept = f.read(limit)
    return kept.decode("utf-8", errors="replace") + cut_marker(size - len(kept))


def _iso(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _unified_diff(before: str, after: str, name: str) -> str:
    """A unified diff that stays well-formed when a side lacks a final newline."""
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"a/{name}",
        tofile=f"b/{name}",
    )
    out = []
    for line in lines:
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


tools = ToolSet("filesystem")


# -- argument schemas shared by several tools ---------------------------------------


def _path_arg(what: str) -> dict[str, Any]:
    return string(f"{what}, relative to the workspace (or absolute inside it)")


def _string_array(description: str) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string"}, "description": description}


_EDIT_ITEM = {
    "type": "object",
    "properties": {
        "oldText": string("text to replace; must occur exactly once in the file"),
        "newText": string("text to put in its place"),
    },
    "required": ["oldText", "newText"],
    "additionalProperties": False,
}


def _show(ws: Workspace, real: Path) -> str:
    return ws.relative(real) or "."


def _show_name(ws: Workspace, name: str) -> str:
    try:
        return _show(ws, Path(name))
    except ValueError:
        return name


def _friendly(fn: Callable[..., str]) -> Callable[..., str]:
    """OS errors become the tool's result, with paths shown relative to the workspace."""

    @functools.wraps(fn)
    def wrapper(ws: Workspace, **kwargs: Any) -> str:
        try:
            return fn(ws, **kwargs)
        except OSError as exc:
            names = [f for f in (exc.filename, exc.filename2) if f is not None]
            where = ", ".join(_show_name(ws, str(f)) for f in names)
            reason = exc.strerror or type(exc).__name__
            message = f"{fn.__name__}: {reason}" + (f": {where}" if where else "")
            raise ToolError(message) from None

    return wrapper


def _existing_file(ws: Workspace, path: str) -> Path:
    real = ws.resolve(path, must_exist=True)
    if real.is_dir():
        raise ToolError(f"{path!r} is a directory, not a file; use list_directory")
    if not real.is_file():
        raise ToolError(f"{path!r} is not a regular file")
    return real


def _existing_dir(ws: Workspace, path: str) -> Path:
    real = ws.resolve(path, must_exist=True)
    if not real.is_dir():
        raise ToolError(f"{path!r} is not a directory")
    return real


def _entry(ws: Workspace, path: str) -> Path:
    """The directory entry ``path`` names: a symlink itself, not what it points to.

    ``resolve`` follows links, so moving ``link`` would move its target instead; the
    path is still checked by ``resolve`` first, so a link leading out is refused.
    """
    real = ws.resolve(path)
    name = Path(path).name
    if real == ws.root or not name:
        raise ToolError("the workspace itself cannot be moved")
    return ws.resolve(str(Path(path).parent)) / name


def _strings(value: Any, what: str) -> list[str]:
    if not all(isinstance(item, str) for item in value):
        raise ToolError(f"{what} must be an array of strings")
    return value


@tools.tool(
    "Read the complete contents of a file as UTF-8 text.",
    schema(["path"], path=_path_arg("the file")),
)
@_friendly
def read_file(ws: Workspace, path: str) -> str:
    return _read_text(_existing_file(ws, path), output_limit())


@tools.tool(
    "Read several files at once; each is shown as 'path:' and its contents, separated "
    "by '---'. A file that cannot be read is reported without failing the others.",
    schema(["paths"], paths=_string_array("the files to read")),
)
def read_multiple_files(ws: Workspace, paths: list[str]) -> str:
    parts = []
    for path in _strings(paths, "paths"):
        try:
            real = _existing_file(ws, path)
            parts.append(f"{_show(ws, real)}:\n{_read_text(real, output_limit())}\n")
        except (ToolError, OSError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            parts.append(f"{path}: Error - {reason}")
    return _cap("\n---\n".join(parts))


@tools.tool(
    "Create a file or overwrite it completely with the given content (parent "
    "directories are created). Use edit_file to change part of a file.",
    schema(["path", "content"], path=_path_arg("the file"), content=string("new text")),
)
@_friendly
def write_file(ws: Workspace, path: str, content: str) -> str:
    real = ws.resolve(path)
    if real.is_dir():
        raise ToolError(f"{path!r} is a directory")
    write_atomic(real, content.encode("utf-8"))
    return f"Successfully wrote to {_show(ws, real)}"


@tools.tool(
    "Replace text in a file: each edit's oldText must occur exactly once, edits apply "
    "in order. Returns a unified diff; with dryRun the file is left unchanged.",
    schema(
        ["path", "edits"],
        path=_path_arg("the file"),
        edits={"type": "array", "items": _EDIT_ITEM, "description": "the edits, in order"},
        dryRun={
            "type": "boolean",
            "default": False,
            "description": "only show the diff, do not write",
        },
    ),
)
@_friendly
def edit_file(ws: Workspace, path: str, edits: list[dict[str, Any]], dryRun: bool = False) -> str:
    real = _existing_file(ws, path)
    for i, edit in enumerate(edits, 1):
        if not (
            isinstance(edit, dict)
            and set(edit) == {"oldText", "newText"}
            and all(isinstance(v, str) for v in edit.values())
        ):
            raise ToolError(f"edit {i} must be an object with string oldText and newText")
    try:
        # newline="" keeps CRLF files CRLF; strict decoding so a write cannot mangle bytes
        with real.open(encoding="utf-8", newline="") as f:
            before = f.read()
    except UnicodeDecodeError:
        raise ToolError(f"{path!r} is not UTF-8 text; it cannot be edited") from None
    after = before
    for i, edit in enumerate(edits, 1):
        old, new = edit["oldText"], edit["newText"]
        if not old:
            raise ToolError(f"edit {i}: oldText is empty")
        first = after.find(old)
        if first < 0:
            raise ToolError(f"edit {i}: oldText not found in {_show(ws, real)}: {old!r}")
        if after.find(old, first + 1) >= 0:  # +1, not +len: overlapping matches count
            raise ToolError(
                f"edit {i}: oldText is ambiguous, it occurs more than once in "
                f"{_show(ws, real)}; include more surrounding text: {old!r}"
            )
        after = after[:first] + new + after[first + len(old) :]
    diff = _unified_diff(before, after, _show(ws, real)) or "No changes.\n"
    if not dryRun and after != before:
        write_atomic(real, after.encode("utf-8"))
    return _cap(diff)


@tools.tool(
    "Create a directory, and its parents; succeeds if it already exists.",
    schema(["path"], path=_path_arg("the directory")),
)
@_friendly
def create_directory(ws: Workspace, path: str) -> str:
    real = ws.resolve(path)
    real.mkdir(parents=True, exist_ok=True)
    return f"Successfully created directory {_show(ws, real)}"


@tools.tool(
    "List a directory's entries, one per line, marked [DIR] or [FILE].",
    schema(["path"], path=_path_arg("the directory")),
)
@_friendly
def list_directory(ws: Workspace, path: str) -> str:
    real = _existing_dir(ws, path)
    with os.scandir(real) as it:
        entries = sorted(it, key=lambda e: e.name)
    lines = [
        f"[DIR] {e.name}" if e.is_dir(follow_symlinks=False) else f"[FILE] {e.name}"
        for e in entries
    ]
    return _cap("\n".join(lines))


@tools.tool(
    "A directory's contents, recursively, as JSON: [{name, type, children?}]. "
    "Symlinked directories are not followed.",
    schema(["path"], path=_path_arg("the directory")),
)
@_friendly
def directory_tree(ws: Workspace, path: str) -> str:
    real = _existing_dir(ws, path)
    # each node is dozens of bytes of JSON, so this many nodes already passes the cap;
    # stopping there bounds the walk and the memory on a huge tree
    budget = [output_limit()]

    def walk(directory: Path) -> list[dict[str, Any]]:
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            return []
        nodes: list[dict[str, Any]] = []
        for e in entries:
            if budget[0] <= 0:
                break
            budget[0] -= 1
            if e.is_dir(follow_symlinks=False):
                nodes.append({"name": e.name, "type": "directory", "children": walk(Path(e.path))})
            else:
                nodes.append({"name": e.name, "type": "file"})
        return nodes

    tree = walk(real)
    text = json.dumps(tree, indent=2)
    if budget[0] <= 0 and len(text.encode("utf-8")) <= output_limit():
        text += "\n[... tree truncated: too many entries ...]"
    return _cap(text)


@tools.tool(
    "Move or rename a file or directory. Fails if the destination exists.",
    schema(
        ["source", "destination"],
        source=_path_arg("what to move"),
        destination=_path_arg("its new path"),
    ),
)
@_friendly
def move_file(ws: Workspace, source: str, destination: str) -> str:
    src = _entry(ws, source)
    if not os.path.lexists(src):
        raise ToolError(f"no such file or directory: {source!r}")
    dest = _entry(ws, destination)
    if os.path.lexists(dest):
        raise ToolError(f"destination already exists: {_show(ws, dest)}")
    if dest == src or src in dest.parents:
        raise ToolError(f"cannot move {_show(ws, src)} into itself")
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(src, dest)  # a rename, or copy and delete across file systems
    return f"Successfully moved {_show(ws, src)} to {_show(ws, dest)}"


@tools.tool(
    "Find files and directories under a path whose name contains the pattern or "
    "matches it as a glob (case-insensitive). Returns matching paths, one per line.",
    schema(
        ["path", "pattern"],
        path=_path_arg("the directory to search"),
        pattern=string("a name substring or glob such as *.py"),
        excludePatterns={
            **_string_array("globs of paths (relative to path) or names to skip"),
            "default": [],
        },
    ),
)
@_friendly
def search_files(
    ws: Workspace, path: str, pattern: str, excludePatterns: list[str] | None = None
) -> str:
    top = _existing_dir(ws, path)
    excludes = _strings(excludePatterns or [], "excludePatterns")
    needle = pattern.lower()

    def excluded(rel: str, name: str) -> bool:
        return any(fnmatch.fnmatch(rel, g) or fnmatch.fnmatch(name, g) for g in excludes)

    matches = []
    for dirpath, dirnames, filenames in os.walk(top):  # does not follow symlinked dirs
        here = Path(dirpath)
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            rel = (here / name).relative_to(top).as_posix()
            if excluded(rel, name):
                if name in dirnames:
                    dirnames.remove(name)  # nor anything under it
                continue
            lowered = name.lower()
            if needle in lowered or fnmatch.fnmatchcase(lowered, needle):
                matches.append(_show(ws, here / name))
    return _cap("\n".join(matches)) if matches else "No matches found"


@tools.tool(
    "Size, times, type and permissions of a file or directory.",
    schema(["path"], path=_path_arg("the file or directory")),
)
@_friendly
def get_file_info(ws: Workspace, path: str) -> str:
    real = ws.resolve(path, must_exist=True)
    st = real.stat()
    created = getattr(st, "st_birthtime", st.st_ctime)
    return "\n".join(
        [
            f"size: {st.st_size}",
            f"created: {_iso(created)}",
            f"modified: {_iso(st.st_mtime)}",
            f"accessed: {_iso(st.st_atime)}",
            f"isDirectory: {str(stat.S_ISDIR(st.st_mode)).lower()}",
            f"isFile: {str(stat.S_ISREG(st.st_mode)).lower()}",
            f"permissions: {stat.S_IMODE(st.st_mode):03o}",
        ]
    )


@tools.tool(
    "The directory these tools may access (the workspace).",
    schema(),
)
def list_allowed_directories(ws: Workspace) -> str:
    return f"Allowed directories:\n{ws.root}"

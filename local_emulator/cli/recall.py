"""The session ``chat`` continues: the last one per query URL and user, kept across runs.

In ``$XDG_STATE_HOME/agentscope-faas/sessions.json`` (``~/.local/state/...`` by default: the
XDG base directory spec's place for state that should persist between runs), written whole
and replaced atomically, readable by its owner only.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def state_file() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "agentscope-faas" / "sessions.json"


def _key(url: str, user: str | None) -> str:
    return f"{url.rstrip('/')} {user or ''}"


def _load() -> dict[str, str]:
    try:
        data = json.loads(state_file().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def last_session(url: str, user: str | None) -> str | None:
    found = _load().get(_key(url, user))
    return found if isinstance(found, str) else None


def remember(url: str, user: str | None, session_id: str | None) -> None:
    """Keep ``session_id`` as the one to continue (None forgets it)."""
    data = _load()
    key = _key(url, user)
    if session_id is None:
        data.pop(key, None)
    else:
        data[key] = session_id
    path = state_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".sessions-")
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(data, out, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

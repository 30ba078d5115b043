"""What a log line or a span may say of a request's target: the secrets some URLs carry.

A live view's URL holds its view token, which opens the desktop (``/v1/sandboxes/{id}/
desktop/{view token}/...`` on the sandbox function, ``?token=`` on the view's WebSocket):
both are replaced by ``~`` before a path or query is written anywhere.
"""

from __future__ import annotations

import re

_VIEW_TOKEN = re.compile(r"^(/v1/sandboxes/[^/]+/desktop/)[^/]+")
_TOKEN_PARAM = re.compile(r"(^|&)(token=)[^&]*", re.IGNORECASE)


def loggable_path(path: str) -> str:
    """``path`` with a live view's token taken out."""
    return _VIEW_TOKEN.sub(r"\1~", path)


def loggable_query(query: str) -> str:
    """A query string (without ``?``) with ``token=`` values taken out."""
    return _TOKEN_PARAM.sub(r"\1\2~", query)

"""Ids from callers and the object keys built from them.

Every key the services write is built here, from ids that passed ``validate_id``; nothing
else concatenates caller input into a key.
"""

from __future__ import annotations

import re

from ..errors import ApiError

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
_ID_RE = re.compile(ID_PATTERN)


class InvalidId(ApiError, ValueError):
    """An id that does not match ID_PATTERN (HTTP 422)."""

    status = 422
    code = "invalid_id"


def validate_id(value: object, what: str = "id") -> str:
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        raise InvalidId(f"{what} must match {ID_PATTERN}, got {value!r}")
    return value


def user_prefix(user_id: str) -> str:
    return f"users/{validate_id(user_id, 'user_id')}/"


def session_prefix(user_id: str, session_id: str) -> str:
    return f"{user_prefix(user_id)}sessions/{validate_id(session_id, 'session_id')}/"

"""Ids from callers and the object keys built from them.

Users and sessions are named the way their owners name them: an email, an OIDC subject
(``auth0|abc123``), a UUID, any 1-256 character string without control characters. No id is
ever put into a key as it is unless it is plainly safe: ``id_segment`` maps an id to one key
segment that cannot form a path (no ``/``, never ``.`` or ``..``), and every key the services
write is built here from ids that went through it. The mapping is one-to-one:

* an id matching ``PLAIN_ID`` (what ids were before any other was allowed:
  ``^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$``) is its own segment, so stores written before keep
  their keys;
* any other id is ``~`` + its UTF-8 percent-encoded (RFC 3986, every byte but the unreserved
  ones), which no plain id can equal (a plain id never starts with ``~``);
* if that is longer than ``MAX_SEGMENT`` characters, ``~sha256-`` + the hex digest of the
  id; such a segment cannot be turned back into the id, so whatever lists ids stores them
  in its objects as well (the session listing markers do).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from urllib.parse import quote, unquote

from ..errors import ApiError

PLAIN_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
# what validate_id accepts, as a JSON-schema (ECMA-262) pattern for OpenAPI documents
ID_PATTERN = r"^[^\u0000-\u001f\u007f-\u009f]{1,256}$"
_PLAIN = re.compile(PLAIN_ID)
MAX_ID_CHARS = 256
# two ids and a fixed tail must stay well under S3's and OSS's 1,023-byte key limit
MAX_SEGMENT = 160
_HASHED = "~sha256-"


class InvalidId(ApiError, ValueError):
    """An id that names nothing: empty, over 256 characters, or with a control character."""

    status = 422
    code = "invalid_id"


def validate_id(value: object, what: str = "id") -> str:
    """``value`` if it is an id: a str of 1-256 characters, none of them a control
    character (Unicode category Cc) or a lone surrogate; ``InvalidId`` (422) otherwise."""
    if not isinstance(value, str):
        raise InvalidId(f"{what} must be a string, got {type(value).__name__}")
    if not 1 <= len(value) <= MAX_ID_CHARS:
        raise InvalidId(f"{what} must be 1 to {MAX_ID_CHARS} characters, got {len(value)}")
    if _PLAIN.fullmatch(value):
        return value
    for char in value:
        if unicodedata.category(char) in ("Cc", "Cs"):
            raise InvalidId(f"{what} must not contain control characters: {value!r}")
    return value


def validate_plain_id(value: object, what: str = "id") -> str:
    """``value`` if it matches ``PLAIN_ID`` - for ids this deployment makes itself (sandbox
    ids, types), which callers only ever copy; ``InvalidId`` (422) otherwise."""
    if not isinstance(value, str) or not _PLAIN.fullmatch(value):
        raise InvalidId(f"{what} must match {PLAIN_ID}, got {value!r}")
    return value


def id_segment(value: object, what: str = "id") -> str:
    """The key segment of an id (see the module's docstring); validates it first."""
    checked = validate_id(value, what)
    if _PLAIN.fullmatch(checked):
        return checked
    encoded = "~" + quote(checked, safe="")
    if len(encoded) <= MAX_SEGMENT:
        return encoded
    return _HASHED + hashlib.sha256(checked.encode("utf-8")).hexdigest()


def id_from_segment(segment: str) -> str | None:
    """The id a segment stands for; None for a hashed one (read the id from the object)."""
    if segment.startswith(_HASHED):
        return None
    if segment.startswith("~"):
        return unquote(segment[1:], errors="strict")
    return segment


_ENCODED = re.compile(rf"^~[A-Za-z0-9%._~-]{{1,{MAX_SEGMENT - 1}}}$")


def is_segment(value: object) -> bool:
    """Whether ``value`` could be a segment ``id_segment`` made (a listing cursor, say)."""
    return isinstance(value, str) and bool(_PLAIN.fullmatch(value) or _ENCODED.fullmatch(value))


def user_prefix(user_id: str) -> str:
    return f"users/{id_segment(user_id, 'user_id')}/"


def session_prefix(user_id: str, session_id: str) -> str:
    return f"{user_prefix(user_id)}sessions/{id_segment(session_id, 'session_id')}/"

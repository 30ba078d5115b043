"""The object-store contract every backend honours.

Object storage is the only database the functions have, so the contract is the smallest
one S3, OSS and a local folder can all keep *exactly*: whole-object reads with an etag,
create-only writes and compare-and-set writes. Everything durable (history, state rounds,
locks) is built on these three primitives.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod

from ..errors import ApiError
from .keys import InvalidId

MAX_KEY_BYTES = 1024


class StoreError(ApiError):
    """Base class for object-store failures; one that reaches a caller is a 503."""

    status = 503
    code = "store_unavailable"
    expose = False  # what the store said stays in the logs
    public_detail = "the object store is unavailable; retry"


class PreconditionFailed(StoreError):
    """A create-only put found the key, or an if-match put found another etag (or no object)."""


class StoreUnavailable(StoreError):
    """The store kept failing after bounded retries; the functions answer 503."""


class InvalidKey(InvalidId, StoreError):
    """A key that could escape its prefix or that no backend can hold (HTTP 422)."""

    expose = True  # the caller's own id, not the store's internals


_BAD_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")
# a segment that is empty, '.' or '..' (keys are checked on every store call: one search)
_BAD_SEGMENT = re.compile(r"(?:^|/)\.{0,2}(?:/|\Z)")


def check_key(key: str) -> str:
    """Refuse keys before they reach any backend, so no backend must be trusted to do it."""
    if not isinstance(key, str) or not key:
        raise InvalidKey("object key must be a non-empty string")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise InvalidKey(f"object key longer than {MAX_KEY_BYTES} bytes")
    if key.startswith("/") or key.endswith("/"):
        raise InvalidKey(f"object key may not start or end with '/': {key!r}")
    if _BAD_CHARS.search(key):
        raise InvalidKey(f"object key has a control character or backslash: {key!r}")
    if _BAD_SEGMENT.search(key):
        raise InvalidKey(f"object key has an empty, '.' or '..' segment: {key!r}")
    return key


def object_name(prefix: str, key: str, max_bytes: int) -> str:
    """``prefix + key`` for a cloud store whose names hold at most ``max_bytes``.

    Checked here, before any request, so an over-long name is a clear InvalidKey rather
    than the service's own error after a round trip.
    """
    check_key(key)
    name = prefix + key
    if len(name.encode("utf-8")) > max_bytes:
        raise InvalidKey(f"{key!r} is too long for this store's prefix {prefix!r}")
    return name


def check_conditions(key: str, if_match: str | None, if_none_match: bool) -> None:
    """Both conditions at once can never hold: refuse without asking the backend."""
    if if_match is not None and if_none_match:
        raise PreconditionFailed(f"{key}: if_match and if_none_match can never both hold")


def check_prefix(prefix: str) -> str:
    """A list prefix is a key prefix: it may be empty or end in '/', nothing else is relaxed."""
    if prefix == "":
        return prefix
    check_key(prefix.rstrip("/") or "x")
    return prefix


class ObjectStore(ABC):
    """Async object store. Implementations must be safe to share between concurrent tasks.

    Etags are opaque strings; the only thing callers do with one is hand it back as
    ``if_match``.
    """

    url: str = ""

    @abstractmethod
    async def get(self, key: str) -> tuple[bytes, str] | None:
        """The object's bytes and etag, or None when there is no such key."""

    async def get_first(self, key: str, size: int) -> bytes | None:
        """The object's first ``size`` bytes (all of it when shorter), or None when there is
        no such key: for reading a header without fetching what follows it. One ranged
        request where the backend has them; this default reads the whole object."""
        got = await self.get(key)
        return None if got is None else got[0][:size]

    @abstractmethod
    async def put(
        self,
        key: str,
        data: bytes,
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> str:
        """Write the whole object and return its new etag.

        ``if_none_match=True`` writes only if the key does not exist; ``if_match=etag``
        writes only if the current etag is that one. Otherwise ``PreconditionFailed``.
        """

    @abstractmethod
    async def delete(self, key: str) -> None:
        """Remove the key; removing a missing key is not an error."""

    @abstractmethod
    async def list(
        self, prefix: str, *, start_after: str | None = None, limit: int | None = None
    ) -> list[str]:
        """Keys under ``prefix`` in ascending (byte-wise UTF-8) order, after ``start_after``."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release clients and connections."""

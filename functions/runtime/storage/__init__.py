"""Object storage: the interface and the backend a ``STORE_URL`` names.

Backends are imported only when their scheme is used, so a function that stores in a local
folder never pays for boto3 or oss2 at cold start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import (
    InvalidKey,
    ObjectStore,
    PreconditionFailed,
    StoreError,
    StoreUnavailable,
    check_key,
)

if TYPE_CHECKING:
    from ..settings import Settings

__all__ = [
    "InvalidKey",
    "ObjectStore",
    "PreconditionFailed",
    "StoreError",
    "StoreUnavailable",
    "check_key",
    "open_store",
]


def open_store(url: str, settings: Settings | None = None) -> ObjectStore:
    """Build the backend for ``url``: file://PATH, memory://, s3://bucket/prefix, oss://bucket/prefix."""
    if settings is None:
        from ..settings import get_settings

        settings = get_settings()
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"STORE_URL needs a scheme (file://, memory://, s3://, oss://): {url!r}")
    if scheme == "memory":
        from .memory import MemoryStore

        return MemoryStore(url)
    if scheme == "file":
        from .file import FileStore

        return FileStore(rest, settings)
    if scheme == "s3":
        from .s3 import S3Store

        return S3Store(rest, settings)
    if scheme == "oss":
        from .oss import OSSStore

        return OSSStore(rest, settings)
    raise ValueError(f"unknown STORE_URL scheme {scheme!r}; use file, memory, s3 or oss")

"""``memory://``: a process-local store for tests and the seed's InMemory* services."""

from __future__ import annotations

import bisect
import itertools

from .base import ObjectStore, PreconditionFailed, check_key, check_prefix


class MemoryStore(ObjectStore):
    def __init__(self, url: str = "memory://") -> None:
        self.url = url
        self._data: dict[str, tuple[bytes, str]] = {}
        self._keys: list[str] = []  # sorted, for ordered listing
        self._counter = itertools.count(1)

    async def get(self, key: str) -> tuple[bytes, str] | None:
        check_key(key)
        return self._data.get(key)

    async def get_first(self, key: str, size: int) -> bytes | None:
        check_key(key)
        got = self._data.get(key)
        return None if got is None else got[0][:size]

    async def put(
        self,
        key: str,
        data: bytes,
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> str:
        check_key(key)
        current = self._data.get(key)
        if if_none_match and current is not None:
            raise PreconditionFailed(f"{key} exists")
        if if_match is not None and (current is None or current[1] != if_match):
            raise PreconditionFailed(f"{key} etag mismatch")
        etag = f'"m{next(self._counter)}"'
        if current is None:
            bisect.insort(self._keys, key)
        self._data[key] = (bytes(data), etag)
        return etag

    async def delete(self, key: str) -> None:
        check_key(key)
        if self._data.pop(key, None) is not None:
            del self._keys[bisect.bisect_left(self._keys, key)]

    async def list(
        self, prefix: str, *, start_after: str | None = None, limit: int | None = None
    ) -> list[str]:
        check_prefix(prefix)
        if limit is not None and limit <= 0:
            return []
        lo = bisect.bisect_left(self._keys, prefix)
        if start_after is not None:
            lo = max(lo, bisect.bisect_right(self._keys, start_after))
        out: list[str] = []
        for key in itertools.islice(self._keys, lo, None):
            if not key.startswith(prefix):
                break
            out.append(key)
            if limit is not None and len(out) >= limit:
                break
        return out

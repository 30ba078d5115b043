"""An ObjectStore wrapper that counts requests: how the "bounded reads" claims are checked.

Tests and ``benchmarks/store_bench.py`` wrap a real backend in it and assert / print how
many store round trips an operation made, which is the cost that matters on S3 and OSS.
"""

from __future__ import annotations

from collections import Counter

from ..storage.base import ObjectStore


class CountingStore(ObjectStore):
    """Delegates to ``inner`` and counts calls per operation (get, put, delete, list)."""

    def __init__(self, inner: ObjectStore) -> None:
        self.inner = inner
        self.url = inner.url
        self.counts: Counter[str] = Counter()

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def reset(self) -> None:
        self.counts.clear()

    async def get(self, key: str) -> tuple[bytes, str] | None:
        self.counts["get"] += 1
        return await self.inner.get(key)

    async def get_first(self, key: str, size: int) -> bytes | None:
        self.counts["get"] += 1
        return await self.inner.get_first(key, size)

    async def put(
        self,
        key: str,
        data: bytes,
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> str:
        self.counts["put"] += 1
        return await self.inner.put(key, data, if_match=if_match, if_none_match=if_none_match)

    async def delete(self, key: str) -> None:
        self.counts["delete"] += 1
        await self.inner.delete(key)

    async def list(
        self, prefix: str, *, start_after: str | None = None, limit: int | None = None
    ) -> list[str]:
        self.counts["list"] += 1
        return await self.inner.list(prefix, start_after=start_after, limit=limit)

    async def close(self) -> None:
        await self.inner.close()

"""Listing sessions reads each snapshot's header line, never the history after it.

The snapshot is the session's index entry (services/history.py), so a listing that GETs whole
objects would fetch every listed session's history: a page of 50 sessions of 1 MB each is
50 MB from the object store. ``list_sessions`` reads the start of each object instead
(``ObjectStore.get_first``: a ranged GET on S3 and OSS).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from functions.runtime.services import SessionHistoryService
from functions.runtime.services.history import HEADER_READ_BYTES
from functions.runtime.storage import open_store
from functions.runtime.storage.base import ObjectStore

MESSAGE = {"role": "user", "content": [{"type": "text", "text": "x" * 100_000}]}


class BytesRead:
    """Counts the bytes the store's reads hand back, whichever read is used."""

    def __init__(self, store: ObjectStore) -> None:
        self.total = 0
        get, get_first = store.get, store.get_first

        async def counting_get(key: str) -> Any:
            got = await get(key)
            self.total += len(got[0]) if got else 0
            return got

        async def counting_get_first(key: str, size: int) -> Any:
            got = await get_first(key, size)
            self.total += len(got) if got else 0
            return got

        store.get = counting_get  # type: ignore[method-assign]
        store.get_first = counting_get_first  # type: ignore[method-assign]


@pytest.mark.parametrize("url", ["file", "memory://"])
def test_listing_sessions_reads_their_headers_not_their_histories(tmp_path, url):
    async def run() -> None:
        store = open_store(f"file://{tmp_path}" if url == "file" else url)
        history = SessionHistoryService(store)
        for i in range(5):
            session = await history.open_session("u", f"s{i}", new=True)
            await history.commit_turn(session, [MESSAGE] * 10)  # ~1 MB each
        read = BytesRead(store)
        page = await history.list_sessions("u")
        await store.close()
        assert sorted(s.id for s in page) == [f"s{i}" for i in range(5)]
        assert all(s.created_at > 0 for s in page)
        assert read.total <= 5 * HEADER_READ_BYTES

    asyncio.run(run())


def test_a_header_longer_than_the_ranged_read_is_read_whole(tmp_path):
    async def run() -> None:
        store = open_store(f"file://{tmp_path}")
        history = SessionHistoryService(store)
        long_id = "s" * 256  # ids may be long; metadata grows the header further
        session = await history.open_session("u", long_id, new=True)
        await history.commit_turn(session, [MESSAGE])
        key = history._log("u", long_id).snapshot_key
        body, _ = await store.get(key)  # type: ignore[misc]
        header, _, rest = body.partition(b"\n")
        padded = header[:-1] + b', "pad": "' + b"p" * HEADER_READ_BYTES + b'"}'
        await store.put(key, padded + b"\n" + rest)
        (listed,) = await history.list_sessions("u")
        await store.close()
        assert listed.id == long_id

    asyncio.run(run())

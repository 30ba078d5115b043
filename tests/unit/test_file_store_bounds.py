"""The file store's per-key caches stay bounded on an instance that serves ever new sessions."""

from __future__ import annotations

import shutil

from functions.runtime.storage import file
from functions.runtime.storage.file import FileStore


async def test_directories_it_made_are_remembered_up_to_a_bound_and_writes_go_on(tmp_path):
    store = FileStore(str(tmp_path))
    keys = [f"users/u/sessions/s{i}/meta" for i in range(file._CACHED_KEYS + 50)]
    for key in keys:
        await store.put(key, key.encode())
    assert len(store._made) == file._CACHED_KEYS  # not one entry per session ever served
    # the oldest were forgotten: writing there again makes (or finds) the directory anew
    shutil.rmtree(tmp_path / "users")
    for key in (keys[0], keys[-1]):
        await store.put(key, b"again")
        found = await store.get(key)
        assert found is not None and found[0] == b"again"

"""One contract, every backend: memory, file, S3 (moto on 127.0.0.1) and OSS (our emulator).

Each test states a promise of ``ObjectStore`` and checks it against real servers; the
backend-specific tests at the end cover what only one backend can get wrong (processes
racing on one folder, retries against a failing endpoint, OSS's append-based CAS).
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import os
import stat
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from functions.runtime.storage import (
    InvalidKey,
    ObjectStore,
    PreconditionFailed,
    StoreError,
    StoreUnavailable,
    open_store,
)
from functions.runtime.storage.base import MAX_KEY_BYTES, check_key
from functions.runtime.storage.keys import (
    InvalidId,
    id_from_segment,
    is_segment,
    session_prefix,
    user_prefix,
    validate_id,
)
from local_emulator.serve import free_port
from tests.fixtures.stores import REPO_ROOT, FaultProxy, StoreConfig

MiB = 1024 * 1024


def utf8_sorted(keys: list[str]) -> list[str]:
    return sorted(keys, key=lambda k: k.encode("utf-8"))


async def put_many(store: ObjectStore, keys: list[str], parallel: int = 16) -> None:
    gate = asyncio.Semaphore(parallel)

    async def one(key: str) -> None:
        async with gate:
            await store.put(key, key.encode())

    await asyncio.gather(*(one(k) for k in keys))


async def increment(store: ObjectStore, key: str) -> int:
    """Read-modify-write with compare-and-set, retried until it wins."""
    while True:
        current = await store.get(key)
        if current is None:
            value = 1
            with contextlib.suppress(PreconditionFailed):
                await store.put(key, b"1", if_none_match=True)
                return value
            continue
        value = int(current[0]) + 1
        with contextlib.suppress(PreconditionFailed):
            await store.put(key, str(value).encode(), if_match=current[1])
            return value


# -- round trips and etags ----------------------------------------------------------------


async def test_round_trip_returns_bytes_and_the_etag_put_returned(any_store: ObjectStore) -> None:
    etag = await any_store.put("users/u/a.json", b'{"x": 1}')
    assert await any_store.get("users/u/a.json") == (b'{"x": 1}', etag)


async def test_empty_value_round_trips(any_store: ObjectStore) -> None:
    etag = await any_store.put("empty", b"")
    assert await any_store.get("empty") == (b"", etag)
    assert await any_store.list("") == ["empty"]


async def test_missing_key_reads_as_none(any_store: ObjectStore) -> None:
    assert await any_store.get("nope/never") is None


async def test_get_first_reads_the_start_of_a_value(any_store: ObjectStore) -> None:
    value = bytes(range(256)) * 800  # 200 KiB: past the one-request tail read of OSS
    await any_store.put("users/u/big", value)
    await any_store.put("users/u/empty", b"")
    assert await any_store.get_first("users/u/big", 10) == value[:10]
    assert await any_store.get_first("users/u/big", 100_000) == value[:100_000]
    assert await any_store.get_first("users/u/big", len(value) + 5) == value
    assert await any_store.get_first("users/u/big", 0) == b""
    assert await any_store.get_first("users/u/empty", 10) == b""
    assert await any_store.get_first("users/u/missing", 10) is None
    await any_store.put("users/u/big", b"short now")  # the current value, never an old one
    assert await any_store.get_first("users/u/big", 5) == b"short"


async def test_etag_changes_on_every_write(
    any_store: ObjectStore, request: pytest.FixtureRequest
) -> None:
    first = await any_store.put("k", b"one")
    second = await any_store.put("k", b"two")
    assert first != second
    assert await any_store.get("k") == (b"two", second)
    third = await any_store.put("k", b"two")
    assert (await any_store.get("k"))[1] == third
    if request.node.callspec.params["any_store"] != "s3":
        # S3's ETag is the MD5 of the bytes, so only S3 may hand out the same etag again.
        assert third != second


async def test_overwrite_replaces_the_whole_value(any_store: ObjectStore) -> None:
    await any_store.put("k", b"a much longer first value")
    await any_store.put("k", b"short")
    assert (await any_store.get("k"))[0] == b"short"


# -- create-only and compare-and-set ------------------------------------------------------


async def test_create_only_wins_once(any_store: ObjectStore) -> None:
    etag = await any_store.put("lock", b"first", if_none_match=True)
    with pytest.raises(PreconditionFailed):
        await any_store.put("lock", b"second", if_none_match=True)
    assert await any_store.get("lock") == (b"first", etag)


async def test_create_only_after_delete_succeeds(any_store: ObjectStore) -> None:
    await any_store.put("lock", b"first", if_none_match=True)
    await any_store.delete("lock")
    etag = await any_store.put("lock", b"again", if_none_match=True)
    assert await any_store.get("lock") == (b"again", etag)


async def test_if_match_with_the_current_etag_writes(any_store: ObjectStore) -> None:
    etag = await any_store.put("head", b"v1")
    new = await any_store.put("head", b"v2", if_match=etag)
    assert await any_store.get("head") == (b"v2", new)


async def test_if_match_with_a_stale_etag_is_refused(any_store: ObjectStore) -> None:
    stale = await any_store.put("head", b"v1")
    current = await any_store.put("head", b"v2")
    with pytest.raises(PreconditionFailed):
        await any_store.put("head", b"lost update", if_match=stale)
    assert await any_store.get("head") == (b"v2", current)


async def test_if_match_on_a_missing_key_is_refused(any_store: ObjectStore) -> None:
    other = await any_store.put("other", b"x")
    for etag in (other, '"0123456789abcdef0123456789abcdef"', "garbage", ""):
        with pytest.raises(PreconditionFailed):
            await any_store.put("missing", b"v", if_match=etag)
    assert await any_store.get("missing") is None


async def test_if_match_after_delete_is_refused(any_store: ObjectStore) -> None:
    etag = await any_store.put("head", b"v1")
    await any_store.delete("head")
    with pytest.raises(PreconditionFailed):
        await any_store.put("head", b"v2", if_match=etag)
    assert await any_store.get("head") is None


async def test_old_etag_never_matches_a_recreated_key(any_store: ObjectStore) -> None:
    # Same length, different bytes: an etag that only tracked size or position would match.
    old = await any_store.put("head", b"AAAA")
    await any_store.delete("head")
    await any_store.put("head", b"BBBB", if_none_match=True)
    with pytest.raises(PreconditionFailed):
        await any_store.put("head", b"CCCC", if_match=old)
    assert (await any_store.get("head"))[0] == b"BBBB"


async def test_if_match_and_if_none_match_together_never_write(any_store: ObjectStore) -> None:
    etag = await any_store.put("k", b"v")
    with pytest.raises(PreconditionFailed):
        await any_store.put("k", b"w", if_match=etag, if_none_match=True)
    with pytest.raises(PreconditionFailed):
        await any_store.put("fresh", b"w", if_match=etag, if_none_match=True)
    assert await any_store.get("k") == (b"v", etag)
    assert await any_store.get("fresh") is None


async def test_concurrent_creates_have_exactly_one_winner(any_store: ObjectStore) -> None:
    async def attempt(i: int) -> int | None:
        try:
            await any_store.put("race/lock", f"owner-{i}".encode(), if_none_match=True)
            return i
        except PreconditionFailed:
            return None

    winners = [w for w in await asyncio.gather(*(attempt(i) for i in range(20))) if w is not None]
    assert len(winners) == 1
    assert (await any_store.get("race/lock"))[0] == f"owner-{winners[0]}".encode()


async def test_concurrent_cas_increments_lose_nothing(any_store: ObjectStore) -> None:
    results = await asyncio.gather(*(increment(any_store, "race/counter") for _ in range(20)))
    assert sorted(results) == list(range(1, 21))
    assert (await any_store.get("race/counter"))[0] == b"20"


# -- delete -------------------------------------------------------------------------------


async def test_delete_is_idempotent(any_store: ObjectStore) -> None:
    await any_store.delete("never/existed")
    await any_store.put("k", b"v")
    await any_store.delete("k")
    await any_store.delete("k")
    assert await any_store.get("k") is None
    assert await any_store.list("") == []


async def test_delete_leaves_neighbours_alone(any_store: ObjectStore) -> None:
    for key in ("a", "a/b", "a/b/c", "ab"):
        await any_store.put(key, key.encode())
    await any_store.delete("a/b")
    assert await any_store.list("") == ["a", "a/b/c", "ab"]
    assert (await any_store.get("a/b/c"))[0] == b"a/b/c"


# -- listing ------------------------------------------------------------------------------

ORDER_KEYS = [
    "k/a",
    "k/B",
    "k/Z",
    "k/b",
    "k/a-b",
    "k/a/b",
    "k/a0",
    "k/a.b",
    "k/é",
    "k/z",
    "k/日本",
    "k/😀",
    "k/\uffff",
    "k/~",
    "k/A",
    "k/a/b/c",
]


async def test_listing_is_in_utf8_byte_order(any_store: ObjectStore) -> None:
    await put_many(any_store, [*ORDER_KEYS, "j/outside", "l/outside"])
    expected = utf8_sorted(ORDER_KEYS)
    assert await any_store.list("k/") == expected
    # supplementary-plane characters sort after U+FFFF in UTF-8 (not so in UTF-16)
    assert expected.index("k/😀") > expected.index("k/\uffff")
    assert await any_store.list("") == utf8_sorted([*ORDER_KEYS, "j/outside", "l/outside"])


async def test_prefix_may_end_mid_segment(any_store: ObjectStore) -> None:
    await put_many(any_store, ["k/a", "k/a/b", "k/ab", "k/b", "ka"])
    assert await any_store.list("k/a") == ["k/a", "k/a/b", "k/ab"]
    assert await any_store.list("k") == ["k/a", "k/a/b", "k/ab", "k/b", "ka"]
    assert await any_store.list("k/c") == []
    assert await any_store.list("nothing/here/") == []


async def test_start_after_and_limit(any_store: ObjectStore) -> None:
    keys = [f"p/{i:02d}" for i in range(10)]
    await put_many(any_store, keys)
    assert await any_store.list("p/", limit=3) == keys[:3]
    assert await any_store.list("p/", start_after="p/03") == keys[4:]
    assert await any_store.list("p/", start_after="p/03", limit=2) == keys[4:6]
    assert await any_store.list("p/", start_after="p/035") == keys[4:]  # not itself a key
    assert await any_store.list("p/", start_after="p/09") == []
    assert await any_store.list("p/", start_after="a") == keys  # before the prefix
    assert await any_store.list("p/", limit=100) == keys


async def test_limit_zero_lists_nothing(any_store: ObjectStore) -> None:
    await any_store.put("p/0", b"v")
    assert await any_store.list("p/", limit=0) == []


async def test_listing_over_a_thousand_keys_paginates(any_store: ObjectStore) -> None:
    keys = [f"many/{i:05d}" for i in range(1100)]
    await put_many(any_store, keys, parallel=32)
    assert await any_store.list("many/") == keys
    assert await any_store.list("many/", limit=1050) == keys[:1050]
    assert await any_store.list("many/", start_after=keys[990], limit=30) == keys[991:1021]
    assert await any_store.list("many/", start_after=keys[1000]) == keys[1001:]


# -- keys and values ----------------------------------------------------------------------

UNICODE_KEYS = [
    "数据/ключ/ü.json",
    "emoji/😀/🚀",
    "spaces/a b c",
    "url/chars?q=1&r=2#frag%20+plus",
    "colons/a:b:c",
    "mixed/CaSe/Ümlaut",
    "dots/.hidden/a..b/...",
]


async def test_unicode_and_url_hostile_but_valid_keys_round_trip(any_store: ObjectStore) -> None:
    for key in UNICODE_KEYS:
        await any_store.put(key, key.encode())
    for key in UNICODE_KEYS:
        assert (await any_store.get(key))[0] == key.encode()
    assert await any_store.list("") == utf8_sorted(UNICODE_KEYS)


async def test_long_key_with_a_segment_longer_than_a_file_name(any_store: ObjectStore) -> None:
    # 900 bytes, one 800-byte segment: fits every backend (store prefixes included) but
    # no single file name, so file:// has to split it.
    key = "long/" + "é" * 400 + "/x" + "y" * 93
    assert len(key.encode()) == 900
    etag = await any_store.put(key, b"v")
    assert await any_store.get(key) == (b"v", etag)
    assert await any_store.list("long/") == [key]
    assert await any_store.list("long/" + "é" * 300) == [key]
    await any_store.delete(key)
    assert await any_store.list("long/") == []


async def test_a_key_too_long_with_the_store_prefix_is_an_invalid_key(
    any_store: ObjectStore, request: pytest.FixtureRequest
) -> None:
    # check_key allows 1024 bytes; S3 (1024) and OSS (1023) count the store's prefix too.
    # Such a key must be refused as InvalidKey before a request, never fail at the service.
    key = "k/" + "x" * (MAX_KEY_BYTES - 2)
    if request.node.callspec.params["any_store"] in ("s3", "oss"):
        with pytest.raises(InvalidKey):
            await any_store.put(key, b"v")
        with pytest.raises(InvalidKey):
            await any_store.get(key)
    else:
        etag = await any_store.put(key, b"v")
        assert await any_store.get(key) == (b"v", etag)


async def test_large_values_round_trip_and_update(any_store: ObjectStore) -> None:
    big = os.urandom(5 * MiB)
    etag = await any_store.put("big/blob", big)
    assert await any_store.get("big/blob") == (big, etag)
    bigger = big + os.urandom(1024)
    new = await any_store.put("big/blob", bigger, if_match=etag)
    got = await any_store.get("big/blob")
    assert got is not None and got[1] == new and got[0] == bigger


HOSTILE_KEYS = [
    "../x",
    "a/../x",
    "a/./b",
    ".",
    "a//b",
    "",
    "/abs",
    "trailing/",
    "x" * 2000,
    "é" * (MAX_KEY_BYTES // 2 + 1),
    "back\\slash",
    "nul\x00byte",
    "new\nline",
]


async def test_hostile_keys_are_refused_before_the_store(any_store: ObjectStore) -> None:
    for key in HOSTILE_KEYS:
        with pytest.raises(InvalidKey):
            await any_store.put(key, b"v")
        with pytest.raises(InvalidKey):
            await any_store.put(key, b"v", if_none_match=True)
        with pytest.raises(InvalidKey):
            await any_store.get(key)
        with pytest.raises(InvalidKey):
            await any_store.delete(key)
    for prefix in ("../", "/abs/", "..", "a/../", "a/./"):
        with pytest.raises(InvalidKey):
            await any_store.list(prefix)
    assert await any_store.list("") == []


@pytest.mark.parametrize("kind", ["s3", "oss"])
async def test_hostile_keys_never_reach_the_network(
    kind: str, store_url_for: Callable[..., StoreConfig]
) -> None:
    # A store whose endpoint is dead: any request would end in StoreUnavailable, so
    # getting InvalidKey proves the key was refused before a request was made.
    dead = f"http://127.0.0.1:{free_port()}"
    endpoint = {"s3": "s3_endpoint_url", "oss": "oss_endpoint"}[kind]
    config = store_url_for(kind, **{endpoint: dead, "store_retry_attempts": 1})
    store = config.open()
    try:
        for key in HOSTILE_KEYS:
            with pytest.raises(InvalidKey):
                await store.put(key, b"v")
            with pytest.raises(InvalidKey):
                await store.get(key)
            with pytest.raises(InvalidKey):
                await store.delete(key)
        with pytest.raises(StoreUnavailable):  # and the endpoint really is dead
            await store.get("valid")
    finally:
        await store.close()


async def test_hostile_keys_leave_no_trace_on_disk(
    store_url_for: Callable[..., StoreConfig],
) -> None:
    config = store_url_for("file")
    store = config.open()
    for key in HOSTILE_KEYS:
        with pytest.raises(InvalidKey):
            await store.put(key, b"v")
    root = Path(urlsplit(config.url).path)
    # not even the store's own directory was created
    assert not await asyncio.to_thread(root.exists)


@pytest.mark.parametrize("bad", ["", "x" * 257, "a\n", "a\x00", "\x85", "\udc80", None, 7])
def test_invalid_ids_are_refused(bad: object) -> None:
    with pytest.raises(InvalidId):
        validate_id(bad)
    if isinstance(bad, str):
        with pytest.raises(InvalidId):
            user_prefix(bad)
        with pytest.raises(InvalidId):
            session_prefix("u1", bad)
    assert issubclass(InvalidId, ValueError)


@pytest.mark.parametrize("odd", ["../x", "a/b", " a", "é", ".hidden", "..", "~", "é" * 256])
def test_ids_that_could_form_a_path_are_encoded_into_one_segment(odd: str) -> None:
    prefix = session_prefix("u1", odd)
    segment = prefix.split("/")[3]
    assert prefix == f"users/u1/sessions/{segment}/" and segment.startswith("~")
    assert segment not in (".", "..") and len(segment) <= 160 and is_segment(segment)
    assert id_from_segment(segment) in (odd, None)  # None: hashed, too long to encode
    check_key(prefix + "x")  # the store contract's own check passes
    other = odd[:-1] + ("!" if odd[-1] != "!" else "?")  # one character apart: another key
    assert session_prefix("u1", other) != prefix


def test_valid_ids_build_keys() -> None:
    assert session_prefix("u-1", "s.2:x_y") == "users/u-1/sessions/s.2:x_y/"
    assert validate_id("a" * 128) == "a" * 128


# -- file:// only -------------------------------------------------------------------------


async def test_file_store_lists_only_objects(store_url_for: Callable[..., StoreConfig]) -> None:
    store = store_url_for("file").open()
    await store.put("d/obj", b"v")
    root = Path(store.root)  # type: ignore[attr-defined]
    # debris of a writer that crashed between writing its temp file and renaming it
    (root / "d" / "\\tmp.deadbeef").write_bytes(b"half")
    assert (root / "d" / "\\lock").exists()
    assert await store.list("") == ["d/obj"]
    assert await store.list("d/") == ["d/obj"]


async def test_file_store_objects_are_the_owner_s_only(tmp_path: Path) -> None:
    """Objects hold secrets (sandbox tokens, sessions): no other account reads them."""
    store = open_store(f"file://{tmp_path / 'made' / 'store'}")
    await store.put("users/u/secret", b"s")
    etag = await store.put("users/u/other", b"o", if_none_match=True)
    await store.put("users/u/other", b"p", if_match=etag)
    root = tmp_path / "made" / "store"
    for made in (tmp_path / "made", root, root / "users", root / "users" / "u"):
        assert stat.S_IMODE(made.stat().st_mode) == 0o700, made
    for name in ("secret\\", "other\\", "\\lock"):
        assert stat.S_IMODE((root / "users" / "u" / name).stat().st_mode) == 0o600, name
    assert await store.get("users/u/secret") is not None


@pytest.mark.parametrize("fsync", [False, True])
async def test_file_store_fsyncs_each_write_only_when_asked(
    store_url_for: Callable[..., StoreConfig], monkeypatch: pytest.MonkeyPatch, fsync: bool
) -> None:
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    store = store_url_for("file", file_store_fsync=fsync).open()
    etag = await store.put("k", b"v1")
    await store.put("k", b"v2", if_match=etag)
    await store.put("n", b"x", if_none_match=True)
    assert len(synced) == (3 if fsync else 0)
    assert (await store.get("k"))[0] == b"v2"


async def test_file_store_path_is_relative_to_the_cwd_at_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    default = open_store("file://")
    rel = open_store("file://rel/store")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    await rel.put("k", b"v")
    await default.put("k", b"d")
    assert (tmp_path / "rel" / "store" / "k\\").is_file()
    assert (tmp_path / ".data" / "store" / "k\\").is_file()
    assert not (elsewhere / "rel").exists()


def _run_processes(config: StoreConfig, script: str, n: int, *args: str) -> list[str]:
    """Start ``n`` processes running ``script``, release them together, return their outputs.

    Each prints "ready" once its store is open, then waits for a line on stdin; the line
    goes to all of them only when all are ready, so they really do race.
    """
    env = {**os.environ, **config.env, "PYTHONPATH": str(REPO_ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(script), str(i), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=REPO_ROOT,
            env=env,
            text=True,
        )
        for i in range(n)
    ]
    try:
        for p in procs:
            line = p.stdout.readline().strip()  # type: ignore[union-attr]
            assert line == "ready", p.stderr.read()  # type: ignore[union-attr]
        for p in procs:
            p.stdin.write("go\n")  # type: ignore[union-attr]
            p.stdin.flush()  # type: ignore[union-attr]
        outputs = []
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
            outputs.append(out.strip())
        return outputs
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()


_CHILD_PRELUDE = """
    import asyncio, contextlib, sys
    from functions.runtime.settings import Settings
    from functions.runtime.storage import PreconditionFailed, open_store

    settings = Settings()
    store = open_store(settings.store_url, settings)
    print("ready", flush=True)
    sys.stdin.readline()
"""

_CREATE_ONLY_CHILD = (
    _CHILD_PRELUDE
    + """
    async def main():
        try:
            await store.put("race/lock", ("owner-" + sys.argv[1]).encode(), if_none_match=True)
            print("won")
        except PreconditionFailed:
            print("lost")
        await store.close()

    asyncio.run(main())
"""
)

_INCREMENT_CHILD = (
    _CHILD_PRELUDE
    + """
    async def main():
        for _ in range(int(sys.argv[2])):
            while True:
                cur = await store.get("race/counter")
                try:
                    if cur is None:
                        await store.put("race/counter", b"1", if_none_match=True)
                    else:
                        await store.put(
                            "race/counter", str(int(cur[0]) + 1).encode(), if_match=cur[1]
                        )
                    break
                except PreconditionFailed:
                    continue
        print("done")
        await store.close()

    asyncio.run(main())
"""
)


@pytest.mark.parametrize("kind", ["file", "s3", "oss"])
async def test_processes_racing_create_only_have_one_winner(
    kind: str, store_url_for: Callable[..., StoreConfig]
) -> None:
    config = store_url_for(kind)
    n = 20 if kind == "file" else 8  # SDK imports make each s3/oss process heavier
    outputs = await asyncio.to_thread(_run_processes, config, _CREATE_ONLY_CHILD, n)
    assert sorted(outputs) == ["lost"] * (n - 1) + ["won"]
    winner = outputs.index("won")
    store = config.open()
    assert (await store.get("race/lock"))[0] == f"owner-{winner}".encode()
    await store.close()


@pytest.mark.parametrize("kind", ["file", "s3", "oss"])
async def test_processes_racing_cas_increments_lose_nothing(
    kind: str, store_url_for: Callable[..., StoreConfig]
) -> None:
    config = store_url_for(kind)
    n, each = (20, 3) if kind == "file" else (8, 3)
    outputs = await asyncio.to_thread(_run_processes, config, _INCREMENT_CHILD, n, str(each))
    assert outputs == ["done"] * n
    store = config.open()
    assert (await store.get("race/counter"))[0] == str(n * each).encode()
    await store.close()


_WRITER_CHILD = (
    _CHILD_PRELUDE
    + """
    async def main():
        fill = bytes([65 + int(sys.argv[1])])
        for _ in range(40):
            await store.put("torn/value", fill * (256 * 1024))
        print("done")

    asyncio.run(main())
"""
)


async def test_file_readers_never_see_a_half_written_value(
    store_url_for: Callable[..., StoreConfig],
) -> None:
    config = store_url_for("file")
    store = config.open()
    await store.put("torn/value", b"A" * (256 * 1024))
    writers = asyncio.create_task(asyncio.to_thread(_run_processes, config, _WRITER_CHILD, 4))
    reads = 0
    while not writers.done() or reads == 0:
        value, _ = await store.get("torn/value")  # type: ignore[misc]
        assert len(value) == 256 * 1024 and value == value[:1] * len(value)
        reads += 1
        await asyncio.sleep(0)  # let the writers' task be polled
    assert await writers == ["done"] * 4


# -- retries (networked backends) ---------------------------------------------------------


def _via(
    config: StoreConfig,
    proxy: FaultProxy,
    store_url_for: Callable[..., StoreConfig],
    **extra: object,
) -> ObjectStore:
    endpoint = {"s3": "s3_endpoint_url", "oss": "oss_endpoint"}[config.kind]
    settings = config.settings.model_copy(
        update={endpoint: proxy.url, "store_retry_base_s": 0.001, **extra}
    )
    return open_store(config.url, settings)


def _server_url(config: StoreConfig) -> str:
    return {"s3": config.settings.s3_endpoint_url, "oss": config.settings.oss_endpoint}[config.kind]  # type: ignore[return-value]


@pytest.mark.parametrize("kind", ["s3", "oss"])
async def test_transient_503s_are_retried_until_success(
    kind: str, store_url_for: Callable[..., StoreConfig], fault_proxy: Callable[..., FaultProxy]
) -> None:
    config = store_url_for(kind)
    proxy = fault_proxy(_server_url(config), failures=3)
    store = _via(config, proxy, store_url_for, store_retry_attempts=5)
    etag = await store.put("k", b"v")
    assert proxy.failed == 3
    proxy.reset(failures=2)
    assert await store.get("k") == (b"v", etag)
    assert proxy.failed == 2
    proxy.reset(failures=3)
    assert await store.list("") == ["k"]
    assert proxy.failed == 3
    await store.close()


@pytest.mark.parametrize("kind", ["s3", "oss"])
async def test_a_store_that_stays_down_raises_store_unavailable_after_bounded_attempts(
    kind: str, store_url_for: Callable[..., StoreConfig], fault_proxy: Callable[..., FaultProxy]
) -> None:
    config = store_url_for(kind)
    proxy = fault_proxy(_server_url(config), failures=1000)
    store = _via(config, proxy, store_url_for, store_retry_attempts=3)
    with pytest.raises(StoreUnavailable):
        await store.get("k")
    assert proxy.requests == 3  # ours are the only retries: the SDK's are switched off
    proxy.reset(failures=1000)
    with pytest.raises(StoreUnavailable):
        await store.put("k", b"v", if_none_match=True)
    assert proxy.requests == 3
    await store.close()


@pytest.mark.parametrize("kind", ["s3", "oss"])
async def test_connection_refused_raises_store_unavailable(
    kind: str, store_url_for: Callable[..., StoreConfig]
) -> None:
    endpoint = {"s3": "s3_endpoint_url", "oss": "oss_endpoint"}[kind]
    config = store_url_for(
        kind,
        **{
            endpoint: f"http://127.0.0.1:{free_port()}",
            "store_retry_attempts": 2,
            "store_retry_base_s": 0.001,
        },
    )
    store = config.open()
    for call in (store.get("k"), store.put("k", b"v"), store.delete("k"), store.list("")):
        with pytest.raises(StoreUnavailable):
            await call
    await store.close()


@pytest.mark.parametrize("kind", ["s3", "oss"])
async def test_client_errors_and_lost_races_are_not_retried(
    kind: str, store_url_for: Callable[..., StoreConfig], fault_proxy: Callable[..., FaultProxy]
) -> None:
    config = store_url_for(kind)
    proxy = fault_proxy(_server_url(config))
    store = _via(config, proxy, store_url_for, store_retry_attempts=5)
    await store.put("lock", b"mine", if_none_match=True)
    proxy.reset()
    with pytest.raises(PreconditionFailed):
        await store.put("lock", b"theirs", if_none_match=True)
    assert proxy.requests == 1
    await store.close()

    denied = fault_proxy(_server_url(config), failures=1000, status=403)
    store = _via(config, denied, store_url_for, store_retry_attempts=5)
    with pytest.raises(StoreError) as info:
        await store.get("lock")
    assert not isinstance(info.value, StoreUnavailable)
    assert denied.requests == 1
    await store.close()


@pytest.mark.parametrize("kind", ["s3", "oss"])
async def test_a_conditional_write_whose_answer_was_lost_is_not_reported_as_lost(
    kind: str, store_url_for: Callable[..., StoreConfig], fault_proxy: Callable[..., FaultProxy]
) -> None:
    # The server commits the write but the client sees a 503; the retry then finds the
    # key taken / the etag moved. That is our own write, and the put must succeed, or a
    # caller would retry an increment twice or think it lost a lock it holds.
    config = store_url_for(kind)
    proxy = fault_proxy(_server_url(config), lose_responses=1)
    store = _via(config, proxy, store_url_for, store_retry_attempts=3)
    etag = await store.put("lock", b"mine", if_none_match=True)
    assert proxy.lost == 1
    assert await store.get("lock") == (b"mine", etag)
    proxy.reset(lose_responses=1)
    new = await store.put("lock", b"mine, renewed", if_match=etag)
    assert proxy.lost == 1
    assert await store.get("lock") == (b"mine, renewed", new)
    # ... while a genuine loss after a retry is still a loss
    proxy.reset(failures=1)
    with pytest.raises(PreconditionFailed):
        await store.put("lock", b"theirs", if_none_match=True)
    await store.close()


@pytest.mark.parametrize("kind", ["s3", "oss"])
async def test_missing_bucket_is_a_store_error_not_a_missing_key(
    kind: str, store_url_for: Callable[..., StoreConfig]
) -> None:
    config = store_url_for(kind)
    store = open_store(f"{kind}://no-such-bucket-{os.getpid()}/p", config.settings)
    with pytest.raises(StoreError) as info:
        await store.get("k")
    assert not isinstance(info.value, StoreUnavailable)
    await store.close()


_READER_CHILD = (
    _CHILD_PRELUDE
    + """
    async def main():
        got = await store.get("shared/key")
        print(got[0].decode() if got else "missing")

    asyncio.run(main())
"""
)


async def test_store_settings_env_opens_the_same_store_in_another_process(
    store_settings: StoreConfig,
) -> None:
    """What other suites rely on: ``.settings`` here and ``.env`` in a child agree."""
    assert (
        store_settings.env["STORE_URL"] == store_settings.url == store_settings.settings.store_url
    )
    store = store_settings.open()
    await store.put("shared/key", b"written by the parent")
    outputs = await asyncio.to_thread(_run_processes, store_settings, _READER_CHILD, 1)
    # memory:// is per process, so a child sees nothing; every other kind is shared.
    expected = "written by the parent" if store_settings.cross_process else "missing"
    assert outputs == [expected]
    await store.close()


# -- OSS: the emulator speaks what OSS does ------------------------------------------------


@pytest.fixture
def oss_bucket(store_url_for: Callable[..., StoreConfig]):  # type: ignore[no-untyped-def]
    import oss2

    config = store_url_for("oss")
    bucket = urlsplit(config.url).netloc
    return oss2.Bucket(oss2.Auth("id", "secret"), config.settings.oss_endpoint, bucket)


def test_oss_put_forbid_overwrite_answers_409_file_already_exists(oss_bucket) -> None:  # type: ignore[no-untyped-def]
    import oss2

    oss_bucket.put_object("k", b"one", headers={"x-oss-forbid-overwrite": "true"})
    with pytest.raises(oss2.exceptions.ServerError) as info:
        oss_bucket.put_object("k", b"two", headers={"x-oss-forbid-overwrite": "true"})
    assert (info.value.status, info.value.code) == (409, "FileAlreadyExists")
    assert oss_bucket.get_object("k").read() == b"one"
    oss_bucket.put_object("k", b"three", headers={"x-oss-forbid-overwrite": "false"})
    assert oss_bucket.get_object("k").read() == b"three"


@pytest.mark.parametrize("header", ["If-Match", "If-None-Match", "If-Unmodified-Since"])
def test_oss_put_refuses_conditional_headers_like_oss(oss_bucket, header: str) -> None:  # type: ignore[no-untyped-def]
    import oss2

    etag = oss_bucket.put_object("k", b"one").etag
    with pytest.raises(oss2.exceptions.ServerError) as info:
        oss_bucket.put_object("k", b"two", headers={header: f'"{etag}"'})
    assert info.value.code == "NotImplemented"
    assert info.value.details.get("Header") == header
    assert oss_bucket.get_object("k").read() == b"one"


def test_oss_etag_is_quoted_uppercase_md5(oss_bucket) -> None:  # type: ignore[no-untyped-def]
    import hashlib

    result = oss_bucket.put_object("k", b"hello")
    assert result.headers["etag"] == '"' + hashlib.md5(b"hello").hexdigest().upper() + '"'


def test_oss_append_checks_position_and_type(oss_bucket) -> None:  # type: ignore[no-untyped-def]
    import oss2

    assert oss_bucket.append_object("log", 0, b"abc").next_position == 3
    with pytest.raises(oss2.exceptions.PositionNotEqualToLength) as info:
        oss_bucket.append_object("log", 1, b"x")
    assert info.value.next_position == 3
    with pytest.raises(oss2.exceptions.PositionNotEqualToLength) as info:
        oss_bucket.append_object("absent", 5, b"x")
    assert info.value.next_position == 0
    oss_bucket.put_object("normal", b"n")
    with pytest.raises(oss2.exceptions.ObjectNotAppendable):
        oss_bucket.append_object("normal", 1, b"x")
    head = oss_bucket.head_object("log")
    assert head.object_type == "Appendable"
    assert head.headers["x-oss-next-append-position"] == "3"


def test_oss_head_errors_travel_in_x_oss_err(oss_bucket) -> None:  # type: ignore[no-untyped-def]
    import oss2

    with pytest.raises(oss2.exceptions.NotFound) as info:
        oss_bucket.head_object("missing")
    assert info.value.code == "NoSuchKey"


def test_oss_ranges_follow_oss_rules(oss_bucket) -> None:  # type: ignore[no-untyped-def]
    oss_bucket.put_object("r", b"0123456789")
    assert oss_bucket.get_object("r", byte_range=(2, 4)).read() == b"234"
    assert oss_bucket.get_object("r", byte_range=(None, 3)).read() == b"789"
    # out of range: OSS ignores the header and sends everything with 200 ...
    whole = oss_bucket.get_object("r", byte_range=(None, 50))
    assert (whole.status, whole.read()) == (200, b"0123456789")
    # ... unless asked for standard behaviour, which clips
    std = {"x-oss-range-behavior": "standard"}
    clipped = oss_bucket.get_object("r", byte_range=(None, 50), headers=std)
    assert (clipped.status, clipped.read()) == (206, b"0123456789")
    assert clipped.content_range == "bytes 0-9/10"


def test_oss_list_v2_paginates_url_encoded_unicode_keys(oss_bucket) -> None:  # type: ignore[no-untyped-def]
    import oss2

    keys = [f"ü/{i:03d}/😀 & <x>" for i in range(25)]
    for key in keys:
        oss_bucket.put_object(key, b"v")
    listed = [o.key for o in oss2.ObjectIteratorV2(oss_bucket, prefix="ü/", max_keys=7)]
    assert listed == keys
    listed_v1 = [o.key for o in oss2.ObjectIterator(oss_bucket, prefix="ü/", max_keys=7)]
    assert listed_v1 == keys
    page = oss_bucket.list_objects_v2(prefix="ü/", delimiter="/", max_keys=10)
    assert page.prefix_list[:2] == ["ü/000/", "ü/001/"]


def test_oss_requires_an_authorization_header(oss_bucket) -> None:  # type: ignore[no-untyped-def]
    oss_bucket.put_object("k", b"v")
    parts = urlsplit(oss_bucket.endpoint)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("GET", f"/{oss_bucket.bucket_name}/k")
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    assert resp.status == 403
    assert b"<Code>AccessDenied</Code>" in body and b"<RequestId>" in body and b"<HostId>" in body


async def test_oss_store_deletes_by_tombstone_and_lists_only_live_keys(
    store_url_for: Callable[..., StoreConfig],
) -> None:
    import oss2

    config = store_url_for("oss")
    store = config.open()
    await store.put("a", b"1")
    await store.put("b", b"2")
    await store.delete("a")
    bucket = oss2.Bucket(
        oss2.Auth("id", "secret"), config.settings.oss_endpoint, urlsplit(config.url).netloc
    )
    sizes = {o.key: o.size for o in oss2.ObjectIteratorV2(bucket, prefix="store/")}
    assert set(sizes) == {"store/a", "store/b"}  # the tombstoned object is still there ...
    assert sizes["store/a"] % 2 == 1 and sizes["store/b"] % 2 == 0
    assert await store.list("") == ["b"]  # ... but is not listed
    await store.close()

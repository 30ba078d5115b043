r"""``file://PATH``: the object store as a folder, for one machine and its processes.

This is the default backend (``file://.data/store``), so the local emulator, the tests and
anyone running the functions on a laptop get the same contract S3 and OSS give, including
across separate OS processes (several ``uvicorn`` workers, a test that forks 20 writers).

Layout
    Key segments become directories; an object is a file named ``<last segment>\`` (a
    trailing backslash). ``check_key`` forbids backslashes in keys, so no key can name
    the same file as another key's directory (``a/b`` next to ``a/b/c``), a temp file
    (``\tmp.<token>``) or a lock file (``\lock``). A segment longer than a file name may be
    is split into 200-byte pieces, each but the last a directory ``<piece>\+``. Everything
    we list is decoded back from these names; nothing else in the tree is ever listed.

Writes
    The bytes go to a temp file in the object's own directory (fsynced when
    ``FILE_STORE_FSYNC`` is on), then moved into place with ``os.replace`` (or ``os.link``
    for create-only, which fails if the name exists), so a reader sees the old object or
    the new one, never half of one, whenever a writing process dies.

Compare-and-set
    Every replacing write and every delete in a directory holds ``flock`` on that
    directory's ``\lock`` file, so "check the etag, then replace" is one step for every
    process on the machine. A create-only write takes no lock: ``link`` fails atomically
    when the name exists, and it exists for as long as a check-and-replace runs. Reads
    take no lock: the rename is atomic. Only the check-and-rename runs under the lock; the
    write (and fsync) happen before it, so the lock is held for microseconds.

Etags
    A random 128-bit token written in a one-line header inside the object file, so it
    changes on every write (two writes of the same bytes get different etags; an mtime or
    an inode number would not guarantee that) and it is read in the same ``open`` as the
    data, never out of step with it.

Permissions
    Objects hold secrets (a sandbox's token, every session): files are the owner's only
    (0600), and so is every directory the store makes (0700), the root and those above
    it included, so another account on the machine reads nothing and lists no id. A
    directory that exists already keeps its mode.

Assumes a case-sensitive, non-normalising file system (Linux, a case-sensitive APFS
volume): on a case-insensitive one the keys ``A`` and ``a`` would share a file.
"""

from __future__ import annotations

import bisect
import builtins
import fcntl
import os
from functools import lru_cache
from typing import TYPE_CHECKING

from .base import (
    ObjectStore,
    PreconditionFailed,
    StoreError,
    StoreUnavailable,
    check_conditions,
    check_key,
    check_prefix,
)

if TYPE_CHECKING:
    from ..settings import Settings

DEFAULT_PATH = ".data/store"

_OBJ = "\\"  # suffix of an object file
_CONT = "\\+"  # suffix of a directory holding the rest of an over-long segment
_META = "\\"  # prefix of our own files (locks, temp files)
_LOCK = "\\lock"
_FILE_MODE = 0o600  # objects hold secrets: the owner's only (see "Permissions")
_DIR_MODE = 0o700
_PIECE_BYTES = 200  # < NAME_MAX (255) with room for the suffixes

_MAGIC = b"asf1 "
_TOKEN_LEN = 32  # hex chars
_HEADER_LEN = len(_MAGIC) + _TOKEN_LEN + 1  # "asf1 <token>\n"

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_READ_BYTES = 1 << 16


def _pieces(segment: str) -> list[str]:
    """Split a segment into file-name-sized pieces at character boundaries."""
    if len(segment.encode("utf-8")) <= _PIECE_BYTES:
        return [segment]
    out: list[str] = []
    cur: list[str] = []
    size = 0
    for ch in segment:
        n = len(ch.encode("utf-8"))
        if size + n > _PIECE_BYTES:
            out.append("".join(cur))
            cur, size = [], 0
        cur.append(ch)
        size += n
    out.append("".join(cur))
    return out


def _dir_names(segments: list[str]) -> list[str]:
    """Directory names for whole segments (each followed by a '/' in the key)."""
    names: list[str] = []
    for seg in segments:
        pieces = _pieces(seg)
        names.extend(p + _CONT for p in pieces[:-1])
        names.append(pieces[-1])
    return names


# Both per-key caches are bounded: an instance serving sessions without end must not grow
# with each one (issue 23's soak); a forgotten entry costs a recomputation or a makedirs.
_CACHED_KEYS = 1024


def _relative_location(key: str) -> tuple[str, str]:
    """(directory relative to the root, file name) of the object for ``key``."""
    if len(key.encode("utf-8")) <= _PIECE_BYTES:  # no segment to split: the usual key
        head, _, last = key.rpartition("/")
        return head, last + _OBJ
    return _split_location(key)


def _make_dirs(directory: str) -> None:
    """``directory`` and those above it that are missing, each ``_DIR_MODE`` (``makedirs``
    gives the mode to the last one only); an existing one is left as it is."""
    try:
        os.mkdir(directory, _DIR_MODE)
    except FileExistsError:
        return
    except FileNotFoundError:
        _make_dirs(os.path.dirname(directory))
        try:
            os.mkdir(directory, _DIR_MODE)
        except FileExistsError:  # made meanwhile by another writer
            pass


@lru_cache(maxsize=_CACHED_KEYS)
def _split_location(key: str) -> tuple[str, str]:
    segments = key.split("/")
    names = _dir_names(segments[:-1])
    last = _pieces(segments[-1])
    names.extend(p + _CONT for p in last[:-1])
    return os.path.join(*names) if names else "", last[-1] + _OBJ


def _compatible(key_prefix: str, prefix: str) -> bool:
    """Could a key starting with ``key_prefix`` also start with ``prefix``?"""
    return key_prefix.startswith(prefix) or prefix.startswith(key_prefix)


def _unavailable(what: str, exc: OSError) -> StoreUnavailable:
    """A file system that refuses (read-only, full, permissions, I/O errors) is a store that
    is unavailable, as a cloud store failing after its retries is: ``StoreUnavailable``."""
    return StoreUnavailable(f"file store {what}: {type(exc).__name__}: {exc}")


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


class FileStore(ObjectStore):
    def __init__(self, path: str = DEFAULT_PATH, settings: Settings | None = None) -> None:
        path = path or DEFAULT_PATH
        self.url = f"file://{path}"
        # Resolved once: a later chdir must not move the store.
        self.root = os.path.abspath(path)
        self._made: dict[str, None] = {}  # directories known to exist, oldest first
        self._fsync = bool(settings and settings.file_store_fsync)

    # -- paths -------------------------------------------------------------------------

    def _locate(self, key: str) -> tuple[str, str]:
        rel_dir, name = _relative_location(key)
        # joined by hand: root is absolute and normalised, rel_dir relative (keys never
        # start with '/'), and posixpath.join's checks cost more than the rest of this
        return (f"{self.root}/{rel_dir}" if rel_dir else self.root), name

    def _ensure_dir(self, directory: str) -> None:
        if directory not in self._made:
            _make_dirs(directory)  # the root among them, and any above it the store makes
            if len(self._made) >= _CACHED_KEYS:
                del self._made[next(iter(self._made))]
            self._made[directory] = None

    @staticmethod
    def _lock(directory: str) -> int:
        """``directory``'s lock, held until the returned descriptor is closed."""
        fd = os.open(f"{directory}/{_LOCK}", os.O_RDWR | os.O_CREAT | _O_CLOEXEC, _FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        return fd

    @staticmethod
    def _parse(blob: bytes, path: str) -> tuple[bytes, str]:
        if len(blob) < _HEADER_LEN or not blob.startswith(_MAGIC):
            raise StoreError(f"not an object written by FileStore: {path}")
        token = blob[len(_MAGIC) : len(_MAGIC) + _TOKEN_LEN].decode("ascii")
        return blob[_HEADER_LEN:], token

    def _current_etag(self, path: str) -> str | None:
        try:
            with open(path, "rb") as f:
                head = f.read(_HEADER_LEN)
        except (FileNotFoundError, NotADirectoryError):
            return None
        return self._parse(head, path)[1]

    def _write_temp(self, directory: str, token: str, data: bytes) -> str:
        tmp = f"{directory}/{_META}tmp.{token}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC
        try:
            fd = os.open(tmp, flags, _FILE_MODE)
        except FileNotFoundError:
            # The directory vanished under our cache (someone removed the tree): remake it.
            self._made.pop(directory, None)
            self._ensure_dir(directory)
            fd = os.open(tmp, flags, _FILE_MODE)
        try:
            _write_all(fd, b"".join((_MAGIC, token.encode("ascii"), b"\n", data)))  # one write
            if self._fsync:
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
        os.close(fd)
        return tmp

    # -- the contract ------------------------------------------------------------------

    # The async methods run their file-system work inline, on purpose: each call is a few
    # syscalls (well under a millisecond), cheaper than a hop to a worker thread, and doing
    # it without an await makes every call atomic with respect to other tasks. OS errors are
    # mapped with try/except, not a context manager: these run a few times in every turn.

    async def get(self, key: str) -> tuple[bytes, str] | None:
        check_key(key)
        try:
            return self._get(key)
        except OSError as exc:
            raise _unavailable(f"get {key}", exc) from exc

    async def get_first(self, key: str, size: int) -> bytes | None:
        check_key(key)
        try:
            got = self._get(key, size)
        except OSError as exc:
            raise _unavailable(f"get {key}", exc) from exc
        return None if got is None else got[0]

    async def put(
        self,
        key: str,
        data: bytes,
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> str:
        check_key(key)
        check_conditions(key, if_match, if_none_match)
        try:
            return self._put(key, bytes(data), if_match, if_none_match)
        except OSError as exc:
            raise _unavailable(f"put {key}", exc) from exc

    async def delete(self, key: str) -> None:
        check_key(key)
        try:
            self._delete(key)
        except OSError as exc:
            raise _unavailable(f"delete {key}", exc) from exc

    async def list(
        self, prefix: str, *, start_after: str | None = None, limit: int | None = None
    ) -> list[str]:
        check_prefix(prefix)
        if limit is not None and limit <= 0:
            return []
        try:
            return self._list(prefix, start_after, limit)
        except OSError as exc:
            raise _unavailable(f"list {prefix}", exc) from exc

    # -- the blocking halves -----------------------------------------------------------

    def _get(self, key: str, size: int | None = None) -> tuple[bytes, str] | None:
        """The value and its etag; with ``size``, only the value's first ``size`` bytes."""
        directory, name = self._locate(key)
        path = f"{directory}/{name}"
        try:
            fd = os.open(path, os.O_RDONLY | _O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:  # os-level reads: builtins.open builds two file objects per call
            if size is not None:
                blob = os.read(fd, _HEADER_LEN + max(size, 0))  # a regular file reads whole
                return self._parse(blob, path)
            chunks = [os.read(fd, _READ_BYTES)]
            while len(chunks[-1]) == _READ_BYTES:
                chunks.append(os.read(fd, _READ_BYTES))
        finally:
            os.close(fd)
        return self._parse(chunks[0] if len(chunks) == 1 else b"".join(chunks), path)

    def _put(self, key: str, data: bytes, if_match: str | None, if_none_match: bool) -> str:
        directory, name = self._locate(key)
        final = f"{directory}/{name}"
        if if_match is not None and not os.path.exists(final):
            raise PreconditionFailed(f"{key} does not exist")  # cheap early answer
        self._ensure_dir(directory)
        token = os.urandom(_TOKEN_LEN // 2).hex()
        written = self._write_temp(directory, token, data)
        tmp: str | None = written
        try:
            if if_none_match:
                # no lock: see "Compare-and-set" above
                try:
                    os.link(written, final)
                except FileExistsError:
                    raise PreconditionFailed(f"{key} exists") from None
            else:
                lock = self._lock(directory)
                try:
                    if if_match is not None and self._current_etag(final) != if_match:
                        raise PreconditionFailed(f"{key} etag mismatch")
                    os.replace(written, final)
                    tmp = None
                finally:
                    os.close(lock)  # releases the flock
        finally:
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except FileNotFoundError:
                    pass
        return token

    def _delete(self, key: str) -> None:
        directory, name = self._locate(key)
        try:
            lock = self._lock(directory)
        except (FileNotFoundError, NotADirectoryError):  # no such directory: no such object
            return
        try:
            os.unlink(f"{directory}/{name}")
        except FileNotFoundError:
            pass
        finally:
            os.close(lock)  # releases the flock

    def _list(self, prefix: str, start_after: str | None, limit: int | None) -> builtins.list[str]:
        head, sep, _ = prefix.rpartition("/")
        if sep:
            # Everything up to the last '/' names directories exactly; jump straight there.
            base_key = head + "/"
            directory = os.path.join(self.root, *_dir_names(head.split("/")))
        else:
            base_key, directory = "", self.root
        keys: builtins.list[str] = []
        self._walk(directory, base_key, prefix, keys)
        keys.sort()  # str order is code-point order, which is UTF-8 byte order
        if start_after is not None:
            keys = keys[bisect.bisect_right(keys, start_after) :]
        return keys if limit is None else keys[:limit]

    def _walk(self, directory: str, key_so_far: str, prefix: str, out: builtins.list[str]) -> None:
        try:
            entries = os.scandir(directory)
        except (FileNotFoundError, NotADirectoryError):
            return
        with entries:
            for entry in entries:
                name = entry.name
                if name.startswith(_META):
                    continue  # lock and temp files
                if name.endswith(_CONT):
                    sub = key_so_far + name[: -len(_CONT)]
                    if _compatible(sub, prefix):
                        self._walk(entry.path, sub, prefix, out)
                elif name.endswith(_OBJ):
                    key = key_so_far + name[: -len(_OBJ)]
                    if key.startswith(prefix):
                        out.append(key)
                elif entry.is_dir(follow_symlinks=False):
                    sub = key_so_far + name + "/"
                    if _compatible(sub, prefix):
                        self._walk(entry.path, sub, prefix, out)

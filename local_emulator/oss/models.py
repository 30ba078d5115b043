"""What the emulated OSS does, independent of HTTP: buckets, Normal and Appendable objects.

Every operation runs under one lock, so each is atomic, as it is on OSS (which is strongly
consistent: a write is visible to every following read and list). The behaviours:

* PutObject replaces an object of any type with a Normal one; with
  ``x-oss-forbid-overwrite: true`` it refuses a taken name (409 FileAlreadyExists).
* AppendObject appends at ``position`` only if that equals the current length; position 0
  also creates the object. Otherwise 409 PositionNotEqualToLength with the real length; a
  Normal object answers 409 ObjectNotAppendable. Appendable objects stop at 5 GB.
* DeleteObject of a missing key succeeds (204).
* Listing is in UTF-8 byte order (Python's str order is code-point order, the same thing).
"""

from __future__ import annotations

import bisect
import hashlib
import re
import threading
import time
from dataclasses import dataclass, field

from . import exceptions as err

try:  # crcmod ships with oss2; without it we just omit the CRC header, as oss2 allows
    import crcmod

    _crc64 = crcmod.mkCrcFun(0x142F0E1EBA9EA3693, initCrc=0, xorOut=0xFFFFFFFFFFFFFFFF, rev=True)
except ImportError:  # pragma: no cover
    _crc64 = None

MAX_APPENDABLE = 5 * 1024**3
MAX_KEY_BYTES = 1023
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")


def crc64(data: bytes, previous: int | None = 0) -> int | None:
    if _crc64 is None or previous is None:
        return None
    return _crc64(data, previous)


@dataclass
class FakeObject:
    key: str
    data: bytearray
    kind: str  # "Normal" | "Appendable"
    content_type: str
    last_modified: float = field(default_factory=time.time)
    crc: int | None = None
    etag: str = ""

    def __post_init__(self) -> None:
        self._refresh()

    def _refresh(self) -> None:
        # Simple uploads: the upper-case MD5 hex. OSS computes appendable ETags its own way;
        # an MD5 stands in for it here (clients must treat ETags as opaque anyway).
        self.etag = hashlib.md5(self.data, usedforsecurity=False).hexdigest().upper()
        self.last_modified = time.time()

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass
class FakeBucket:
    name: str
    created: float = field(default_factory=time.time)
    objects: dict[str, FakeObject] = field(default_factory=dict)
    keys: list[str] = field(default_factory=list)  # sorted

    def store(self, obj: FakeObject) -> None:
        if obj.key not in self.objects:
            bisect.insort(self.keys, obj.key)
        self.objects[obj.key] = obj

    def remove(self, key: str) -> None:
        if self.objects.pop(key, None) is not None:
            del self.keys[bisect.bisect_left(self.keys, key)]


@dataclass
class ListPage:
    objects: list[FakeObject]
    common_prefixes: list[str]
    truncated: bool
    next_marker: str  # the last key or prefix returned, when truncated


def check_object_name(key: str) -> None:
    # OSS: 1-1023 bytes of UTF-8, not starting with '/' or '\'.
    if not key or len(key.encode("utf-8")) > MAX_KEY_BYTES or key[0] in "/\\":
        raise err.InvalidObjectName()


class OSSBackend:
    def __init__(self) -> None:
        self.buckets: dict[str, FakeBucket] = {}
        self.lock = threading.RLock()

    # -- buckets -----------------------------------------------------------------------

    def create_bucket(self, name: str) -> FakeBucket:
        if not _BUCKET_NAME.match(name):
            raise err.InvalidBucketName()
        with self.lock:
            if name in self.buckets:
                raise err.BucketAlreadyExists()
            bucket = self.buckets[name] = FakeBucket(name)
            return bucket

    def delete_bucket(self, name: str) -> None:
        with self.lock:
            bucket = self.get_bucket(name)
            if bucket.objects:
                raise err.BucketNotEmpty()
            del self.buckets[name]

    def get_bucket(self, name: str) -> FakeBucket:
        try:
            return self.buckets[name]
        except KeyError:
            raise err.NoSuchBucket() from None

    def list_buckets(self) -> list[FakeBucket]:
        with self.lock:
            return sorted(self.buckets.values(), key=lambda b: b.name)

    # -- objects -----------------------------------------------------------------------

    def put_object(
        self, bucket: str, key: str, data: bytes, *, content_type: str, forbid_overwrite: bool
    ) -> FakeObject:
        check_object_name(key)
        with self.lock:
            b = self.get_bucket(bucket)
            if forbid_overwrite and key in b.objects:
                raise err.FileAlreadyExists()
            obj = FakeObject(key, bytearray(data), "Normal", content_type, crc=crc64(data))
            b.store(obj)
            return obj

    def append_object(
        self, bucket: str, key: str, position: int, data: bytes, *, content_type: str
    ) -> FakeObject:
        check_object_name(key)
        with self.lock:
            b = self.get_bucket(bucket)
            obj = b.objects.get(key)
            if obj is not None and obj.kind != "Appendable":
                raise err.ObjectNotAppendable()
            current = obj.size if obj is not None else 0
            if position != current:
                raise err.PositionNotEqualToLength(
                    headers={"x-oss-next-append-position": str(current)}
                )
            if current + len(data) > MAX_APPENDABLE:
                raise err.InvalidArgument("The object would exceed the 5 GB appendable limit.")
            if obj is None:
                obj = FakeObject(key, bytearray(data), "Appendable", content_type, crc=crc64(data))
                b.store(obj)
            else:
                obj.data += data
                obj.crc = crc64(data, obj.crc)
                obj._refresh()
            return obj

    def get_object(self, bucket: str, key: str) -> FakeObject:
        with self.lock:
            obj = self.get_bucket(bucket).objects.get(key)
            if obj is None:
                raise err.NoSuchKey(extra={"Key": key})
            return obj

    def snapshot(self, bucket: str, key: str) -> tuple[bytes, FakeObject]:
        """The object's bytes as of now, so a later append cannot change a response."""
        with self.lock:
            obj = self.get_object(bucket, key)
            return bytes(obj.data), obj

    def delete_object(self, bucket: str, key: str) -> None:
        with self.lock:
            self.get_bucket(bucket).remove(key)

    def list_objects(
        self,
        bucket: str,
        *,
        prefix: str,
        after: str,
        max_keys: int,
        delimiter: str = "",
    ) -> ListPage:
        """Keys > ``after`` under ``prefix``, folding ``delimiter`` groups into prefixes."""
        with self.lock:
            b = self.get_bucket(bucket)
            start = bisect.bisect_left(b.keys, prefix)
            if after:
                start = max(start, bisect.bisect_right(b.keys, after))
                if delimiter and after.endswith(delimiter) and after.startswith(prefix):
                    # resuming after a folded group: skip the rest of the group too
                    start = max(start, bisect.bisect_left(b.keys, after + "\U0010ffff"))
            objects: list[FakeObject] = []
            prefixes: list[str] = []
            last = ""
            i = start
            while i < len(b.keys):
                key = b.keys[i]
                if not key.startswith(prefix):
                    break
                if len(objects) + len(prefixes) >= max_keys:
                    return ListPage(objects, prefixes, True, last)
                if delimiter:
                    cut = key.find(delimiter, len(prefix))
                    if cut >= 0:
                        group = key[: cut + len(delimiter)]
                        prefixes.append(group)
                        last = group
                        # skip the whole group: every key starting with it
                        i = bisect.bisect_left(b.keys, group + "\U0010ffff")
                        continue
                objects.append(b.objects[key])
                last = key
                i += 1
            return ListPage(objects, prefixes, False, "")

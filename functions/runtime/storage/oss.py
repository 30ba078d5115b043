"""``oss://bucket/prefix``: Alibaba Cloud OSS, compare-and-set built on AppendObject.

What OSS offers (Alibaba Cloud OSS documentation; pages listed at the end):

* ``PutObject`` honours ``x-oss-forbid-overwrite: true``: 409 ``FileAlreadyExists`` when the
  name is taken (error pages 0026-00000002 / 0026-00000201, "Prevent objects from being
  overwritten by objects that have the same names").
* ``PutObject`` does *not* honour ``If-Match``, ``If-None-Match``, ``If-Modified-Since`` or
  ``If-Unmodified-Since``: it refuses them with ``NotImplemented`` (error page
  0017-00000245, "A header you provided implies functionality that is not implemented").
  ``DeleteObject`` has no precondition either, and ``CopyObject``'s
  ``x-oss-copy-source-if-match`` conditions the *source*, not the destination.
* ``AppendObject`` (``POST /key?append&position=N``) appends only if ``N`` equals the current
  length of the (appendable) object, else 409 ``PositionNotEqualToLength`` carrying the
  real length in ``x-oss-next-append-position`` (AppendObject API reference; error page
  0026-00000016, which notes the check holds under concurrency). Position 0 succeeds only
  when there is no object (or an empty appendable one). A Normal object answers 409
  ``ObjectNotAppendable``. Appendable objects are capped at 5 GB and cannot use a
  customer KMS key.

So the only server-side, atomic compare-and-set OSS has is the append position. This store
keeps every object as an *appendable* object and every write as one appended frame::

    payload | pad (0 or 1 byte) | trailer (28 bytes: magic, kind, pad, length, crc32, nonce)

* The etag is the object's length after the write. Lengths only grow, so an etag is never
  reused for a key, and ``put(if_match=L)`` is literally ``AppendObject(position=L)``: OSS
  itself refuses it if anyone wrote since. One request, no lock, no lease, no clock.
* Create-only is ``AppendObject(position=0)``.
* ``get`` reads the last 64 KiB with one suffix-range GET (``x-oss-range-behavior:
  standard``) and takes the last frame; a larger value costs one more ranged GET of exactly
  its bytes (earlier bytes of an appendable object never change, so this is race-free).
* ``delete`` appends a *tombstone* frame instead of deleting the object. A physical delete
  would let the key start again from length 0, and an old etag could then match a new,
  different object (ABA): a stale compare-and-set would overwrite it. The pad byte makes a
  live object's length even and a tombstoned one odd, so ``list`` tells them apart from the
  ``Size`` in the listing, without reading anything.

Costs and limits, accepted knowingly: an overwrite appends rather than replaces, so a key's
storage is the sum of everything written to it (fine for the small, often-updated objects
that use compare-and-set; big immutable objects are written once), and a key is capped at
5 GB of history. Deleted keys keep their tombstone object; a lifecycle rule may expire
them once no writer can still hold an etag for them (days).

``x-oss-forbid-overwrite`` is therefore not used by this store (a Normal object could never
be compare-and-set later); the emulator implements it because OSS does.

oss2 is synchronous and imported on first use; calls run in worker threads through
``retry.call_with_retry``. oss2 makes no retries of its own for these calls.

Sources: "PutObject" (https://www.alibabacloud.com/help/doc-detail/31978.html); "Prevent
objects from being overwritten by objects that have the same names"
(https://www.alibabacloud.com/help/en/object-storage-service/latest/disable-overwriting-object-with-the-same-name);
error pages https://help.aliyun.com/en/oss/user-guide/0026-00000002,
https://help.aliyun.com/en/oss/user-guide/0017-00000245,
https://help.aliyun.com/en/oss/user-guide/0026-00000016; "AppendObject"
(https://www.alibabacloud.com/help/en/oss/developer-reference/appendobject); "How to obtain
OSS resources by segmenting HTTP Range requests"
(https://help.aliyun.com/en/oss/how-to-obtain-oss-resources-by-segmenting-http-range-requests).
oss2's own ``PositionNotEqualToLength`` reads ``x-oss-next-append-position`` unconditionally,
which confirms OSS always sends it with that error.
"""

from __future__ import annotations

import os
import struct
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..fc_role import fresh
from ..settings import secret_value
from .base import (
    ObjectStore,
    PreconditionFailed,
    StoreError,
    StoreUnavailable,
    check_conditions,
    check_prefix,
    object_name,
)
from .retry import call_with_retry, store_policy

if TYPE_CHECKING:
    from ..settings import Settings

_MAGIC = b"ASF1"
_DATA = 1
_TOMBSTONE = 2
_TRAILER = struct.Struct(">4sBBHQI8s")  # magic, kind, pad, reserved, length, crc32, nonce
_TAIL = 64 * 1024  # one GET returns values up to this size
_PAGE = 1000
_MAX_NAME_BYTES = 1023  # OSS's limit on a whole object name, our prefix included
_MAX_SPINS = 64  # appends lost to other writers before a blind put gives up
_POSITIONS = 4096  # remembered object lengths (hints only)
_STANDARD_RANGE = {"x-oss-range-behavior": "standard"}


def described(exc: BaseException) -> str:
    """An oss2 error as our errors and logs may say it: code, status, OSS's message and
    request id. Never ``str(exc)``: oss2 puts the whole error body there, and a signature
    error's body holds the string signed (the STS token in it) and the access key id."""
    code = getattr(exc, "code", "") or type(exc).__name__
    status = getattr(exc, "status", None)
    if not isinstance(status, int) or status < 0:
        # not an answer of OSS's (oss2's own failures have negative statuses: a connection
        # refused, a checksum): their text holds no signature
        return f"{code}: {exc}"
    message = getattr(exc, "message", "") or ""
    request_id = getattr(exc, "request_id", "") or ""
    return f"{code} ({status}): {message} (request {request_id or '-'})"


class _NotAppendable(Exception):
    """The key holds a Normal object that this store did not write."""


def _frame(payload: bytes, kind: int, position: int) -> bytes:
    """Bytes to append at ``position`` so that the new length has the kind's parity."""
    size = position + len(payload) + _TRAILER.size
    want_odd = kind == _TOMBSTONE
    pad = 1 if (size % 2 == 1) != want_odd else 0
    trailer = _TRAILER.pack(_MAGIC, kind, pad, 0, len(payload), zlib.crc32(payload), os.urandom(8))
    return b"".join((payload, b"\0" * pad, trailer))


def _etag(length: int) -> str:
    return f'"{length}"'


def _position(etag: str) -> int | None:
    text = etag.strip().strip('"')
    return int(text) if text.isdigit() else None


def _content_range_total(value: str | None) -> int | None:
    # "bytes 0-99/1000"
    if not value or "/" not in value:
        return None
    total = value.rsplit("/", 1)[1]
    return int(total) if total.isdigit() else None


class OSSStore(ObjectStore):
    def __init__(self, location: str, settings: Settings) -> None:
        bucket, _, prefix = location.partition("/")
        if not bucket:
            raise ValueError(f"oss STORE_URL needs a bucket: oss://bucket/prefix, got {location!r}")
        prefix = prefix.strip("/")
        self.bucket_name = bucket
        self.prefix = f"{prefix}/" if prefix else ""
        if self.prefix:
            check_prefix(self.prefix)
        endpoint = settings.oss_endpoint
        if not endpoint and settings.oss_region:
            endpoint = f"https://oss-{settings.oss_region}.aliyuncs.com"
        if not endpoint:
            raise ValueError("oss:// needs OSS_ENDPOINT (or OSS_REGION to derive it)")
        self.endpoint = endpoint
        self.url = f"oss://{location}"
        self._settings = settings
        self._policy = store_policy(settings)
        self._bucket: Any = None
        self._bucket_key: tuple[str, str, str | None] | None = None  # the key it signs with
        self._http: Any = None
        self._bucket_lock = threading.Lock()
        self._lengths: OrderedDict[str, int] = OrderedDict()
        self._lengths_lock = threading.Lock()

    # -- plumbing ----------------------------------------------------------------------

    def _oss(self) -> Any:
        """The oss2 Bucket, built on first use (inside a worker thread), and again with
        the connection pool kept when the key it signs with changes (on FC, the role's key
        a newer request brought: ``fc_role.py``)."""
        key = self._key()
        if self._bucket is None or self._bucket_key != key:
            with self._bucket_lock:
                if self._bucket is None or self._bucket_key != key:
                    self._bucket, self._bucket_key = self._make_bucket(*key), key
        return self._bucket

    def _session(self, oss2: Any) -> Any:
        """One connection pool for every Bucket this store makes."""
        if self._http is None:
            self._http = oss2.Session(pool_size=32)
        return self._http

    def _key(self) -> tuple[str, str, str | None]:
        s = self._settings
        key_id = secret_value(s.oss_access_key_id) or ""
        secret = secret_value(s.oss_access_key_secret) or ""
        if not key_id or not secret:
            raise StoreError("oss:// needs OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET")
        return fresh(key_id, secret, secret_value(s.oss_security_token))

    def _make_bucket(self, key_id: str, secret: str, token: str | None) -> Any:
        import oss2

        s = self._settings
        version = "v4" if s.oss_region else "v1"  # v4 signatures need the region
        if token:
            auth = oss2.StsAuth(key_id, secret, token, auth_version=version)
        else:
            auth = oss2.AuthV4(key_id, secret) if version == "v4" else oss2.Auth(key_id, secret)
        return oss2.Bucket(
            auth,
            self.endpoint,
            self.bucket_name,
            session=self._session(oss2),
            connect_timeout=s.store_timeout_s,  # oss2 uses it for connect and read
            enable_crc=False,  # our frames carry their own crc32
            region=s.oss_region or None,
        )

    async def _call(self, what: str, fn: Any) -> Any:
        try:
            return await call_with_retry(
                fn, policy=self._policy, what=f"oss {what}", describe=described
            )
        except (StoreError, _NotAppendable):
            raise
        except Exception as exc:
            # not chained: a traceback would print oss2's own text (what it signed)
            raise StoreError(f"oss {what}: {described(exc)}") from None

    def _remember(self, name: str, length: int) -> None:
        with self._lengths_lock:  # called from worker threads too
            self._lengths[name] = length
            self._lengths.move_to_end(name)
            if len(self._lengths) > _POSITIONS:
                self._lengths.popitem(last=False)

    def _hint(self, name: str) -> int | None:
        """A length we saw recently; only ever a guess the server will confirm or correct."""
        with self._lengths_lock:
            return self._lengths.get(name)

    def _append(
        self, name: str, position: int, kind: int, payload: bytes
    ) -> Callable[[int], tuple[bool, int]]:
        """A retryable op: append one frame at ``position``.

        Returns ``(True, new_length)`` if our frame is in the object, ``(False, length)``
        if someone else's write got there first.
        """
        frame = _frame(payload, kind, position)

        def op(attempt: int) -> tuple[bool, int]:
            import oss2

            try:
                result = self._oss().append_object(name, position, frame)
            except oss2.exceptions.PositionNotEqualToLength as exc:
                length = exc.next_position
                if attempt > 0 and self._frame_is_ours(name, position, frame, length):
                    return True, position + len(frame)
                return False, length
            except oss2.exceptions.ObjectNotAppendable as exc:
                raise _NotAppendable(name) from exc
            return True, int(result.next_position)

        return op

    def _frame_is_ours(self, name: str, position: int, frame: bytes, length: int) -> bool:
        """After a retry was refused: did our earlier, unanswered attempt land?"""
        if length < position + len(frame):
            return False
        got = self._oss().get_object(
            name, byte_range=(position, position + len(frame) - 1), headers=_STANDARD_RANGE
        )
        return got.read() == frame  # the frame's random nonce makes equality ours alone

    # -- the contract ------------------------------------------------------------------

    def _name(self, key: str) -> str:
        return object_name(self.prefix, key, _MAX_NAME_BYTES)

    async def get(self, key: str) -> tuple[bytes, str] | None:
        return await self._get(key, None)

    async def get_first(self, key: str, size: int) -> bytes | None:
        got = await self._get(key, max(size, 0))
        return None if got is None else got[0]

    async def _get(self, key: str, size: int | None) -> tuple[bytes, str] | None:
        """The value and its etag; with ``size``, only its first ``size`` bytes, fetched by
        range (and then not checked against the frame's checksum, which covers it whole)."""
        name = self._name(key)

        def op(attempt: int) -> tuple[bytes, str] | None:
            import oss2

            try:
                got = self._oss().get_object(
                    name, byte_range=(None, _TAIL), headers=_STANDARD_RANGE
                )
            except oss2.exceptions.NoSuchKey:
                return None
            tail = got.read()
            if got.object_type != "Appendable":
                raise StoreError(f"{name} is a {got.object_type} object this store did not write")
            total = _content_range_total(got.content_range)
            if got.status == 200 or total is None:  # whole object came back
                total = len(tail)
            self._remember(name, total)
            if total % 2 == 1 or total == 0:
                return None  # tombstoned (odd) or empty
            if len(tail) < _TRAILER.size:
                raise StoreError(f"{name}: truncated object")
            magic, kind, pad, _, length, crc, _ = _TRAILER.unpack_from(
                tail, len(tail) - _TRAILER.size
            )
            if magic != _MAGIC or kind != _DATA:
                raise StoreError(f"{name}: not a frame written by OSSStore")
            start = total - _TRAILER.size - pad - length
            offset = start - (total - len(tail))  # where the payload starts inside `tail`
            wanted = length if size is None else min(size, length)
            if offset >= 0:
                payload = tail[offset : offset + wanted]
            elif wanted == 0:
                payload = b""
            else:
                more = self._oss().get_object(
                    name, byte_range=(start, start + wanted - 1), headers=_STANDARD_RANGE
                )
                payload = more.read()
            if len(payload) != wanted or (wanted == length and zlib.crc32(payload) != crc):
                raise StoreError(f"{name}: frame failed its checksum")
            return payload, _etag(total)

        return await self._call(f"get {name}", op)

    async def put(
        self,
        key: str,
        data: bytes,
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> str:
        name = self._name(key)
        check_conditions(key, if_match, if_none_match)
        payload = bytes(data)
        try:
            if if_match is not None:
                position = _position(if_match)
                # Live objects have even lengths; anything else was never one of our etags.
                if position is None or position == 0 or position % 2 == 1:
                    raise PreconditionFailed(f"{key}: etag {if_match!r} is not current")
                landed, length = await self._call(
                    f"put {name}", self._append(name, position, _DATA, payload)
                )
                if not landed:
                    raise PreconditionFailed(f"{key}: etag {if_match!r} is not current")
                self._remember(name, length)
                return _etag(length)

            position = 0 if if_none_match else (self._hint(name) or 0)
            for _ in range(_MAX_SPINS):
                landed, length = await self._call(
                    f"put {name}", self._append(name, position, _DATA, payload)
                )
                if landed:
                    self._remember(name, length)
                    return _etag(length)
                if if_none_match and length % 2 == 0 and length > 0:
                    raise PreconditionFailed(f"{key} exists")
                position = length  # tombstoned (odd) or just moved on: go again there
        except _NotAppendable:
            if if_match is not None or if_none_match:
                raise PreconditionFailed(
                    f"{key} holds an object this store did not write"
                ) from None
            raise StoreError(
                f"{name} is a Normal object; OSSStore only writes appendable ones"
            ) from None
        raise StoreUnavailable(f"{key}: lost {_MAX_SPINS} appends in a row to other writers")

    async def delete(self, key: str) -> None:
        name = self._name(key)
        position = self._hint(name)
        if position is None or position == 0 or position % 2 == 1:
            # Only a live-looking hint may skip the HEAD: the append then verifies it, while
            # trusting "absent" or "tombstoned" from a stale hint would skip a real delete.
            position = await self._call(f"head {name}", self._head_length(name))
        try:
            for _ in range(_MAX_SPINS):
                if position is None or position == 0 or position % 2 == 1:
                    return  # absent, or already a tombstone
                landed, length = await self._call(
                    f"delete {name}", self._append(name, position, _TOMBSTONE, b"")
                )
                if landed:
                    self._remember(name, length)
                    return
                position = length
        except _NotAppendable:
            await self._call(f"delete {name}", self._delete_object(name))
            return
        raise StoreUnavailable(f"{key}: lost {_MAX_SPINS} appends in a row to other writers")

    def _head_length(self, name: str) -> Callable[[int], int | None]:
        def op(attempt: int) -> int | None:
            import oss2

            try:
                head = self._oss().head_object(name)
            except oss2.exceptions.NotFound as exc:
                if exc.code == "NoSuchBucket":
                    raise
                return None
            next_pos = head.headers.get("x-oss-next-append-position")
            return int(next_pos) if next_pos is not None else head.content_length

        return op

    def _delete_object(self, name: str) -> Callable[[int], None]:
        def op(attempt: int) -> None:
            self._oss().delete_object(name)

        return op

    async def list(
        self, prefix: str, *, start_after: str | None = None, limit: int | None = None
    ) -> list[str]:
        check_prefix(prefix)
        if limit is not None and limit <= 0:
            return []
        out: list[str] = []
        token = ""
        cut = len(self.prefix)
        first_after = self.prefix + start_after if start_after is not None else ""
        while True:

            def op(attempt: int, token: str = token) -> Any:
                return self._oss().list_objects_v2(
                    prefix=self.prefix + prefix,
                    continuation_token=token,
                    start_after="" if token else first_after,
                    max_keys=_PAGE,
                )

            page = await self._call(f"list {self.prefix + prefix}", op)
            for obj in page.object_list:
                # Even, non-zero length: a live value. Odd: a tombstone. Normal: not ours.
                if obj.type == "Appendable" and obj.size > 0 and obj.size % 2 == 0:
                    out.append(obj.key[cut:])
                    if limit is not None and len(out) >= limit:
                        return out
            if not page.is_truncated:
                return out
            token = page.next_continuation_token

    async def close(self) -> None:
        bucket, self._bucket = self._bucket, None
        if bucket is not None:
            bucket.session.session.close()

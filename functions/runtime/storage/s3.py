"""``s3://bucket/prefix``: Amazon S3 (or moto / MinIO through ``S3_ENDPOINT_URL``).

S3 has had the two primitives the contract needs since 2024: ``PutObject`` with
``If-None-Match: *`` (create-only) and with ``If-Match: <etag>`` (compare-and-set). A lost
race comes back as 412 PreconditionFailed, or as 409 ConditionalRequestConflict when two
conditional writes overlap in flight; both become ``PreconditionFailed`` and the caller
re-reads. ``If-Match`` on a key that does not exist answers 404 NoSuchKey, which for us is
also a failed precondition.

boto3 is synchronous, so every call runs in a worker thread (the event loop never waits on
the network) and goes through ``retry.call_with_retry``; botocore's own retries are off.
boto3 is imported when the first call is made, not when this module is imported, so the
query function's cold start pays for it only if it really talks to S3.

An ambiguous outcome is resolved rather than guessed: if a conditional put had to be
retried (its first attempt timed out, say) and the retry is refused, the first attempt may
have landed. The object's ETag is then compared with the MD5 of our bytes (S3's ETag for a
single-part, non-KMS upload); equal means our write is the current one and the put
succeeded. The residual ambiguity, another writer having written the very same bytes, is
harmless for compare-and-set: the state is exactly what we meant to write.
"""

from __future__ import annotations

import hashlib
import threading
from typing import TYPE_CHECKING, Any

from .base import (
    ObjectStore,
    PreconditionFailed,
    StoreError,
    check_conditions,
    check_prefix,
    object_name,
)
from .retry import boto_config, call_with_retry, store_policy

if TYPE_CHECKING:
    from ..settings import Settings

_PAGE = 1000  # ListObjectsV2's maximum page
_MAX_NAME_BYTES = 1024  # S3's limit on a whole object name, our prefix included


def _error(exc: BaseException) -> tuple[int | None, str]:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None, ""
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    code = str((response.get("Error") or {}).get("Code") or "")
    return (int(status) if status is not None else None), code


def _is_client_error(exc: BaseException) -> bool:
    return isinstance(getattr(exc, "response", None), dict)


class S3Store(ObjectStore):
    def __init__(self, location: str, settings: Settings) -> None:
        bucket, _, prefix = location.partition("/")
        if not bucket:
            raise ValueError(f"s3 STORE_URL needs a bucket: s3://bucket/prefix, got {location!r}")
        prefix = prefix.strip("/")
        self.bucket = bucket
        self.prefix = f"{prefix}/" if prefix else ""
        if self.prefix:
            check_prefix(self.prefix)
        self.url = f"s3://{location}"
        self._settings = settings
        self._policy = store_policy(settings)
        self._client: Any = None
        self._client_lock = threading.Lock()

    def _s3(self) -> Any:
        """The boto3 client, built on first use (inside a worker thread)."""
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    import boto3

                    settings = self._settings
                    extra: dict[str, Any] = {
                        "max_pool_connections": 32,
                        # Only checksum when S3 demands it: keeps MinIO & co. happy and
                        # saves hashing every body twice (TLS already protects it).
                        "request_checksum_calculation": "when_required",
                        "response_checksum_validation": "when_required",
                    }
                    if settings.s3_endpoint_url:
                        extra["s3"] = {"addressing_style": "path"}
                    self._client = boto3.session.Session().client(
                        "s3",
                        endpoint_url=settings.s3_endpoint_url or None,
                        region_name=settings.s3_region or None,
                        config=boto_config(settings, **extra),
                    )
        return self._client

    async def _call(self, what: str, fn: Any) -> Any:
        try:
            return await call_with_retry(fn, policy=self._policy, what=f"s3 {what}")
        except StoreError:
            raise
        except Exception as exc:
            status, code = _error(exc)
            raise StoreError(f"s3 {what}: {code or type(exc).__name__} ({status}): {exc}") from exc

    def _name(self, key: str) -> str:
        return object_name(self.prefix, key, _MAX_NAME_BYTES)

    async def get(self, key: str) -> tuple[bytes, str] | None:
        return await self._get(key, None)

    async def get_first(self, key: str, size: int) -> bytes | None:
        got = await self._get(key, max(size, 0))
        return None if got is None else got[0]

    async def _get(self, key: str, size: int | None) -> tuple[bytes, str] | None:
        """The value and its etag; with ``size``, only its first ``size`` bytes (a ranged GET)."""
        name = self._name(key)
        extra = {}
        if size is not None:  # a range names at least one byte; size 0 still asks "exists?"
            extra["Range"] = f"bytes=0-{max(size, 1) - 1}"

        def op(attempt: int) -> tuple[bytes, str] | None:
            try:
                resp = self._s3().get_object(Bucket=self.bucket, Key=name, **extra)
            except Exception as exc:
                if _is_client_error(exc):
                    code = _error(exc)[1]
                    if code in ("NoSuchKey", "404"):
                        return None
                    if code == "InvalidRange" and size is not None:  # empty: no byte 0
                        return b"", ""
                raise
            with resp["Body"] as body:
                data = body.read()
            # a server that ignores Range sends it all
            return (data if size is None else data[:size]), resp["ETag"]

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
        if if_match is not None and not if_match.strip():
            # An empty If-Match header is no condition at all to S3 (and to moto): refuse here.
            raise PreconditionFailed(f"{key}: empty etag")
        body = bytes(data)
        conditions: dict[str, str] = {}
        if if_none_match:
            conditions["IfNoneMatch"] = "*"
        if if_match is not None:
            conditions["IfMatch"] = if_match

        def op(attempt: int) -> str:
            try:
                resp = self._s3().put_object(Bucket=self.bucket, Key=name, Body=body, **conditions)
            except Exception as exc:
                if not (conditions and _is_client_error(exc)):
                    raise
                status, code = _error(exc)
                refused = (
                    status == 412
                    or code in ("PreconditionFailed", "ConditionalRequestConflict")
                    or (if_match is not None and code in ("NoSuchKey", "404"))
                )
                if not refused:
                    raise
                if attempt > 0:
                    landed = self._our_write(name, body)
                    if landed is not None:
                        return landed
                raise PreconditionFailed(f"{key}: {code or status}") from exc
            return resp["ETag"]

        return await self._call(f"put {name}", op)

    def _our_write(self, name: str, body: bytes) -> str | None:
        """The current etag if the object holds exactly ``body`` (our earlier attempt)."""
        try:
            head = self._s3().head_object(Bucket=self.bucket, Key=name)
        except Exception as exc:
            if _is_client_error(exc) and _error(exc)[0] == 404:
                return None
            raise
        etag = head.get("ETag", "")
        if etag.strip('"').lower() == hashlib.md5(body, usedforsecurity=False).hexdigest():
            return etag
        return None

    async def delete(self, key: str) -> None:
        name = self._name(key)

        def op(attempt: int) -> None:
            try:
                self._s3().delete_object(Bucket=self.bucket, Key=name)
            except Exception as exc:
                if _is_client_error(exc) and _error(exc)[1] == "NoSuchKey":
                    return
                raise

        await self._call(f"delete {name}", op)

    async def list(
        self, prefix: str, *, start_after: str | None = None, limit: int | None = None
    ) -> list[str]:
        check_prefix(prefix)
        if limit is not None and limit <= 0:
            return []
        out: list[str] = []
        token: str | None = None
        cut = len(self.prefix)
        while True:
            want = _PAGE if limit is None else min(_PAGE, limit - len(out))
            args: dict[str, Any] = {
                "Bucket": self.bucket,
                "Prefix": self.prefix + prefix,
                "MaxKeys": want,
            }
            if token is not None:
                args["ContinuationToken"] = token
            elif start_after is not None:
                args["StartAfter"] = self.prefix + start_after

            def op(attempt: int, args: dict[str, Any] = args) -> dict[str, Any]:
                return self._s3().list_objects_v2(**args)

            page = await self._call(f"list {self.prefix + prefix}", op)
            out.extend(item["Key"][cut:] for item in page.get("Contents", ()))
            if limit is not None and len(out) >= limit:
                return out[:limit]
            if not page.get("IsTruncated"):
                return out
            token = page["NextContinuationToken"]

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

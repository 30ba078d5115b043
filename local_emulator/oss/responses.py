"""The OSS REST protocol as oss2 speaks it: parse a request, call the backend, shape the reply.

Addressing: oss2 switches to *path style* (``http://host:port/bucket/key``) whenever the
endpoint is an IP address or ``localhost`` (``oss2.api._determine_endpoint_type``), so that
is what this emulator serves. Object names arrive percent-encoded with ``/`` as ``%2F``
(oss2 quotes keys with ``safe=''``); the bucket is the first path segment.

Authentication: an ``Authorization`` header (or a presigned URL's signature parameters) must
be present, as for a private OSS bucket, but the signature is *not* verified: any V1
(``OSS ak:sig``) or V4 (``OSS4-HMAC-SHA256 ...``) value is accepted.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import hashlib
import re
import secrets
from datetime import datetime, timezone
from urllib.parse import quote, unquote_to_bytes
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import Response

from . import exceptions as err
from .models import FakeBucket, FakeObject, ListPage, OSSBackend

_CONDITIONAL_PUT_HEADERS = ("If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since")
_PRESIGNED = ("OSSAccessKeyId", "x-oss-signature", "x-oss-credential")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_XML = "application/xml"


def _http_date(ts: float) -> str:
    return email.utils.formatdate(ts, usegmt=True)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _xml(root: str, fields: list[tuple[str, str]], children: str = "") -> bytes:
    inner = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in fields)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<{root}>{inner}{children}</{root}>\n'.encode()


def _split_path(raw_path: bytes) -> tuple[str, str]:
    """(bucket, key) from the still-encoded request path."""
    path = raw_path.split(b"?", 1)[0].lstrip(b"/")
    bucket, _, rest = path.partition(b"/")
    try:
        return (
            unquote_to_bytes(bucket).decode("utf-8"),
            unquote_to_bytes(rest).decode("utf-8"),
        )
    except UnicodeDecodeError:
        raise err.InvalidObjectName() from None


class OSSResponses:
    """One instance per emulator; ``handle`` is the whole HTTP surface."""

    def __init__(self, backend: OSSBackend) -> None:
        self.backend = backend

    async def handle(self, request: Request) -> Response:
        request_id = secrets.token_hex(12).upper()
        host = request.headers.get("host", "127.0.0.1")
        host_id = host
        try:
            bucket, key = _split_path(request.scope.get("raw_path") or request.url.path.encode())
            if bucket:
                host_id = f"{bucket}.{host}"
            self._check_auth(request)
            response = await self._dispatch(request, bucket, key)
        except err.OSSError as exc:
            response = self._error(exc, request, request_id, host_id)
        response.headers["x-oss-request-id"] = request_id
        response.headers["date"] = _http_date(datetime.now(tz=timezone.utc).timestamp())
        response.headers["server"] = "AliyunOSS"
        return response

    # -- plumbing ----------------------------------------------------------------------

    @staticmethod
    def _check_auth(request: Request) -> None:
        if "authorization" in request.headers:
            return
        if any(name in request.query_params for name in _PRESIGNED):
            return
        raise err.AccessDenied()

    @staticmethod
    def _error(exc: err.OSSError, request: Request, request_id: str, host_id: str) -> Response:
        headers = dict(exc.headers)
        if exc.ec:
            headers["x-oss-ec"] = exc.ec
        if request.method == "HEAD":
            headers["x-oss-err"] = exc.header_value(request_id, host_id)
            return Response(status_code=exc.status, headers=headers)
        return Response(
            exc.to_xml(request_id, host_id),
            status_code=exc.status,
            headers=headers,
            media_type=_XML,
        )

    async def _dispatch(self, request: Request, bucket: str, key: str) -> Response:
        method = request.method
        query = request.query_params
        if not bucket:
            if method == "GET":
                return self._list_buckets(request)
            raise err.MethodNotAllowed()
        if not key:
            if method == "PUT" and not query:
                await request.body()  # CreateBucketConfiguration is accepted and ignored
                self.backend.create_bucket(bucket)
                return Response(status_code=200)
            if method == "DELETE" and not query:
                self.backend.delete_bucket(bucket)
                return Response(status_code=204)
            if method == "GET" and query.get("list-type") == "2":
                return self._list_v2(bucket, request)
            if method == "GET" and not (
                set(query) - {"prefix", "marker", "max-keys", "delimiter", "encoding-type"}
            ):
                return self._list_v1(bucket, request)
            if method == "HEAD" and not query:
                self.backend.get_bucket(bucket)
                return Response(status_code=200)
            raise err.NotImplementedOperation()
        if method == "POST" and "append" in query:
            return await self._append_object(request, bucket, key)
        if query and not set(query) <= {"versionId", "response-content-type"}:
            raise err.NotImplementedOperation()  # acl, tagging, symlink, multipart, ...
        if method == "PUT":
            if "x-oss-copy-source" in request.headers:
                raise err.NotImplementedOperation()
            return await self._put_object(request, bucket, key)
        if method in ("GET", "HEAD"):
            return self._get_object(request, bucket, key, head=method == "HEAD")
        if method == "DELETE":
            self.backend.delete_object(bucket, key)
            return Response(status_code=204)
        raise err.MethodNotAllowed()

    # -- objects -----------------------------------------------------------------------

    @staticmethod
    async def _body(request: Request) -> bytes:
        body = await request.body()
        md5 = request.headers.get("content-md5")
        if md5 is not None:
            try:
                expected = base64.b64decode(md5, validate=True)
            except (binascii.Error, ValueError):
                raise err.InvalidDigest() from None
            if hashlib.md5(body, usedforsecurity=False).digest() != expected:
                raise err.InvalidDigest()
        return body

    @staticmethod
    def _object_headers(obj: FakeObject) -> dict[str, str]:
        headers = {
            "etag": f'"{obj.etag}"',
            "x-oss-object-type": obj.kind,
            "x-oss-storage-class": "Standard",
            "last-modified": _http_date(obj.last_modified),
            "accept-ranges": "bytes",
        }
        if obj.crc is not None:
            headers["x-oss-hash-crc64ecma"] = str(obj.crc)
        if obj.kind == "Appendable":
            headers["x-oss-next-append-position"] = str(obj.size)
        return headers

    async def _put_object(self, request: Request, bucket: str, key: str) -> Response:
        for name in _CONDITIONAL_PUT_HEADERS:
            if name in request.headers:
                raise err.ConditionalPutNotImplemented(extra={"Header": name})
        forbid = request.headers.get("x-oss-forbid-overwrite")
        if forbid is not None and forbid.lower() not in ("true", "false"):
            raise err.ForbidOverwriteInvalid()
        body = await self._body(request)
        obj = self.backend.put_object(
            bucket,
            key,
            body,
            content_type=request.headers.get("content-type", "application/octet-stream"),
            forbid_overwrite=forbid is not None and forbid.lower() == "true",
        )
        headers = {"etag": f'"{obj.etag}"'}
        if obj.crc is not None:
            headers["x-oss-hash-crc64ecma"] = str(obj.crc)
        headers["content-md5"] = base64.b64encode(bytes.fromhex(obj.etag)).decode()
        return Response(status_code=200, headers=headers)

    async def _append_object(self, request: Request, bucket: str, key: str) -> Response:
        raw = request.query_params.get("position")
        if raw is None:
            raise err.MissingPosition()
        if not raw.isdigit():
            raise err.InvalidPosition()
        body = await self._body(request)
        obj = self.backend.append_object(
            bucket,
            key,
            int(raw),
            body,
            content_type=request.headers.get("content-type", "application/octet-stream"),
        )
        headers = {"etag": f'"{obj.etag}"', "x-oss-next-append-position": str(obj.size)}
        if obj.crc is not None:
            headers["x-oss-hash-crc64ecma"] = str(obj.crc)
        return Response(status_code=200, headers=headers)

    def _get_object(self, request: Request, bucket: str, key: str, *, head: bool) -> Response:
        data, obj = self.backend.snapshot(bucket, key)
        headers = self._object_headers(obj)
        quoted = headers["etag"]
        if_match = request.headers.get("if-match")
        if if_match is not None and if_match.strip() not in (quoted, obj.etag, "*"):
            raise err.PreconditionFailed()
        if_none_match = request.headers.get("if-none-match")
        if if_none_match is not None and if_none_match.strip() in (quoted, obj.etag, "*"):
            return Response(status_code=304, headers=headers)
        status = 200
        part = data
        span = self._range(request, len(data))
        if span is not None:
            start, end = span
            part = data[start : end + 1]
            status = 206
            headers["content-range"] = f"bytes {start}-{end}/{len(data)}"
        headers["content-length"] = str(len(part))
        media = obj.content_type
        if head:
            return Response(status_code=status, headers=headers, media_type=media)
        return Response(part, status_code=status, headers=headers, media_type=media)

    @staticmethod
    def _range(request: Request, size: int) -> tuple[int, int] | None:
        """The (start, end) to serve, or None for the whole object with 200.

        OSS by default *ignores* a range it cannot satisfy and sends everything with 200; with
        ``x-oss-range-behavior: standard`` it clips an over-long end and answers 416 for a
        start past the end ("How to obtain OSS resources by segmenting HTTP range requests",
        and the range-download pages of the OSS SDK docs). Only the first of several ranges
        is honoured.
        """
        header = request.headers.get("range")
        if not header:
            return None
        standard = request.headers.get("x-oss-range-behavior", "").lower() == "standard"
        m = _RANGE.match(header.split(",", 1)[0].strip())
        if not m or (not m.group(1) and not m.group(2)):
            return None
        first, last = m.group(1), m.group(2)
        if not first:  # suffix: the last N bytes
            n = int(last)
            if n == 0 or size == 0:
                if standard:
                    raise err.InvalidRange()
                return None
            if n > size and not standard:
                return None
            return max(0, size - n), size - 1
        start = int(first)
        end = int(last) if last else size - 1
        if start > end:
            return None
        if start >= size:
            if standard:
                raise err.InvalidRange()
            return None
        if end >= size:
            if not standard:
                return None
            end = size - 1
        return start, end

    # -- listings ----------------------------------------------------------------------

    @staticmethod
    def _max_keys(request: Request) -> int:
        raw = request.query_params.get("max-keys") or "100"
        if not raw.isdigit() or not 0 < int(raw) <= 1000:
            raise err.InvalidArgument("max-keys must be an integer from 1 to 1000.")
        return int(raw)

    @staticmethod
    def _encoder(request: Request):  # type: ignore[no-untyped-def]
        encoding = request.query_params.get("encoding-type", "")
        if encoding not in ("", "url"):
            raise err.InvalidArgument("encoding-type must be url.")
        if encoding == "url":
            return (lambda s: quote(s, safe="")), [("EncodingType", "url")]
        return (lambda s: s), []

    @staticmethod
    def _contents(page: ListPage, enc, owner: bool) -> str:  # type: ignore[no-untyped-def]
        parts = []
        for obj in page.objects:
            owner_xml = (
                "<Owner><ID>local</ID><DisplayName>local</DisplayName></Owner>" if owner else ""
            )
            parts.append(
                f"<Contents><Key>{escape(enc(obj.key))}</Key>"
                f"<LastModified>{_iso(obj.last_modified)}</LastModified>"
                f"<ETag>&quot;{obj.etag}&quot;</ETag><Type>{obj.kind}</Type>"
                f"<Size>{obj.size}</Size><StorageClass>Standard</StorageClass>"
                f"{owner_xml}</Contents>"
            )
        parts.extend(
            f"<CommonPrefixes><Prefix>{escape(enc(p))}</Prefix></CommonPrefixes>"
            for p in page.common_prefixes
        )
        return "".join(parts)

    def _list_v2(self, bucket: str, request: Request) -> Response:
        q = request.query_params
        prefix = q.get("prefix", "")
        delimiter = q.get("delimiter", "")
        start_after = q.get("start-after", "")
        token = q.get("continuation-token", "")
        max_keys = self._max_keys(request)
        enc, enc_fields = self._encoder(request)
        after = start_after
        if token:  # an opaque token: ours is the base64 of the last key or prefix returned
            try:
                after = base64.urlsafe_b64decode(token.encode("ascii")).decode("utf-8")
            except (binascii.Error, ValueError, UnicodeDecodeError):
                raise err.InvalidArgument("The continuation token provided is incorrect.") from None
        page = self.backend.list_objects(
            bucket, prefix=prefix, after=after, max_keys=max_keys, delimiter=delimiter
        )
        fields = [("Name", bucket), ("Prefix", enc(prefix))]
        if start_after:
            fields.append(("StartAfter", enc(start_after)))
        if token:
            fields.append(("ContinuationToken", token))
        fields += [("MaxKeys", str(max_keys)), ("Delimiter", enc(delimiter)), *enc_fields]
        fields.append(("IsTruncated", "true" if page.truncated else "false"))
        if page.truncated:
            next_token = base64.urlsafe_b64encode(page.next_marker.encode("utf-8")).decode()
            fields.append(("NextContinuationToken", enc(next_token)))
        fields.append(("KeyCount", str(len(page.objects) + len(page.common_prefixes))))
        owner = q.get("fetch-owner", "false").lower() == "true"
        body = _xml("ListBucketResult", fields, self._contents(page, enc, owner))
        return Response(body, media_type=_XML)

    def _list_v1(self, bucket: str, request: Request) -> Response:
        q = request.query_params
        prefix = q.get("prefix", "")
        delimiter = q.get("delimiter", "")
        marker = q.get("marker", "")
        max_keys = self._max_keys(request)
        enc, enc_fields = self._encoder(request)
        page = self.backend.list_objects(
            bucket, prefix=prefix, after=marker, max_keys=max_keys, delimiter=delimiter
        )
        fields = [
            ("Name", bucket),
            ("Prefix", enc(prefix)),
            ("Marker", enc(marker)),
            ("MaxKeys", str(max_keys)),
            ("Delimiter", enc(delimiter)),
            *enc_fields,
            ("IsTruncated", "true" if page.truncated else "false"),
        ]
        if page.truncated:
            fields.append(("NextMarker", enc(page.next_marker)))
        body = _xml("ListBucketResult", fields, self._contents(page, enc, True))
        return Response(body, media_type=_XML)

    def _list_buckets(self, request: Request) -> Response:
        host = request.headers.get("host", "127.0.0.1")
        buckets = "".join(self._bucket_xml(b, host) for b in self.backend.list_buckets())
        owner = "<Owner><ID>local</ID><DisplayName>local</DisplayName></Owner>"
        body = _xml("ListAllMyBucketsResult", [], f"{owner}<Buckets>{buckets}</Buckets>")
        return Response(body, media_type=_XML)

    @staticmethod
    def _bucket_xml(bucket: FakeBucket, host: str) -> str:
        return (
            f"<Bucket><CreationDate>{_iso(bucket.created)}</CreationDate>"
            f"<ExtranetEndpoint>{escape(host)}</ExtranetEndpoint>"
            f"<IntranetEndpoint>{escape(host)}</IntranetEndpoint>"
            f"<Location>oss-local</Location><Name>{escape(bucket.name)}</Name>"
            f"<Region>local</Region><StorageClass>Standard</StorageClass></Bucket>"
        )

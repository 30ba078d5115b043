"""OSS's own error responses: status, ``Code``, ``Message``, and the ``EC`` where OSS documents one.

OSS answers errors with an XML ``<Error>`` body carrying ``Code``, ``Message``,
``RequestId``, ``HostId`` (the bucket's host name) and, on newer responses, ``EC`` (an
error-center id such as ``0026-00000016``; the id pages on help.aliyun.com describe each
case). HEAD responses cannot have a body, so OSS puts the same XML, base64-encoded, in the
``x-oss-err`` header; oss2 reads it from there.
"""

from __future__ import annotations

import base64
from xml.sax.saxutils import escape


class OSSError(Exception):
    status = 400
    code = "InvalidRequest"
    message = "The request is not valid."
    ec: str | None = None

    def __init__(
        self,
        message: str | None = None,
        *,
        extra: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message or self.message)
        if message:
            self.message = message
        self.extra = extra or {}
        self.headers = headers or {}

    def to_xml(self, request_id: str, host_id: str) -> bytes:
        fields = [("Code", self.code), ("Message", self.message), ("RequestId", request_id)]
        fields.append(("HostId", host_id))
        fields.extend(self.extra.items())
        if self.ec:
            fields.append(("EC", self.ec))
        inner = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in fields)
        return f'<?xml version="1.0" encoding="UTF-8"?>\n<Error>{inner}</Error>\n'.encode()

    def header_value(self, request_id: str, host_id: str) -> str:
        """The ``x-oss-err`` header for responses without a body (HEAD)."""
        return base64.b64encode(self.to_xml(request_id, host_id)).decode("ascii")


class AccessDenied(OSSError):
    status = 403
    code = "AccessDenied"
    message = "You have no right to access this object because of bucket acl."


class InvalidArgument(OSSError):
    code = "InvalidArgument"
    message = "The argument is not valid."


class InvalidBucketName(OSSError):
    code = "InvalidBucketName"
    message = "The specified bucket is not valid."


class InvalidObjectName(OSSError):
    code = "InvalidObjectName"
    message = "The name of the object is not valid."


class InvalidDigest(OSSError):
    code = "InvalidDigest"
    message = "The Content-MD5 you specified is not valid."


class ForbidOverwriteInvalid(InvalidArgument):
    # x-oss-forbid-overwrite may only be "true" or "false" (EC page 0017-00000279).
    message = "Invalid x-oss-forbid-overwrite header value."
    ec = "0017-00000279"


class ConditionalPutNotImplemented(OSSError):
    # PutObject refuses If-Match / If-None-Match / If-(Un)Modified-Since (EC page
    # 0017-00000245, which gives the status as 400 and names the header).
    status = 400
    code = "NotImplemented"
    message = "A header you provided implies functionality that is not implemented."
    ec = "0017-00000245"


class NotImplementedOperation(OSSError):
    status = 501
    code = "NotImplemented"
    message = "This operation is not implemented by the local OSS emulator."


class MissingPosition(OSSError):
    code = "MissingArgument"
    message = "Missing argument position."
    ec = "0016-00000501"


class InvalidPosition(InvalidArgument):
    message = "Position is invalid."
    ec = "0016-00000502"


class NoSuchBucket(OSSError):
    status = 404
    code = "NoSuchBucket"
    message = "The specified bucket does not exist."


class NoSuchKey(OSSError):
    status = 404
    code = "NoSuchKey"
    message = "The specified key does not exist."


class BucketAlreadyExists(OSSError):
    status = 409
    code = "BucketAlreadyExists"
    message = "The requested bucket name is not available."


class BucketNotEmpty(OSSError):
    status = 409
    code = "BucketNotEmpty"
    message = "The bucket you tried to delete is not empty."


class FileAlreadyExists(OSSError):
    # PutObject / CopyObject with x-oss-forbid-overwrite: true on a taken name
    # (EC pages 0026-00000002 and 0026-00000201).
    status = 409
    code = "FileAlreadyExists"
    message = "The object you specified already exists and can not be overwritten."
    ec = "0026-00000002"


class PositionNotEqualToLength(OSSError):
    # AppendObject at the wrong position (EC page 0026-00000016); the current length is
    # returned in x-oss-next-append-position.
    status = 409
    code = "PositionNotEqualToLength"
    message = "Position is not equal to file length"
    ec = "0026-00000016"


class ObjectNotAppendable(OSSError):
    status = 409
    code = "ObjectNotAppendable"
    message = "The operation is not valid for this object type."


class PreconditionFailed(OSSError):
    status = 412
    code = "PreconditionFailed"
    message = "At least one of the pre-conditions you specified did not hold."


class InvalidRange(OSSError):
    status = 416
    code = "InvalidRange"
    message = "The requested range cannot be satisfied"


class MethodNotAllowed(OSSError):
    status = 405
    code = "MethodNotAllowed"
    message = "The specified method is not allowed against this resource."


class ServiceUnavailable(OSSError):
    status = 503
    code = "ServiceUnavailable"
    message = "Please reduce your request rate."

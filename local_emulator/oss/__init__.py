"""A local Alibaba Cloud OSS for tests and ``make local STORE=oss``, shaped like moto.

``models`` is the behaviour (buckets, Normal and Appendable objects), ``responses`` the
REST protocol oss2 speaks, ``exceptions`` OSS's error XML, ``server`` the ASGI app and
a runner. Start one with ``python -m local_emulator.oss --host 127.0.0.1 --port 9100`` or
``local_emulator.moto_s3.start_oss_emulator()``.

Implemented, following Alibaba Cloud's OSS documentation:

* PutObject, with ``x-oss-forbid-overwrite`` (409 FileAlreadyExists; EC 0026-00000002) and
  refusing the conditional headers OSS does not implement on PutObject (If-Match,
  If-None-Match, If-Modified-Since, If-Unmodified-Since: NotImplemented, EC 0017-00000245);
  ``Content-MD5`` is verified; ETag is the quoted upper-case MD5 hex; CRC64 in
  ``x-oss-hash-crc64ecma``.
* AppendObject (``POST ?append&position=``): 409 PositionNotEqualToLength with
  ``x-oss-next-append-position`` (EC 0026-00000016), 409 ObjectNotAppendable on Normal
  objects, position 0 creates ("AppendObject" API reference).
* GetObject / HeadObject with ``Range`` (single range; ignored with 200 when unsatisfiable
  unless ``x-oss-range-behavior: standard``, then clipped or 416), ``If-Match`` /
  ``If-None-Match``; HEAD errors carry the XML base64-encoded in ``x-oss-err``.
* DeleteObject (204, also for a missing key), ListObjects (v1) and ListObjectsV2
  (``list-type=2``, prefix, delimiter, start-after, max-keys <= 1000, continuation-token,
  ``encoding-type=url``), PutBucket, DeleteBucket, HeadBucket, ListBuckets.

Sources (found with the search tool): "PutObject"
https://www.alibabacloud.com/help/doc-detail/31978.html; "Prevent objects from being
overwritten by objects that have the same names"
https://www.alibabacloud.com/help/en/object-storage-service/latest/disable-overwriting-object-with-the-same-name;
error-center pages https://help.aliyun.com/en/oss/user-guide/0026-00000002 (FileAlreadyExists),
https://help.aliyun.com/en/oss/user-guide/0017-00000245 (conditional PutObject headers: its
text gives HTTP 400 for NotImplemented, which we follow; OSS's S3-compatible API is reported
to answer 501), https://help.aliyun.com/en/oss/user-guide/0017-00000279 (forbid-overwrite
values), https://help.aliyun.com/en/oss/user-guide/0026-00000016 (PositionNotEqualToLength);
"AppendObject" https://www.alibabacloud.com/help/en/oss/developer-reference/appendobject;
"How to obtain OSS resources by segmenting HTTP Range requests"
https://help.aliyun.com/en/oss/how-to-obtain-oss-resources-by-segmenting-http-range-requests
and https://help.aliyun.com/en/oss/user-guide/http-status-code-416 (ranges); oss2 2.19's
source for addressing, listing XML and error parsing.

Not implemented (501): multipart uploads, copy, ACLs, tagging, symlinks, versioning, and
anything else. Signatures are not verified, but a request must carry an ``Authorization``
header (or presigned-URL parameters), as for a private bucket. State lives in memory.
"""

from .models import OSSBackend
from .server import create_app

__all__ = ["OSSBackend", "create_app"]

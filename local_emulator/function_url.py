"""HTTP requests as AWS Lambda Function URL events, and handler results back as HTTP.

Follows the Function URL payload (format 2.0, the API Gateway HTTP API's) as documented at
https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html:
- headers are lower-cased; repeated headers are joined with commas; ``cookie`` headers are
  removed and their pairs given in ``cookies``;
- ``rawQueryString`` is the query as sent, ``queryStringParameters`` its decoded pairs with
  repeated names joined by commas (absent when there is no query);
- the body is text when its content type is textual, else base64 with ``isBase64Encoded``;
  an empty body is left out;
- ``requestContext`` carries ``http.method/path/protocol/sourceIp/userAgent``, a
  ``requestId``, ``time`` and ``timeEpoch``.
Responses: a dict with ``statusCode``, ``headers``, ``cookies``, ``body`` and
``isBase64Encoded``; anything else is sent as a 200 JSON body. Requests and responses are
capped at 6 MB (413 / 502 as Lambda answers).
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl

PAYLOAD_LIMIT = 6 * 1024 * 1024
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript")


def _is_text(content_type: str) -> bool:
    return any(content_type.lower().startswith(t) for t in _TEXT_TYPES) or (
        "+json" in content_type or "+xml" in content_type
    )


def build_event(
    *,
    method: str,
    path: str,
    raw_query: str,
    headers: list[tuple[str, str]],
    body: bytes,
    source_ip: str = "127.0.0.1",
    domain: str = "localhost",
    account_id: str = "000000000000",
    request_id: str | None = None,
) -> dict[str, Any]:
    joined: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        name = name.lower()
        if name == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        joined[name] = f"{joined[name]},{value}" if name in joined else value
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": joined,
        "requestContext": {
            "accountId": account_id,
            "apiId": domain.split(".")[0],
            "domainName": domain,
            "domainPrefix": domain.split(".")[0],
            "http": {
                "method": method.upper(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": joined.get("user-agent", ""),
            },
            "requestId": request_id or str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if raw_query:
        params: dict[str, str] = {}
        for key, value in parse_qsl(raw_query, keep_blank_values=True):
            params[key] = f"{params[key]},{value}" if key in params else value
        event["queryStringParameters"] = params
    if body:
        if _is_text(joined.get("content-type", "")):
            try:
                event["body"] = body.decode("utf-8")
            except UnicodeDecodeError:
                event["body"] = base64.b64encode(body).decode()
                event["isBase64Encoded"] = True
        else:
            event["body"] = base64.b64encode(body).decode()
            event["isBase64Encoded"] = True
    return event


def parse_result(result: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """A handler's result as the Function URL sends it: status, headers, body."""
    if not isinstance(result, dict) or "statusCode" not in result:
        return 200, [("content-type", "application/json")], json.dumps(result).encode()
    headers = [(str(k).lower(), str(v)) for k, v in (result.get("headers") or {}).items()]
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.extend((name.lower(), str(v)) for v in values)
    headers.extend(("set-cookie", c) for c in result.get("cookies") or [])
    raw = result.get("body") or ""
    body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
    return int(result["statusCode"]), headers, body

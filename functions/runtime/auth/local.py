"""Defenses of a function that runs without authentication (``AUTH_MODE=none``, local runs).

With no credentials to check, anything that can send a request to 127.0.0.1 is trusted -
and a web page the developer visits can: a "simple" cross-site request (``text/plain``
body, no preflight) would run the agent, and DNS rebinding would let a page read the
answers. So an unauthenticated function refuses:

* a caller whose address (the connection's peer, ``scope["client"]``) is not loopback: a
  server bound to another interface must not trust a ``Host`` header any caller can write -
  403 ``remote_caller``;
* a ``Host`` that is not a loopback name or address (DNS rebinding) - 403 ``host_not_allowed``;
* an ``Origin`` that is not a loopback origin (a cross-site browser request) - 403
  ``cross_site_request``;
* a body on a JSON route that is not ``application/json`` (what no cross-site page can send
  without a CORS preflight, which we never grant) - 415 ``unsupported_media_type``.

This also makes ``AUTH_MODE=none`` fail closed on a platform: a public host name is refused.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from functools import lru_cache
from urllib.parse import urlsplit

from starlette.types import Scope

from ..errors import ApiError
from ..json_numbers import reads_json_body
from .principal import Forbidden


class UnsupportedMediaType(ApiError):
    status = 415
    code = "unsupported_media_type"


class HostNotAllowed(Forbidden):
    code = "host_not_allowed"


class CrossSiteRequest(Forbidden):
    code = "cross_site_request"


class RemoteCaller(Forbidden):
    code = "remote_caller"


@lru_cache(maxsize=256)  # per request, and the same few hosts every time
def is_loopback_host(host: str) -> bool:
    """``localhost``, ``*.localhost`` (RFC 6761), 127.0.0.0/8 or ::1; a port may follow."""
    host = host.strip().lower()
    if host.startswith("["):  # [::1]:8090
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def check_local_request(scope: Scope, json_route: Callable[[Scope], bool]) -> None:
    """Raise the refusal for a request an unauthenticated function must not serve."""
    check_local_caller(scope)
    origin = _header(scope, b"origin")
    if origin is not None and origin != "null":
        netloc = urlsplit(origin).netloc
        if not netloc or not is_loopback_host(netloc):
            raise CrossSiteRequest(f"cross-site request from {origin!r} refused")
    elif origin == "null":  # sandboxed frames and file:// pages
        raise CrossSiteRequest("cross-site request from an opaque origin refused")
    if not reads_json_body(scope, json_route):
        return
    media = (_header(scope, b"content-type") or "").partition(";")[0].strip().lower()
    if media != "application/json" and not (
        media.startswith("application/") and media.endswith("+json")
    ):
        raise UnsupportedMediaType(
            f"send the body as Content-Type: application/json (got {media or 'none'!r})"
        )


def check_local_caller(scope: Scope) -> None:
    """Raise ``RemoteCaller`` for a peer off this machine, ``HostNotAllowed`` for a ``Host``
    that is not loopback: what a relay in front of an unauthenticated function must check
    itself (the emulator's playground), since the function sees the relay's address and
    the ``Host`` it sends, not the caller's."""
    client = scope.get("client")
    if client and not is_loopback_host(str(client[0])):
        raise RemoteCaller(
            f"a caller at {client[0]} is not on this machine; without AUTH_MODE=jwt this "
            "function answers only callers on 127.0.0.1 / ::1"
        )
    host = _header(scope, b"host")
    if host is not None and not is_loopback_host(host):
        raise HostNotAllowed(
            f"Host {host!r} is not a loopback address; without AUTH_MODE=jwt this function "
            "answers only on 127.0.0.1 / localhost"
        )

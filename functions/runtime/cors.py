"""CORS answers for pages on other origins (``CORS_ALLOW_ORIGINS``): the playground against a
deployment, or a team's own web front end.

Off unless origins are listed: with no ``Access-Control-Allow-Origin`` a browser lets no
page on another origin read an answer, nor send a JSON body (its preflight fails). With
origins listed, Starlette's ``CORSMiddleware`` answers their preflights and marks their
answers readable, outermost, so a preflight (which never carries credentials) is answered
before authentication and a 401 or 403 still reaches the page as a readable error.

No credentials mode (``Access-Control-Allow-Credentials`` is never sent): callers prove who
they are with ``Authorization: Bearer`` (an allowed request header), never with cookies, so
an allowed origin can do only what the token it holds may do. Nothing here relaxes
``AUTH_MODE=none``: its defenses (``auth/local.py``) still refuse every non-loopback origin
after the preflight, whatever is listed.

Format: the Fetch standard's CORS protocol (https://fetch.spec.whatwg.org/#http-cors-protocol).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from .errors import ApiError
from .http_errors import error_response

if TYPE_CHECKING:
    from fastapi import FastAPI

    from .settings import Settings

ALLOW_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
ALLOW_HEADERS = ("Authorization", "Content-Type", "Last-Event-ID")
# what a page reads besides the body: the session a turn opened, ids to quote, back-off
EXPOSE_HEADERS = ("X-Session-Id", "X-Request-Id", "Retry-After", "WWW-Authenticate")
MAX_AGE_S = 600


class CorsRefused(ApiError):
    status = 400
    code = "cors_refused"


def allowed_origins(settings: Settings) -> list[str]:
    """``CORS_ALLOW_ORIGINS`` as a list (empty: CORS off); origins lose a trailing slash."""
    return [o.strip().rstrip("/") for o in settings.cors_allow_origins.split(",") if o.strip()]


class Cors(CORSMiddleware):
    """Starlette's middleware, its refused preflights in the functions' error shape."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        detail = bytes(response.body).decode(errors="replace")
        return error_response(CorsRefused(detail))


def install_cors(app: FastAPI, settings: Settings) -> None:
    """Answer CORS for the configured origins; nothing at all when none are."""
    origins = allowed_origins(settings)
    if not origins:
        return
    app.add_middleware(
        Cors,
        allow_origins=origins,
        allow_methods=ALLOW_METHODS,
        allow_headers=ALLOW_HEADERS,
        expose_headers=EXPOSE_HEADERS,
        allow_credentials=False,
        max_age=MAX_AGE_S,
    )

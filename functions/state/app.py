"""The state function: sessions, messages, state rounds and long-term memory over HTTP.

It is a thin REST face on the same services the query function uses in-process, so a
client, an admin tool or another agent sees exactly what the agents see. Everything is in
the object store; any instance can serve any request.

Errors all have the shared shape ``{"code", "detail"}``: bad ids are 422 wherever they
appear (path, query or body -- including ids the router cannot even match, such as ``a/b``
or an empty segment), unknown sessions 404, overlapping writes of one round 409, and a store
that keeps failing 503.
"""

from __future__ import annotations

from urllib.parse import unquote

from fastapi import FastAPI, Request

from functions.runtime.errors import ApiError
from functions.runtime.function_app import create_function_app
from functions.runtime.instance import Instance
from functions.runtime.settings import Settings, get_settings
from functions.runtime.storage.base import ObjectStore
from functions.runtime.storage.keys import InvalidId, validate_id

from .paths import EncodedSlashes
from .routes import health, memory, messages, sessions, state


def bad_id_in_path(request: Request) -> ApiError | None:
    """Why an unroutable ``/v1/users/...`` path is really a bad id (422, not 404), if it is.

    The raw path is split before percent-decoding, so ``a%2Fb`` is one (invalid) id rather
    than two segments that route nowhere.
    """
    raw_path: bytes = request.scope.get("raw_path") or request.url.path.encode()
    parts = [unquote(p) for p in raw_path.decode("latin-1").split("?")[0].split("/")]
    if len(parts) < 4 or parts[1] != "v1" or parts[2] != "users":
        return None
    checks = [(3, "user_id")]
    if len(parts) > 5 and parts[4] == "sessions":
        checks.append((5, "session_id"))
    for index, what in checks:
        try:
            validate_id(parts[index], what)
        except InvalidId as exc:
            return exc
    return None


def create_app(settings: Settings | None = None, store: ObjectStore | None = None) -> FastAPI:
    """The state function's ASGI app; ``store`` overrides ``settings.store_url`` (tests)."""
    app = create_function_app(
        title="agentscope-faas state",
        description="Sessions, messages, agent state rounds and long-term memory.",
        instance=Instance(settings or get_settings(), store=store),
        routers=[r.router for r in (health, sessions, messages, state, memory)],
        not_found=bad_id_in_path,
        # ``/sessions/`` is a session with an empty id (422), not the list under another name
        redirect_slashes=False,
        function="state",
    )
    app.add_middleware(EncodedSlashes)
    return app

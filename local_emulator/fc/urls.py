"""The routes: FC 3.0's OpenAPI (version 2023-03-30, ROA paths) and the HTTP triggers.

Each API route names the ``FcResponses`` method that serves it; the path's named groups are
its arguments. Trigger URLs are ``/http-triggers/{function}/{trigger}`` on the emulator's own
port (FC's are ``https://<id>.<region>.fcapp.run``): whatever follows is the path the
function's container receives.
"""

from __future__ import annotations

import re

API_VERSION = "2023-03-30"
_F = r"/2023-03-30/functions/(?P<function>[^/]+)"
_S = _F + r"/sessions/(?P<session>[^/]+)"
_T = _F + r"/triggers/(?P<trigger>[^/]+)"

url_paths: list[tuple[str, re.Pattern[str], str]] = [
    (method, re.compile(f"^{pattern}$"), handler)
    for method, pattern, handler in [
        ("POST", r"/2023-03-30/functions", "create_function"),
        ("GET", r"/2023-03-30/functions", "list_functions"),
        ("GET", _F, "get_function"),
        ("PUT", _F, "update_function"),
        ("DELETE", _F, "delete_function"),
        ("POST", _F + r"/sessions", "create_session"),
        ("GET", _F + r"/sessions", "list_sessions"),
        ("GET", _S, "get_session"),
        ("PUT", _S, "update_session"),
        ("DELETE", _S, "delete_session"),
        ("PUT", _S + r"/pause", "pause_session"),
        ("PUT", _S + r"/resume", "resume_session"),
        ("POST", _F + r"/triggers", "create_trigger"),
        ("GET", _F + r"/triggers", "list_triggers"),
        ("GET", _T, "get_trigger"),
        ("DELETE", _T, "delete_trigger"),
    ]
]

TRIGGER_PREFIX = "/http-triggers/"
trigger_path = re.compile(r"^/http-triggers/(?P<function>[^/]+)/(?P<trigger>[^/]+)(?P<rest>/.*)?$")


def match(method: str, path: str) -> tuple[str, dict[str, str]] | None:
    """(handler name, path arguments) of the API route, or None."""
    for route_method, pattern, handler in url_paths:
        found = pattern.match(path)
        if found and route_method == method:
            return handler, found.groupdict()
    return None

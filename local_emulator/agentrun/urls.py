"""Routes: the ROA paths and methods the SDK builds, and the data plane's sandbox prefix.

Control-plane paths as ``alibabacloud_agentrun20250910.client`` (5.7) builds them; ``{id}``
and ``{name}`` arrive percent-encoded (``DaraURL.percent_encode``) and are matched decoded.
"""

from __future__ import annotations

VERSION = "/2025-09-10"

# (method, path, action): the action is also the AgentRunResponses method that serves it
CONTROL_PLANE = [
    ("POST", f"{VERSION}/templates", "CreateTemplate"),
    ("GET", f"{VERSION}/templates", "ListTemplates"),
    ("GET", f"{VERSION}/templates/{{name}}", "GetTemplate"),
    ("DELETE", f"{VERSION}/templates/{{name}}", "DeleteTemplate"),
    ("POST", f"{VERSION}/sandboxes", "CreateSandbox"),
    ("GET", f"{VERSION}/sandboxes", "ListSandboxes"),
    ("GET", f"{VERSION}/sandboxes/{{id}}", "GetSandbox"),
    ("DELETE", f"{VERSION}/sandboxes/{{id}}", "DeleteSandbox"),
    ("POST", f"{VERSION}/sandboxes/{{id}}/stop", "StopSandbox"),
    ("PUT", f"{VERSION}/sandboxes/{{id}}/pause", "PauseSandbox"),
    ("PUT", f"{VERSION}/sandboxes/{{id}}/resume", "ResumeSandbox"),
    ("GET", f"{VERSION}/agents/accessToken", "GetAccessToken"),
]

# the data plane: {data endpoint}/sandboxes/{sandboxId}/<the sandbox's own path>
DATA_PLANE = "/sandboxes/{id}/{path:path}"
DATA_PLANE_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]

"""AgentRun's own error responses: an HTTP status and ``{code, message, requestId}``.

The SDK's result models document ``code`` as ``SUCCESS`` or an error type such as
``ERR_BAD_REQUEST``, ``ERR_VALIDATION_FAILED`` or ``ERR_INTERNAL_SERVER_ERROR``; the
AgentRun Python SDK (agentrun-sdk) recognises a missing resource by HTTP 404 with "does not
exist" in the message and a duplicate by "already exists". Throttling carries
``x-acs-retry-after`` (milliseconds), which tea-openapi turns into a ``ThrottlingException``
with ``retry_after``. Codes the documents do not name (``ERR_NOT_FOUND``, ``ERR_CONFLICT``,
``ERR_THROTTLED``, ``ERR_UNAUTHORIZED``) follow the same ``ERR_`` pattern.
"""

from __future__ import annotations


class AgentRunError(Exception):
    status = 400
    code = "ERR_BAD_REQUEST"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}

    def body(self, request_id: str) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "requestId": request_id}


class ValidationFailed(AgentRunError):
    status = 400
    code = "ERR_VALIDATION_FAILED"


class Unauthorized(AgentRunError):
    status = 401
    code = "ERR_UNAUTHORIZED"


class SignatureRefused(AgentRunError):
    """The gateway's refusal of a badly signed request; its code is the gateway's own."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


class NotFound(AgentRunError):
    status = 404
    code = "ERR_NOT_FOUND"

    def __init__(self, kind: str, name: str) -> None:
        super().__init__(f"{kind} {name} does not exist")


class AlreadyExists(AgentRunError):
    status = 409
    code = "ERR_CONFLICT"

    def __init__(self, kind: str, name: str) -> None:
        super().__init__(f"{kind} {name} already exists")


class WrongState(AgentRunError):
    status = 409
    code = "ERR_CONFLICT"


class Throttled(AgentRunError):
    status = 429
    code = "ERR_THROTTLED"

    def __init__(self, message: str, retry_after_ms: int) -> None:
        super().__init__(message, headers={"x-acs-retry-after": str(max(1, retry_after_ms))})


class QuotaExceeded(AgentRunError):
    status = 429
    code = "ERR_QUOTA_EXCEEDED"


class InternalError(AgentRunError):
    """The service failed (the SDK's documented ``ERR_INTERNAL_SERVER_ERROR``)."""

    status = 500
    code = "ERR_INTERNAL_SERVER_ERROR"


class SandboxEnded(AgentRunError):
    """Data plane: the sandbox has terminated; only its record is left."""

    status = 404
    code = "ERR_NOT_FOUND"


class SandboxUnavailable(AgentRunError):
    """Data plane: the sandbox exists but its container does not answer."""

    status = 502
    code = "ERR_SANDBOX_UNAVAILABLE"

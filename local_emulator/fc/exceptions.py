"""Function Compute's own error answers: an HTTP status and ``{Code, Message, RequestId}``.

The 2023-03-30 API documents its error body as ``Code`` / ``Message`` / ``RequestId``
(https://help.aliyun.com/zh/functioncompute/fc/developer-reference/api-fc-2023-03-30-struct-error),
which tea-openapi reads into ``ClientException.code`` / ``.message``. The codes and messages
below follow the product's error tables; where a case is not documented the class says so.
"""

from __future__ import annotations


class FcError(Exception):
    status = 400
    code = "InvalidArgument"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}

    def body(self, request_id: str) -> dict[str, str]:
        return {"Code": self.code, "Message": self.message, "RequestId": request_id}


class InvalidArgument(FcError):
    status = 400
    code = "InvalidArgument"


class MissingRequiredHeader(FcError):
    status = 400
    code = "MissingRequiredHeader"

    def __init__(self, header: str) -> None:
        super().__init__(f"required HTTP header {header} was not specified")


class PathNotSupported(FcError):
    status = 400
    code = "PathNotSupported"

    def __init__(self, method: str, path: str) -> None:
        super().__init__(f"'{method}' against '{path}' is not supported")


class SignatureRefused(FcError):
    """A request the gateway would not take: a bad or missing signature, an unknown key.

    The verifier (``local_emulator.acs_signature``) names the failure; FC's tables call a wrong
    secret ``SignatureNotMatch`` and an unknown key id ``InvalidAccessKeyID`` (both 403).
    """

    _FC_CODES = {
        "SignatureDoesNotMatch": "SignatureNotMatch",
        "InvalidAccessKeyId.NotFound": "InvalidAccessKeyID",
        "MissingAuthorization": "MissingRequiredHeader",
    }

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, self._FC_CODES.get(code, code)


class TriggerSignatureRefused(SignatureRefused):
    """A call through an HTTP trigger with ``function`` auth that is not validly signed.

    FC documents 403 for a trigger call whose ``Authorization`` is missing or invalid
    (https://help.aliyun.com/en/functioncompute/fc-2-0/developer-reference/signature-authentication:
    "a missing or invalid Authorization header causes Function Compute to return HTTP status
    code 403"), the body its usual ``{Code, Message, RequestId}``; the code names the failure
    as the API's table does, a missing signature ``AccessDenied`` (FC's 403 code; our pick).
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(status, code, message)
        self.status = 403
        if code == "MissingAuthorization":
            self.code = "AccessDenied"
            self.message = "required HTTP header Authorization was not specified"


class AccessDenied(FcError):
    status = 403
    code = "AccessDenied"


class FunctionNotFound(FcError):
    status = 404
    code = "FunctionNotFound"

    def __init__(self, name: str) -> None:
        super().__init__(f"function '{name}' does not exist.")


class TriggerNotFound(FcError):
    status = 404
    code = "TriggerNotFound"

    def __init__(self, function: str, name: str) -> None:
        super().__init__(f"trigger '{name}' of function '{function}' does not exist.")


class SessionNotFound(FcError):
    """Not in FC's published tables; named after FunctionNotFound / TriggerNotFound."""

    status = 404
    code = "SessionNotFound"

    def __init__(self, function: str, session_id: str) -> None:
        super().__init__(f"session '{session_id}' of function '{function}' does not exist.")


class SessionExpired(FcError):
    """Our pick (undocumented): the session ended (TTL, idle timeout, its instance died) and
    ``disableSessionIdReuse`` forbids starting a new one under its id."""

    status = 410
    code = "SessionExpired"

    def __init__(self, function: str, session_id: str) -> None:
        super().__init__(f"session '{session_id}' of function '{function}' has expired.")


class SessionPaused(FcError):
    """Our pick: PauseSession says a paused session "does not accept function invocation
    requests" but names no error; 409, since the session's state conflicts with the call."""

    status = 409
    code = "SessionPaused"

    def __init__(self, function: str, session_id: str) -> None:
        super().__init__(
            f"session '{session_id}' of function '{function}' is paused; resume it first."
        )


class FunctionAlreadyExists(FcError):
    status = 409
    code = "FunctionAlreadyExists"

    def __init__(self, name: str) -> None:
        super().__init__(f"function '{name}' already exists.")


class TriggerAlreadyExists(FcError):
    status = 409
    code = "TriggerAlreadyExists"

    def __init__(self, function: str, name: str) -> None:
        super().__init__(f"trigger '{name}' of function '{function}' already exists.")


class SessionAlreadyExists(FcError):
    """Our pick (undocumented): CreateSession with the id of a live session."""

    status = 409
    code = "SessionAlreadyExists"

    def __init__(self, function: str, session_id: str) -> None:
        super().__init__(f"session '{session_id}' of function '{function}' already exists.")


class CAExited(FcError):
    status = 412
    code = "CAExited"

    def __init__(self, reason: str) -> None:
        super().__init__(f"The function either cannot be started or exited. {reason}.")


class ResourceExhausted(FcError):
    """FC's answer when the instances (here: sessions) would exceed the concurrency limit."""

    status = 429
    code = "ResourceExhausted"

    def __init__(self, limit: int) -> None:
        super().__init__(f"the number of instances exceeds the limit ({limit}); retry later")

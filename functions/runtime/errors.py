"""The one error vocabulary of every function: named exceptions carrying their HTTP answer.

Each layer defines its own named errors as subclasses of :class:`ApiError` where it raises
them (``SessionNotFound`` in the history service, ``SandboxGone`` beside the launchers,
``StoreUnavailable`` in the store contract); none of them builds an HTTP answer itself: the
function-app factory (``function_app.py``) turns any of them into one JSON body::

    {"code": "<snake_case>", "detail": <message, or a list of field errors for 422>}

with the class's ``status`` and any ``headers`` (``Retry-After``, ``Allow``,
``WWW-Authenticate``). Clients (our SDK included) branch on ``code``; ``detail`` is for
people. This module imports nothing web-related, so the lowest layers can raise from here.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar


class ApiError(Exception):
    """An error with its HTTP answer.

    Subclasses fix ``status`` and ``code``; an instance may override either (an error code
    the SDK does not know keeps the server's). ``expose = False`` keeps ``detail`` in the
    logs and answers with ``public_detail`` instead (internals of a store, say).
    """

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    expose: ClassVar[bool] = True
    public_detail: ClassVar[str] = "internal error"

    def __init__(
        self,
        detail: Any = None,
        *,
        status: int | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if detail is None:
            detail = self.public_detail
        super().__init__(detail if isinstance(detail, str) else repr(detail))
        self.detail = detail
        if status is not None:
            self.status = status  # type: ignore[misc]
        if code is not None:
            self.code = code  # type: ignore[misc]
        self.headers: dict[str, str] = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """The JSON answer: ``{"code", "detail"}``."""
        return {"code": self.code, "detail": self.detail if self.expose else self.public_detail}


# -- requests ----------------------------------------------------------------------------------


class InvalidRequest(ApiError):
    """The body or a parameter is malformed (``detail`` may be a list of field errors)."""

    status = 422
    code = "invalid_request"


class NotFound(ApiError):
    """No such route."""

    status = 404
    code = "not_found"


class MethodNotAllowed(ApiError):
    """The route exists, the method does not; ``Allow`` names the ones that do."""

    status = 405
    code = "method_not_allowed"


class PayloadTooLarge(ApiError):
    status = 413
    code = "payload_too_large"


class InvalidCursor(ApiError):
    """A paging cursor that no page of ours handed out."""

    status = 422
    code = "invalid_cursor"


E = TypeVar("E", bound=ApiError)


def error_classes(base: type[E]) -> dict[str, type[E]]:
    """``code -> class`` of ``base`` and its subclasses imported so far (the first wins)."""
    found: dict[str, type[E]] = {}
    todo: list[type[E]] = [base]
    while todo:
        cls = todo.pop(0)
        found.setdefault(cls.code, cls)
        todo.extend(cls.__subclasses__())
    return found

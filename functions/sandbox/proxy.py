"""Calls to a sandbox's tool server, made for the caller with the sandbox's own token.

Callers hold only a sandbox id: the token, the endpoint and the backend's headers stay in
this function. Each call is signed as the backend's gateway requires (``Launcher.call_auth``:
FC's triggers with ``function`` auth), the token beside the signature
(``Launcher.tool_headers``). A failure is told apart here: the tool server's own answers
pass through untouched (its 4xx refusals included: a file name too long is its 400, an
upload over its cap its 413), unless JSON that holds what JSON has not (``NaN``, half a
surrogate pair: ``json_numbers``), which is ``sandbox_refused`` (502); a backend gateway's
refusal (``Launcher.call_error``) and a sandbox that no longer answers become the named
sandbox errors (gone, paused, unreachable), as does a tool server that answers 401
``unclaimed``: an instance its backend started afresh at the sandbox's address (gone).

Paths go to the tool server exactly as the caller wrote them: the raw, still
percent-encoded path (``files/a%3Fb`` names the file ``a?b``; ``files/..%2Ftools%2Fx`` is a
file path, which the tool server refuses, never the tool route) and the raw query string.
A name with a control character or NUL, or a ``..`` segment, is refused here (400
``invalid_path``).
"""

from __future__ import annotations

import logging
import re
import time
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote

from fastapi import Request, Response

from functions.runtime import tracing
from functions.runtime.auth import Principal
from functions.runtime.errors import ApiError
from functions.runtime.json_numbers import json_number_error
from functions.runtime.sandbox.errors import (
    InvalidPath,
    SandboxGone,
    SandboxPaused,
    SandboxRefused,
    SandboxUnreachable,
)
from functions.runtime.sandbox.launchers.claim import restarted_unclaimed
from functions.runtime.sse import ClientDisconnected, unless_disconnected

from .deps import SandboxInstance, check_owner
from .registry import SandboxRecord
from .service import scrubbed

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("agentscope_faas.sandbox")

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
CLIENT_CLOSED = 499  # the status logs know for "the client closed the request" (nginx's)


def raw_tail(request: Request, skip: int) -> str:
    """The request's raw path after its first ``skip`` segments (still percent-encoded).

    ``/v1/sandboxes/{id}/files/a%3Fb`` with ``skip=4`` is ``a%3Fb``. Where the server gives
    no raw path (ASGI makes it optional), the decoded path is encoded again.
    """
    raw: bytes | None = request.scope.get("raw_path")
    path = raw.decode("latin-1") if raw else quote(request.scope["path"], safe="/")
    return "/".join(path.split("?", 1)[0].split("/")[skip + 1 :])


def checked(raw: str, what: str) -> str:
    """``raw`` if its decoded form names something a tool server may be asked for."""
    name = unquote(raw)
    if _CONTROL.search(name):
        raise InvalidPath(f"{what} has a control character: {name!r}")
    if ".." in name.split("/"):
        raise InvalidPath(f"{what} may not contain a '..' segment: {name!r}")
    return raw


async def forward(
    instance: SandboxInstance,
    principal: Principal,
    sandbox_id: str,
    method: str,
    path: str,
    request: Request,
) -> Response:
    """``method path`` on the sandbox's tool server with the request's raw query and body,
    for a ``principal`` who may use the sandbox; ``path`` is raw (percent-encoded).

    A caller that hangs up first (``http.disconnect``: its turn was stopped) has the upstream
    call cancelled, which closes its connection, so the tool server stops the tool's work
    (a cell interrupted, a command killed); the call's bookkeeping ends as a finished one's.
    Starlette does not cancel an endpoint whose client left, hence the watch here.
    """
    record = check_owner(await instance.service.require(sandbox_id), principal)
    work = call(
        instance,
        record,
        method,
        path,
        body=await request.body(),
        content_type=request.headers.get("content-type", "application/json"),
        query=request.scope.get("query_string", b"").decode("latin-1"),
    )
    try:
        upstream = await unless_disconnected(request.receive, work)
    except ClientDisconnected:
        log.info("sandbox %s: caller left; %s %s cancelled", sandbox_id, method, path)
        return Response(status_code=CLIENT_CLOSED)  # no one reads it; logs name it
    media_type = upstream.headers.get("content-type", "")
    if media_type.startswith("application/json"):
        problem = json_number_error(upstream.content)
        if problem is not None:  # e.g. a tool server replaced by code in the sandbox
            raise SandboxRefused(f"sandbox {sandbox_id!r} answered JSON no client reads: {problem}")
    return Response(
        upstream.content,
        status_code=upstream.status_code,
        media_type=media_type or None,
    )


async def call(
    instance: SandboxInstance,
    record: SandboxRecord,
    method: str,
    path: str,
    *,
    body: bytes = b"",
    content_type: str = "application/json",
    query: str = "",
) -> httpx.Response:
    """The tool server's answer to ``method path`` (raw, percent-encoded) for a sandbox the
    caller may use; the named errors (paused, gone, unreachable, refused) instead of an
    answer that is not the tool server's own."""
    import httpx

    service = instance.service
    sandbox_id = record.id
    if record.paused:
        raise SandboxPaused(
            f"sandbox {sandbox_id!r} is paused; POST /v1/sandboxes/{sandbox_id}/resume first"
        )
    url = f"{record.endpoint}{path}" + (f"?{query}" if query else "")
    launcher = service.launcher
    marker = await service.begin_call(record)
    sent_ns = time.time_ns()
    try:
        try:
            upstream = await instance.http.request(
                method,
                url,
                content=body,
                headers={
                    **record.headers,
                    **launcher.tool_headers(record.token),
                    "Content-Type": content_type,
                    **tracing.inject(),  # the tool server joins the trace (tracing on)
                },
                auth=launcher.call_auth(),  # FC: the trigger's function auth
            )
        except httpx.TransportError as exc:
            log.warning("sandbox %s unreachable: %s", sandbox_id, exc)
            if await service.forget_if_gone(record):
                raise SandboxGone(
                    f"sandbox {sandbox_id!r} stopped running and was removed; create a new one"
                ) from exc
            raise SandboxUnreachable(f"sandbox {sandbox_id!r} did not answer; retry") from exc
    finally:
        await service.end_call(record, marker)
    if instance.tracing is not None:  # the tool server's span of the run, under its own name
        instance.tracing.adopt_remote_span(
            upstream.headers.get(tracing.SPAN_HEADER),
            sent_ns,
            time.time_ns(),
            f"agentscope-sandbox-{record.type}",
            {"agentscope.sandbox.id": record.id},
        )
    failure = launcher.call_error(upstream.status_code, upstream.content)
    if failure is not None:  # the backend's gateway refused, not the tool server
        if isinstance(failure, ApiError) and isinstance(failure.detail, str):
            # the gateway's words may name the backend handle, which never reaches a caller
            failure.detail = scrubbed(failure.detail, record.handle)
            failure.args = (failure.detail,)
        if isinstance(failure, SandboxGone):
            await service.delete(record.id)  # gone for good: so is its record
        raise failure
    if restarted_unclaimed(upstream.status_code, upstream.content):
        # a fresh instance at the sandbox's address (FC restarted a session it had
        # forgotten): nothing of the sandbox is in it, so it is gone; deleting the record
        # ends that instance's session too
        log.warning("sandbox %s: its tool server restarted unclaimed; removing it", sandbox_id)
        await service.delete(record.id)
        raise SandboxGone(
            f"sandbox {sandbox_id!r} was restarted by its backend without its state and was "
            "removed; create a new one"
        )
    return upstream

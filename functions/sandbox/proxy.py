"""Calls to a sandbox's tool server, made for the caller with the sandbox's own token.

Callers hold only a sandbox id: the token, the endpoint and the backend's headers stay in
this function. A failure is told apart here: the tool server's own answers pass through
untouched; a backend gateway's refusal (``Launcher.call_error``) and a sandbox that no
longer answers become the named sandbox errors (gone, paused, unreachable).
"""

from __future__ import annotations

import logging

from fastapi import Request, Response

from functions.runtime.auth import Principal
from functions.runtime.sandbox.errors import SandboxGone, SandboxPaused, SandboxUnreachable

from .deps import SandboxInstance, check_owner

log = logging.getLogger("agentscope_faas.sandbox")


async def forward(
    instance: SandboxInstance,
    principal: Principal,
    sandbox_id: str,
    method: str,
    path: str,
    request: Request,
) -> Response:
    """``method path`` on the sandbox's tool server with the request's query and body,
    for a ``principal`` who may use the sandbox."""
    import httpx

    service = instance.service
    record = check_owner(await service.require(sandbox_id), principal)
    if record.paused:
        raise SandboxPaused(
            f"sandbox {sandbox_id!r} is paused; POST /v1/sandboxes/{sandbox_id}/resume first"
        )
    try:
        upstream = await instance.http.request(
            method,
            f"{record.endpoint}{path}",
            params=dict(request.query_params),
            content=await request.body(),
            headers={
                **record.headers,
                "Authorization": f"Bearer {record.token}",
                "Content-Type": request.headers.get("content-type", "application/json"),
            },
        )
    except httpx.TransportError as exc:
        log.warning("sandbox %s unreachable: %s", sandbox_id, exc)
        if await service.forget_if_gone(record):
            raise SandboxGone(
                f"sandbox {sandbox_id!r} stopped running and was removed; create a new one"
            ) from exc
        raise SandboxUnreachable(f"sandbox {sandbox_id!r} did not answer; retry") from exc
    failure = service.launcher.call_error(upstream.status_code, upstream.content)
    if failure is not None:  # the backend's gateway refused, not the tool server
        if isinstance(failure, SandboxGone):
            await service.delete(record.id)  # gone for good: so is its record
        raise failure
    return Response(
        upstream.content,
        status_code=upstream.status_code,
        media_type=upstream.headers.get("content-type"),
    )

"""The wire protocol: AgentRun's ROA control plane and its sandbox data plane.

Control plane (``/2025-09-10/...``): every request must carry a valid V3 signature
(``local_emulator.acs_signature``); answers are ``{code: "SUCCESS", data, requestId}`` with
the field names of the SDK's models, errors ``{code, message, requestId}`` with the HTTP
status of ``exceptions``. Data plane (``/sandboxes/{id}/{path}``): the request, with an
``Agentrun-Access-Token`` from GetAccessToken, is forwarded to the sandbox's port and the
answer passed back; each call counts as activity for the idle timeout.
"""

from __future__ import annotations

import hmac
import json
import time
import uuid
from typing import Any

from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.websockets import WebSocket

from functions.runtime.ws_relay import passed_headers, refuse, relay
from local_emulator.acs_signature import Credential, NonceCache, SignatureError, verify_request

from .exceptions import (
    AgentRunError,
    InternalError,
    SandboxEnded,
    SandboxUnavailable,
    SignatureRefused,
    Unauthorized,
    ValidationFailed,
    WrongState,
)
from .models import MISSING, AgentRunBackend

ACCESS_TOKEN_HEADER = "agentrun-access-token"
# hop-by-hop and gateway headers that are not the sandbox's business
_NOT_FORWARDED = {"host", "content-length", "connection", "transfer-encoding", ACCESS_TOKEN_HEADER}
# httpx has already decoded the body and will frame it anew
_NOT_PASSED_BACK = {"content-length", "content-encoding", "transfer-encoding", "connection"}


def _request_id() -> str:
    return str(uuid.uuid4()).upper()


class AgentRunResponses:
    def __init__(self, backend: AgentRunBackend, credentials: dict[str, Credential]) -> None:
        self.backend = backend
        self.credentials = credentials
        self.nonces = NonceCache()
        self._http: Any = None

    # -- plumbing ----------------------------------------------------------------------

    def ok(self, data: Any, status: int = 200) -> JSONResponse:
        request_id = _request_id()
        return JSONResponse(
            {"code": "SUCCESS", "requestId": request_id, "data": data},
            status_code=status,
            headers={"x-acs-request-id": request_id},
        )

    @staticmethod
    def error(exc: AgentRunError) -> JSONResponse:
        request_id = _request_id()
        return JSONResponse(
            exc.body(request_id),
            status_code=exc.status,
            headers={"x-acs-request-id": request_id, **exc.headers},
        )

    async def control(self, request: Request, action: str) -> Response:
        """Authenticate, throttle, then run the action's handler (and any injected fault)."""
        try:
            try:
                await verify_request(request, self.credentials, nonces=self.nonces)
            except SignatureError as exc:
                raise SignatureRefused(exc.status, exc.code, exc.message) from None
            self.backend.throttle(action)
        except AgentRunError as exc:
            return self.error(exc)
        try:
            answer: JSONResponse = await getattr(self, action)(request)
        except AgentRunError as exc:
            answer = self.error(exc)
        return self.faulty(action, answer)

    def faulty(self, action: str, answer: JSONResponse) -> Response:
        """``answer``, or what an injected ``Fault`` makes of it: a lost answer (whatever it
        was: a retry's refusal may be lost too), a success whose ``data`` is not right, or a
        body that is no answer at all."""
        fault = self.backend.take_fault(action, failed=answer.status_code >= 400)
        if fault is None:
            return answer
        if fault.lose:  # done (or refused), but the caller never learns which
            return self.error(InternalError(f"{action} failed: the answer was lost"))
        request_id = answer.headers["x-acs-request-id"]
        if fault.raw is not None:
            return Response(
                fault.raw,
                status_code=answer.status_code,
                headers={"x-acs-request-id": request_id},
                media_type="application/json",  # what it claims to be
            )
        body = json.loads(answer.body)
        body.pop("data", None)
        if fault.data is not MISSING:
            body["data"] = fault.data
        return JSONResponse(
            body, status_code=answer.status_code, headers={"x-acs-request-id": request_id}
        )

    @staticmethod
    async def json_body(request: Request) -> dict[str, Any]:
        raw = await request.body()
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            raise ValidationFailed("the body is not JSON") from None
        if not isinstance(body, dict):
            raise ValidationFailed("the body must be a JSON object")
        return body

    def api(self, model: Any) -> dict[str, Any]:
        return model.to_api(self.backend.region, self.backend.account_id)

    # -- templates ---------------------------------------------------------------------

    async def CreateTemplate(self, request: Request) -> JSONResponse:
        return self.ok(self.api(self.backend.create_template(await self.json_body(request))))

    async def GetTemplate(self, request: Request) -> JSONResponse:
        return self.ok(self.api(self.backend.get_template(request.path_params["name"])))

    async def DeleteTemplate(self, request: Request) -> JSONResponse:
        return self.ok(self.api(self.backend.delete_template(request.path_params["name"])))

    async def ListTemplates(self, request: Request) -> JSONResponse:
        q = request.query_params
        items = self.backend.list_templates(q.get("templateName"))
        number, size = int(q.get("pageNumber") or 1), int(q.get("pageSize") or 20)
        page = items[(number - 1) * size : number * size]
        return self.ok(
            {
                "items": [self.api(t) for t in page],
                "pageNumber": number,
                "pageSize": size,
                "total": len(items),
            }
        )

    # -- sandboxes ---------------------------------------------------------------------

    async def CreateSandbox(self, request: Request) -> JSONResponse:
        sandbox = await self.backend.create_sandbox(await self.json_body(request))
        return self.ok(self.api(sandbox))

    async def GetSandbox(self, request: Request) -> JSONResponse:
        return self.ok(self.api(await self.backend.get_sandbox(request.path_params["id"])))

    async def ListSandboxes(self, request: Request) -> JSONResponse:
        q = request.query_params
        try:
            size = int(q.get("maxResults") or 20)
            start = int(q.get("nextToken") or 0)
        except ValueError:
            raise ValidationFailed("maxResults and nextToken must be what the API gave") from None
        if not 1 <= size <= 100:
            raise ValidationFailed("maxResults must be between 1 and 100")
        found = await self.backend.list_sandboxes(q.get("templateName"), q.get("status"))
        if q.get("sandboxId"):
            found = [s for s in found if s.sandbox_id == q["sandboxId"]]
        page = found[start : start + size]
        more = start + size < len(found)
        return self.ok(
            {"items": [self.api(s) for s in page], "nextToken": str(start + size) if more else ""}
        )

    async def StopSandbox(self, request: Request) -> JSONResponse:
        return self.ok(self.api(await self.backend.stop_sandbox(request.path_params["id"])))

    async def DeleteSandbox(self, request: Request) -> JSONResponse:
        return self.ok(self.api(await self.backend.delete_sandbox(request.path_params["id"])))

    async def PauseSandbox(self, request: Request) -> JSONResponse:
        return self.ok(self.api(await self.backend.pause_sandbox(request.path_params["id"])))

    async def ResumeSandbox(self, request: Request) -> JSONResponse:
        return self.ok(self.api(await self.backend.resume_sandbox(request.path_params["id"])))

    async def GetAccessToken(self, request: Request) -> JSONResponse:
        q = request.query_params
        token = self.backend.access_token(q.get("resourceId"), q.get("resourceType"))
        return self.ok({"accessToken": token})

    # -- data plane --------------------------------------------------------------------

    def http(self) -> Any:
        if self._http is None:
            import httpx

            self._http = httpx.AsyncClient(timeout=httpx.Timeout(900.0, connect=5.0))
        return self._http

    async def _ready(self, connection: HTTPConnection) -> Any:
        """The sandbox a data-plane request names, if its token is right and it is READY."""
        sandbox = await self.backend.get_sandbox(connection.path_params["id"])
        given = connection.headers.get(ACCESS_TOKEN_HEADER, "")
        if not hmac.compare_digest(given.encode(), sandbox.access_token.encode()):
            raise Unauthorized("Agentrun-Access-Token is missing or not this sandbox's")
        if sandbox.status == "PAUSED":
            raise WrongState(f"sandbox {sandbox.sandbox_id} is PAUSED; resume it first")
        if sandbox.status != "READY":
            raise SandboxEnded(f"sandbox {sandbox.sandbox_id} is {sandbox.status}")
        sandbox.last_active = time.monotonic()
        return sandbox

    async def data_plane_websocket(self, websocket: WebSocket) -> None:
        """A WebSocket into a sandbox (a live view), with the same checks as any call."""
        try:
            sandbox = await self._ready(websocket)
        except AgentRunError as exc:
            await refuse(websocket, exc.status)
            return
        query = websocket.url.query
        path = websocket.path_params["path"] + (f"?{query}" if query else "")
        try:
            await relay(
                websocket,
                f"ws://127.0.0.1:{sandbox.port}/{path}",
                passed_headers(websocket.headers, _NOT_FORWARDED),
            )
        finally:
            sandbox.last_active = time.monotonic()

    async def data_plane(self, request: Request) -> Response:
        import httpx

        try:
            sandbox = await self._ready(request)
            headers = {k: v for k, v in request.headers.items() if k.lower() not in _NOT_FORWARDED}
            try:
                upstream = await self.http().request(
                    request.method,
                    f"http://127.0.0.1:{sandbox.port}/{request.path_params['path']}",
                    params=list(request.query_params.multi_items()),
                    content=await request.body(),
                    headers=headers,
                )
            except httpx.TransportError as exc:
                raise SandboxUnavailable(f"sandbox {sandbox.sandbox_id} did not answer") from exc
            sandbox.last_active = time.monotonic()
        except AgentRunError as exc:
            return self.error(exc)
        passed = {k: v for k, v in upstream.headers.items() if k.lower() not in _NOT_PASSED_BACK}
        return Response(upstream.content, status_code=upstream.status_code, headers=passed)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()

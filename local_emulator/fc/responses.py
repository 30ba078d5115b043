"""FC 3.0's wire protocol as the official SDK speaks it: check the signature, parse, answer.

API calls must carry a valid Alibaba Cloud V3 signature (``ACS3-HMAC-SHA256``, what
tea-openapi sends for the 2023-03-30 API) from a configured key pair; request and response
bodies are JSON in the API's camelCase; errors are ``{Code, Message, RequestId}``; every
answer has an ``x-fc-request-id``. Trigger calls are routed by the function's affinity header
to the session's container and streamed back both ways; a trigger with ``authType``
``function`` first checks the call's ACS3 signature (a WebSocket's on its handshake) against
the same key pair as the API, refusing a missing, wrong, stale or replayed one with 403 before
any session is started or reached (``exceptions.TriggerSignatureRefused``); an ``anonymous``
trigger lets everything through.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.websockets import WebSocket

from functions.runtime.sse import ClientDisconnected, unless_disconnected
from functions.runtime.ws_relay import passed_headers, refuse, relay
from local_emulator.acs_signature import (
    Credential,
    NonceCache,
    SignatureError,
    verify,
    verify_request,
)
from local_emulator.triggers import HOP_BY_HOP

from . import exceptions as err
from .models import FakeFunction, FakeSession, FakeTrigger, FcBackend
from .urls import match, trigger_path

_TRIGGER_TIMEOUT_S = 900.0


def request_id() -> str:
    return f"1-{int(time.time()):08x}-{secrets.token_hex(12)}"


class FcResponses:
    def __init__(self, backend: FcBackend, credentials: Mapping[str, Credential]) -> None:
        self.backend = backend
        self.credentials = credentials
        self.nonces = NonceCache()
        self._http: Any = None

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def _error(self, exc: err.FcError, rid: str) -> Response:
        headers = {"x-fc-request-id": rid, **exc.headers}
        return JSONResponse(exc.body(rid), status_code=exc.status, headers=headers)

    # -- the API ---------------------------------------------------------------------------

    async def handle(self, request: Request) -> Response:
        rid = request_id()
        try:
            try:
                await verify_request(request, self.credentials, nonces=self.nonces)
            except SignatureError as exc:
                raise err.SignatureRefused(exc.status, exc.code, exc.message) from None
            found = match(request.method, request.url.path)
            if found is None:
                raise err.PathNotSupported(request.method, request.url.path)
            handler, args = found
            self.backend.calls[handler] += 1
            status, payload = await getattr(self, handler)(request, **args)
        except err.FcError as exc:
            return self._error(exc, rid)
        headers = {"x-fc-request-id": rid}
        fault = self.backend.take_fault(handler)
        if fault is not None:  # done, but its answer spoiled (a test's control-plane fault)
            if fault.body is not None:
                return Response(
                    fault.body,
                    status_code=fault.status,
                    media_type="application/json",
                    headers=headers,
                )
            spoiled = err.FcError(f"injected fault: the answer to {handler} was lost")
            spoiled.status, spoiled.code = fault.status, fault.code
            return self._error(spoiled, rid)
        if payload is None:
            return Response(status_code=status, headers=headers)
        return JSONResponse(payload, status_code=status, headers=headers)

    async def _json(self, request: Request) -> dict[str, Any]:
        raw = await request.body()
        if not raw:
            return {}
        try:
            body = json.loads(raw)
        except ValueError:
            raise err.InvalidArgument("the request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise err.InvalidArgument("the request body must be a JSON object")
        return body

    # functions

    async def create_function(self, request: Request) -> tuple[int, Any]:
        return 200, self.backend.create_function(await self._json(request)).describe()

    async def get_function(self, request: Request, function: str) -> tuple[int, Any]:
        return 200, self.backend.get_function(function).describe()

    async def update_function(self, request: Request, function: str) -> tuple[int, Any]:
        return 200, self.backend.update_function(function, await self._json(request)).describe()

    async def delete_function(self, request: Request, function: str) -> tuple[int, Any]:
        await self.backend.delete_function(function)
        return 204, None

    async def list_functions(self, request: Request) -> tuple[int, Any]:
        q = request.query_params
        found, token = self.backend.list_functions(
            q.get("prefix"), q.get("limit"), q.get("nextToken")
        )
        return 200, {"functions": [f.describe() for f in found], "nextToken": token}

    # sessions

    async def create_session(self, request: Request, function: str) -> tuple[int, Any]:
        body = await self._json(request)
        qualifier = request.query_params.get("qualifier")
        return 200, (await self.backend.create_session(function, body, qualifier)).describe()

    async def get_session(self, request: Request, function: str, session: str) -> tuple[int, Any]:
        return 200, (await self.backend.session(function, session)).describe()

    async def update_session(
        self, request: Request, function: str, session: str
    ) -> tuple[int, Any]:
        changes = await self._json(request)
        return 200, (await self.backend.update_session(function, session, changes)).describe()

    async def delete_session(
        self, request: Request, function: str, session: str
    ) -> tuple[int, Any]:
        await self.backend.delete_session(function, session)
        return 204, None

    async def pause_session(self, request: Request, function: str, session: str) -> tuple[int, Any]:
        return 200, (await self.backend.pause_session(function, session)).describe()

    async def resume_session(
        self, request: Request, function: str, session: str
    ) -> tuple[int, Any]:
        return 200, (await self.backend.resume_session(function, session)).describe()

    async def list_sessions(self, request: Request, function: str) -> tuple[int, Any]:
        q = request.query_params
        found, token = await self.backend.list_sessions(
            function,
            status=q.get("sessionStatus"),
            session_id=q.get("sessionId"),
            limit=q.get("limit"),
            next_token=q.get("nextToken"),
        )
        return 200, {"sessions": [s.describe() for s in found], "nextToken": token}

    # triggers

    async def create_trigger(self, request: Request, function: str) -> tuple[int, Any]:
        return 200, self.backend.create_trigger(function, await self._json(request)).describe()

    async def get_trigger(self, request: Request, function: str, trigger: str) -> tuple[int, Any]:
        return 200, self.backend.get_trigger(function, trigger).describe()

    async def delete_trigger(
        self, request: Request, function: str, trigger: str
    ) -> tuple[int, Any]:
        self.backend.delete_trigger(function, trigger)
        return 204, None

    async def list_triggers(self, request: Request, function: str) -> tuple[int, Any]:
        q = request.query_params
        found, token = self.backend.list_triggers(
            function, q.get("prefix"), q.get("limit"), q.get("nextToken")
        )
        return 200, {"triggers": [t.describe() for t in found], "nextToken": token}

    # -- HTTP triggers ---------------------------------------------------------------------

    async def invoke(self, request: Request) -> Response:
        """A call through a trigger, to the container of the session its header names."""
        rid = request_id()
        self.backend.calls["invoke"] += 1
        try:
            # the function gets the path as the client sent it, still percent-encoded
            raw = request.scope.get("raw_path")
            found = trigger_path.match(raw.decode("latin-1") if raw else request.url.path)
            if found is None:
                raise err.PathNotSupported(request.method, request.url.path)
            trigger = self.backend.get_trigger(found["function"], found["trigger"])
            self._check_auth(trigger, request.method, request, await request.body())
            if any(name.lower().startswith("x-fc-") for name in request.headers):
                raise err.InvalidArgument("request headers must not start with x-fc-")
            function = self.backend.get_function(trigger.function)
            session = await self._route(function, request)
            return await self._forward(request, session, found["rest"] or "/", function, rid)
        except err.FcError as exc:
            return self._error(exc, rid)

    async def invoke_websocket(self, websocket: WebSocket) -> None:
        """A WebSocket through a trigger (FC's HTTP triggers carry them), relayed to the
        container of the session its header names; FC's refusals refuse the handshake."""
        self.backend.calls["invoke"] += 1
        try:
            found = trigger_path.match(websocket.url.path)
            if found is None:
                raise err.PathNotSupported("GET", websocket.url.path)
            trigger = self.backend.get_trigger(found["function"], found["trigger"])
            self._check_auth(trigger, "GET", websocket, b"")
            function = self.backend.get_function(trigger.function)
            session = await self._route(function, websocket)
        except err.FcError as exc:
            await refuse(websocket, exc.status)
            return
        query = websocket.url.query
        path = (found["rest"] or "/") + (f"?{query}" if query else "")
        session.last_used = self.backend.now()
        try:
            await relay(
                websocket,
                f"ws://127.0.0.1:{session.port}{path}",
                passed_headers(websocket.headers, HOP_BY_HOP),
            )
        finally:
            session.last_used = self.backend.now()

    def _check_auth(
        self, trigger: FakeTrigger, method: str, connection: HTTPConnection, body: bytes
    ) -> None:
        """Refuse a call that a ``function``-auth trigger's gateway would not pass on."""
        if trigger.auth_type == "anonymous":
            return
        if trigger.auth_type != "function":
            raise err.AccessDenied(
                f"the emulator serves anonymous and function auth only, not {trigger.auth_type!r}"
            )
        scope = connection.scope
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        try:
            verify(
                method,
                raw_path.split("?", 1)[0],
                scope.get("query_string", b"").decode("latin-1"),
                {k.lower(): v for k, v in connection.headers.items()},
                body,
                self.credentials,
                nonces=self.nonces,
            )
        except SignatureError as exc:
            raise err.TriggerSignatureRefused(exc.status, exc.code, exc.message) from None

    async def _route(self, function: FakeFunction, request: HTTPConnection) -> FakeSession:
        """The session the affinity header names; FC starts one for an id it has not seen."""
        header = function.header_name
        if function.affinity != "HEADER_FIELD" or not header:
            raise err.InvalidArgument("the emulator routes HEADER_FIELD affinity functions only")
        session_id = request.headers.get(header)
        if session_id:
            key = (function.name, session_id)
            if key in self.backend.retired:
                raise err.SessionExpired(*key)
            if key in self.backend.sessions:
                session = await self.backend.session(*key)
                if session.status == "Paused":
                    if not session.auto_resume:
                        raise err.SessionPaused(*key)
                    session = await self.backend.resume_session(*key)
                if session.status == "Active":
                    return session
                if session.disable_reuse:
                    raise err.SessionExpired(*key)
        spec = {"sessionId": session_id} if session_id else {}
        return await self.backend.create_session(function.name, spec, None)

    async def _forward(
        self, request: Request, session: FakeSession, path: str, function: FakeFunction, rid: str
    ) -> Response:
        import httpx

        if self._http is None:
            self._http = httpx.AsyncClient(timeout=httpx.Timeout(_TRIGGER_TIMEOUT_S, connect=5))
        session.last_used = self.backend.now()
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP]
        query = request.url.query
        upstream_request = self._http.build_request(
            request.method,
            f"http://127.0.0.1:{session.port}{path}" + (f"?{query}" if query else ""),
            headers=headers,
            content=await request.body(),
        )
        session.in_flight += 1  # until the answer starts: the instance is busy, not idle
        try:
            # a client that hangs up closes the instance's request too, as a gateway does
            upstream = await unless_disconnected(
                request.receive, self._http.send(upstream_request, stream=True)
            )
        except ClientDisconnected:
            return Response(status_code=499)  # no one reads it
        except httpx.TransportError:
            if not await self.backend.instance_alive(session):
                raise err.SessionExpired(session.function, session.session_id) from None
            raise err.CAExited("the instance did not answer") from None
        finally:
            session.in_flight -= 1
            session.last_used = self.backend.now()
        out = {
            k: v
            for k, v in upstream.headers.items()
            if k.lower() not in HOP_BY_HOP - {"content-length"}
        }
        out["x-fc-request-id"] = rid
        if function.header_name:
            out[function.header_name] = session.session_id

        async def body() -> AsyncIterator[bytes]:
            try:
                async for chunk in upstream.aiter_raw():
                    yield chunk
            finally:
                await upstream.aclose()
                session.last_used = self.backend.now()

        return StreamingResponse(body(), status_code=upstream.status_code, headers=out)

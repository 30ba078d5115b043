"""The HTTP front of each emulated function: what a Function URL or an FC HTTP trigger does.

- :class:`FunctionUrl` (Lambda, buffered): the request becomes a Function URL event for
  the function's ``lambda_handler`` and the handler's dict becomes the response, all at
  once - an SSE stream arrives in one piece at the end, as it does through mangum on AWS.
- :class:`StreamingProxy` (FC's custom runtime, and Lambda's RESPONSE_STREAM mode through
  the Lambda Web Adapter): requests go to the function's own HTTP server and its response
  streams back as it is written, with the headers the platform adds (the request id; on
  Lambda the invocation context, its ``deadline`` included); on FC a WebSocket is relayed
  too (FC's HTTP triggers carry them; Lambda's Function URLs do not).
Both start the function's instances with the app's lifespan and stop them after, and both
enforce the function's timeout as the platforms do: an invocation that overruns it has its
instance killed (the next request starts a new one) and the caller gets the platform's
error - or, when the response had begun streaming, a response that ends there.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

from starlette.websockets import WebSocket

from functions.runtime.ws_relay import passed_headers, refuse, relay, ws_url
from local_emulator.function_url import PAYLOAD_LIMIT, build_event, parse_result
from local_emulator.instances import InvokeError, LambdaFunction, ServerFunction

# hop-by-hop headers (and the ones a proxy recomputes): never passed on
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
}


async def send_json(send: Any, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


async def _lifespan(receive: Any, send: Any, start: Any, stop: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                await start()
            except Exception as exc:
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await stop()
            await send({"type": "lifespan.shutdown.complete"})
            return


def raw_path(scope: dict) -> str:
    """The request's path as the client sent it, still percent-encoded (what a Function URL
    puts in ``rawPath`` and FC or the Lambda Web Adapter pass on): the decoded ``path``
    would split an id's encoded ``/`` and turn an encoded ``?`` into a query."""
    return (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")


async def read_body(receive: Any, limit: int | None) -> bytes | None:
    """The request body, or None once it passes ``limit``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if limit is not None and size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


class FunctionUrl:
    def __init__(self, function: LambdaFunction) -> None:
        self.function = function

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":

            async def nothing() -> None:
                return None

            await _lifespan(receive, send, nothing, self.function.close)
            return
        if scope["type"] == "websocket":  # Function URLs carry no WebSockets
            await refuse(WebSocket(scope, receive, send), 426)
            return
        body = await read_body(receive, PAYLOAD_LIMIT)
        if body is None:
            await send_json(
                send, 413, {"Message": f"Request must be smaller than {PAYLOAD_LIMIT} bytes"}
            )
            return
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        event = build_event(
            method=scope["method"],
            path=raw_path(scope),
            raw_query=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            body=body,
            source_ip=(scope.get("client") or ("127.0.0.1", 0))[0],
            domain=dict(headers).get("host", "localhost"),
        )
        try:
            result = await self.function.invoke(event)
        except InvokeError as exc:
            message = "Rate Exceeded." if exc.status == 429 else "Internal Server Error"
            await send_json(send, exc.status, {"Message": message})
            return
        status, out_headers, out_body = parse_result(result)
        if len(out_body) > PAYLOAD_LIMIT:
            await send_json(send, 502, {"Message": "Internal Server Error"})
            return
        raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in out_headers]
        raw = [h for h in raw if h[0] != b"content-length"]
        raw.append((b"content-length", str(len(out_body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": out_body})


class StreamingProxy:
    """Forward to a function's own server; ``platform`` picks the headers it adds."""

    def __init__(self, function: ServerFunction, platform: str) -> None:
        self.function = function
        self.platform = platform
        self.upstream = f"http://127.0.0.1:{function.port}"
        self._http: Any = None
        self._starting = asyncio.Lock()

    async def _start(self) -> None:
        import httpx

        self._http = httpx.AsyncClient(timeout=httpx.Timeout(None, connect=5.0))
        await self._launch()

    async def _running(self) -> None:
        """A new instance when the last one is gone (killed for its timeout): a cold start."""
        async with self._starting:
            if self.function.exited is not None:
                print(f"[{self.function.name}] starting a new instance", flush=True)
                await self._launch()

    async def _launch(self) -> None:
        import httpx

        await self.function.start()
        deadline = time.monotonic() + 60
        while True:  # a readiness probe, as FC and the adapter probe before routing traffic
            if self.function.exited is not None:
                raise RuntimeError(
                    f"{self.function.name}: its server exited with {self.function.exited}"
                )
            try:
                if (await self._http.get(f"{self.upstream}/health")).status_code < 500:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.function.name}: its server never answered")
            await asyncio.sleep(0.05)

    async def _stop(self) -> None:
        await self.function.close()
        if self._http is not None:
            await self._http.aclose()

    def _platform_headers(self, deadline: float | None) -> list[tuple[str, str]]:
        request_id = str(uuid.uuid4())
        if self.platform == "fc":
            return [("x-fc-request-id", request_id)]
        # the adapter's JSON of the Lambda runtime's Context: deadline in Unix milliseconds
        context: dict[str, Any] = {"request_id": request_id, "function_name": self.function.name}
        if deadline is not None:
            context["deadline"] = int(deadline * 1000)
        return [
            ("x-amzn-request-context", json.dumps({"requestId": request_id})),
            ("x-amzn-lambda-context", json.dumps(context)),
        ]

    async def _timed_out(self, send: Any, answered: bool) -> None:
        timeout = self.function.timeout_s
        print(
            f"[{self.function.name}] the request ran past the function's timeout "
            f"({timeout:g} s): its instance is killed",
            flush=True,
        )
        await self.function.kill()
        if answered:  # the response is streaming: it ends where it was
            await send({"type": "http.response.body", "body": b""})
        elif self.platform == "fc":  # our pick of FC's answer (its body shape for errors)
            message = f"Function timed out after {timeout:g} seconds"
            data = json.dumps({"errorMessage": message, "errorType": "FunctionTimeout"}).encode()
            headers = [
                (b"content-type", b"application/json"),
                (b"x-fc-error-type", b"UnhandledInvocationError"),
            ]
            await send({"type": "http.response.start", "status": 502, "headers": headers})
            await send({"type": "http.response.body", "body": data})
        else:  # what a Function URL answers for a failed invocation
            await send_json(send, 502, {"Message": "Internal Server Error"})

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send, self._start, self._stop)
            return
        websocket = WebSocket(scope, receive, send) if scope["type"] == "websocket" else None
        if websocket is not None and self.platform != "fc":  # Lambda's doors carry none
            await refuse(websocket, 426)
            return
        if self.platform == "fc" and any(
            k.lower().startswith(b"x-fc-") for k, _ in scope["headers"]
        ):
            # FC's own request headers (the role's key among them) come from FC alone
            if websocket is not None:
                await refuse(websocket, 400)
            else:
                message = "request headers must not start with x-fc-"
                await send_json(send, 400, {"Code": "InvalidArgument", "Message": message})
            return
        await self._running()  # as on the platforms, a cold start's init is not timed
        if websocket is not None:  # FC's HTTP triggers carry WebSockets, untimed here
            query = websocket.url.query
            url = f"{self.upstream}{raw_path(scope)}" + (f"?{query}" if query else "")
            headers = passed_headers(websocket.headers, HOP_BY_HOP)
            await relay(websocket, ws_url(url), {**headers, **dict(self._platform_headers(None))})
            return
        timeout = self.function.timeout_s
        deadline = None if timeout is None else time.time() + timeout
        state = {"answered": False}  # whether the response has begun
        try:
            await asyncio.wait_for(self._forward(scope, receive, send, deadline, state), timeout)
        except asyncio.TimeoutError:
            await self._timed_out(send, state["answered"])

    async def _forward(
        self, scope: dict, receive: Any, send: Any, deadline: float | None, state: dict
    ) -> None:
        import httpx

        body = await read_body(receive, None) or b""
        headers = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in scope["headers"]
            if k.decode("latin-1").lower() not in HOP_BY_HOP
        ] + self._platform_headers(deadline)
        query = scope.get("query_string", b"").decode("latin-1")
        url = f"{self.upstream}{raw_path(scope)}" + (f"?{query}" if query else "")
        request = self._http.build_request(scope["method"], url, headers=headers, content=body)
        try:
            response = await self._http.send(request, stream=True)
        except httpx.TransportError:
            state["answered"] = True
            await send_json(send, 502, {"Message": "the function's server is not answering"})
            return
        try:
            raw = [
                (k.encode("latin-1"), v.encode("latin-1"))
                for k, v in response.headers.multi_items()
                if k.lower() not in HOP_BY_HOP
            ]
            state["answered"] = True
            await send(
                {"type": "http.response.start", "status": response.status_code, "headers": raw}
            )
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await response.aclose()

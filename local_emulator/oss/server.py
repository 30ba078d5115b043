"""The emulator as an ASGI app, and a command line to serve it with uvicorn."""

from __future__ import annotations

import argparse

from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from .models import OSSBackend
from .responses import OSSResponses


class OSSApp:
    """A bare ASGI app: OSS has one URL space, so there is nothing for a router to do."""

    def __init__(self, backend: OSSBackend | None = None) -> None:
        self.backend = backend or OSSBackend()
        self.responses = OSSResponses(self.backend)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        response = await self.responses.handle(Request(scope, receive))
        await response(scope, receive, send)


def create_app(backend: OSSBackend | None = None) -> OSSApp:
    return OSSApp(backend)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m local_emulator.oss", description="A local Alibaba Cloud OSS emulator."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)

    import uvicorn

    uvicorn.run(create_app(), host=args.host, port=args.port, log_level=args.log_level)

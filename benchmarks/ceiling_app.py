"""The bare FastAPI ceiling ``process_load.py`` sets every protocol beside: ``POST /process``
that reads the body and streams the seven SSE events a trivial ``/process`` turn streams
(the response created and in progress, the message in progress, the text delta, the text
and the message completed, the response completed, shaped as ours), with no validation,
no storage and no middleware of ours: what the web framework itself allows.

Run: uvicorn benchmarks.ceiling_app:app
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


def turn_events(text: str = "pong") -> list[dict[str, Any]]:
    """The seven events of a one-message text turn, in ``/process``'s shapes."""
    response, msg = f"response_{uuid.uuid4()}", f"msg_{uuid.uuid4()}"
    now = int(time.time())
    head = {"object": "response", "id": response, "created_at": now}
    message = {"object": "message", "id": msg, "type": "message", "role": "assistant"}
    part = {"object": "content", "type": "text", "index": 0, "msg_id": msg}
    final = {"object": "content", "status": "completed", "type": "text", "text": text}
    done = {**message, "status": "completed", "content": [{**final, "delta": False}]}
    session = {"session_id": uuid.uuid4().hex}
    return [
        {**head, "status": "created", **session},
        {**head, "status": "in_progress", **session},
        {**message, "status": "in_progress", "content": []},
        {**part, "status": "in_progress", "delta": True, "text": text},
        {**part, "status": "completed", "delta": False, "text": text},
        done,
        {**head, "status": "completed", "completed_at": now, "output": [done], **session},
    ]


async def frames() -> AsyncIterator[bytes]:
    for number, event in enumerate(turn_events()):
        data = json.dumps({"sequence_number": number, **event}, separators=(",", ":"))
        yield b"data: " + data.encode() + b"\n\n"


@app.post("/process")
async def process(request: Request) -> StreamingResponse:
    await request.body()
    return StreamingResponse(frames(), media_type="text/event-stream")

"""The seed's agent protocol: ``POST /process`` (SSE ``data:`` frames, or JSON) and ``/health``.

Request and events are AgentScope Runtime's (``functions.runtime.protocol``): a malformed
body is a 422 before any stream starts, a busy session a 409, and the stream always ends
with a final response event.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from ..auth import PrincipalDep
from ..errors import InvalidRequest
from ..function_app import InstanceDep
from ..http_errors import errors, field_errors
from ..protocol import AgentRequest
from ..sse import SSEResponse, encoded, sse_encode
from ..turn import Agent, open_turn

router = APIRouter()

PROCESS_BODY_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": AgentRequest.model_json_schema()}},
    }
}


def get_agent(request: Request) -> Agent:
    return request.app.state.agent


AgentDep = Annotated[Agent, Depends(get_agent)]


def session_header(session_id: str) -> dict[str, str]:
    """``X-Session-Id``: the id itself when it is printable ASCII (as every id this function
    makes is), else percent-encoded UTF-8 - HTTP header values cannot carry the rest."""
    printable = session_id.isascii() and session_id.isprintable()
    return {"X-Session-Id": session_id if printable else quote(session_id, safe="")}


def parse_request(body: bytes) -> AgentRequest:
    """The body as an ``AgentRequest``; ``InvalidRequest`` (422) naming each bad field."""
    try:
        return AgentRequest.model_validate_json(body)
    except ValidationError as exc:
        raise InvalidRequest(
            field_errors(exc.errors(include_url=False, include_context=False), ("body",))
        ) from None


@router.get("/health", operation_id="health")
async def health(agent: AgentDep) -> dict[str, str]:
    return {"status": "ok", "app": agent.app_name}


@router.post(
    "/process",
    operation_id="process",
    openapi_extra=PROCESS_BODY_SCHEMA,
    response_model=None,
    responses=errors(401, 403, 409, 413, 415, 422, 503),
)
async def process(
    request: Request, instance: InstanceDep, agent: AgentDep, principal: PrincipalDep
) -> Any:
    """Run the agent on one request: SSE events, or the final response with stream=false."""
    req = parse_request(await request.body())
    turn = await open_turn(instance, agent, req, principal)
    headers = session_header(turn.session_id)
    if req.stream:
        frames = encoded(turn.events(), sse_encode)
        return SSEResponse(frames, instance.settings.sse_ping_interval_s, headers)
    final = await turn.run()
    return JSONResponse(final.model_dump(mode="json", exclude_none=True), headers=headers)

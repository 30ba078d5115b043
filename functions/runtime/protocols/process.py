"""The seed's agent protocol: ``POST /process`` (SSE ``data:`` frames, or JSON), its
``POST /process/stop``, and ``/health``.

Request and events are AgentScope Runtime's (``functions.runtime.protocol``): a malformed
body is a 422 before any stream starts, a busy session a 409, and the stream always ends
with a final response event. A stop reaches the turn on whichever instance runs it (the
mark is in the session's lease, see ``services/lock.py``), whatever protocol it speaks.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError, field_validator

from ..auth import PrincipalDep, get_principal
from ..errors import InvalidRequest
from ..function_app import InstanceDep, RequestRoute, get_instance
from ..http_errors import errors, field_errors
from ..openapi import request_body
from ..protocol import AgentRequest, Response
from ..sse import SSEResponse, encoded, sse_encode, stream_answer
from ..storage.keys import validate_id
from ..turn import Agent, open_turn, run_watching
from ..wire import WireModel

router = APIRouter()
M = TypeVar("M", bound=BaseModel)

PROCESS_BODY_SCHEMA = request_body(AgentRequest)


async def get_agent(request: Request) -> Agent:
    return request.app.state.agent


AgentDep = Annotated[Agent, Depends(get_agent)]


def session_header(session_id: str) -> dict[str, str]:
    """``X-Session-Id``: the id percent-encoded (UTF-8), so that percent-decoding the header
    always gives the id back. An id of printable ASCII without ``%`` and without spaces at
    its ends (as every id this function makes is) is its own encoding and goes as it is; any
    other could not: a header value cannot carry the rest, HTTP strips the spaces at its
    ends, and a ``%`` would read as an escape (``%C3%A9`` and ``é`` would be one header)."""
    plain = (
        session_id.isascii()
        and session_id.isprintable()
        and "%" not in session_id
        and session_id.strip() == session_id
    )
    return {"X-Session-Id": session_id if plain else quote(session_id, safe="")}


def parse_body(model: type[M], body: bytes) -> M:
    """The body as ``model``; ``InvalidRequest`` (422) naming each bad field."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise InvalidRequest(
            field_errors(exc.errors(include_url=False, include_context=False), ("body",))
        ) from None


def parse_request(body: bytes) -> AgentRequest:
    """The body as an ``AgentRequest``; ``InvalidRequest`` (422) naming each bad field."""
    return parse_body(AgentRequest, body)


class StopRequest(WireModel):
    """``POST /process/stop``: the session whose running turn should stop."""

    session_id: str
    user_id: str | None = None

    @field_validator("session_id", "user_id")
    @classmethod
    def _valid_id(cls, value: str | None, info: Any) -> str | None:
        return None if value is None else validate_id(value, info.field_name)


class StopAccepted(WireModel):
    """The stop is recorded; the turn ends ``canceled`` within ``STOP_POLL_INTERVAL_S``."""

    session_id: str
    status: str = "stopping"


@router.get("/health", operation_id="health", response_model=dict[str, str], responses=errors(503))
async def health(agent: AgentDep, instance: InstanceDep) -> dict[str, str]:
    """Up when the session store reads and takes writes (503 otherwise)."""
    await instance.check_store()
    return {"status": "ok", "app": agent.app_name}


PROCESS_ANSWER = stream_answer(
    "the event stream (stream: true; each data is a response, message or content event), "
    "or the final response (stream: false)",
    Response,
)


async def process(request: Request) -> Any:
    """Run the agent on one request: SSE events, or the final response with stream=false."""
    # the request alone (a RequestRoute): FastAPI's dependency solving costs more than the
    # turn's own validation, so this hot route reads what the dependencies would give itself
    instance, principal = get_instance(request), get_principal(request)
    req = parse_request(await request.body())
    turn = await open_turn(instance, request.app.state.agent, req, principal)
    headers = session_header(turn.session_id)
    if req.stream:
        frames = encoded(turn.events(), sse_encode)
        return SSEResponse(frames, instance.settings.sse_ping_interval_s, headers, turn.ready)
    final = await run_watching(turn, request.receive)
    return JSONResponse(final.model_dump(mode="json", exclude_none=True), headers=headers)


router.add_api_route(
    "/process",
    operation_id="process",
    openapi_extra=PROCESS_BODY_SCHEMA,
    response_model=None,
    responses=errors(401, 403, 409, 413, 415, 422, 429, 503, also={200: PROCESS_ANSWER}),
    endpoint=process,
    methods=["POST"],
    route_class_override=RequestRoute,
)


@router.post(
    "/process/stop",
    operation_id="stop",
    status_code=202,
    response_model=StopAccepted,
    openapi_extra=request_body(StopRequest),
    responses=errors(401, 403, 404, 413, 415, 422, 503),
)
async def stop(request: Request, instance: InstanceDep, principal: PrincipalDep) -> StopAccepted:
    """Stop the turn running on a session, whichever instance runs it: 202 when one runs
    (it ends ``canceled``, what it said kept as ``incomplete``), 404 ``no_running_turn``."""
    body = parse_body(StopRequest, await request.body())
    user_id = principal.act_for(body.user_id, instance.settings.default_user_id)
    await instance.lock.request_stop(user_id, body.session_id)
    return StopAccepted(session_id=body.session_id)

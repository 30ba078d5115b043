"""The OpenAI Responses API at ``/compatible-mode/v1/responses`` (AgentScope Runtime's path),
so the official ``openai`` client talks to the agent::

    OpenAI(base_url="http://127.0.0.1:8090/compatible-mode/v1", api_key="...")
        .responses.create(model="any", input="What is the capital of France?")

* ``POST /responses``: ``stream: false`` answers the Response object; ``stream: true``
  the SSE events of ``responses_output.py`` (``event: <type>`` + ``data: <json>``). The
  request maps onto a turn as ``responses_input.py`` says.
* ``previous_response_id`` continues that response's conversation on its session, from
  any instance: stored responses (``services/responses.py``) say which session and where
  in it. Continuing an older response than the session's latest forks the conversation
  into a new session holding the history up to it, as the Responses API's branches do.
  ``store: false`` responses are not kept (the turn is still in its session's history).
* ``GET /responses/{id}``: a stored response of the caller's user, else 404.
* A stop (``POST /process/stop`` with the response's ``session_id``) ends the stream with
  ``response.incomplete`` (status ``cancelled``); a client that leaves stops the turn.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from ..auth import PrincipalDep, get_principal
from ..errors import ApiError, InvalidRequest
from ..function_app import InstanceDep, RequestRoute, get_instance
from ..http_errors import errors
from ..instance import Instance
from ..openapi import request_body
from ..protocol import Response, uuid4_hex
from ..sse import SSEResponse, stream_answer
from ..turn import Agent, Turn, open_turn, run_watching
from .process import parse_body, session_header

if TYPE_CHECKING:  # the Responses models load with the first Responses request
    from ..services.history import Session
    from ..services.responses import StoredResponse
    from .responses_input import ResponsesRequest
    from .responses_output import ResponsesStream

log = logging.getLogger("agentscope_faas.query")

router = APIRouter(prefix="/compatible-mode/v1")


class ResponseNotFound(ApiError):
    """No stored response with this id for this user (HTTP 404)."""

    status = 404
    code = "response_not_found"


class NotStreamable(ApiError):
    """``GET /responses/{id}?stream=true``: the Responses API replays the events of a
    response made in the background (``background: true``) only; here every response is
    answered, then stored, never made in the background (HTTP 400, as the API answers it
    for such a response)."""

    status = 400
    code = "not_streamable"


class PreviousResponseNotFound(ResponseNotFound):
    """``previous_response_id`` names no stored response of this user (HTTP 404)."""

    code = "previous_response_not_found"


def continuing(stored: StoredResponse) -> Callable[[Turn], Awaitable[None]]:
    """The ``settle`` (``turn.py``) of a turn continuing ``stored`` on its session, as the
    turn loaded it under its lease: when the conversation has gone on since the response,
    the turn moves to the fork :func:`_branch` makes."""

    async def settle(turn: Turn) -> None:
        fork = await _branch(turn.instance, turn.session, stored)
        if fork is not None:
            await turn.move(fork)

    return settle


async def branch_while_busy(instance: Instance, stored: StoredResponse, user_id: str) -> str | None:
    """For a request continuing ``stored`` whose session is busy (``SessionBusy``): the
    fork it runs on when the response is not the session's latest - a branch needs
    nothing of the turn running there - else None (the refusal stands)."""
    session = await instance.history.get_session(user_id, stored.session_id)
    fork = await _branch(instance, session, stored)
    return None if fork is None else fork.id


async def _branch(
    instance: Instance, session: Session | None, stored: StoredResponse
) -> Session | None:
    """None when ``stored`` is the latest response of ``session``; else a new session of
    the same user holding the history up to it, and the agent's state as that response's
    turn left it (its ``state_round``, as the fork's first round). ``PreviousResponseNotFound``
    when the session no longer holds its conversation (deleted)."""
    if session is None or not session.exists or len(session.messages) < stored.end:
        raise PreviousResponseNotFound(f"the conversation of {stored.response['id']!r} was deleted")
    if len(session.messages) == stored.end:
        return None
    user_id = session.user_id
    state = None
    if stored.state_round is not None:
        state = await instance.state.export_state(user_id, session.id, stored.state_round)
    fork = await instance.history.create_session(user_id, uuid4_hex())
    if state is not None:  # first: the fork is not handed out before it holds its state
        await instance.state.save_state(user_id, state, fork.id)
    await instance.history.append_message(fork, session.messages[: stored.end])
    return fork


def _echoed(body: ResponsesRequest, model: str) -> dict[str, Any]:
    """The request fields a Response object repeats."""
    return {
        "model": model,
        "instructions": body.instructions,
        "metadata": body.metadata or {},
        "tools": body.tools or [],
        "tool_choice": body.tool_choice or "auto",
        "parallel_tool_calls": body.parallel_tool_calls is not False,
        "previous_response_id": body.previous_response_id,
        "store": body.store,
        "temperature": body.temperature,
        "top_p": body.top_p,
        "max_output_tokens": body.max_output_tokens,
    }


class _Recorder:
    """The turn's ``recorder`` (``turn.py``): the final Response object, kept in the
    response store when ``store`` is on (``services/responses.py``)."""

    def __init__(self, turn: Turn, out: ResponsesStream, keep: bool):
        self.turn, self.out, self.keep = turn, out, keep

    async def __call__(self, final: Response | None, end: int) -> None:
        if final is None:  # the client left: the turn stopped, keep what it said
            final = self.turn.builder.response.model_copy(update={"status": "canceled"})
        self.out.feed(final)
        response = self.out.final
        if not self.keep or response is None:
            return
        turn = self.turn
        try:
            await turn.instance.responses.save(
                turn.user_id,
                response,
                turn.session_id,
                end,
                encoded=self.out.encode_response(response),  # as its last event has it
                state_round=turn.state_rounds.get((turn.user_id, turn.session_id)),
            )
        except Exception as exc:  # the client still gets its answer; it cannot be chained
            log.warning("could not store response %s: %s", response["id"], exc)


async def _frames(turn: Turn, out: ResponsesStream) -> AsyncIterator[bytes]:
    events = turn.events()
    held = b""
    try:
        async for event in events:
            produced = out.feed(event)  # the final: as the recorder built and kept it
            if produced:  # one write for what one turn event became (fewer, fuller chunks)
                chunk = held + out.frames(produced)
                if produced[-1]["type"] == "response.created":
                    held = chunk  # in_progress follows at once (the turn starts with both)
                    continue
                held = b""
                yield chunk
        if held:
            yield held
    finally:
        await events.aclose()  # type: ignore[attr-defined]  # an async generator


async def create_response(request: Request) -> Any:
    """Run the agent on a Responses API request: the Response, or its SSE events."""
    # the request alone (a RequestRoute), as POST /process: a hot route reads what
    # dependencies would give
    instance, principal = get_instance(request), get_principal(request)
    agent: Agent = request.app.state.agent
    from ..services.lock import SessionBusy
    from .echoes import new_messages
    from .responses_input import ResponsesRequest, agent_request
    from .responses_output import ResponsesStream

    body = parse_body(ResponsesRequest, await request.body())
    user_id = principal.act_for(body.user_id, instance.settings.default_user_id)
    session_id, stored = body.session_id, None
    if body.previous_response_id is not None:
        if session_id is not None:
            raise InvalidRequest("give previous_response_id or session_id, not both")
        stored = await instance.responses.load(user_id, body.previous_response_id)
        if stored is None:
            raise PreviousResponseNotFound(f"no stored response {body.previous_response_id!r}")
        session_id = stored.session_id
    req, instructions = agent_request(body, f"resp_{uuid4_hex()}", session_id)
    req.user_id = user_id
    settle = None if stored is None else continuing(stored)
    try:
        turn = await open_turn(instance, agent, req, principal, settle=settle)
    except SessionBusy:
        fork = None if stored is None else await branch_while_busy(instance, stored, user_id)
        if fork is None:
            raise
        req.session_id = fork
        turn = await open_turn(instance, agent, req, principal, admitted=True)
    assert turn.session is not None
    req.input = new_messages(req.input, turn.session.messages)  # not what it sent back
    if instructions is not None:
        turn.unsaved.add(instructions.id)
    out = ResponsesStream(
        turn.response_id, _echoed(body, body.model or agent.app_name), agent.app_name
    )
    turn.recorder = _Recorder(turn, out, body.store)
    headers = session_header(turn.session_id)
    if body.stream:
        frames = _frames(turn, out)
        return SSEResponse(frames, instance.settings.sse_ping_interval_s, headers, turn.ready)
    await run_watching(turn, request.receive, out.feed)
    return JSONResponse(out.final, headers=headers)


router.add_api_route(
    "/responses",
    operation_id="create_response",
    response_model=None,
    openapi_extra=request_body(f"{__package__}.responses_input:ResponsesRequest"),
    responses=errors(
        401,
        403,
        404,
        409,
        413,
        415,
        422,
        429,
        503,
        also={
            200: stream_answer(
                "the Response (stream: false) or its events (stream: true; each data is an "
                "event the event name says)"
            )
        },
    ),
    endpoint=create_response,
    methods=["POST"],
    route_class_override=RequestRoute,
)


@router.get(
    "/responses/{response_id}",
    operation_id="retrieve_response",
    responses=errors(400, 401, 403, 404, 422, 503),
)
async def retrieve_response(
    response_id: str,
    instance: InstanceDep,
    principal: PrincipalDep,
    user_id: str | None = Query(default=None, description="an admin acting for this user"),
    stream: bool = Query(
        default=False, description="replay its events: 400, no response is made in the background"
    ),
) -> dict[str, Any]:
    """A stored response of the caller's user (``store: true``), else 404."""
    user = principal.act_for(user_id, instance.settings.default_user_id)
    stored = await instance.responses.load(user, response_id)
    if stored is None:
        raise ResponseNotFound(f"no stored response {response_id!r}")
    if stream:
        raise NotStreamable(
            f"response {response_id!r} was not created with background: true, so its events "
            "cannot be replayed (this API makes no response in the background): retrieve it "
            "without stream"
        )
    return stored.response

"""How a launcher gives a sandbox's tool server its token: the one-time claim.

The tool server starts with no secret (none is in the container's environment, where code in
the sandbox could read it) and takes the first ``POST /claim`` bearer token as its own. The
launcher claims it right after the start, before the sandbox's id is known to anyone but this
function, so the first claim is always ours; a server claimed by someone else is refused
(never used). A repeat of our own claim answers 200 again, so a claim whose answer was lost
can simply be sent again.

The token rides in ``Authorization: Bearer``, except behind a gateway that checks its own
signature in ``Authorization`` (an FC HTTP trigger with ``function`` auth): there it rides in
``TOKEN_HEADER``, which the tool server accepts as well (``token_headers``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..errors import LaunchError

CLAIM_PATH = "/claim"
TOKEN_HEADER = "X-Agentscope-Sandbox-Token"  # the tool server's TOKEN_HEADER
# the tool server's verdicts (its {"code"}): anything else is no answer from it yet
_REFUSALS = ("already_claimed", "invalid_token")
UNCLAIMED = "unclaimed"  # its 401 to any route but the claim until it has a token


class ClaimRefused(LaunchError):
    """The tool server refused our claim: another token holds it, or ours is malformed."""


@dataclass(frozen=True)
class NotYet:
    """Why a claim did not hold: no answer (``status`` None), or one not from the tool server."""

    status: int | None
    reason: str

    def __str__(self) -> str:
        return self.reason


def token_headers(token: str, *, signed: bool = False) -> dict[str, str]:
    """The headers that carry a sandbox's token to its tool server; ``signed``: the request
    is signed for a gateway that takes ``Authorization`` (the token goes in ``TOKEN_HEADER``)."""
    return {TOKEN_HEADER: token} if signed else {"Authorization": f"Bearer {token}"}


async def claim(
    http: Any, endpoint: str, token: str, headers: dict[str, str], *, signed: bool = False
) -> NotYet | None:
    """Send the claim once through ``http`` (an ``httpx.AsyncClient``, which signs it when
    ``signed``).

    None when the server holds ``token`` now; otherwise why not yet (no connection, or an
    answer that is not the tool server's, such as a gateway's while the instance starts),
    worth another try until the launcher's deadline. Raises ``ClaimRefused``. The token is
    sent in a header only (``token_headers``) and appears in no message.
    """
    import httpx

    try:
        answer = await http.post(
            f"{endpoint}{CLAIM_PATH}", headers={**headers, **token_headers(token, signed=signed)}
        )
    except httpx.TransportError as exc:
        return NotYet(None, f"no answer ({type(exc).__name__})")
    if answer.status_code == 200:
        return None
    try:
        code = answer.json().get("code")
    except (ValueError, AttributeError):
        code = None
    if code in _REFUSALS:
        raise ClaimRefused(
            f"the sandbox's tool server refused its launcher's claim ({answer.status_code} "
            f"{code}); the sandbox is not used"
        )
    return NotYet(answer.status_code, f"HTTP {answer.status_code}")


def restarted_unclaimed(status: int, body: bytes) -> bool:
    """Whether a tool server's answer says it has no token: 401 ``unclaimed``.

    Every sandbox is claimed before anyone learns its id, so such an answer to a call made
    with its token comes from another instance at its address, started afresh (FC starts a
    new session for an affinity id it has forgotten): the sandbox itself is gone.
    """
    if status != 401:
        return False
    try:
        data = json.loads(body)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("code") == UNCLAIMED

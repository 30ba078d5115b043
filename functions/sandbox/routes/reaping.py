"""``POST /v1/reaper/run``: end expired sandboxes and orphaned containers, forget those no
longer running (a timer trigger, or an operator; admins only: a round lists every sandbox
of the deployment)."""

from typing import Any

from fastapi import APIRouter

from functions.runtime.auth import PrincipalDep
from functions.runtime.http_errors import errors

from ..deps import Service
from ..models import Reaped

router = APIRouter()


@router.post(
    "/v1/reaper/run",
    operation_id="run_reaper",
    response_model=Reaped,
    responses=errors(401, 403, 503),
)
async def reap(service: Service, principal: PrincipalDep) -> Any:
    principal.require_admin("running the reaper")
    done = await service.reap()
    return Reaped(expired=done.expired, orphans=done.orphans, gone=done.gone)

"""The sandbox function's instance (store, launcher, the sandbox service, an HTTP client)
and how routes reach it."""

from functools import cached_property
from typing import Annotated

from fastapi import Depends, Request

from functions.runtime.auth import Forbidden, Principal
from functions.runtime.instance import Instance

from .registry import SandboxRecord
from .service import SandboxService


class SandboxInstance(Instance):
    @cached_property
    def service(self) -> SandboxService:
        return SandboxService(self.store, self.launcher, self.settings)

    async def close(self) -> None:
        service = self.__dict__.pop("service", None)
        if service is not None:
            await service.close()
        await super().close()


async def get_instance(request: Request) -> SandboxInstance:
    return request.app.state.instance


async def get_service(
    instance: Annotated[SandboxInstance, Depends(get_instance)],
) -> SandboxService:
    return instance.service


SandboxInstanceDep = Annotated[SandboxInstance, Depends(get_instance)]
Service = Annotated[SandboxService, Depends(get_service)]


def check_owner(record: SandboxRecord, principal: Principal) -> SandboxRecord:
    """``record`` if ``principal`` may use it; ``Forbidden`` (403) for another user's."""
    if not principal.may_access(record.user_id):
        raise Forbidden(f"sandbox {record.id!r} belongs to another user")
    return record

"""The emulator's behaviour: templates, and sandboxes that are Docker containers.

A template names an image (``containerConfiguration.image``), the port its server listens on
and the environment every sandbox of it gets. A sandbox is one container of that image, run
by ``DockerLauncher.run_image`` with the same hardening as every other sandbox here. Its
lifecycle follows AgentRun's: READY while running, PAUSED after PauseSandbox (``docker
pause``), TERMINATED after StopSandbox, after ``sandboxIdleTimeoutSeconds`` without a data
plane call, or when its container died; DeleteSandbox removes it whatever its state.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from functions.runtime.sandbox.errors import LaunchError
from functions.runtime.sandbox.launchers.docker import DockerLauncher
from functions.runtime.settings import Settings

from .exceptions import (
    AlreadyExists,
    NotFound,
    QuotaExceeded,
    Throttled,
    ValidationFailed,
    WrongState,
)

NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,127}$")
SANDBOX_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
LABEL_EMULATOR = "agentscope-faas.agentrun-emulator"
SERVED_PORT = 8000  # the one port run_image publishes
DEFAULT_IDLE_S = 1800


def iso_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Template:
    name: str
    template_type: str
    image: str
    cpu: float
    memory: int
    environment: dict[str, str]
    idle_timeout_s: int
    command: list[str] | None = None
    template_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_at: str = field(default_factory=iso_now)

    def to_api(self, region: str, account: str) -> dict[str, Any]:
        return {
            "templateName": self.name,
            "templateId": self.template_id,
            "templateType": self.template_type,
            "templateArn": f"acs:agentrun:{region}:{account}:templates/{self.name}",
            "containerConfiguration": {
                "image": self.image,
                "port": SERVED_PORT,
                **({"command": self.command} if self.command else {}),
            },
            "cpu": self.cpu,
            "memory": self.memory,
            "environmentVariables": dict(self.environment),
            "sandboxIdleTimeoutInSeconds": self.idle_timeout_s,
            "status": "READY",
            "createdAt": self.created_at,
            "lastUpdatedAt": self.created_at,
        }


@dataclass
class Sandbox:
    sandbox_id: str
    template: Template
    idle_timeout_s: int
    container: Any
    port: int
    access_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    status: str = "READY"
    created_at: str = field(default_factory=iso_now)
    last_updated_at: str = field(default_factory=iso_now)
    ended_at: str | None = None
    last_active: float = field(default_factory=time.monotonic)
    # PauseSandbox and ResumeSandbox one at a time: racing ones see each other's status
    steps: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    def to_api(self, region: str, account: str) -> dict[str, Any]:
        out = {
            "sandboxId": self.sandbox_id,
            "sandboxArn": f"acs:agentrun:{region}:{account}:sandboxes/{self.sandbox_id}",
            "templateName": self.template.name,
            "templateId": self.template.template_id,
            "status": self.status,
            "sandboxIdleTimeoutSeconds": self.idle_timeout_s,
            "createdAt": self.created_at,
            "lastUpdatedAt": self.last_updated_at,
        }
        if self.ended_at:
            out["endedAt"] = self.ended_at
        return out

    def touch(self, status: str | None = None) -> None:
        if status:
            self.status = status
        self.last_updated_at = iso_now()


MISSING: Any = object()  # a Fault's ``data``: the answer has no ``data`` field at all


@dataclass
class Fault:
    """A control-plane answer that goes wrong on purpose, for tests of what a caller does
    when the network or the service misbehaves: the action is done, then its answer is lost
    (``lose``: AgentRun's 500 error body in its place, as when a gateway drops the answer
    after the service did the work) or its ``data`` replaced (``data``; ``MISSING`` drops
    the field), in the same ``{code: "SUCCESS", requestId, data}`` envelope, or the whole
    body replaced by ``raw`` (what a gateway or a cut connection may leave of it)."""

    action: str
    times: int = 1
    lose: bool = False
    data: Any = None
    raw: bytes | None = None


class RateLimit:
    """A token bucket: ``burst`` calls at once, then ``per_s`` a second."""

    def __init__(self, burst: float, per_s: float) -> None:
        self.burst, self.per_s = burst, per_s
        self.tokens, self.at = burst, time.monotonic()

    def take(self, action: str) -> None:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.per_s)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return
        wait_ms = int((1 - self.tokens) / self.per_s * 1000) if self.per_s > 0 else 60_000
        raise Throttled(f"{action} is throttled: too many requests; retry later", wait_ms)


class AgentRunBackend:
    """Templates and sandboxes of one account in one region, in memory."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        region: str = "cn-hangzhou",
        account_id: str = "1234567890123456",
        rate_limits: dict[str, tuple[float, float]] | None = None,
        max_sandboxes: int | None = None,
    ) -> None:
        self.region, self.account_id = region, account_id
        self.emulator_id = uuid.uuid4().hex[:12]
        self.docker = DockerLauncher(settings or Settings(), owner=f"agentrun-{self.emulator_id}")
        self.rate_limits = {a: RateLimit(*v) for a, v in (rate_limits or {}).items()}
        self.max_sandboxes = max_sandboxes
        self.templates: dict[str, Template] = {}
        self.sandboxes: dict[str, Sandbox] = {}
        self._lock = asyncio.Lock()
        self._starting: set[str] = set()
        self.faults: list[Fault] = []

    def inject(self, fault: Fault) -> None:
        """Answer the next ``fault.times`` calls of ``fault.action`` wrongly (``Fault``)."""
        self.faults.append(fault)

    def take_fault(self, action: str, *, failed: bool = False) -> Fault | None:
        """The fault for this answer of ``action``, counted; a failed action's answer can
        only be lost (a wrong ``data`` is a success's)."""
        for fault in self.faults:
            if fault.action == action and fault.times > 0 and (fault.lose or not failed):
                fault.times -= 1
                return fault
        return None

    def throttle(self, action: str) -> None:
        limit = self.rate_limits.get(action)
        if limit is not None:
            limit.take(action)

    # -- templates ---------------------------------------------------------------------

    def create_template(self, body: dict[str, Any]) -> Template:
        name = body.get("templateName") or ""
        if not NAME.match(name):
            raise ValidationFailed(f"templateName {name!r} is not valid")
        if name in self.templates:
            raise AlreadyExists("template", name)
        for required in ("templateType", "cpu", "memory"):
            if body.get(required) in (None, ""):
                raise ValidationFailed(f"{required} is required")
        container = body.get("containerConfiguration") or {}
        if not container.get("image"):
            raise ValidationFailed(
                "containerConfiguration.image is required: the emulator runs only custom images"
            )
        if container.get("port") not in (None, SERVED_PORT):
            raise ValidationFailed(f"the emulator serves containerConfiguration.port {SERVED_PORT}")
        env = body.get("environmentVariables") or {}
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
            raise ValidationFailed("environmentVariables must map strings to strings")
        template = Template(
            name=name,
            template_type=str(body["templateType"]),
            image=container["image"],
            command=container.get("command"),
            cpu=float(body["cpu"]),
            memory=int(body["memory"]),
            environment=env,
            idle_timeout_s=int(body.get("sandboxIdleTimeoutInSeconds") or DEFAULT_IDLE_S),
        )
        self.templates[name] = template
        return template

    def get_template(self, name: str) -> Template:
        template = self.templates.get(name)
        if template is None:
            raise NotFound("template", name)
        return template

    def list_templates(self, name: str | None = None) -> list[Template]:
        return [t for t in self.templates.values() if name is None or t.name == name]

    def delete_template(self, name: str) -> Template:
        template = self.get_template(name)
        if any(
            s.template is template and s.status != "TERMINATED" for s in self.sandboxes.values()
        ):
            raise WrongState(f"template {name} still has sandboxes; delete them first")
        return self.templates.pop(name)

    # -- sandboxes ---------------------------------------------------------------------

    async def create_sandbox(self, body: dict[str, Any]) -> Sandbox:
        template = self.get_template(body.get("templateName") or "")
        sandbox_id = body.get("sandboxId") or f"sb-{uuid.uuid4().hex}"
        if not SANDBOX_ID.match(sandbox_id):
            raise ValidationFailed(f"sandboxId {sandbox_id!r} is not valid")
        idle = body.get("sandboxIdleTimeoutSeconds") or body.get("sandboxIdleTimeoutInSeconds")
        idle_s = int(idle or template.idle_timeout_s)
        if idle_s <= 0:
            raise ValidationFailed("sandboxIdleTimeoutSeconds must be positive")
        async with self._lock:  # reserve the id and the quota slot, then start unlocked
            if sandbox_id in self.sandboxes or sandbox_id in self._starting:
                raise AlreadyExists("sandbox", sandbox_id)
            running = len(self._starting) + sum(
                s.status != "TERMINATED" for s in self.sandboxes.values()
            )
            if self.max_sandboxes is not None and running >= self.max_sandboxes:
                raise QuotaExceeded(
                    f"the account runs {running} sandboxes, its quota is {self.max_sandboxes}"
                )
            self._starting.add(sandbox_id)
        try:
            container, port = await asyncio.to_thread(
                self.docker.run_image,
                template.image,
                name=f"agentrun-{self.emulator_id}-{sandbox_id}",
                environment={**template.environment, "AGENTRUN_SANDBOX_ID": sandbox_id},
                labels={LABEL_EMULATOR: self.emulator_id},
            )
        except LaunchError as exc:
            raise ValidationFailed(f"template {template.name} cannot start: {exc}") from exc
        finally:
            self._starting.discard(sandbox_id)
        sandbox = Sandbox(sandbox_id, template, idle_s, container, port)
        self.sandboxes[sandbox_id] = sandbox
        return sandbox

    async def get_sandbox(self, sandbox_id: str) -> Sandbox:
        sandbox = self.sandboxes.get(sandbox_id)
        if sandbox is None:
            raise NotFound("sandbox", sandbox_id)
        if sandbox.status in ("READY", "PAUSED") and not await self._container_up(sandbox):
            await self._terminate(sandbox)  # its container died under it
        return sandbox

    async def list_sandboxes(
        self, template_name: str | None = None, status: str | None = None
    ) -> list[Sandbox]:
        out = []
        for sandbox in list(self.sandboxes.values()):
            await self.get_sandbox(sandbox.sandbox_id)
            if template_name and sandbox.template.name != template_name:
                continue
            if status and sandbox.status != status:
                continue
            out.append(sandbox)
        return sorted(out, key=lambda s: s.created_at)

    async def stop_sandbox(self, sandbox_id: str) -> Sandbox:
        sandbox = await self.get_sandbox(sandbox_id)
        await self._terminate(sandbox)
        return sandbox

    async def delete_sandbox(self, sandbox_id: str) -> Sandbox:
        sandbox = await self.get_sandbox(sandbox_id)
        await self._terminate(sandbox)
        self.sandboxes.pop(sandbox_id, None)
        return sandbox

    async def pause_sandbox(self, sandbox_id: str) -> Sandbox:
        """READY -> PAUSED. Any other status is a 409 conflict, PAUSED too: no document
        says what AgentRun answers to pausing a paused sandbox, so callers must take it."""
        sandbox = await self.get_sandbox(sandbox_id)
        async with sandbox.steps:
            if sandbox.status != "READY":
                raise WrongState(f"sandbox {sandbox_id} is {sandbox.status}, not READY")
            await asyncio.to_thread(sandbox.container.pause)
            sandbox.touch("PAUSED")
        return sandbox

    async def resume_sandbox(self, sandbox_id: str) -> Sandbox:
        """PAUSED -> READY; any other status (READY too) is a 409 conflict, as for pauses."""
        sandbox = await self.get_sandbox(sandbox_id)
        async with sandbox.steps:
            if sandbox.status != "PAUSED":
                raise WrongState(f"sandbox {sandbox_id} is {sandbox.status}, not PAUSED")
            await asyncio.to_thread(sandbox.container.unpause)
            sandbox.touch("READY")
            sandbox.last_active = time.monotonic()
        return sandbox

    def access_token(self, resource_id: str | None, resource_type: str | None) -> str:
        if (resource_type or "").lower() != "sandbox" or not resource_id:
            raise ValidationFailed("the emulator issues tokens for resourceType=sandbox only")
        sandbox = self.sandboxes.get(resource_id)
        if sandbox is None:
            raise NotFound("sandbox", resource_id)
        return sandbox.access_token

    async def reap_idle(self) -> int:
        """TERMINATE running sandboxes idle longer than their timeout; how many."""
        now = time.monotonic()
        idle = [
            s
            for s in list(self.sandboxes.values())
            if s.status == "READY" and now - s.last_active > s.idle_timeout_s
        ]
        for sandbox in idle:
            await self._terminate(sandbox)
        return len(idle)

    async def close(self) -> None:
        """Remove every container this emulator started."""
        for sandbox in list(self.sandboxes.values()):
            await self._terminate(sandbox)
        self.sandboxes.clear()

    async def _container_up(self, sandbox: Sandbox) -> bool:
        import docker

        try:
            await asyncio.to_thread(sandbox.container.reload)
        except docker.errors.NotFound:
            return False
        return sandbox.container.status in ("running", "paused")

    async def _terminate(self, sandbox: Sandbox) -> None:
        if sandbox.status == "TERMINATED":
            return
        await self.docker.stop(sandbox.container.id)
        sandbox.touch("TERMINATED")
        sandbox.ended_at = sandbox.last_updated_at

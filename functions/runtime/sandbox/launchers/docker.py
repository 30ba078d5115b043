"""Sandboxes as containers on a Docker engine (local runs, the emulator, embedded mode).

Every container gets the security defaults whatever the image says: a non-root user, no
capabilities, no-new-privileges, a read-only root with tmpfs /workspace and /tmp, memory,
CPU and pids limits, and its port published on 127.0.0.1 only. Each carries labels naming
the deployment that owns it (a hash of its STORE_URL), so the reaper removes only
containers this deployment started and never anyone else's.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Any

from ...settings import Settings, sandbox_image
from .. import desktop
from .base import Launched, LaunchError

LABEL_OWNER = "agentscope-faas.owner"
LABEL_SANDBOX = "agentscope-faas.sandbox-id"
LABEL_TYPE = "agentscope-faas.sandbox-type"
TOOL_PORT = "8000/tcp"
_POLL_S = 0.05


def _created(container: Any) -> float:
    """When the container was created, as a Unix time (Docker gives RFC 3339, nanoseconds)."""
    from datetime import datetime

    stamp = container.attrs.get("Created", "")
    head, _, frac = stamp.rstrip("Z").partition(".")
    try:
        whole = datetime.fromisoformat(head + "+00:00").timestamp()
    except ValueError:
        return 0.0
    return whole + float(f"0.{frac[:6] or 0}")


def _published(container: Any, port: int) -> str | None:
    """``http://127.0.0.1:<host port>`` of a published container port, None when unpublished."""
    bindings = (container.attrs["NetworkSettings"]["Ports"] or {}).get(f"{port}/tcp") or []
    return f"http://127.0.0.1:{bindings[0]['HostPort']}" if bindings else None


def owner_id(settings: Settings) -> str:
    """Who owns a container: the deployment, known by its state store."""
    return hashlib.sha256(settings.store_url.encode()).hexdigest()[:16]


class DockerLauncher:
    name = "docker"
    ends_idle = False

    def __init__(self, settings: Settings, owner: str | None = None) -> None:
        self.settings = settings
        # embedded sandboxes (the SDK without SANDBOX_URL) are nobody's: no reaper takes them
        self.owner = owner or owner_id(settings)
        self._client: Any = None

    def client(self) -> Any:
        if self._client is None:
            import docker  # heavy: only a function that launches containers pays for it

            try:
                self._client = docker.from_env()
            except docker.errors.DockerException as exc:
                raise LaunchError(f"no Docker engine reachable: {exc}") from exc
        return self._client

    def run_options(
        self,
        *,
        name: str,
        environment: dict[str, str],
        labels: dict[str, str],
        port: str = TOOL_PORT,
        sandbox_type: str | None = None,
    ) -> dict[str, Any]:
        """``containers.run`` keywords: the security defaults around what the caller names."""
        s = self.settings
        options = {
            "detach": True,
            "name": name,
            "environment": environment,
            "labels": {LABEL_OWNER: self.owner, **labels},
            "user": "1000:1000",
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges:true"],
            "read_only": True,
            # no docker-init: the tool server is PID 1 and reaps (docker-init would hold the
            # token in its environment, readable by user code at /proc/1/environ)
            "init": False,
            "tmpfs": {
                "/tmp": "rw,nosuid,nodev,size=64m",
                "/home/sandbox": "rw,nosuid,nodev,size=64m,uid=1000,gid=1000",
                "/workspace": f"rw,nosuid,nodev,size={s.sandbox_workspace_size},uid=1000,gid=1000",
            },
            "mem_limit": s.sandbox_memory,
            "nano_cpus": int(s.sandbox_cpus * 1e9),
            "pids_limit": s.sandbox_pids_limit,
            "ports": {port: ("127.0.0.1", None)},
        }
        # desktop sandboxes (browser, gui): bigger tmpfs and shm, the live-view port
        return desktop.docker_run_extras(sandbox_type, options) if sandbox_type else options

    def run_image(
        self,
        image: str,
        *,
        name: str,
        environment: dict[str, str],
        labels: dict[str, str],
        port: int = 8000,
        sandbox_type: str | None = None,
    ) -> tuple[Any, int]:
        """Run ``image`` hardened; return the container and ``port``'s host port on 127.0.0.1.

        Blocking: call it in a thread. Also what the local FC and AgentRun emulators use to
        run a function's container, so every sandbox gets the same defaults.
        """
        container_port = f"{port}/tcp"
        import docker

        client = self.client()
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            raise LaunchError(f"image {image} is not built; run `make images`") from None
        container = client.containers.run(
            image,
            **self.run_options(
                name=name,
                environment=environment,
                labels=labels,
                port=container_port,
                sandbox_type=sandbox_type,
            ),
        )
        try:
            container.reload()
            ports = container.attrs["NetworkSettings"]["Ports"] or {}
            bindings = ports.get(container_port) or []
            if not bindings:
                raise LaunchError(f"container {container.short_id} published no port")
            return container, int(bindings[0]["HostPort"])
        except BaseException:
            container.remove(force=True)
            raise

    async def start(
        self,
        sandbox_type: str,
        sandbox_id: str,
        token: str,
        idle_timeout_s: float | None = None,  # the reaper ends it, by the registry's record
    ) -> Launched:
        container, port = await asyncio.to_thread(
            self.run_image,
            sandbox_image(sandbox_type, self.settings),
            name=f"asf-{sandbox_id}",
            environment={"TOOLSERVER_TOKEN": token},
            labels={LABEL_SANDBOX: sandbox_id, LABEL_TYPE: sandbox_type},
            sandbox_type=sandbox_type,
        )
        endpoint = f"http://127.0.0.1:{port}"
        try:
            await self.wait_ready(container, endpoint, {"Authorization": f"Bearer {token}"})
        except BaseException:
            await asyncio.to_thread(container.remove, force=True)
            raise
        return Launched(
            handle=container.id,
            endpoint=endpoint,
            desktop_endpoint=_published(container, desktop.LIVE_VIEW_PORT),
        )

    async def wait_ready(
        self,
        container: Any,
        endpoint: str,
        headers: dict[str, str],
        *,
        any_answer: bool = False,
    ) -> None:
        """Poll the tool server's /healthz until it answers 200; fail fast if the container dies.

        ``any_answer``: any HTTP answer will do (the server listens), for a caller without the
        token, as FC's instance start is (it only waits for the port).
        """
        import httpx

        deadline = time.monotonic() + self.settings.sandbox_ready_timeout_s
        async with httpx.AsyncClient(timeout=2.0) as http:
            while True:
                try:
                    status = (await http.get(f"{endpoint}/healthz", headers=headers)).status_code
                    if status == 200 or any_answer:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.to_thread(container.reload)
                if container.status in ("exited", "dead"):
                    logs = (await asyncio.to_thread(container.logs, tail=20)).decode(
                        errors="replace"
                    )
                    raise LaunchError(f"sandbox container exited before it was ready: {logs}")
                if time.monotonic() > deadline:
                    raise LaunchError("sandbox tool server did not become ready in time")
                await asyncio.sleep(_POLL_S)

    async def stop(self, handle: str) -> None:
        import docker

        def remove() -> None:
            try:
                self.client().containers.get(handle).remove(force=True)
            except docker.errors.NotFound:
                pass

        await asyncio.to_thread(remove)

    async def alive(self, handle: str) -> bool:
        import docker

        def status() -> bool:
            try:
                return self.client().containers.get(handle).status in ("running", "paused")
            except docker.errors.NotFound:
                return False

        return await asyncio.to_thread(status)

    async def pause(self, handle: str) -> None:
        """``docker pause``: the cgroup freezer keeps memory and files; nothing runs."""
        await self._container_step(handle, "pause")

    async def resume(self, handle: str) -> None:
        await self._container_step(handle, "unpause")

    async def _container_step(self, handle: str, step: str) -> None:
        import docker

        def run() -> None:
            try:
                getattr(self.client().containers.get(handle), step)()
            except docker.errors.NotFound:
                raise LaunchError(f"container {handle[:12]} is gone") from None
            except docker.errors.APIError as exc:
                raise LaunchError(f"docker {step} failed: {exc.explanation}") from None

        await asyncio.to_thread(run)

    async def owned(self) -> dict[str, tuple[str, float]]:
        def listing() -> dict[str, tuple[str, float]]:
            found = self.client().containers.list(
                all=True, filters={"label": f"{LABEL_OWNER}={self.owner}"}
            )
            return {c.id: (c.labels.get(LABEL_SANDBOX, ""), _created(c)) for c in found}

        return await asyncio.to_thread(listing)

"""Sandboxes as containers on a Docker engine (local runs, the emulator, embedded mode).

Every container gets the security defaults whatever the image says: a non-root user, no
capabilities, no-new-privileges, a read-only root with tmpfs /workspace and /tmp, memory,
CPU and pids limits, and its port published on 127.0.0.1 only. Each carries labels naming
the deployment that owns it (a hash of its STORE_URL), so the reaper removes only
containers this deployment started and never anyone else's.

Each runs on the sandboxes' own bridge network, walled off from the other sandboxes, the
host and the metadata addresses, and from everything without internet access
(``docker_network``). Its environment holds no secret: the launcher claims the tool server
with the sandbox's token right after the start (``claim``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
import threading
import time
import uuid
from typing import Any

from ...settings import Settings, sandbox_image
from .. import desktop
from ..errors import LaunchError
from .base import Launched, Launcher
from .claim import claim
from .docker_network import ensure_network

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


def _remove_when_made(running: asyncio.Future) -> None:
    """Remove the container a cancelled start's thread made, in a thread of its own (a done
    callback of that thread's future: it runs whatever became of the start's task)."""
    if running.cancelled() or running.exception() is not None:
        return  # nothing made (or the loop is closing: the reaper ends what was)
    made = running.result()[0]
    threading.Thread(target=_remove_quietly, args=(made,), daemon=True).start()


def _remove_quietly(container: Any) -> None:
    with contextlib.suppress(Exception):
        container.remove(force=True)


def _published(container: Any, port: int) -> str | None:
    """``http://127.0.0.1:<host port>`` of a published container port, None when unpublished."""
    bindings = (container.attrs["NetworkSettings"]["Ports"] or {}).get(f"{port}/tcp") or []
    return f"http://127.0.0.1:{bindings[0]['HostPort']}" if bindings else None


def owner_id(settings: Settings) -> str:
    """Who owns a container: the deployment, known by its state store - the store itself,
    not its URL as typed: two checkouts on the default ``file://.data/store`` are two
    deployments (a file store is its absolute folder), as are two emulators' own S3 or OSS
    servers (a bucket is named with its endpoint), and a ``memory://`` store is its
    process's alone. A reaper ends only the containers of its own deployment."""
    scheme, _, rest = settings.store_url.partition("://")
    if scheme == "file":
        where = "file://" + os.path.realpath(os.path.expanduser(rest))
    elif scheme == "s3":
        where = f"{settings.store_url} at {settings.s3_endpoint_url or 'aws'}"
    elif scheme == "oss":
        where = f"{settings.store_url} at {settings.oss_endpoint or ''}"
    else:
        where = f"{settings.store_url} in {_PROCESS}"
    return hashlib.sha256(where.encode()).hexdigest()[:16]


# this process, among every process on every host (a memory:// store lives and dies in it)
_PROCESS = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"


class DockerLauncher(Launcher):
    name = "docker"
    can_pause = True

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
            "init": True,  # a real PID 1 reaps what user code leaves behind
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
        internet_access: bool | None = None,
        sandbox_type: str | None = None,
    ) -> tuple[Any, int]:
        """Run ``image`` hardened; return the container and ``port``'s host port on 127.0.0.1.

        Blocking: call it in a thread. Also what the local FC and AgentRun emulators use to
        run a function's container, so every sandbox gets the same defaults.
        ``internet_access``: None is SANDBOX_INTERNET_ACCESS. ``sandbox_type`` (None: the
        image's ``agentscope-faas.sandbox-type`` label, so the FC and AgentRun emulators'
        containers get the same): a desktop type gets its extras (``desktop.docker_run_extras``).
        """
        container_port = f"{port}/tcp"
        import docker

        client = self.client()
        try:
            found = client.images.get(image)
        except docker.errors.ImageNotFound:
            raise LaunchError(f"image {image} is not built; run `make images`") from None
        if sandbox_type is None:  # a platform emulator knows the image only: it names its type
            sandbox_type = ((found.attrs.get("Config") or {}).get("Labels") or {}).get(LABEL_TYPE)
        options = self.run_options(
            name=name,
            environment=environment,
            labels=labels,
            port=container_port,
            sandbox_type=sandbox_type,
        )
        if internet_access is None:
            internet_access = self.settings.sandbox_internet_access
        options["network"] = ensure_network(client, self.settings, internet_access).name
        container = client.containers.run(image, **options)
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
        running = asyncio.ensure_future(
            asyncio.to_thread(
                self.run_image,
                sandbox_image(sandbox_type, self.settings),
                name=f"asf-{sandbox_id}",
                environment={
                    "SANDBOX_MAX_CALL_TIMEOUT_S": f"{self.settings.sandbox_max_call_timeout_s:g}"
                },
                labels={LABEL_SANDBOX: sandbox_id, LABEL_TYPE: sandbox_type},
                sandbox_type=sandbox_type,
            )
        )
        try:
            container, port = await asyncio.shield(running)
        except asyncio.CancelledError:
            # the thread goes on and makes the container anyway: remove it once it exists,
            # so a start cancelled (a shutdown, a caller gone) leaves nothing unrecorded
            try:
                made, _ = await asyncio.shield(running)
            except asyncio.CancelledError:
                # cancelled again: an anyio cancel scope (the MCP SDK's task groups) cancels
                # at every await until its task ends, so the removal cannot be awaited here;
                # it follows the thread's end instead
                running.add_done_callback(_remove_when_made)
                raise
            except Exception:
                made = None  # the thread failed: nothing was made
            if made is not None:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(made.remove, force=True)
            raise
        endpoint = f"http://127.0.0.1:{port}"
        try:
            await self.wait_ready(container, endpoint, token=token)
        except BaseException:
            await asyncio.to_thread(container.remove, force=True)
            raise
        return Launched(
            handle=container.id,
            endpoint=endpoint,
            desktop_endpoint=_published(container, desktop.LIVE_VIEW_PORT),
        )

    async def wait_ready(self, container: Any, endpoint: str, *, token: str | None = None) -> None:
        """Poll the tool server until it is ready; fail fast if the container dies.

        With ``token``: until it has claimed the tool server with it (``claim``). Without:
        until any HTTP answer comes (the server listens), as FC's instance start waits only
        for the port.
        """
        import httpx

        deadline = time.monotonic() + self.settings.sandbox_ready_timeout_s
        async with httpx.AsyncClient(timeout=2.0) as http:
            while True:
                if token is not None:
                    if await claim(http, endpoint, token, {}) is None:
                        return
                else:
                    try:
                        await http.get(f"{endpoint}/healthz")
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
            except docker.errors.APIError as exc:
                if exc.status_code != 409:  # 409: another caller's removal is under way
                    raise

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
                container = self.client().containers.get(handle)
                try:
                    getattr(container, step)()
                except docker.errors.APIError:
                    container.reload()  # a racing step got there first: done, as asked
                    state = container.attrs.get("State", {})
                    # (an exited container is not paused either: that is no resume)
                    if state.get("Running") and state.get("Paused") == (step == "pause"):
                        return
                    raise
            except docker.errors.NotFound:
                raise LaunchError("its container is gone") from None
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

"""A warm pool's launch asks the sandbox's tool server whether its desktop is up
(``SandboxService._until_warm``, ``GET /ready``): a start that failed is logged with the
tool server's reasons, not taken for warm and not mistaken for a slow one.

The tool server is the real one, run on this machine with the ``gui`` tool set and no X
server on its ``PATH``: its desktop cannot start, as a sandbox's cannot when its display
fails. The launcher here starts that process; the store is a folder.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from functions.runtime.sandbox.launchers import Launched, Launcher
from functions.runtime.sandbox.launchers.claim import claim
from functions.runtime.settings import Settings
from functions.runtime.storage import open_store
from functions.sandbox.service import SandboxService
from tests.fixtures.servers import free_port, wait_http
from tests.toolserver.conftest import toolserver_env


class HostToolServers(Launcher):
    """Each sandbox a tool server process on this machine, its desktop bound to fail."""

    name = "host"

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    async def start(self, sandbox_type, sandbox_id, token, idle_timeout_s=None) -> Launched:
        port = free_port()
        no_x = self.tmp_path / "empty-path"
        no_x.mkdir(exist_ok=True)
        env = toolserver_env(
            self.tmp_path / sandbox_id, port, TOOLSERVER_TOOLSETS="gui", PATH=str(no_x)
        )
        argv = [sys.executable, "-m", "toolserver"]
        proc = await asyncio.to_thread(subprocess.Popen, argv, env=env)
        self.procs[sandbox_id] = proc
        endpoint = f"http://127.0.0.1:{port}"
        await asyncio.to_thread(wait_http, endpoint + "/healthz", proc)
        async with httpx.AsyncClient() as http:
            assert await claim(http, endpoint, token, {}) is None
        return Launched(handle=sandbox_id, endpoint=endpoint)

    async def stop(self, handle: str) -> None:
        proc = self.procs.pop(handle, None)
        if proc is not None:
            proc.terminate()
            await asyncio.to_thread(proc.wait, 10)

    async def alive(self, handle: str) -> bool:
        return handle in self.procs

    async def owned(self) -> dict[str, tuple[str, float]]:
        return {}


def test_a_pooled_desktop_whose_start_failed_is_logged_with_why(tmp_path, caplog):
    launcher = HostToolServers(tmp_path)
    settings = Settings(store_url=f"file://{tmp_path}/store", sandbox_ready_timeout_s=30)
    service = SandboxService(open_store(settings.store_url), launcher, settings)

    async def launch() -> Any:
        try:
            return await service._launch("gui", "pool", None, 600.0, pooled=True)
        finally:
            for handle in list(launcher.procs):
                await launcher.stop(handle)

    with caplog.at_level(logging.WARNING, logger="agentscope_faas"):
        record = asyncio.run(launch())
    assert record.type == "gui"  # pooled all the same: its first call starts it again
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        "pooled gui sandbox's start failed: FileNotFoundError" in w and "Xvfb" in w
        for w in warnings
    ), warnings
    assert not any("did not start in time" in w for w in warnings), warnings

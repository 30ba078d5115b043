"""``LocalDeployManager``: serve an ``AgentApp`` with every protocol, in the background.

As in AgentScope Runtime::

    deployer = LocalDeployManager(host="127.0.0.1", port=8090)
    result = await app.deploy(deployer, endpoint_path="/process")  # {"deploy_id", "url"}
    ...  # POST {url}/process, the openai client at {url}/compatible-mode/v1, /ag-ui
    await deployer.stop()

The server is uvicorn on a thread of its own (with its own event loop), so the caller's
loop stays free; ``port=0`` picks a free port (the URL says which).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import TYPE_CHECKING, Any

from ..sockets import tcp_socket

if TYPE_CHECKING:
    import uvicorn

    from ..settings import Settings
    from ..storage.base import ObjectStore
    from ..turn import Agent


class LocalDeployManager:
    """Serves one app at ``http://{host}:{port}``; ``settings``/``store`` override the
    environment's (``STORE_URL`` and the rest)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8090,
        *,
        settings: Settings | None = None,
        store: ObjectStore | None = None,
        startup_timeout_s: float = 30.0,
    ) -> None:
        self.host, self.port = host, port
        self.settings, self.store = settings, store
        self.startup_timeout_s = startup_timeout_s
        self.deploy_id: str | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def deploy(self, app: Agent, endpoint_path: str = "/process", **_: Any) -> dict[str, str]:
        """Start serving ``app``; returns ``{"deploy_id", "url"}`` once it accepts requests.

        ``endpoint_path`` other than ``/process`` adds that path as another ``/process``.
        Raises ``RuntimeError`` if already running or the server does not start.
        """
        if self.is_running:
            raise RuntimeError(f"already serving at {self.url}")
        import uvicorn

        from ..server import build_app
        from ..settings import get_settings

        asgi = build_app(app, self.settings or get_settings(), store=self.store)
        if endpoint_path != "/process":
            from ..protocols.process import process

            asgi.add_api_route(endpoint_path, process, methods=["POST"], response_model=None)
        sock = tcp_socket(self.host, self.port)
        self.port = sock.getsockname()[1]
        self._socket = sock
        config = uvicorn.Config(asgi, log_level="warning", lifespan="on", access_log=False)
        server = self._server = uvicorn.Server(config)
        thread = self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="agent-app", daemon=True
        )
        thread.start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.startup_timeout_s
        while not server.started:
            if not thread.is_alive() or loop.time() > deadline:
                await self.stop()
                raise RuntimeError(f"the app did not start serving at {self.url}")
            await asyncio.sleep(0.02)
        self.deploy_id = f"local_{self.host}_{self.port}"
        return {"deploy_id": self.deploy_id, "url": self.url}

    async def stop(self) -> None:
        """Stop serving (running turns are cut off, saved and released); safe to repeat."""
        server, thread, sock = self._server, self._thread, self._socket
        self._server = self._thread = self._socket = None
        if server is not None:
            server.should_exit = True
        if thread is not None:
            await asyncio.to_thread(thread.join, 30)
        if sock is not None:
            sock.close()

"""Local object-store servers on 127.0.0.1: moto's S3 and our OSS emulator.

Each ``start_*`` returns a ``ServerHandle`` (``.url``, ``.stop()``, usable as a context
manager) serving from a background thread of this process, so the emulator
(``make local STORE=s3``) and the tests can start one in milliseconds, on a free port
(``port=0``), and other OS processes can reach it by URL.

moto checks ``If-None-Match`` / ``If-Match`` on PutObject by looking the key up and then
writing, with nothing holding the two together; its threaded server runs requests
concurrently, so two racing conditional puts can both succeed. Real S3 decides them
atomically. ``start_moto_s3(atomic=True)`` (the default) therefore runs moto's WSGI app
one request at a time, which restores S3's answer to races at a throughput cost that does
not matter locally.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from functions.runtime.sockets import tcp_socket

_START_TIMEOUT_S = 15.0


@dataclass
class ServerHandle:
    name: str
    host: str
    port: int
    _stop: Callable[[], None] = field(repr=False)
    _stopped: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            self._stop()

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _serialized(app: Callable[..., Iterable[bytes]]) -> Callable[..., list[bytes]]:
    """Wrap a WSGI app so that one request runs at a time, start to finish."""
    lock = threading.Lock()

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with lock:
            result = app(environ, start_response)
            try:
                return list(result)  # consume the body inside the lock
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()

    return wrapped


def start_moto_s3(host: str = "127.0.0.1", port: int = 0, *, atomic: bool = True) -> ServerHandle:
    """Serve moto's S3 (and the rest of moto) on ``host:port`` from a daemon thread."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    class QuietHandler(MotoRequestHandler):
        def log_request(self, *args: Any, **kwargs: Any) -> None:
            pass  # one line per request drowns test output; errors are still logged

    app: Any = DomainDispatcherApplication(create_backend_app)
    if atomic:
        app = _serialized(app)
    server = make_server(host, port, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="moto-s3", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(_START_TIMEOUT_S)

    return ServerHandle("moto-s3", host, int(server.server_address[1]), stop)


def start_oss_emulator(host: str = "127.0.0.1", port: int = 0, backend: Any = None) -> ServerHandle:
    """Serve the OSS emulator with uvicorn from a daemon thread."""
    from local_emulator.oss import create_app

    return start_asgi_server(create_app(backend), "oss-emulator", host, port)


def start_asgi_server(
    app: Any, name: str, host: str = "127.0.0.1", port: int = 0, *, lifespan: str = "off"
) -> ServerHandle:
    """Serve an emulator's ASGI app with uvicorn from a daemon thread.

    The socket is bound and listening before this returns, so a client may connect at once
    even if uvicorn is still starting (the kernel queues the connection).
    """
    import uvicorn

    sock = tcp_socket(host, port, backlog=128)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan=lifespan)
    started = threading.Event()
    failed: list[BaseException] = []

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            started.set()

    server = Server(config)

    def run() -> None:
        try:
            asyncio.run(server.serve(sockets=[sock]))
        except BaseException as exc:  # surfaced to the caller below
            failed.append(exc)
        finally:
            started.set()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    started.wait(_START_TIMEOUT_S)
    if failed or not thread.is_alive():
        sock.close()
        raise RuntimeError(f"{name} failed to start: {failed[:1]}")

    def stop() -> None:
        server.should_exit = True
        thread.join(_START_TIMEOUT_S)
        with contextlib.suppress(OSError):
            sock.close()

    return ServerHandle(name, host, int(sock.getsockname()[1]), stop)


LOCAL_BUCKET = "agentscope-faas"


@contextlib.contextmanager
def local_store_server(kind: str, host: str = "127.0.0.1") -> Iterator[dict[str, str]]:
    """Start the ``kind`` ("s3" or "oss") server with one bucket; yield the env that selects it.

    For ``make local STORE=s3|oss``: the functions then talk to it through the same client
    code (boto3, oss2) they use in the cloud. The objects live in this process's memory and
    are gone when the emulator stops. The credentials are the emulators' dummies, never real.
    """
    if kind == "s3":
        import boto3

        env = {
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        with start_moto_s3(host) as server:
            boto3.client(
                "s3",
                endpoint_url=server.url,
                region_name="us-east-1",
                aws_access_key_id="local",
                aws_secret_access_key="local",
            ).create_bucket(Bucket=LOCAL_BUCKET)
            yield {
                **env,
                "STORE_URL": f"s3://{LOCAL_BUCKET}/store",
                "S3_ENDPOINT_URL": server.url,
                "S3_REGION": "us-east-1",
            }
        return
    if kind == "oss":
        import oss2

        with start_oss_emulator(host) as server:
            oss2.Bucket(oss2.Auth("local", "local"), server.url, LOCAL_BUCKET).create_bucket()
            yield {
                "STORE_URL": f"oss://{LOCAL_BUCKET}/store",
                "OSS_ENDPOINT": server.url,
                "OSS_ACCESS_KEY_ID": "local",
                "OSS_ACCESS_KEY_SECRET": "local",
            }
        return
    raise ValueError(f"unknown store server {kind!r}; use s3 or oss")


def spawn(kind: str = "s3", host: str = "127.0.0.1") -> ServerHandle:
    """Run ``kind``'s server ("s3" or "oss") in a child process; its handle stops it.

    What the tests use, so the store is a separate server process as in the cloud: a
    writer that blocks or crashes in the test process cannot stall or lose the server.
    """
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "local_emulator.moto_s3", kind, "--host", host],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()  # the child prints its URL once it listens
    if not line.startswith("http://"):
        proc.kill()
        raise RuntimeError(f"{kind} server process failed to start (exit {proc.wait()})")
    port = int(line.rsplit(":", 1)[1])

    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(_START_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    return ServerHandle(f"{kind}-process", host, port, stop)


def main(argv: list[str] | None = None) -> None:
    """``python -m local_emulator.moto_s3 s3|oss``: serve until SIGTERM or Ctrl-C."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(prog="python -m local_emulator.moto_s3")
    parser.add_argument("kind", choices=("s3", "oss"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    start = start_moto_s3 if args.kind == "s3" else start_oss_emulator
    with start(args.host, args.port) as server:
        print(server.url, flush=True)
        stop.wait()


if __name__ == "__main__":
    main()

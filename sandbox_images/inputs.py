"""Build inputs fetched on the host (Debian packages, a files tarball), served to ``docker build``.

The desktop images (browser, gui) need Debian packages (``browser/packages.txt``), Python
wheels (``browser/requirements.txt``: Playwright, websockets) and noVNC's web client. None of
it comes from the network inside the build: the host fetches it into ``.data/sandbox-inputs``
(``SANDBOX_INPUTS_DIR``), keyed by content, and serves it during the build from a loopback
server.

How the build reaches the host without baking anything into a layer. Docker's classic
builder (the one a Docker engine without buildx runs) has no build-time mounts, and a COPY
of 200 MB of .deb files would stay in the image for ever. So the build runs with
``--network host`` and the predefined build argument ``http_proxy`` pointing at a small
server on ``127.0.0.1``, which answers only for the made-up host ``INPUTS_HOST`` (anything
else: 403, so a build never reaches the Internet by accident). A ``RUN`` fetches
``http://INPUTS_HOST/debs/<key>/...``, installs, and deletes the downloads in the same
step. ``http_proxy`` is one of the build arguments Docker leaves out of the layer cache key
and the image history, so the server's port (new each build) does not defeat the cache; the
content keys (``DEBS``, ``FILES`` build arguments) do decide it: same inputs, cached layer,
no server request.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .debs import Apt, DebError, ImageSystem, content_key, fetch, read_packages

HERE = Path(__file__).resolve().parent
INPUTS_HOST = "inputs.agentscope-faas.invalid"
DESKTOP = HERE / "browser"  # the desktop images' package and wheel lists live with browser
_MACHINE = {"amd64": "x86_64", "arm64": "aarch64"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+~%-]*$")


def cache_dir() -> Path:
    default = HERE.parent / ".data" / "sandbox-inputs"
    return Path(os.environ.get("SANDBOX_INPUTS_DIR") or default)


def _docker(*args: str) -> str:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise DebError(f"docker {args[0]} failed: {proc.stderr.strip()[-2000:]}")
    return proc.stdout


_PROBE = (
    ". /etc/os-release; echo $VERSION_CODENAME; dpkg --print-architecture;"
    " python3 -c 'import sys; print(\"%d.%d\" % sys.version_info[:2])';"
    " cat /var/lib/dpkg/status"
)


def image_system(image: str, cache: Path) -> ImageSystem:
    """The suite, architecture, Python and dpkg status of ``image`` (cached by image id)."""
    image_id = _docker("image", "inspect", "--format", "{{.Id}}", image).strip()
    record = cache / "systems" / f"{image_id.replace(':', '-')}.json"
    if record.is_file():
        data = json.loads(record.read_text())
    else:
        out = _docker("run", "--rm", "--network", "none", "--entrypoint", "sh", image, "-c", _PROBE)
        suite, arch, python, status = out.split("\n", 3)
        data = {"suite": suite, "arch": arch, "python": python, "status": status}
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps(data))
    return ImageSystem(data["suite"], data["arch"], data["python"], data["status"].encode())


@dataclass(frozen=True)
class FilesTarball:
    key: str
    path: Path


def _pip_target(requirements: Path, system: ImageSystem, target: Path) -> None:
    """Install the pinned wheels for the image's Python and CPU into ``target`` (pip --target)."""
    machine = _MACHINE.get(system.arch, system.arch)
    # pip takes --platform literally: name every manylinux tag bookworm's glibc 2.36 runs
    tags = [f"manylinux_2_{minor}_{machine}" for minor in range(36, 4, -1)]
    tags += [f"manylinux{legacy}_{machine}" for legacy in ("2014", "2010", "1")]
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
           "--target", str(target), "--only-binary=:all:", "--no-compile",
           "--implementation", "cp", "--python-version", system.python,
           *(arg for tag in tags for arg in ("--platform", tag)),
           "-r", str(requirements)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise DebError(f"pip could not fetch the wheels:\n{proc.stderr.strip()[-3000:]}")
    shutil.rmtree(target / "bin", ignore_errors=True)  # console scripts: unused in the image


def _root_owned(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mode &= 0o755  # no group/other write, no setuid
    return info


def files_tarball(system: ImageSystem, cache: Path, *, refresh: bool = False) -> FilesTarball:
    """``opt/pydeps`` (the wheels) and ``usr/share/novnc`` (noVNC's web client) as one tar.

    noVNC comes from Debian's ``novnc`` package, unpacked on the host: the image needs its
    static files only, not its Depends (nodejs, numpy: they serve its command-line tools).
    """
    requirements = DESKTOP / "requirements.txt"
    request = content_key(requirements.read_text(), system.suite, system.arch, system.python)
    record = cache / "files" / f"request-{request}.json"
    if record.is_file() and not refresh:
        known = cache / "files" / f"{json.loads(record.read_text())['key']}.tar"
        if known.is_file():
            return FilesTarball(known.stem, known)
    apt = Apt(cache / "debs", system)
    apt.update()
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        staging = Path(tmp)
        novnc_deb = apt.download("novnc", staging / "deb")
        subprocess.run(["dpkg-deb", "-x", str(novnc_deb), str(staging / "novnc")], check=True)
        _pip_target(requirements, system, staging / "pydeps")
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            tar.add(staging / "pydeps", "opt/pydeps", filter=_root_owned)
            tar.add(staging / "novnc/usr/share/novnc", "usr/share/novnc", filter=_root_owned)
        data = buffer.getvalue()
    key = content_key(request, novnc_deb.name, hashlib.sha256(data).hexdigest())
    path = cache / "files" / f"{key}.tar"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    record.write_text(json.dumps({"key": key}))
    return FilesTarball(key, path)


class _InputsHandler(BaseHTTPRequestHandler):
    server: InputServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        url = urlsplit(self.path)  # a proxy request carries the absolute URL
        parts = url.path.strip("/").split("/")
        path: Path | None = None
        if url.hostname == INPUTS_HOST and all(_NAME.match(p) for p in parts):
            if len(parts) == 3 and parts[0] == "debs":
                path = self.server.cache / "debs" / "sets" / parts[1] / parts[2]
            elif len(parts) == 2 and parts[0] == "files":
                path = self.server.cache / "files" / parts[1]
        if path is None:
            body = f"only http://{INPUTS_HOST}/ is served to sandbox image builds\n".encode()
            self.send_response(403)
        elif not path.is_file():
            body = b"not found\n"
            self.send_response(404)
        else:
            self.send_response(200)
            self.send_header("Content-Length", str(path.stat().st_size))
            self.end_headers()
            with path.open("rb") as f:
                shutil.copyfileobj(f, self.wfile, 1 << 20)
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class InputServer(ThreadingHTTPServer):
    """The loopback proxy a build's ``http_proxy`` points at, serving ``cache`` only."""

    daemon_threads = True

    def __init__(self, cache: Path) -> None:
        super().__init__(("127.0.0.1", 0), _InputsHandler)
        self.cache = cache

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


# sandbox types whose Dockerfile installs the host-fetched inputs (gui is FROM browser)
NEEDS_INPUTS = ("browser",)


def build_args(sandbox_type: str, base_image: str) -> contextlib.AbstractContextManager[list[str]]:
    """Extra ``docker build`` arguments of ``sandbox_type``, valid while the context is open.

    ``SANDBOX_INPUTS_REFRESH=1`` resolves the packages and wheels again (Debian's security
    updates); otherwise a set resolved before is reused with no network.
    """
    if sandbox_type not in NEEDS_INPUTS:
        return contextlib.nullcontext([])
    refresh = os.environ.get("SANDBOX_INPUTS_REFRESH", "") in ("1", "true")
    return desktop_build_args(base_image, refresh=refresh)


@contextlib.contextmanager
def desktop_build_args(base_image: str, *, refresh: bool = False) -> Iterator[list[str]]:
    """``docker build`` arguments for a desktop image, with the inputs server running."""
    cache = cache_dir()
    system = image_system(base_image, cache)
    debs = fetch(read_packages(DESKTOP / "packages.txt"), system, cache / "debs", refresh=refresh)
    files = files_tarball(system, cache, refresh=refresh)
    server = InputServer(cache)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield [
            "--network", "host",
            "--build-arg", f"http_proxy={server.url}",
            "--build-arg", f"DEBS={debs.key}",
            "--build-arg", f"FILES={files.key}",
        ]  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()

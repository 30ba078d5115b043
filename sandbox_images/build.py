"""Build the sandbox images: ``.venv/bin/python sandbox_images/build.py [type ...]``.

Makes sure a Docker engine runs (``scripts/ensure_docker.sh``) and the local base image exists
(``scripts/base_image.sh``; ``BASE_IMAGE`` picks another one), then ``docker build``s each
sandbox type from ``sandbox_images/<type>/Dockerfile`` with ``sandbox_images/`` as the context,
in dependency order (a type is built FROM its ``parent`` in the registry,
``functions.runtime.sandbox.types``). Image names come from
``functions.runtime.settings.sandbox_image`` (the seed's ``RUNTIME_SANDBOX_*`` variables).
Unchanged inputs rebuild from Docker's layer cache in about a second. It says what it is
doing as numbered steps with their times (``local_emulator/progress.py``; ``-q`` for none,
``-v`` for the build's own output too) and ends with a table of the steps' times.

From Python (tests): ``build_images(("base", "filesystem")) -> {type: image}``.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SCRIPTS = HERE / "scripts"
DEFAULT_BASE_IMAGE = "agentscope-faas/debian-python:bookworm"
LOCK = Path(os.environ.get("TMPDIR", "/tmp")) / "agentscope-faas-build-images.lock"

if __package__ in (None, ""):  # run as a script: make `functions` importable without install
    sys.path.insert(0, str(ROOT))

from functions.runtime.sandbox.types import SANDBOX_TYPES  # noqa: E402
from functions.runtime.settings import Settings, sandbox_image  # noqa: E402
from sandbox_images import inputs  # noqa: E402

if TYPE_CHECKING:
    from local_emulator.progress import Steps

TYPES = tuple(SANDBOX_TYPES)


class BuildError(RuntimeError):
    """A step of the build failed; the message carries its output's tail."""


def _run(
    cmd: list[str],
    what: str,
    *,
    quiet: bool,
    env: dict[str, str] | None = None,
    echo: Callable[[str], None] | None = None,
) -> None:
    """Run ``cmd``; echo its output (to ``echo``, else stdout) unless ``quiet``; raise
    BuildError with the tail on failure."""
    try:
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
    except OSError as exc:
        raise BuildError(f"{what}: cannot run {cmd[0]}: {exc}") from exc
    lines: list[str] = []
    assert proc.stdout is not None
    with proc.stdout:
        for line in proc.stdout:
            lines.append(line)
            if quiet:
                continue
            if echo is not None:
                echo(line)
            else:
                sys.stdout.write(line)
                sys.stdout.flush()
    if proc.wait() != 0:
        tail = "".join(lines[-40:])
        raise BuildError(f"{what} failed (exit {proc.returncode}):\n{tail}")


def ensure_docker(*, quiet: bool = True, echo: Callable[[str], None] | None = None) -> None:
    """Install/start Docker when ``docker info`` fails (see scripts/ensure_docker.sh)."""
    _run(["sh", str(SCRIPTS / "ensure_docker.sh")], "ensure_docker.sh", quiet=quiet, echo=echo)


def base_image() -> str:
    return os.environ.get("BASE_IMAGE") or DEFAULT_BASE_IMAGE


def ensure_base_image(*, quiet: bool = True, echo: Callable[[str], None] | None = None) -> str:
    """Make (or find) the image the base sandbox is built FROM; returns its name."""
    env = {**os.environ, "BASE_IMAGE": base_image()}
    script = str(SCRIPTS / "base_image.sh")
    _run(["sh", script], "base_image.sh", quiet=quiet, env=env, echo=echo)
    return env["BASE_IMAGE"]


def build_order(types: Iterable[str]) -> list[str]:
    """``types`` plus the types they build FROM, parents first."""
    order: list[str] = []

    def add(sandbox_type: str) -> None:
        if sandbox_type not in TYPES:
            raise ValueError(f"unknown sandbox type {sandbox_type!r}; known: {', '.join(TYPES)}")
        if sandbox_type in order:
            return
        parent = SANDBOX_TYPES[sandbox_type].parent
        if parent is not None:
            add(parent)
        order.append(sandbox_type)

    for sandbox_type in types:
        add(sandbox_type)
    return order


def build_images(
    types: Iterable[str] = TYPES,
    settings: Settings | None = None,
    *,
    quiet: bool = True,
    timings: dict[str, float] | None = None,
    steps: Steps | None = None,
) -> dict[str, str]:
    """Build ``types`` (and what they are FROM); returns ``{type: image}`` for every one built.

    ``timings``, when given, receives the seconds each step took (``docker``, ``base-image``
    and one entry per type). ``steps`` (``local_emulator.progress``) shows each step as it
    runs (``2 + len(build_order(types))`` of them), and the build's output unless ``quiet``.
    Builds from several processes at once run one after another.
    """
    settings = settings or Settings()
    order = build_order(types)
    timings = {} if timings is None else timings
    images = {t: sandbox_image(t, settings) for t in order}
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    echo = steps.echo if steps is not None else None
    step = steps.step if steps is not None else _no_step
    with open(LOCK, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # say why nothing moves, then queue behind the other build
            if steps is not None:
                steps.echo(f"waiting for another build of the images to finish ({LOCK})")
            fcntl.flock(lock, fcntl.LOCK_EX)
        start = time.monotonic()
        with step("Docker engine"):
            ensure_docker(quiet=quiet, echo=echo)
        timings["docker"] = time.monotonic() - start
        start = time.monotonic()
        with step(f"base OS image {base_image()}"):
            base = ensure_base_image(quiet=quiet, echo=echo)
        timings["base-image"] = time.monotonic() - start
        for sandbox_type in order:
            parent = SANDBOX_TYPES[sandbox_type].parent
            build_arg = f"SANDBOX_BASE_IMAGE={images[parent]}" if parent else f"BASE_IMAGE={base}"
            cmd = [
                "docker",
                "build",
                "--build-arg",
                build_arg,
                "-f",
                str(HERE / sandbox_type / "Dockerfile"),
                "-t",
                images[sandbox_type],
                str(HERE),
            ]
            start = time.monotonic()
            with step(f"building the {sandbox_type} image {images[sandbox_type]}"):
                try:  # host-fetched packages and wheels (desktop images), served to the build
                    with inputs.build_args(sandbox_type, base) as extra:
                        build = cmd[:2] + extra + cmd[2:]
                        _run(build, f"docker build ({sandbox_type})", quiet=quiet, echo=echo)
                except inputs.DebError as exc:
                    raise BuildError(f"inputs of {sandbox_type}: {exc}") from exc
            timings[sandbox_type] = time.monotonic() - start
    return images


def _size(image: str) -> str:
    """An image's size as ``docker images`` shows it (MB), or "" for what is not an image."""
    proc = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Size}}", image],
        capture_output=True,
        text=True,
    )
    return f"{int(proc.stdout) / 1e6:7.0f} MB" if proc.returncode == 0 else ""


@contextlib.contextmanager
def _no_step(what: str) -> Iterator[None]:
    yield


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("types", nargs="*", default=list(TYPES), help=f"of {', '.join(TYPES)}")
    parser.add_argument("-q", "--quiet", action="store_true", help="no step lines")
    parser.add_argument("-v", "--verbose", action="store_true", help="docker build's output too")
    args = parser.parse_args(argv)
    from local_emulator.progress import Steps

    timings: dict[str, float] = {}
    start = time.monotonic()
    try:
        order = build_order(args.types)
    except ValueError as exc:
        print(f"build: {exc}", file=sys.stderr)
        return 1
    try:
        with Steps(2 + len(order), quiet=args.quiet, title="sandbox images") as steps:
            quiet = args.quiet or not args.verbose  # the tools' own output
            images = build_images(order, quiet=quiet, timings=timings, steps=steps)
    except BuildError as exc:
        print(f"build: {exc}", file=sys.stderr)
        return 1
    total = time.monotonic() - start
    rows = [("docker", "engine", timings["docker"]), ("from", base_image(), timings["base-image"])]
    rows += [(t, image, timings[t]) for t, image in images.items()]
    width = max(len(image) for _, image, _ in rows)
    print()
    for label, image, seconds in rows:
        print(f"{label:<10} {image:<{width}} {seconds:6.1f} s  {_size(image)}")
    print(f"{'total':<10} {'':<{width}} {total:6.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

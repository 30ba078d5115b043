"""Artifact mode: every function served from its built zip, as the cloud would run it.

``python -m local_emulator --artifacts dist/manifest.json`` (``make local ARTIFACTS=1``)
reads the manifest ``packaging/build.py`` wrote, unpacks each function's zip for this
machine's Python and architecture into a folder of its own, and runs it through its real
entry point in its own processes: on ``--platform aws``, Function URL events into
``lambda_handler`` (the query function through ``run.sh`` and the Lambda Web Adapter's
streaming instead, unless ``--buffered``); on ``--platform fc``, the custom runtime's
``bootstrap`` behind an HTTP trigger. Only the zip's contents are importable there, so
what passes here is what ships.
"""

from __future__ import annotations

import json
import platform
import sys
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from local_emulator.instances import LambdaFunction, ServerFunction
from local_emulator.triggers import FunctionUrl, StreamingProxy

# what FC itself sets in every function's environment (the emulator passes these through)
FC_PROVIDED = frozenset({"FC_REGION", "FC_ACCOUNT_ID"})
_ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}


class ArtifactError(Exception):
    """The manifest has nothing this machine can run, or a zip does not match it."""


def host_python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def host_arch() -> str:
    return _ARCH.get(platform.machine().lower(), platform.machine().lower())


def select(manifest: dict[str, Any], target: str) -> dict[str, dict[str, Any]]:
    """``function -> artifact`` of ``target`` that this interpreter and CPU can run."""
    chosen: dict[str, dict[str, Any]] = {}
    for artifact in manifest.get("artifacts", []):
        if artifact["target"] != target or artifact["arch"] != host_arch():
            continue
        if artifact.get("python") != host_python():
            continue
        chosen[artifact["function"]] = artifact
    if not chosen:
        raise ArtifactError(
            f"no {target} artifact for Python {host_python()} on {host_arch()} in the manifest;"
            f" build one with `packaging/build.py --targets {target} --python {host_python()}"
            f" --arch {host_arch()}`"
        )
    return chosen


def unpack(zip_path: Path, sha256: str, into: Path) -> Path:
    """Unpack once per content hash, keeping the executable bits the zip records.

    Several emulators may unpack the same zip at once (two ``make local`` runs, parallel
    tests): each unpacks into a folder of its own and renames it into place, so none ever
    runs code another is still writing; the first rename wins, the others' copies go."""
    import hashlib
    import shutil

    digest = hashlib.sha256(zip_path.read_bytes()).hexdigest()
    if digest != sha256:
        raise ArtifactError(f"{zip_path} does not match the manifest's sha256; rebuild it")
    root = into / digest[:16]
    done = root / ".unpacked"
    if done.exists():
        return root
    into.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=into))
    try:
        with zipfile.ZipFile(zip_path) as archive:
            for info in archive.infolist():
                path = Path(archive.extract(info, partial))
                mode = (info.external_attr >> 16) & 0o777
                if mode and not info.is_dir():
                    path.chmod(mode)
        (partial / done.name).touch()
        partial.chmod(0o755)  # mkdtemp's 0700 would be the function's root otherwise
        try:
            partial.rename(root)
        except OSError:  # another unpacker's copy is in place: the same bytes
            if not done.exists():  # an older emulator's copy, cut off as it unpacked
                raise ArtifactError(f"{root} is half unpacked: remove it") from None
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return root


def functions(
    manifest_path: Path,
    target: str,
    environment: dict[str, dict[str, str]],
    *,
    buffered: bool,
    work_dir: Path,
    copies: dict[str, str] | None = None,
) -> dict[str, Any]:
    """``function -> ASGI app`` serving that function's artifact; ``environment`` per function.

    ``copies``: more deployments of a function's zip, ``name -> function`` (their own
    processes, with ``environment[name]`` on top of the function's), as a second cloud
    function made from the same artifact.
    """
    from local_emulator.serve import free_port

    manifest = json.loads(manifest_path.read_text())
    chosen = select(manifest, target)
    with ThreadPoolExecutor() as pool:  # unzipping is zlib and file writes: in parallel
        pending = {
            name: pool.submit(unpack, manifest_path.parent / a["zip"], a["sha256"], work_dir / name)
            for name, a in chosen.items()
        }
    roots = {name: future.result() for name, future in pending.items()}
    apps: dict[str, Any] = {}
    deployments = [(name, name) for name in chosen]
    deployments += [(name, of) for name, of in (copies or {}).items() if of in chosen]
    for name, source in deployments:
        artifact, root = chosen[source], roots[source]
        env = {
            **artifact.get("environment", {}),
            **environment.get(source, {}),
            **(environment.get(name, {}) if name != source else {}),
        }
        if target == "fc":
            refused = sorted(k for k in env if k.startswith("FC_") and k not in FC_PROVIDED)
            if refused:  # FC's CreateFunction refuses these: the FC_ names are its own
                raise ArtifactError(
                    f"{name}: FC reserves environment variables named FC_*: {refused}"
                )
            port = free_port()
            env.update(
                {
                    "FC_FUNCTION_NAME": name,
                    "FC_FUNCTION_MEMORY_SIZE": str(artifact["memory_mb"]),
                    "FC_SERVER_PORT": str(port),
                    "FC_CUSTOM_LISTEN_PORT": str(port),
                    "FC_INSTANCE_ID": f"local-{name}",
                    # as Terraform's fc_function module tells each function its own timeout
                    "FUNCTION_TIMEOUT_S": str(artifact["timeout_s"]),
                }
            )
            command = [str(root / c.removeprefix("/code/")) for c in artifact["command"]]
            server = ServerFunction(name, root, command, port, env, float(artifact["timeout_s"]))
            apps[name] = StreamingProxy(server, "fc")
        elif artifact.get("streaming_handler") and not buffered:
            port = free_port()
            env.update({"AWS_LAMBDA_FUNCTION_NAME": name, "AWS_LWA_PORT": str(port)})
            env["PORT"] = str(port)
            server = ServerFunction(
                name,
                root,
                [str(root / artifact["streaming_handler"])],
                port,
                env,
                float(artifact["timeout_s"]),
            )
            apps[name] = StreamingProxy(server, "aws")
        else:
            lam = LambdaFunction(
                name,
                root,
                artifact["handler"],
                timeout_s=float(artifact["timeout_s"]),
                memory_mb=int(artifact["memory_mb"]),
                environment=env,
            )
            apps[name] = FunctionUrl(lam)
    return apps

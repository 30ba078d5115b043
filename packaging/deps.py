"""A function's third-party dependencies, installed for a target platform and cached.

The lists come from pyproject.toml (core dependencies + extras), so the packages and the
editable install can never disagree. uv installs wheels for the target (``--python-platform``,
``--python-version``, ``--only-binary :all:``), never compiling for this machine; the few
packages PyPI has only as sources (oss2, crcmod) become pure-Python wheels first.
Each install is kept under the cache, keyed by the requirement strings and the platform:
a rebuild reuses it without asking the index, which is what makes rebuilds fast and keeps
the same inputs giving the same zip. ``--refresh`` (build.py) re-resolves against the index.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import tomllib
from targets import Platform

ROOT = Path(__file__).resolve().parents[1]


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def requirements(extras: tuple[str, ...], meta: dict | None = None) -> list[str]:
    """Core dependencies plus ``extras``, self-references (``name[a,b]``) expanded."""
    meta = meta or project()
    optional = meta.get("optional-dependencies", {})
    self_ref = re.compile(rf"^{re.escape(meta['name'])}\[([^\]]+)\]$", re.IGNORECASE)
    out: list[str] = list(meta.get("dependencies", []))
    pending, seen = list(extras), set()
    while pending:
        extra = pending.pop(0)
        if extra in seen:
            continue
        if extra not in optional:
            raise SystemExit(f"pyproject.toml has no extra {extra!r}")
        seen.add(extra)
        for req in optional[extra]:
            match = self_ref.match(req.replace(" ", ""))
            if match:
                pending.extend(match.group(1).split(","))
            elif req not in out:
                out.append(req)
    return sorted(out, key=str.lower)


def compiles_here(python: str) -> bool:
    """Bytecode is valid only for the minor version that wrote it: the building one."""
    return python == f"{sys.version_info.major}.{sys.version_info.minor}"


def compile_tree(root: Path) -> None:
    """Deterministic .pyc beside the sources: hash-based and never checked against them
    (no mtimes), paths relative to ``root``, one fresh single-process interpreter with a
    fixed hash seed (set/frozenset constants are marshalled in iteration order)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "compileall",
            "-q",
            "-q",
            "--invalidation-mode",
            "unchecked-hash",
            "-s",
            str(root),
            str(root),
        ],
        env={**os.environ, "PYTHONHASHSEED": "0"},
        check=False,  # a file that does not compile (a py2 example in a wheel) stays source
        stdout=subprocess.DEVNULL,
    )


# uv's words for a package with no wheel that fits (so it needs a pure one built here)
MISSING = re.compile(r"Wheels are required for `([^`]+)`")


def uv_install(target: Path, platform: Platform, reqs: list[str], wheelhouse: Path) -> list[str]:
    """The install of ``reqs`` into ``target`` as wheels for ``platform``, by uv (it resolves
    and unpacks several times faster than pip: a build of every zip installs in 43 s, not
    86 s). No uv config file is read, and the options a ``UV_*`` variable could turn
    (bytecode, links into uv's cache) are fixed here; its index variables still apply."""
    return [
        sys.executable,
        "-m",
        "uv",
        "pip",
        "install",
        "--no-config",
        "--quiet",
        "--no-compile-bytecode",  # compile_tree writes the reproducible bytecode
        "--link-mode",
        "copy",  # the cached folder is zipped and reused: its own files, never uv's cache's
        "--target",
        str(target),
        "--python-platform",
        platform.wheel_platform,
        "--python-version",
        platform.python,
        "--only-binary",
        ":all:",
        "--find-links",
        str(wheelhouse),
        *reqs,
    ]


def distribution(name: str) -> str:
    """``name`` as PEP 503 compares distribution names."""
    return re.sub(r"[-_.]+", "-", name).lower()


def wanted(name: str, reqs: list[str]) -> str:
    """The requirement to build a pure wheel of ``name`` by: the one ``reqs`` gives it (with
    its versions), else the bare name (a dependency of one of them: its newest version)."""
    for req in reqs:
        head = re.match(r"[A-Za-z0-9._-]+", req)
        if head and distribution(head.group()) == distribution(name):
            return req
    return name


def pure_wheel(requirement: str, wheelhouse: Path, quiet: bool) -> None:
    """A wheel built here from the sdist of a package PyPI has no wheel for (oss2, crcmod).

    Only a pure-Python wheel fits every target, so the build gets no C compiler (CC=false):
    packages with optional speedups (crcmod) fall back to their Python code, and one whose
    extension is mandatory fails here rather than in the cloud.
    """
    if not quiet:
        print(f"  no wheel on the index for {requirement}: building a pure one from its sdist")
    wheelhouse.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--disable-pip-version-check",
                "--no-deps",
                "--no-cache-dir",  # pip's cache may hold a wheel built here with the compiler
                "--no-binary",
                ":all:",
                "--wheel-dir",
                tmp,
                requirement,
            ],
            env={**os.environ, "CC": "false", "CXX": "false", "SOURCE_DATE_EPOCH": "315532800"},
            capture_output=True,
            text=True,
        )
        wheels = list(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            raise SystemExit(
                f"cannot build {requirement} from source:\n{proc.stdout}\n{proc.stderr}"
            )
        for wheel in wheels:
            if not wheel.name.endswith("-none-any.whl"):
                raise SystemExit(f"{requirement} builds only as {wheel.name}, not pure Python")
            # in under another name, then renamed: a build running beside this one (its uv
            # reads the wheelhouse) never finds half a wheel
            part = wheelhouse / f".{wheel.name}.{os.getpid()}"
            shutil.copyfile(wheel, part)
            os.replace(part, wheelhouse / wheel.name)


def install(reqs: list[str], platform: Platform, cache: Path, refresh: bool, quiet: bool) -> Path:
    """The installed site folder for ``reqs`` on ``platform``, from the cache if it is there."""
    pyc = compiles_here(platform.python)
    key_data = {
        "requirements": reqs,
        "platform": platform.wheel_platform,
        "installer": "uv",
        "python": platform.python,
        "implementation": "cp",
        "pyc": pyc,
    }
    key = hashlib.sha256(json.dumps(key_data, sort_keys=True).encode()).hexdigest()[:20]
    site = cache / "site" / f"{platform.python}-{platform.arch}-{key}"
    if site.is_dir() and not refresh:
        return site
    site.parent.mkdir(parents=True, exist_ok=True)
    tmp = site.with_name(f"{site.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    if not quiet:
        print(f"  installing for {platform.target} {platform.slug}: {' '.join(reqs)}", flush=True)
    wheelhouse = cache / "wheels"
    wheelhouse.mkdir(parents=True, exist_ok=True)
    built: set[str] = set()
    while True:
        shutil.rmtree(tmp, ignore_errors=True)
        proc = subprocess.run(
            uv_install(tmp, platform, reqs, wheelhouse), capture_output=True, text=True
        )
        if proc.returncode == 0:
            break
        # each package uv names is built once per install, even with a wheel of it in the
        # wheelhouse: that one may be too old for these requirements. uv also names a package
        # whose newest version has the pure wheel built here while its older ones have none,
        # so a package built already is no reason to build it again, and when nothing new
        # is named, building could not help.
        named = {distribution(n) for n in MISSING.findall(proc.stdout + proc.stderr)}
        if not named - built:
            shutil.rmtree(tmp, ignore_errors=True)
            raise SystemExit(f"uv failed for {platform.slug}:\n{proc.stdout}\n{proc.stderr}")
        for name in sorted(named - built):
            built.add(name)
            pure_wheel(wanted(name, reqs), wheelhouse, quiet)
    (tmp / ".lock").unlink(missing_ok=True)  # uv's lock on the folder it installed into
    if pyc:
        compile_tree(tmp)
    if refresh and site.is_dir():
        shutil.rmtree(site, ignore_errors=True)
    try:
        tmp.rename(site)
    except OSError:  # a concurrent build renamed its own copy first: same content, and it
        # may be reading it now, so that copy stays
        shutil.rmtree(tmp, ignore_errors=True)
    site.with_name(f"{site.name}.json").write_text(json.dumps(key_data, indent=1) + "\n")
    return site

"""Debian packages for a sandbox image, resolved and downloaded on the host.

A build container may not reach the Debian mirror; the host does. So the host's apt, in a
private configuration of its own (own sources, lists, caches; the host's apt state is never
read or written), resolves the packages an image needs *against that image's own dpkg
status* (so only what the image lacks is fetched) and downloads them into a shared archive
cache. The resolved .deb files are then gathered into a **set**: a folder named by the hash
of its contents (file names and SHA-256), with an ``index.txt`` listing them, which the
Dockerfile installs with ``apt-get install ./*.deb`` (see ``inputs.py`` for how the build
reaches it).

Cache layout under ``cache_dir`` (``.data/debs`` by default):

- ``apt/``: the private apt root (sources.list, apt.conf, lists, pkgcache);
- ``archives/``: every .deb ever downloaded, by apt's own file name;
- ``requests/<request key>.json``: which set a request resolved to, where the request key
  hashes the package list, the suite, the architecture, the mirrors and the image's dpkg
  status. A request seen before is answered from this file with no network at all;
- ``sets/<content key>/``: the .deb files of one resolution and ``index.txt``.

``refresh=True`` resolves again (for Debian's security updates of chromium); unchanged
packages come from ``archives/`` without a download.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_SECURITY_MIRROR = "http://deb.debian.org/debian-security"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


class DebError(RuntimeError):
    """apt on the host could not resolve or download the packages; the message says why."""


@dataclass(frozen=True)
class ImageSystem:
    """What the packages are resolved against: read once from the image they install into."""

    suite: str  # VERSION_CODENAME, e.g. bookworm
    arch: str  # dpkg --print-architecture, e.g. amd64
    python: str  # "3.11": the interpreter's version, for wheels
    status: bytes  # /var/lib/dpkg/status

    @property
    def status_hash(self) -> str:
        return hashlib.sha256(self.status).hexdigest()


@dataclass(frozen=True)
class DebSet:
    key: str  # content hash: the set's folder name, and what a Dockerfile build arg carries
    folder: Path
    files: tuple[str, ...]

    @property
    def size(self) -> int:
        return sum((self.folder / name).stat().st_size for name in self.files)


def read_packages(path: Path) -> list[str]:
    """Package names from a list file: one or more per line, ``#`` starts a comment."""
    names: list[str] = []
    for line in path.read_text().splitlines():
        names += line.split("#", 1)[0].split()
    return names


def content_key(*parts: object) -> str:
    """A short hex key naming ``parts`` (JSON-able): cache file and folder names."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


class Apt:
    """The host's apt-get, pointed at a private root for one suite and architecture."""

    def __init__(self, cache_dir: Path, system: ImageSystem) -> None:
        self.cache_dir = cache_dir
        self.system = system
        self.mirror = os.environ.get("DEBIAN_MIRROR") or DEFAULT_MIRROR
        self.security = os.environ.get("DEBIAN_SECURITY_MIRROR") or DEFAULT_SECURITY_MIRROR
        self.root = cache_dir / "apt" / f"{system.suite}-{system.arch}"
        self.archives = cache_dir / "archives"

    def _configure(self) -> None:
        for sub in ("lists/partial", "cache", "parts", "state", "empty"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.archives / "partial").mkdir(parents=True, exist_ok=True)
        if not Path(KEYRING).is_file():
            raise DebError(
                f"{KEYRING} is missing: install the debian-archive-keyring package on the host"
            )
        suite = self.system.suite
        signed = f"[arch={self.system.arch} signed-by={KEYRING}]"
        (self.root / "sources.list").write_text(
            f"deb {signed} {self.mirror} {suite} main\n"
            f"deb {signed} {self.mirror} {suite}-updates main\n"
            f"deb {signed} {self.security} {suite}-security main\n"
        )
        (self.root / "state" / "status").write_bytes(self.system.status)
        root = self.root
        conf = {
            "Dir::Etc::SourceList": root / "sources.list",
            "Dir::Etc::SourceParts": root / "empty",
            "Dir::Etc::Parts": root / "parts",
            "Dir::Etc::Preferences": root / "empty" / "preferences",
            "Dir::Etc::PreferencesParts": root / "empty",
            "Dir::State": root / "state",
            "Dir::State::Lists": root / "lists",
            "Dir::State::status": root / "state" / "status",
            "Dir::Cache": root / "cache",
            "Dir::Cache::archives": self.archives,
            "APT::Architecture": self.system.arch,
            "APT::Architectures": self.system.arch,
            "APT::Install-Recommends": "false",
            "APT::Install-Suggests": "false",
            "APT::Sandbox::User": "root" if os.geteuid() == 0 else "",
            "Acquire::Languages": "none",
            "Debug::NoLocking": "true",
        }
        lines = [f'{k} "{v}";' for k, v in conf.items() if v != ""]
        (self.root / "apt.conf").write_text("\n".join(lines) + "\n")

    def run(self, *args: str, cwd: Path | None = None) -> str:
        env = {**os.environ, "APT_CONFIG": str(self.root / "apt.conf"), "LC_ALL": "C"}
        env["DEBIAN_FRONTEND"] = "noninteractive"
        try:
            proc = subprocess.run(
                ["apt-get", "-q", *args], env=env, cwd=cwd, capture_output=True, text=True
            )
        except FileNotFoundError:
            raise DebError("apt-get is not on this host; the desktop images need it") from None
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-25:]
            raise DebError(f"apt-get {' '.join(args[:2])} failed:\n" + "\n".join(tail))
        return proc.stdout

    def update(self) -> None:
        self._configure()
        self.run("update")

    def resolve(self, packages: list[str]) -> list[Path]:
        """Download ``packages`` and what they depend on that the image lacks; their files."""
        self.run("install", "--download-only", "-y", *packages)
        plan = self.run("install", "--simulate", "-y", *packages)
        files = []
        # "Inst name (version origin [arch])", or "Inst name [installed] (...)" for an upgrade
        inst = r"^Inst (\S+) (?:\[\S+\] )?\((\S+) .*\[(\S+)\]\)"
        for name, version, arch in re.findall(inst, plan, re.M):
            path = self.archives / f"{name}_{version.replace(':', '%3a')}_{arch}.deb"
            if not path.is_file():
                raise DebError(f"apt planned {name} {version} but {path.name} was not downloaded")
            files.append(path)
        return files

    def download(self, package: str, into: Path) -> Path:
        """One package's .deb alone (no dependencies), into the empty folder ``into``."""
        into.mkdir(parents=True, exist_ok=True)
        self.run("download", package, cwd=into)
        (found,) = into.glob(f"{package}_*.deb")
        return found


def fetch(
    packages: list[str],
    system: ImageSystem,
    cache_dir: Path,
    *,
    refresh: bool = False,
) -> DebSet:
    """The set of .deb files that installs ``packages`` into an image with ``system``."""
    apt = Apt(cache_dir, system)
    request = content_key(sorted(packages), system.suite, system.arch, apt.mirror, apt.security,
                      system.status_hash)  # fmt: skip
    record = cache_dir / "requests" / f"{request}.json"
    if record.is_file() and not refresh:
        known = load_set(cache_dir, json.loads(record.read_text())["set"])
        if known is not None:
            return known
    apt.update()
    files = apt.resolve(packages)
    if not files:
        raise DebError(f"nothing to install for {packages}: all present in the image already?")
    key = content_key(sorted((f.name, _file_sha256(f)) for f in files))
    folder = cache_dir / "sets" / key
    if load_set(cache_dir, key) is None:
        staging = folder.with_name(f".{key}.{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for f in files:
            try:
                os.link(f, staging / f.name)  # same file system: no copy
            except OSError:
                shutil.copy2(f, staging / f.name)
        (staging / "index.txt").write_text("".join(f"{f.name}\n" for f in sorted(files)))
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"set": key, "packages": sorted(packages)}))
    result = load_set(cache_dir, key)
    assert result is not None
    return result


def load_set(cache_dir: Path, key: str) -> DebSet | None:
    """The set ``key`` when it is complete on disk, else None."""
    folder = cache_dir / "sets" / key
    index = folder / "index.txt"
    if not index.is_file():
        return None
    files = tuple(index.read_text().split())
    if not all((folder / name).is_file() for name in files):
        return None
    return DebSet(key, folder, files)

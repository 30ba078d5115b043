"""Zip archives whose bytes depend only on the files put in them.

Same files in, same sha256 out, whichever machine, checkout time or umask: entries sorted
by name, one fixed timestamp (SOURCE_DATE_EPOCH when set, else 1980-01-01, the earliest a
zip can say), permissions normalised to 0644 or 0755 (an executable stays executable, which
the FC bootstrap and Lambda's run.sh need), no directory entries, no extra fields, one
compression level. The archive does depend on zlib's version (any deflate stream is valid;
a different zlib may pick a different one).
"""

from __future__ import annotations

import hashlib
import os
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

EPOCH_1980 = 315532800  # 1980-01-01T00:00:00Z
COMPRESS_LEVEL = 9  # the smallest deflate stream: zips are built once, downloaded per cold start


@dataclass(frozen=True)
class Entry:
    name: str  # path inside the archive, "/"-separated
    source: Path | bytes
    executable: bool

    @classmethod
    def file(cls, name: str, path: Path) -> Entry:
        return cls(name, path, bool(path.stat().st_mode & 0o111))


@dataclass(frozen=True)
class Written:
    sha256: str
    size: int
    unzipped_size: int


def fixed_date_time() -> tuple[int, int, int, int, int, int]:
    epoch = max(int(os.environ.get("SOURCE_DATE_EPOCH", EPOCH_1980)), EPOCH_1980)
    return time.gmtime(epoch)[:6]


def write_zip(path: Path, entries: list[Entry]) -> Written:
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"two files for the same path in {path.name}: {dupes[:5]}")
    date_time = fixed_date_time()
    unzipped = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with zipfile.ZipFile(tmp, "w") as archive:
        for entry in sorted(entries, key=lambda e: e.name):
            data = entry.source if isinstance(entry.source, bytes) else entry.source.read_bytes()
            info = zipfile.ZipInfo(entry.name, date_time)
            info.create_system = 3  # unix, so the mode below is honoured on extraction
            info.external_attr = (0o100755 if entry.executable else 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data, compresslevel=COMPRESS_LEVEL)
            unzipped += len(data)
    tmp.replace(path)
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return Written(digest.hexdigest(), path.stat().st_size, unzipped)


def extract(zip_path: Path, dest: Path) -> None:
    """Unpack keeping the recorded permissions (ZipFile.extractall drops them)."""
    with zipfile.ZipFile(zip_path) as archive:
        for info in archive.infolist():
            target = archive.extract(info, dest)
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                os.chmod(target, mode)

"""The emulator's ``unpack`` of a function's zip: once per content hash, and never a half
copy in place, however many emulators unpack the same zip at once."""

from __future__ import annotations

import hashlib
import threading
import zipfile
from pathlib import Path

import pytest

from local_emulator.artifacts import ArtifactError, unpack

FILES = {f"pkg/module_{i}.py": f"VALUE = {i}\n" * 2000 for i in range(40)}


def make_zip(path: Path) -> str:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in FILES.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o644 << 16
            archive.writestr(info, text)
        run = zipfile.ZipInfo("bootstrap")
        run.external_attr = 0o755 << 16
        archive.writestr(run, "#!/bin/sh\n")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_unpackers_at_once_share_one_whole_copy_and_leave_no_other(tmp_path):
    zip_path = tmp_path / "fn.zip"
    sha = make_zip(zip_path)
    into = tmp_path / "work"
    start = threading.Barrier(6)
    roots: list[Path] = []

    def one() -> None:
        start.wait()
        roots.append(unpack(zip_path, sha, into))

    threads = [threading.Thread(target=one) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(roots) == 6 and set(roots) == {into / sha[:16]}
    root = roots[0]
    assert {p.name for p in into.iterdir()} == {root.name}  # no unpacker's copy left over
    for name, text in FILES.items():
        assert (root / name).read_text() == text
    assert (root / "bootstrap").stat().st_mode & 0o777 == 0o755


def test_an_unpack_cut_off_leaves_nothing_in_place_and_the_next_one_unpacks_whole(
    tmp_path, monkeypatch
):
    zip_path = tmp_path / "fn.zip"
    sha = make_zip(zip_path)
    into = tmp_path / "work"
    extract = zipfile.ZipFile.extract
    written = 0

    def dies_midway(self, member, path=None, pwd=None):
        nonlocal written
        written += 1
        if written == 10:
            raise OSError("no space left on device")
        return extract(self, member, path, pwd)

    monkeypatch.setattr(zipfile.ZipFile, "extract", dies_midway)
    with pytest.raises(OSError, match="no space"):
        unpack(zip_path, sha, into)
    assert list(into.iterdir()) == []  # no root a later run would take for whole
    monkeypatch.setattr(zipfile.ZipFile, "extract", extract)
    root = unpack(zip_path, sha, into)
    assert all((root / name).read_text() == text for name, text in FILES.items())


def test_a_copy_cut_off_by_an_older_emulator_is_named_not_run(tmp_path):
    zip_path = tmp_path / "fn.zip"
    sha = make_zip(zip_path)
    into = tmp_path / "work"
    half = into / sha[:16] / "pkg"
    half.mkdir(parents=True)
    (half / "module_0.py").write_text("VALUE =")  # written in place, never marked done
    with pytest.raises(ArtifactError, match="half unpacked: remove it"):
        unpack(zip_path, sha, into)

"""Fault-injection fixtures: file systems that fill up or turn read-only, for real.

A full disk is a small tmpfs filled by a file (needs the right to mount, as root in CI); a
read-only log is a read-only bind mount (root) or, for anyone else, files and folder without
write permission (root ignores permission bits). Where mounting is not allowed, the tests that
need it skip saying why; the SQLite `max_page_count` variant of a full log runs everywhere.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # kafka-python 3.0 loads its protocol schemas with importlib.resources' legacy functions.
    for legacy in ("read_text", "open_text"):
        config.addinivalue_line("filterwarnings",
                                f"ignore:{legacy} is deprecated:DeprecationWarning")


def _mount(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["mount", *args], capture_output=True, check=False)


def _umount(path: Path) -> None:
    subprocess.run(["umount", str(path)], capture_output=True, check=False)


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs: a folder whose disk really fills up."""
    folder = tmp_path / "small-disk"
    folder.mkdir()
    done = _mount("-t", "tmpfs", "-o", "size=2m", "tmpfs", str(folder))
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()}); the "
                    "max_page_count test covers a full log without privileges")
    try:
        yield folder
    finally:
        _umount(folder)


@contextlib.contextmanager
def fill_disk(folder: Path) -> Iterator[Path]:
    """Fill the file system of `folder` with one file; the space comes back when it ends."""
    filler = folder / "filler"
    with filler.open("wb") as out:
        chunk = b"\0" * 65536
        with contextlib.suppress(OSError):  # ENOSPC: full
            while True:
                out.write(chunk)
                out.flush()
    try:
        yield filler
    finally:
        filler.unlink()


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """`folder` and its files read-only: a read-only bind mount as root, permissions otherwise."""
    if os.geteuid() == 0:
        done = _mount("--bind", str(folder), str(folder))
        if done.returncode != 0:
            pytest.skip(f"root, and cannot bind-mount here ({done.stderr.decode().strip()}), so "
                        "no way to make a folder read-only")
        try:
            done = _mount("-o", "remount,bind,ro", str(folder))
            assert done.returncode == 0, done.stderr.decode()
            yield
        finally:
            _umount(folder)
        return
    modes = {path: path.stat().st_mode for path in [folder, *folder.iterdir()]}
    for path in modes:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        yield
    finally:
        for path, mode in modes.items():
            path.chmod(mode)

"""Backup and restore of the embedded deployment: the SQLite log, the SQLite store, the key,
and the sweeper's record where a sweeper ran as a process of its own.

A backup is taken while the system runs, with SQLite's online backup API, and is consistent
across the files: for the few milliseconds it takes, it holds the log's write lock, so no
report is appended and no stage commits an offset; the store and the sweeper's record are
copied first, then the log. Every message a stage's handler has written to them was therefore
in the log when the copy was made, and the copied offsets are at most as far as the copies:
after a restore, the pipeline reads again from those offsets, and its handlers, idempotent on
ids derived from each report's key, change nothing they had already counted. A report accepted
while the backup ran is in both copies or in neither (its store claim commits only after its
append).

The alert index is not copied: it is derived from the store, and `restore` rebuilds it, so a
backup never holds a half-written tantivy segment.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import sqlite3
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from services.settings import Settings

LOG, STORE, SWEPT, KEY, MANIFEST = ("log.sqlite", "ews.sqlite", "sweeps.sqlite", "secret_key",
                                   "manifest.json")
FORMAT = 1
_LOCK_TIMEOUT_S = 30.0


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says what to do instead."""


def _paths(settings: Settings) -> tuple[Path, Path]:
    if settings.transport and not settings.transport.startswith("sqlite:"):
        raise BackupError("EWS_TRANSPORT is not the embedded log: back up Kafka with its own "
                          "tools (topic mirroring, broker snapshots)")
    url = make_url(settings.store_url())
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        raise BackupError("EWS_DATABASE_URL is not an SQLite file: back up PostgreSQL with "
                          "pg_dump or the server's own backups")
    return settings.transport_path(), Path(url.database)


def _copy(source: Path, target: Path) -> None:
    """SQLite's online backup: a consistent snapshot, whatever writes meanwhile (WAL)."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=_LOCK_TIMEOUT_S)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _summary(log: Path, store: Path) -> dict[str, Any]:
    """What the copies hold, for the manifest and for checking a restore."""
    with sqlite3.connect(log) as conn:
        messages = dict(conn.execute("SELECT topic, COUNT(*) FROM log GROUP BY topic").fetchall())
        offsets = {f"{grp}/{topic}": offset for grp, topic, offset in
                   conn.execute("SELECT grp, topic, offset FROM committed ORDER BY grp, topic")}
    with sqlite3.connect(store) as conn:
        tables = {name: conn.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0]
                  for name in ("submission", "event", "signal", "alert", "audit", "account")}
    return {"messages": messages, "committed": offsets, "rows": tables}


def backup(settings: Settings, out: Path) -> dict[str, Any]:
    """Write a backup of the running (or stopped) embedded system to `out` (.tar.gz); its manifest."""
    log_path, store_path = _paths(settings)
    for path in (log_path, store_path):
        if not path.exists():
            raise BackupError(f"nothing to back up: {path} does not exist (is EWS_DATA_DIR right?)")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ews-backup-", dir=out.parent) as scratch:
        work = Path(scratch)
        started = time.monotonic()
        # The log's write lock, held while both are copied (see the module's docstring).
        lock = sqlite3.connect(log_path, timeout=_LOCK_TIMEOUT_S, isolation_level=None)
        try:
            lock.execute("BEGIN IMMEDIATE")
            _copy(store_path, work / STORE)
            swept = settings.swept_path().exists()
            if swept:
                _copy(settings.swept_path(), work / SWEPT)
            _copy(log_path, work / LOG)
        finally:
            if lock.in_transaction:
                lock.execute("ROLLBACK")
            lock.close()
        frozen_s = time.monotonic() - started
        key = settings.data_dir / KEY
        files = [LOG, STORE] + ([SWEPT] if swept else []) + ([KEY] if key.exists() else [])
        if key.exists():
            (work / KEY).write_bytes(key.read_bytes())
        manifest = {
            "format": FORMAT, "made_at": dt.datetime.now(dt.UTC).isoformat(),
            "log_locked_seconds": round(frozen_s, 4),
            "files": {name: {"bytes": (work / name).stat().st_size, "sha256": _sha256(work / name)}
                      for name in files},
            **_summary(work / LOG, work / STORE),
        }
        partial = out.with_name(out.name + ".partial")
        with tarfile.open(partial, "w:gz") as archive:
            data = json.dumps(manifest, indent=2).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime, info.mode = len(data), int(time.time()), 0o600
            archive.addfile(info, io.BytesIO(data))
            for name in files:
                archive.add(work / name, arcname=name)
        os.chmod(partial, 0o600)  # it holds password hashes and the session signing key
        partial.replace(out)
    return manifest


def restore(settings: Settings, archive_path: Path) -> dict[str, Any]:
    """Restore a backup into an empty data dir, then rebuild the alert index; the manifest.

    Refuses to overwrite: stop the system and move its data aside first.
    """
    log_path, store_path = _paths(settings)
    index_path = settings.index_path()
    taken = [p for p in (log_path, store_path, settings.swept_path()) if p.exists()]
    if settings.index.startswith("tantivy") or not settings.index:
        taken += [index_path] if index_path.exists() and any(index_path.iterdir()) else []
    if taken:
        raise BackupError(f"will not overwrite {', '.join(map(str, taken))}: stop the system and "
                          "move the data dir aside (or restore into an empty EWS_DATA_DIR)")
    with tarfile.open(archive_path, "r:gz") as archive:
        names = set(archive.getnames())
        if MANIFEST not in names or not {LOG, STORE} <= names:
            raise BackupError(f"{archive_path} is not an ews backup (no {MANIFEST}, {LOG}, {STORE})")
        manifest = json.loads(archive.extractfile(MANIFEST).read())  # type: ignore[union-attr]
        with tempfile.TemporaryDirectory(prefix="ews-restore-") as scratch:
            work = Path(scratch)
            for name in manifest["files"]:
                if name not in (LOG, STORE, SWEPT, KEY):  # our own names: no path from the archive
                    raise BackupError(f"unexpected file {name!r} in {archive_path}")
                member = archive.extractfile(name)
                if member is None:
                    raise BackupError(f"{name} missing from {archive_path}")
                (work / name).write_bytes(member.read())
                if _sha256(work / name) != manifest["files"][name]["sha256"]:
                    raise BackupError(f"{name} in {archive_path} is damaged (checksum differs)")
            databases = {LOG: log_path, STORE: store_path}
            if (work / SWEPT).exists():
                databases[SWEPT] = settings.swept_path()
            for name in databases:
                with sqlite3.connect(work / name) as conn:
                    verdict = conn.execute("PRAGMA integrity_check").fetchone()[0]
                if verdict != "ok":
                    raise BackupError(f"{name} in {archive_path} fails SQLite's integrity check")
            for name, target in databases.items():
                target.parent.mkdir(parents=True, exist_ok=True)
                _copy(work / name, target)
            key = settings.data_dir / KEY
            if (work / KEY).exists() and not settings.secret_key.get_secret_value():
                key.parent.mkdir(parents=True, exist_ok=True)
                descriptor = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(descriptor, "wb") as handle:
                    handle.write((work / KEY).read_bytes())
    manifest["reindexed"] = _rebuild_index(settings)
    return manifest


def _rebuild_index(settings: Settings) -> int:
    from sqlalchemy import update

    from services.api.alerts.documents import sync_index
    from services.pipeline import EmbeddedSystem
    from services.store import AlertRow

    system = EmbeddedSystem(settings)
    try:
        with system.store.session() as session:
            # A plain UPDATE, as sync_index does: the alerts' own versions must not move.
            session.execute(update(AlertRow).values(indexed_version=0)
                            .execution_options(synchronize_session=False))
        return sync_index(system.store, system.index, system.geography)
    finally:
        system.close()

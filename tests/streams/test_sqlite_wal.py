"""A new SQLite database is turned to WAL even while another connection holds it locked."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from streams.sqlite_wal import use_wal


def _mode(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        return conn.execute("PRAGMA journal_mode").fetchone()[0]


def test_wal_waits_for_a_lock_held_elsewhere(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    threading.Timer(0.3, lambda: holder.execute("COMMIT")).start()
    # No busy timeout at all: every attempt while the lock is held fails at once.
    opener = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        opener.execute("PRAGMA journal_mode=WAL")
    use_wal(opener)
    assert _mode(path) == "wal"
    use_wal(opener)  # already WAL: nothing to do
    opener.close()
    holder.close()


def test_other_errors_are_not_retried(tmp_path: Path) -> None:
    class Broken:
        def execute(self, _sql: str) -> sqlite3.Cursor:
            raise sqlite3.OperationalError("disk I/O error")

    with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
        use_wal(Broken())

"""Embedded-log specifics: the file is a WAL database and a refused write says why."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from streams.sqlite_log import SqliteLog
from streams.transport import TransportError


def test_log_file_is_in_wal_mode(tmp_path: Path) -> None:
    log = SqliteLog(tmp_path / "log.sqlite")
    log.produce("t", {"n": 1})
    mode = sqlite3.connect(tmp_path / "log.sqlite").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_query_only_log_refuses_with_a_clear_error(tmp_path: Path) -> None:
    log = SqliteLog(tmp_path / "log.sqlite")
    log.produce("t", {"n": 1})
    log._conn().execute("PRAGMA query_only = ON")
    with pytest.raises(TransportError, match="nothing was accepted"):
        log.produce("t", {"n": 2})
    assert log.count("t") == 1

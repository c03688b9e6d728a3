"""Embedded-log specifics: the file is a WAL database, a refused write says why, and a poll
across topics keeps their order and every value as written."""

from __future__ import annotations

import math
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


def test_poll_across_topics_merges_in_append_order_and_reads_every_value(tmp_path: Path) -> None:
    log = SqliteLog(tmp_path / "log.sqlite")
    for n in range(12):
        log.produce("a" if n % 3 else "b", {"n": n, "text": "é\u2028", "x": 0.1 * n})
    log.produce("b", {"n": 12, "x": float("nan")})  # JSON only the standard library reads back
    consumer = log.consumer("g", ["a", "b"])
    seen = []
    while batch := consumer.poll(max_records=5, timeout=0.05):
        assert len(batch) <= 5
        seen += batch
    assert [m.value["n"] for m in seen] == list(range(13))
    assert [m.topic for m in seen[:4]] == ["b", "a", "a", "b"]
    assert seen[4].value == {"n": 4, "text": "é\u2028", "x": 0.4}
    assert math.isnan(seen[-1].value["x"])

"""Embedded transport: a durable log in one SQLite file (WAL), with per-group committed offsets.

One partition per topic, so every key's messages stay in the order they were appended. Several
processes may share the file (the API appends while the pipeline consumes): SQLite's WAL gives
them one writer at a time and readers that never block. Appends are committed with
`synchronous=FULL` because an accepted report must survive a power cut, not only a crash.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson

from streams.sqlite_wal import use_wal
from streams.transport import Message, TransportError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS log (
    offset INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    key TEXT,
    value TEXT NOT NULL,
    ts REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS log_topic_offset ON log (topic, offset);
CREATE TABLE IF NOT EXISTS committed (
    grp TEXT NOT NULL,
    topic TEXT NOT NULL,
    offset INTEGER NOT NULL,
    PRIMARY KEY (grp, topic)
);
"""
_POLL_INTERVAL_S = 0.02


class SqliteLog:
    """The `Transport` of the embedded default."""

    def __init__(self, path: Path | str, *, synchronous: str = "FULL") -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TransportError(f"cannot make the folder of the log at {self.path}: {exc}") from exc
        self._synchronous = synchronous
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        try:
            self._conn().executescript(_SCHEMA)
        except sqlite3.Error as exc:
            self._forget_conn()
            raise self._cannot_open(exc) from exc

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                       check_same_thread=False)
            except sqlite3.Error as exc:
                raise self._cannot_open(exc) from exc
            try:
                use_wal(conn)
                conn.execute(f"PRAGMA synchronous={self._synchronous}")
            except sqlite3.Error as exc:
                conn.close()
                raise self._cannot_open(exc) from exc
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _cannot_open(self, exc: sqlite3.Error) -> TransportError:
        return TransportError(f"cannot open the log at {self.path}: {_cause(exc, self.path)}")

    def _write(self, rows: list[tuple[str, str | None, str, float]]) -> None:
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT INTO log (topic, key, value, ts) VALUES (?, ?, ?, ?)", rows)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._abandon(conn, exc)
            raise TransportError(
                f"could not append to the log at {self.path}: {_cause(exc, self.path)}; "
                "nothing was accepted"
            ) from exc

    def _abandon(self, conn: sqlite3.Connection, exc: sqlite3.Error) -> None:
        """After a failed write: roll back what is left. A connection that found the log
        read-only (opened read-only, or an I/O error) is replaced on next use, so that the log is
        written again as soon as it is writable again; a full disk needs no new connection."""
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # the transaction dies with the connection
        if getattr(exc, "sqlite_errorname", "") != "SQLITE_FULL":
            self._forget_conn()

    def _forget_conn(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            return
        self._local.conn = None
        with self._lock:
            if conn in self._connections:
                self._connections.remove(conn)
        try:
            conn.close()
        except sqlite3.Error:
            pass

    def produce(self, topic: str, value: dict[str, Any], key: str | None = None) -> None:
        self.produce_many(topic, [(key, value)])

    def produce_many(self, topic: str, items: Iterable[tuple[str | None, dict[str, Any]]]) -> None:
        now = time.time()
        rows = [(topic, key, json.dumps(value, separators=(",", ":")), now) for key, value in items]
        if rows:
            self._write(rows)

    def flush(self) -> None:
        """Every produce is committed before it returns; nothing is buffered."""

    def consumer(self, group: str, topics: Sequence[str]) -> SqliteConsumer:
        return SqliteConsumer(self, group, tuple(topics))

    def committed(self, group: str, topic: str) -> int:
        row = self._conn().execute(
            "SELECT offset FROM committed WHERE grp = ? AND topic = ?", (group, topic)
        ).fetchone()
        return row[0] if row else 0

    def end_offset(self, topic: str) -> int:
        row = self._conn().execute("SELECT MAX(offset) FROM log WHERE topic = ?", (topic,)).fetchone()
        return row[0] or 0

    def lag(self, group: str, topics: Sequence[str]) -> int:
        conn = self._conn()
        total = 0
        for topic in topics:
            row = conn.execute(
                "SELECT COUNT(*) FROM log WHERE topic = ? AND offset > ?",
                (topic, self.committed(group, topic)),
            ).fetchone()
            total += row[0]
        return total

    def count(self, topic: str) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM log WHERE topic = ?", (topic,)).fetchone()[0]

    def read_all(self, topic: str) -> Iterator[Message]:
        after = 0
        while True:
            batch = self._read(topic, after, 1000)
            if not batch:
                return
            yield from batch
            after = batch[-1].offset

    def _read(self, topic: str, after: int, limit: int) -> list[Message]:
        return [_message(topic, row) for row in self._rows(topic, after, limit)]

    def _rows(self, topic: str, after: int, limit: int) -> list[tuple[int, str | None, str, float]]:
        """(offset, key, value as stored, ts) of the next `limit` records after `after`."""
        return self._conn().execute(
            "SELECT offset, key, value, ts FROM log WHERE topic = ? AND offset > ? "
            "ORDER BY offset LIMIT ?",
            (topic, after, limit),
        ).fetchall()

    def _commit(self, group: str, positions: dict[str, int]) -> None:
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT INTO committed (grp, topic, offset) VALUES (?, ?, ?) "
                "ON CONFLICT (grp, topic) DO UPDATE SET offset = excluded.offset",
                [(group, topic, offset) for topic, offset in positions.items()],
            )
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._abandon(conn, exc)
            raise TransportError(f"could not commit offsets of {group!r} to the log at "
                                 f"{self.path}: {_cause(exc, self.path)}") from exc

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()


def _message(topic: str, row: tuple[int, str | None, str, float]) -> Message:
    offset, key, value, ts = row
    return Message(topic, 0, offset, key, _loads(value), ts)


def _loads(value: str) -> Any:
    """A stored value: orjson reads the log's JSON several times faster than the standard
    library; what only the standard library reads (NaN, Infinity) it still reads."""
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return json.loads(value)


def _cause(exc: sqlite3.Error, path: Path) -> str:
    """What went wrong, in the operator's words, with SQLite's own message after it."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name == "SQLITE_FULL":
        return f"the disk is full ({exc}): free some space"
    # The log needs its file and, for the WAL and its index, its folder writable.
    read_only = [str(p) for p in (path.parent, path) if p.exists() and not os.access(p, os.W_OK)]
    if name.startswith("SQLITE_READONLY") or name == "SQLITE_PERM" or read_only:
        return (f"the log is read-only ({exc}; not writable: {', '.join(read_only) or 'the file'})"
                ": check the permissions of its folder and files, and that its file system is "
                "mounted read-write")
    if name.startswith("SQLITE_IOERR") or name == "SQLITE_CANTOPEN":
        return f"the disk cannot be written or read ({exc}): check the disk and its mount"
    return f"{exc}: check disk space and permissions"


class SqliteConsumer:
    """A consumer of one group; messages of all its topics come in the order they were appended."""

    def __init__(self, log: SqliteLog, group: str, topics: tuple[str, ...]) -> None:
        if not topics:
            raise TransportError(f"consumer {group!r} subscribes to no topic")
        self._log = log
        self.group = group
        self.topics = topics
        self._positions = {topic: log.committed(group, topic) for topic in topics}
        self._uncommitted = False

    def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[Message]:
        deadline = time.monotonic() + timeout
        while True:
            # Merge the topics by their global append order, so that what a stage sees does not
            # depend on where batch boundaries fell: a replay after a crash sees the same order.
            # Values are decoded once chosen: of several topics' rows, most wait for a later poll.
            candidates = [(row, topic) for topic in self.topics
                          for row in self._log._rows(topic, self._positions[topic], max_records)]
            candidates.sort(key=lambda candidate: candidate[0][0])
            batch = [_message(topic, row) for row, topic in candidates[:max_records]]
            if batch:
                for message in batch:
                    self._positions[message.topic] = message.offset
                self._uncommitted = True
                return batch
            if time.monotonic() >= deadline:
                return []
            time.sleep(_POLL_INTERVAL_S)

    def commit(self) -> None:
        if self._uncommitted:
            self._log._commit(self.group, dict(self._positions))
            self._uncommitted = False

    def close(self) -> None:
        """Uncommitted messages are delivered again to the group's next consumer."""

"""Embedded transport: a durable log in one SQLite file (WAL), with per-group committed offsets.

One partition per topic, so every key's messages stay in the order they were appended. Several
processes may share the file (the API appends while the pipeline consumes): SQLite's WAL gives
them one writer at a time and readers that never block. Appends are committed with
`synchronous=FULL` because an accepted report must survive a power cut, not only a crash.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

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
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._synchronous = synchronous
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._conn().executescript(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                       check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(f"PRAGMA synchronous={self._synchronous}")
            except sqlite3.Error as exc:
                raise TransportError(f"cannot open the log at {self.path}: {exc}") from exc
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _write(self, rows: list[tuple[str, str | None, str, float]]) -> None:
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT INTO log (topic, key, value, ts) VALUES (?, ?, ?, ?)", rows)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise TransportError(
                f"could not append to the log at {self.path} ({exc}); nothing was accepted: "
                "check disk space and permissions"
            ) from exc

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
        rows = self._conn().execute(
            "SELECT offset, key, value, ts FROM log WHERE topic = ? AND offset > ? "
            "ORDER BY offset LIMIT ?",
            (topic, after, limit),
        ).fetchall()
        return [Message(topic, 0, off, key, json.loads(value), ts) for off, key, value, ts in rows]

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
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise TransportError(f"could not commit offsets of {group!r}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()


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
            candidates: list[Message] = []
            for topic in self.topics:
                candidates.extend(self._log._read(topic, self._positions[topic], max_records))
            batch = sorted(candidates, key=lambda message: message.offset)[:max_records]
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

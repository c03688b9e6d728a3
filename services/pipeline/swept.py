"""The sweeper stage's record: each event it took, with the windowed signals that event closed.

When the windowed detectors (`Sweeper`) run in a process of their own (`ews pipeline --stage
sweeper`), the detector process joins their signals into its own, event by event, in the order
one process would have raised them: first the signals of the days an event closes, then that
event's per-event signals. So the signals, and the alerts fused from them, do not depend on how
the stages are spread over processes, nor on where a crash fell.

The record is its own SQLite file, written by the one sweeper process in one transaction per
batch; its events are also what a restarted sweeper rebuilds its memory from. A backup copies
it with the log and the store (services/ops/backup.py). A first sweeper process on a system
that ran as one process so far reads the events from the start of the log; the detector
raises nothing twice of what it recorded (it skips the events it already took).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from streams.records import Event, Signal

_SCHEMA = """
CREATE TABLE IF NOT EXISTS swept (
    event_id TEXT PRIMARY KEY,
    date TEXT NOT NULL,
    event TEXT NOT NULL,
    signals TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS swept_date ON swept (date);
"""
_WAIT_POLL_S = 0.02


class SweptLog:
    """Events the sweeper took, each with the signals it closed; safe to share across threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._conn().executescript(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            self._local.conn = conn
            self._connections.append(conn)
        return conn

    def _where_in(self, columns: str, event_ids: Sequence[str]) -> Iterator[tuple]:
        """`columns` of the rows of `event_ids`, asked in chunks of SQLite's parameter bound."""
        conn = self._conn()
        for start in range(0, len(event_ids), 500):
            chunk = event_ids[start:start + 500]
            yield from conn.execute(f"SELECT {columns} FROM swept WHERE event_id IN "
                                    f"({','.join('?' * len(chunk))})", chunk)

    def taken(self, event_ids: Iterable[str]) -> set[str]:
        return {row[0] for row in self._where_in("event_id", list(event_ids))}

    def record(self, swept: Sequence[tuple[Event, Sequence[Signal]]]) -> None:
        """Store a batch's newly taken events and their signals, all or nothing."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "INSERT INTO swept (event_id, date, event, signals) VALUES (?, ?, ?, ?)",
                [(event.event_id, event.date.isoformat(), event.model_dump_json(),
                  json.dumps([signal.model_dump(mode="json") for signal in signals]))
                 for event, signals in swept])
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def recent(self, days: int) -> tuple[dt.date | None, list[Event]]:
        """The latest event date taken, and the events within `days` before it (in taken order)."""
        conn = self._conn()
        latest = conn.execute("SELECT MAX(date) FROM swept").fetchone()[0]
        if latest is None:
            return None, []
        newest = dt.date.fromisoformat(latest)
        since = (newest - dt.timedelta(days=days)).isoformat()
        return newest, [Event.model_validate_json(row[0]) for row in conn.execute(
            "SELECT event FROM swept WHERE date >= ? ORDER BY rowid", (since,))]

    def signals_closed_by(self, events: Sequence[Event], *, within: float
                          ) -> tuple[dict[str, list[Signal]] | None, int]:
        """Each event's windowed signals once the sweeper has taken every one of `events`,
        waiting up to `within` seconds for it; else None. Also how many are not taken yet.

        The detector may run ahead of the sweeper process, never past it.
        """
        wanted = list(dict.fromkeys(event.event_id for event in events))
        found: dict[str, list[Signal]] = {}
        deadline = time.monotonic() + within
        while True:
            missing = [event_id for event_id in wanted if event_id not in found]
            for event_id, signals in self._where_in("event_id, signals", missing):
                found[event_id] = [Signal.model_validate(s) for s in json.loads(signals)]
            if len(found) == len(wanted):
                return found, 0
            if time.monotonic() >= deadline:
                return None, len(wanted) - len(found)
            time.sleep(_WAIT_POLL_S)

    def close(self) -> None:
        for conn in self._connections:
            conn.close()
        self._connections.clear()
        self._local = threading.local()

"""Detector state in a faust Table (a changelog topic behind it), for the scaled deployment.

The same interface as `services.detector.state.DetectorState`, so the same `detect` runs over
either; what differs is where the state lives and how a batch is made durable:

- Everything is keyed by what it counts, as in the store: an event id, a (series, period) with
  the reports counted in it, a (structure, area) sighting. A redelivered event finds its marker
  and changes nothing.
- A series-period is one record holding its reports, so its count and the claims behind it are
  written together: a crash can never leave a count without its claims or the reverse.
- `flush` only closes the batch; `commit` writes it, and the worker calls it after the batch's
  signals are acknowledged by the brokers. The writes of one source partition go to one changelog
  partition, in order, and each event's marker is written last, so after a crash the changelog
  holds a prefix: an event whose marker is there is complete, and one whose marker is not is
  handled again, its partial counts refusing to count twice and its signals (sent before any of
  its state) already out.
- Sightings are split by scope: the area agent (events keyed by area) claims per-area sightings;
  national ones cross areas, so a second agent, on events re-keyed by structure, claims them in
  a table of its own (`scope="national"`). Each state answers "already claimed" for the scope it
  does not own, which is what keeps the other scope's signal from being raised twice.
- When the data begin (`first_event_date`) is kept per partition: the earliest event the areas of
  that partition have sent. The embedded store keeps one date for the whole system; a global date
  here would depend on how fast other workers run, and the per-partition one does not.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, Protocol

from services.detector.state import DAILY, NATIONAL, STEP, WEEKLY, Series
from streams.records import Event

Scope = Literal["area", "national"]
EVENT, COUNT, SIGHTING, DATA_START = "event", "count", "sighting", "data_start"


class StateTable(Protocol):
    """What this state needs of a faust Table (a dict serves in tests)."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def __setitem__(self, key: str, value: Any) -> None: ...


def table_key(kind: str, *parts: object) -> str:
    """A table key: a JSON array of text, readable in the changelog and parsed back by `parse_key`."""
    return json.dumps([kind, *(str(part) for part in parts)], separators=(",", ":"))


def parse_key(key: str) -> list[str]:
    return json.loads(key)


class TableState:
    """Detector state for one batch of events of one source partition, over a table."""

    def __init__(self, table: StateTable, *, partition: int, scope: Scope = "area",
                 history: dict[str, int] | None = None) -> None:
        """
        Args:
            table: the faust Table (keyed by text, JSON values).
            partition: the source partition the batch came from (its changelog partition).
            scope: which first sightings this state owns: per area, or national.
            history: periods `counts_before` may look back; `detect` sets it per batch.
        """
        self.table = table
        self.partition = partition
        self.scope = scope
        self.history = history or {WEEKLY: 9, DAILY: 9}
        self._events: dict[str, dt.date] = {}
        self._sightings: dict[str, dict[str, Any]] = {}
        self._reports: dict[str, list[str]] = {}
        self._closed = False

    def prefetch(self, events: Sequence[Event]) -> None:
        """Nothing to load: the table is in this worker's memory, recovered from its changelog."""

    def add_event(self, event: Event) -> bool:
        """Record an event; False when it was already recorded (a redelivery)."""
        key = table_key(EVENT, event.event_id)
        if key in self._events or self.table.get(key) is not None:
            return False
        self._events[key] = event.date
        return True

    def claim_sighting(self, substance_key: str, area_code: str, event: Event) -> bool:
        """True when this is the first sighting of the structure in the area (or nationally).

        False, too, for the scope another agent owns (see the module docstring).
        """
        if (area_code == NATIONAL) != (self.scope == "national"):
            return False
        key = table_key(SIGHTING, substance_key, area_code)
        if key in self._sightings or self.table.get(key) is not None:
            return False
        self._sightings[key] = {"first_date": event.date.isoformat(),
                                "first_event_id": event.event_id}
        return True

    def _counted(self, series: Series, period: dt.date) -> tuple[str, list[str]]:
        key = table_key(COUNT, *series.key, period.isoformat())
        reports = self._reports.get(key)
        if reports is None:
            reports = self.table.get(key) or []
        return key, reports

    def count_report(self, series: Series, period: dt.date, report_key: str) -> int | None:
        """Count a report in a series-period; the new count, or None if it was already counted."""
        key, reports = self._counted(series, period)
        if report_key in reports:
            return None
        self._reports[key] = [*reports, report_key]
        return len(self._reports[key])

    def counts_before(self, series: Series, period: dt.date, periods: int) -> list[int]:
        """Counts of the `periods` periods before `period`, oldest first, zeros filled in."""
        if periods > self.history[series.freq]:
            raise ValueError(f"history of {periods} periods asked, "
                             f"{self.history[series.freq]} prefetched")
        step = STEP[series.freq]
        start = period - periods * step
        return [len(self._counted(series, start + i * step)[1]) for i in range(periods)]

    def series_reports(self, series: Series, period: dt.date, limit: int = 50) -> list[str]:
        """The reports counted in a series-period (for a signal's evidence), the first `limit`
        by key, as `DetectorState` gives them."""
        return sorted(self._counted(series, period)[1])[:limit]

    def first_event_date(self) -> dt.date | None:
        """When this partition's data begin: before that, no history exists to judge against."""
        stored = self.table.get(table_key(DATA_START, self.partition))
        return dt.date.fromisoformat(stored) if stored else None

    def flush(self) -> None:
        """Close the batch; `commit` writes it once its signals are safely sent."""
        self._closed = True

    def commit(self) -> int:
        """Write the batch to the table (and so to its changelog); the number of records written.

        Counts and sightings first, then when the data begin, then the event markers, so that a
        marker in the changelog means everything of its event is there too.
        """
        if not self._closed:
            raise RuntimeError("commit before flush: the batch is still being handled")
        writes: list[tuple[str, Any]] = [*self._reports.items(), *self._sightings.items()]
        if self._events:
            stored = self.first_event_date()
            earliest = min(self._events.values())
            if stored is None or earliest < stored:
                writes.append((table_key(DATA_START, self.partition), earliest.isoformat()))
        writes += [(key, True) for key in self._events]
        for key, value in writes:
            self.table[key] = value
        self._events, self._sightings, self._reports = {}, {}, {}
        return len(writes)


def replay_changelog(records: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """A table as its changelog leaves it: the last value of each key (None deletes it).

    Args:
        records: (key, value) in changelog order; faust writes the keys as JSON text, as read
            back by `streams.kafka` (`json.loads` of it is the table's key).
    """
    table: dict[str, Any] = {}
    for raw_key, value in records:
        key = json.loads(raw_key)
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value
    return table


def series_counts(table: Mapping[str, Any]) -> dict[tuple[str, ...], int]:
    """Counts by (dimension, value, area, source, freq, period ISO date), as the store has them."""
    out: dict[tuple[str, ...], int] = {}
    for key, value in table.items():
        kind, *parts = parse_key(key)
        if kind == COUNT:
            out[tuple(parts)] = len(value)
    return out

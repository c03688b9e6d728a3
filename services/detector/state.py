"""Detector state in the system of record: events seen, weekly counts, first sightings.

Every update is keyed by what it counts (event id, series and report), so a redelivered event
changes nothing: this is what turns at-least-once delivery into exactly-once counts.

A batch is handled in memory: `prefetch` loads what the batch can touch in a few bulk queries,
the detectors read and update the cached state event by event (so the order of events within a
batch matters exactly as it would one at a time), and `flush` writes the changes back with bulk
statements inside the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from services.store import EventRow, SeriesCount, SeriesReport, Sighting, engine_insert
from streams.records import Event

NATIONAL = "*"
# Class labels that group unrelated substances (cocaine, cuts, unknowns): no series of their own.
UNCOUNTED_CLASSES = frozenset({"other"})
_CHUNK = 300


@dataclass(frozen=True)
class Series:
    """One count series: area x (substance | class) x source, per week."""

    dimension: str  # "substance" or "class"
    value: str
    area_code: str
    source: str

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.dimension, self.value, self.area_code, self.source)


def series_of(event: Event) -> list[Series]:
    """The series an event counts in (none when it names no substance or class).

    Substances are counted by preferred name where there is one, so that a street name with one
    candidate ("crack") counts with the structure it names ("cocaine").
    """
    out: list[Series] = []
    substance = event.substance_name or event.substance_key
    if substance:
        out.append(Series("substance", substance, event.area_code, event.source))
    if event.substance_class and event.substance_class not in UNCOUNTED_CLASSES:
        out.append(Series("class", event.substance_class, event.area_code, event.source))
    return out


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start:start + _CHUNK]


class DetectorState:
    """State for one batch of events, inside the caller's transaction."""

    def __init__(self, session: Session, *, history_weeks: int = 9) -> None:
        self.session = session
        self._insert = engine_insert(session.get_bind())
        self._history_weeks = history_weeks
        self._events_seen: set[str] = set()
        self._sightings: set[tuple[str, str]] = set()
        self._counts: dict[tuple[tuple[str, str, str, str], dt.date], int] = {}
        self._counted: set[tuple[tuple[str, str, str, str], dt.date, str]] = set()
        self._new_events: list[dict[str, Any]] = []
        self._new_sightings: list[dict[str, Any]] = []
        self._new_reports: list[dict[str, Any]] = []
        self._dirty_counts: set[tuple[tuple[str, str, str, str], dt.date]] = set()
        self._reports_by_series_week: dict[tuple[tuple[str, str, str, str], dt.date], list[str]] = defaultdict(list)

    def prefetch(self, events: Sequence[Event]) -> None:
        """Load everything these events can read, in a handful of bulk queries."""
        ids = [event.event_id for event in events]
        for chunk in _chunks(ids):
            self._events_seen.update(self.session.execute(
                select(EventRow.event_id).where(EventRow.event_id.in_(chunk))).scalars())
        keys = sorted({event.substance_key for event in events if event.substance_key})
        for chunk in _chunks(keys):
            self._sightings.update(tuple(row) for row in self.session.execute(
                select(Sighting.substance_key, Sighting.area_code)
                .where(Sighting.substance_key.in_(chunk))))
        weeks: dict[tuple[str, str, str, str], list[dt.date]] = defaultdict(list)
        for event in events:
            for series in series_of(event):
                weeks[series.key].append(event.week)
        if not weeks:
            return
        earliest = min(min(ws) for ws in weeks.values()) - dt.timedelta(weeks=self._history_weeks)
        latest = max(max(ws) for ws in weeks.values())
        series_keys = sorted(weeks)
        for chunk in _chunks(series_keys):
            rows = self.session.execute(
                select(SeriesCount.dimension, SeriesCount.value, SeriesCount.area_code,
                       SeriesCount.source, SeriesCount.week, SeriesCount.count).where(
                    tuple_(SeriesCount.dimension, SeriesCount.value, SeriesCount.area_code,
                           SeriesCount.source).in_(chunk),
                    SeriesCount.week >= earliest, SeriesCount.week <= latest)
            )
            for dim, value, area, source, week, count in rows:
                self._counts[((dim, value, area, source), week)] = count
        reports = sorted({event.report_key for event in events})
        for chunk in _chunks(reports):
            rows = self.session.execute(
                select(SeriesReport.dimension, SeriesReport.value, SeriesReport.area_code,
                       SeriesReport.source, SeriesReport.week, SeriesReport.report_key)
                .where(SeriesReport.report_key.in_(chunk))
            )
            self._counted.update(((d, v, a, s), w, r) for d, v, a, s, w, r in rows)

    def add_event(self, event: Event) -> bool:
        """Record an event; False when it was already recorded (a redelivery)."""
        if event.event_id in self._events_seen:
            return False
        self._events_seen.add(event.event_id)
        self._new_events.append({
            "event_id": event.event_id, "report_key": event.report_key, "source": event.source,
            "area_code": event.area_code, "date": event.date, "substance_key": event.substance_key,
            "substance_class": event.substance_class, "payload": event.model_dump(mode="json"),
        })
        return True

    def claim_sighting(self, substance_key: str, area_code: str, event: Event) -> bool:
        """True when this is the first sighting of the structure in the area (or nationally)."""
        if (substance_key, area_code) in self._sightings:
            return False
        self._sightings.add((substance_key, area_code))
        self._new_sightings.append({"substance_key": substance_key, "area_code": area_code,
                                    "first_date": event.date, "first_event_id": event.event_id})
        return True

    def count_report(self, series: Series, week: dt.date, report_key: str) -> int | None:
        """Count a report in a series-week; the new count, or None if it was already counted."""
        claim = (series.key, week, report_key)
        if claim in self._counted:
            return None
        self._counted.add(claim)
        dim, value, area, source = series.key
        self._new_reports.append({"dimension": dim, "value": value, "area_code": area,
                                  "source": source, "week": week, "report_key": report_key})
        self._reports_by_series_week[(series.key, week)].append(report_key)
        count = self._counts.get((series.key, week), 0) + 1
        self._counts[(series.key, week)] = count
        self._dirty_counts.add((series.key, week))
        return count

    def weekly_history(self, series: Series, week: dt.date, weeks: int) -> list[int]:
        """Counts of the `weeks` weeks before `week`, oldest first, zeros filled in."""
        if weeks > self._history_weeks:
            raise ValueError(f"history of {weeks} weeks asked, {self._history_weeks} prefetched")
        start = week - dt.timedelta(weeks=weeks)
        return [self._counts.get((series.key, start + dt.timedelta(weeks=i)), 0) for i in range(weeks)]

    def series_reports(self, series: Series, week: dt.date, limit: int = 50) -> list[str]:
        """The reports counted in a series-week (for a signal's evidence)."""
        stored = list(self.session.execute(
            select(SeriesReport.report_key).where(
                SeriesReport.dimension == series.dimension, SeriesReport.value == series.value,
                SeriesReport.area_code == series.area_code, SeriesReport.source == series.source,
                SeriesReport.week == week,
            ).limit(limit)
        ).scalars())
        pending = [key for key in self._reports_by_series_week[(series.key, week)] if key not in stored]
        return (stored + pending)[:limit]

    def first_event_date(self) -> dt.date | None:
        """When the system's data begin: before that, no history exists to judge against."""
        return self.session.execute(select(func.min(EventRow.date))).scalar_one_or_none()

    def flush(self) -> None:
        """Write this batch's changes back, in bulk."""
        insert = self._insert
        if self._new_events:
            self.session.execute(insert(EventRow).on_conflict_do_nothing(), self._new_events)
        if self._new_sightings:
            self.session.execute(insert(Sighting).on_conflict_do_nothing(), self._new_sightings)
        if self._new_reports:
            self.session.execute(insert(SeriesReport).on_conflict_do_nothing(), self._new_reports)
        if self._dirty_counts:
            rows = [{"dimension": key[0], "value": key[1], "area_code": key[2], "source": key[3],
                     "week": week, "count": self._counts[(key, week)]}
                    for key, week in sorted(self._dirty_counts)]
            stmt = insert(SeriesCount)
            self.session.execute(stmt.on_conflict_do_update(
                index_elements=["dimension", "value", "area_code", "source", "week"],
                set_={"count": stmt.excluded.count}), rows)
        self._new_events, self._new_sightings, self._new_reports = [], [], []
        self._dirty_counts = set()

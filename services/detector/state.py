"""Detector state in the system of record: events seen, weekly counts, first sightings.

Every update is keyed by what it counts (event id, series and report), so a redelivered event
changes nothing: this is what turns at-least-once delivery into exactly-once counts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.store import EventRow, SeriesCount, SeriesReport, Sighting, engine_insert
from streams.records import Event

NATIONAL = "*"


@dataclass(frozen=True)
class Series:
    """One count series: area x (substance | class) x source, per week."""

    dimension: str  # "substance" or "class"
    value: str
    area_code: str
    source: str


def series_of(event: Event) -> list[Series]:
    """The series an event counts in (none when it names no substance or class)."""
    out: list[Series] = []
    substance = event.substance_key or (f"name:{event.substance_name}" if event.substance_name else None)
    if substance:
        out.append(Series("substance", substance, event.area_code, event.source))
    if event.substance_class:
        out.append(Series("class", event.substance_class, event.area_code, event.source))
    return out


class DetectorState:
    """State operations for one batch, inside the caller's transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._insert = engine_insert(session.get_bind())

    def add_event(self, event: Event) -> bool:
        """Record an event; False when it was already recorded (a redelivery)."""
        stmt = self._insert(EventRow).values(
            event_id=event.event_id, report_key=event.report_key, source=event.source,
            area_code=event.area_code, date=event.date, substance_key=event.substance_key,
            substance_class=event.substance_class, payload=event.model_dump(mode="json"),
        ).on_conflict_do_nothing(index_elements=["event_id"])
        return self.session.execute(stmt).rowcount == 1

    def claim_sighting(self, substance_key: str, area_code: str, event: Event) -> bool:
        """True when this is the first sighting of the structure in the area (or nationally)."""
        stmt = self._insert(Sighting).values(
            substance_key=substance_key, area_code=area_code, first_date=event.date,
            first_event_id=event.event_id,
        ).on_conflict_do_nothing(index_elements=["substance_key", "area_code"])
        return self.session.execute(stmt).rowcount == 1

    def count_report(self, series: Series, week: dt.date, report_key: str) -> int | None:
        """Count a report in a series-week; the new count, or None if it was already counted."""
        claimed = self.session.execute(
            self._insert(SeriesReport).values(
                dimension=series.dimension, value=series.value, area_code=series.area_code,
                source=series.source, week=week, report_key=report_key,
            ).on_conflict_do_nothing()
        ).rowcount == 1
        if not claimed:
            return None
        stmt = self._insert(SeriesCount).values(
            dimension=series.dimension, value=series.value, area_code=series.area_code,
            source=series.source, week=week, count=1,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["dimension", "value", "area_code", "source", "week"],
            set_={"count": SeriesCount.count + 1},
        ).returning(SeriesCount.count)
        return int(self.session.execute(stmt).scalar_one())

    def weekly_history(self, series: Series, week: dt.date, weeks: int) -> list[int]:
        """Counts of the `weeks` weeks before `week`, oldest first, zeros filled in."""
        start = week - dt.timedelta(weeks=weeks)
        rows = self.session.execute(
            select(SeriesCount.week, SeriesCount.count).where(
                SeriesCount.dimension == series.dimension, SeriesCount.value == series.value,
                SeriesCount.area_code == series.area_code, SeriesCount.source == series.source,
                SeriesCount.week >= start, SeriesCount.week < week,
            )
        ).all()
        by_week = dict(rows)
        return [by_week.get(start + dt.timedelta(weeks=i), 0) for i in range(weeks)]

    def series_reports(self, series: Series, week: dt.date, limit: int = 50) -> list[str]:
        return list(self.session.execute(
            select(SeriesReport.report_key).where(
                SeriesReport.dimension == series.dimension, SeriesReport.value == series.value,
                SeriesReport.area_code == series.area_code, SeriesReport.source == series.source,
                SeriesReport.week == week,
            ).limit(limit)
        ).scalars())

    def first_event_date(self) -> dt.date | None:
        """When the system's data begin: before that, no history exists to judge against."""
        return self.session.execute(select(func.min(EventRow.date))).scalar_one_or_none()

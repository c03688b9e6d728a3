"""Detector state in the system of record: events seen, weekly counts, first sightings.

Every update is keyed by what it counts (event id, series and report), so a redelivered event
changes nothing: this is what turns at-least-once delivery into exactly-once counts.

A batch is handled in memory: `prefetch` loads what the batch can touch in a few bulk queries,
the detectors read and update the cached state event by event (so the order of events within a
batch matters exactly as it would one at a time), and `flush` writes the changes back with bulk
statements inside the caller's transaction. A detector that runs batch after batch keeps the
counts it read and wrote in memory (`KeptCounts`), so that the next batch reads only series it
has not seen: at five years of look-back, reading them anew for each batch was most of its cost.
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Any

from sqlalchemy import Select, and_, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from services.store import (
    CountsVersion,
    EventRow,
    SeriesCount,
    SeriesReport,
    Sighting,
    insert_rows,
    select_rows,
)
from streams.records import Event

NATIONAL = "*"
# Class labels that group unrelated substances (cocaine, cuts, unknowns): no series of their own.
UNCOUNTED_CLASSES = frozenset({"other"})
# Threats that can kill within days are also counted per day, so a rise shows before the week ends.
FAST_CLASSES = frozenset({"nitazene", "fentanyl_analogue", "xylazine_like"})
WEEKLY, DAILY = "W", "D"
STEP = {WEEKLY: dt.timedelta(weeks=1), DAILY: dt.timedelta(days=1)}
_CHUNK = 300
_OR_CHUNK = 256  # a power of two: see `_padded`
_EVENTS, _SIGHTINGS = EventRow.__table__, Sighting.__table__
_COUNTS, _REPORTS = SeriesCount.__table__, SeriesReport.__table__

SeriesKey = tuple[str, str, str, str, str]


@dataclass(frozen=True)
class Series:
    """One count series: area x (substance | class) x source, per week or per day."""

    dimension: str  # "substance" or "class"
    value: str
    area_code: str
    source: str
    freq: str = WEEKLY

    # Cached: the detectors read it some ten times per event.
    @cached_property
    def key(self) -> SeriesKey:
        return (self.dimension, self.value, self.area_code, self.source, self.freq)

    def period_of(self, day: dt.date) -> dt.date:
        """The start of the period a day is counted in (a Monday for weekly series)."""
        return _monday(day) if self.freq == WEEKLY else day


@cache
def _monday(day: dt.date) -> dt.date:
    """The Monday a day's week starts on (days repeat: some 80,000 look-ups in a year's data)."""
    return day - dt.timedelta(days=day.weekday())


def series_of(event: Event) -> list[Series]:
    """The series an event counts in (none when it names no substance or class).

    Substances are counted by preferred name where there is one, so that a street name with one
    candidate ("crack") counts with the structure it names ("cocaine"). Dangerous classes and
    new structures are counted per day as well as per week.
    """
    out: list[Series] = []
    substance = event.substance_name or event.substance_key
    if substance:
        out.append(Series("substance", substance, event.area_code, event.source))
    if event.substance_class and event.substance_class not in UNCOUNTED_CLASSES:
        out.append(Series("class", event.substance_class, event.area_code, event.source))
    if event.substance_class in FAST_CLASSES or event.novel:
        out += [Series(s.dimension, s.value, s.area_code, s.source, DAILY) for s in list(out)]
    return out


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _key_terms(columns: Sequence[Any], terms: int) -> Any:
    """`terms` equality terms on `columns`, OR'd (parameters named column and term: value0,
    area_code0, value1, ...): each a search of the primary key, where a row-value IN reads the
    whole table on SQLite, a cost growing with history."""
    return or_(*(and_(*(column == bindparam(f"{column.key}{i}", type_=column.type)
                        for column in columns))
                 for i in range(terms)))


def _key_params(columns: Sequence[Any], chunk: Sequence[tuple]) -> dict[str, Any]:
    """The parameters of `_key_terms(columns, len(chunk))` for these keys."""
    return {f"{column.key}{i}": value for i, key in enumerate(chunk)
            for column, value in zip(columns, key, strict=True)}


_COUNT_KEY = (_COUNTS.c.dimension, _COUNTS.c.value, _COUNTS.c.area_code, _COUNTS.c.source,
              _COUNTS.c.freq)
_SIGHTING_KEY = (_SIGHTINGS.c.substance_key, _SIGHTINGS.c.area_code)


@cache
def _counts_query(terms: int) -> Select:
    """Counts of `terms` series (`_key_terms` on `_COUNT_KEY`) from `earliest` on (to the end: a
    series' counts kept in memory must hold every period after the first it read).

    Built once per number of terms, which `_padded` keeps to powers of two: each number is a
    statement of its own in SQLAlchemy's compiled cache, and building the terms anew for each
    batch cost more than running the query.
    """
    c = _COUNTS.c
    return select(*_COUNT_KEY, c.period, c.count).where(
        _key_terms(_COUNT_KEY, terms), c.period >= bindparam("earliest", type_=c.period.type))


@cache
def _sightings_query(terms: int) -> Select:
    """Sightings of `terms` (structure, area) pairs (`_key_terms` on `_SIGHTING_KEY`), built
    once per number of terms as `_counts_query` is."""
    return select(*_SIGHTING_KEY).where(_key_terms(_SIGHTING_KEY, terms))


def _padded(chunk: Sequence[Any]) -> list[Any]:
    """`chunk` with its last item repeated up to the next power of two."""
    return [*chunk, *[chunk[-1]] * ((1 << (len(chunk) - 1).bit_length()) - len(chunk))]


Counts = dict[dt.date, int]  # a series' counts by period (periods without reports absent)


class KeptCounts:
    """Series counts kept from one batch of a detector to the next, least recently used dropped
    beyond `max_counts` periods (some 60 bytes each).

    A series keeps the periods its judgements look back over and `slack` more (for reports that
    arrive late); older ones are dropped as new ones come, so that a series' memory does not
    grow with the years of data and the bound holds the series in use rather than their past.

    They hold while nobody else writes counts: each batch that writes counts advances the store's
    `CountsVersion` in its transaction, and stages what it read and wrote here. The next batch
    (`sync`) takes the staged counts in when the version is the one staged (the transaction
    committed), keeps what it had when the version is the one it had (rolled back), and forgets
    everything when the version is any other (another writer, a restore).
    """

    def __init__(self, max_counts: int = 500_000, slack: int = 13) -> None:
        self.max_counts = max_counts
        self.slack = slack  # periods: a quarter of weeks, or a fortnight of days
        self._series: OrderedDict[SeriesKey, tuple[dt.date, Counts]] = OrderedDict()
        self._size = 0
        self._version: int | None = None
        self._staged: tuple[int, dict[SeriesKey, tuple[dt.date, Counts]]] | None = None
        self.hits = self.misses = 0  # series asked for, kept and not

    def sync(self, version: int) -> None:
        """At the start of a batch, with the store's counts version as that batch reads it."""
        staged, self._staged = self._staged, None
        if staged is not None and staged[0] == version:
            for key, span in staged[1].items():
                self._put(key, span)
        elif version != self._version:
            self._series.clear()
            self._size = 0
        self._version = version

    def get(self, key: SeriesKey, earliest: dt.date) -> tuple[dt.date, Counts] | None:
        """A series' counts from `earliest` on or before (its first period read, and the counts:
        not to be changed), or None when not kept that far back."""
        span = self._series.get(key)
        if span is None or span[0] > earliest:
            self.misses += 1
            return None
        self.hits += 1
        self._series.move_to_end(key)
        return span

    def stage(self, version: int, spans: dict[SeriesKey, tuple[dt.date, Counts]],
              history: dict[str, int] | None = None) -> None:
        """What a batch read and wrote, valid at `version` once its transaction commits;
        `history`: how many periods before a judged one its judgements read, per frequency."""
        if history is not None:
            spans = {key: self._trimmed(key, span, history[key[4]]) for key, span in spans.items()}
        self._staged = (version, spans)

    def _trimmed(self, key: SeriesKey, span: tuple[dt.date, Counts], periods: int
                 ) -> tuple[dt.date, Counts]:
        """The span without the periods more than `periods + slack` before its newest. Only once
        it holds `slack` more than that, so that a span is not copied at every batch."""
        first, counts = span
        if len(counts) <= periods + 2 * self.slack:
            return span
        bound = max(counts) - (periods + self.slack) * STEP[key[4]]
        return max(first, bound), {period: n for period, n in counts.items() if period >= bound}

    def __len__(self) -> int:
        return self._size

    def _put(self, key: SeriesKey, span: tuple[dt.date, Counts]) -> None:
        old = self._series.pop(key, None)
        self._size += len(span[1]) - (len(old[1]) if old else 0)
        self._series[key] = span
        while self._size > self.max_counts and self._series:
            _, (_, dropped) = self._series.popitem(last=False)
            self._size -= len(dropped)


_VERSION = CountsVersion.__table__


def counts_version(session: Session) -> int:
    """The store's counts version (0 before any counts were written)."""
    return session.execute(select(_VERSION.c.version).where(_VERSION.c.id == 1)
                           ).scalar_one_or_none() or 0


def _advance_counts_version(session: Session) -> int:
    insert_rows(session, _VERSION, [{"id": 1, "version": 0}])  # (the first time only)
    session.execute(update(_VERSION).where(_VERSION.c.id == 1)
                    .values(version=_VERSION.c.version + 1))
    return counts_version(session)


class DetectorState:
    """State for one batch of events, inside the caller's transaction."""

    def __init__(self, session: Session, *, history: dict[str, int] | None = None,
                 kept: KeptCounts | None = None) -> None:
        self.session = session
        self.history = history or {WEEKLY: 9, DAILY: 9}
        self._kept = kept
        self._events_seen: set[str] = set()
        self._sightings: set[tuple[str, str]] = set()
        # Each series' counts from its first period read (`_first`) on. A kept series' counts
        # are shared with `kept` until this batch counts in it (then copied: `_own`).
        self._counts: dict[SeriesKey, Counts] = {}
        self._first: dict[SeriesKey, dt.date] = {}
        self._own: set[SeriesKey] = set()
        self._version: int | None = None  # the counts version a kept batch read at
        self._counted: set[tuple[SeriesKey, dt.date, str]] = set()
        self._new_events: list[dict[str, Any]] = []
        self._new_sightings: list[dict[str, Any]] = []
        self._new_reports: list[dict[str, Any]] = []
        self._dirty_counts: set[tuple[SeriesKey, dt.date]] = set()
        self._reports_by_period: dict[tuple[SeriesKey, dt.date], list[str]] = defaultdict(list)

    def prefetch(self, events: Sequence[Event]) -> None:
        """Load everything these events can read, in a handful of bulk queries (on the tables:
        the ORM's handling of a query costs more than SQLite's answering it)."""
        reports_ = _REPORTS.c
        ids = [event.event_id for event in events]
        for chunk in _chunks(ids):
            self._events_seen.update(self.session.execute(
                select(_EVENTS.c.event_id).where(_EVENTS.c.event_id.in_(chunk))).scalars())
        # Only the sightings these events can claim: a common drug has one in every area, and
        # reading them all for each batch had cost more than the rest of the look-ups together.
        pairs = sorted({(event.substance_key, area) for event in events if event.substance_key
                        for area in (NATIONAL, event.area_code)})
        for chunk in _chunks(pairs, _OR_CHUNK):
            chunk = _padded(chunk)
            self._sightings.update(map(tuple, self.session.execute(
                _sightings_query(len(chunk)), _key_params(_SIGHTING_KEY, chunk))))
        periods: dict[SeriesKey, list[dt.date]] = defaultdict(list)
        for event in events:
            for series in series_of(event):
                periods[series.key].append(series.period_of(event.date))
        if not periods:
            return
        if self._kept is not None:
            self._version = counts_version(self.session)
            self._kept.sync(self._version)
        for freq in (WEEKLY, DAILY):
            keys = sorted(key for key in periods if key[4] == freq)
            if not keys:
                continue
            back = self.history[freq] * STEP[freq]
            unread = []
            for key in keys:
                span = (self._kept.get(key, min(periods[key]) - back)
                        if self._kept is not None else None)
                if span is None:
                    unread.append(key)
                else:
                    self._first[key], self._counts[key] = span
            if not unread:
                continue
            earliest = min(min(periods[key]) for key in unread) - back
            for key in unread:
                self._first[key], self._counts[key] = earliest, {}
                self._own.add(key)
            for chunk in _chunks(unread, _OR_CHUNK):
                chunk = _padded(chunk)
                params = {"earliest": earliest, **_key_params(_COUNT_KEY, chunk)}
                rows = select_rows(self.session, _counts_query(len(chunk)), params)
                for dim, value, area, source, row_freq, period, count in rows:
                    self._counts[(dim, value, area, source, row_freq)][period] = count
        reports = sorted({event.report_key for event in events})
        for chunk in _chunks(reports):
            rows = self.session.execute(
                select(reports_.dimension, reports_.value, reports_.area_code, reports_.source,
                       reports_.freq, reports_.period, reports_.report_key)
                .where(reports_.report_key.in_(chunk))
            )
            self._counted.update(((d, v, a, s, f), p, r) for d, v, a, s, f, p, r in rows)

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

    def count_report(self, series: Series, period: dt.date, report_key: str) -> int | None:
        """Count a report in a series-period; the new count, or None if it was already counted."""
        claim = (series.key, period, report_key)
        if claim in self._counted:
            return None
        self._counted.add(claim)
        dim, value, area, source, freq = series.key
        self._new_reports.append({"dimension": dim, "value": value, "area_code": area,
                                  "source": source, "freq": freq, "period": period,
                                  "report_key": report_key})
        self._reports_by_period[(series.key, period)].append(report_key)
        counts = self._own_counts(series.key)
        count = counts[period] = counts.get(period, 0) + 1
        self._dirty_counts.add((series.key, period))
        return count

    def _own_counts(self, key: SeriesKey) -> Counts:
        """A series' counts this batch may change (not those `kept` holds)."""
        if key not in self._own:
            # (a series no event of the prefetched batch named starts from nothing read)
            self._counts[key] = dict(self._counts.get(key, {}))
            self._first.setdefault(key, dt.date.max)
            self._own.add(key)
        return self._counts[key]

    def counts_before(self, series: Series, period: dt.date, periods: int) -> list[int]:
        """Counts of the `periods` periods before `period`, oldest first, zeros filled in."""
        if periods > self.history[series.freq]:
            raise ValueError(f"history of {periods} periods asked, {self.history[series.freq]} prefetched")
        step = STEP[series.freq]
        start = period - periods * step
        counts = self._counts.get(series.key, {})
        return [counts.get(start + i * step, 0) for i in range(periods)]

    def series_reports(self, series: Series, period: dt.date, limit: int = 50) -> list[str]:
        """The reports counted in a series-period (for a signal's evidence), the first `limit`
        by key: the same whichever batches they were stored in."""
        stored = list(self.session.execute(
            select(SeriesReport.report_key).where(
                SeriesReport.dimension == series.dimension, SeriesReport.value == series.value,
                SeriesReport.area_code == series.area_code, SeriesReport.source == series.source,
                SeriesReport.freq == series.freq, SeriesReport.period == period,
            ).order_by(SeriesReport.report_key).limit(limit)
        ).scalars())
        pending = [key for key in self._reports_by_period[(series.key, period)] if key not in stored]
        return sorted(stored + pending)[:limit]

    def first_event_date(self) -> dt.date | None:
        """When the system's data begin: before that, no history exists to judge against."""
        return self.session.execute(select(func.min(EventRow.date))).scalar_one_or_none()

    def flush(self) -> None:
        """Write this batch's changes back, in bulk (`insert_rows`: not through the ORM, whose
        handling of each row costs more than the statements, and these rows are never loaded
        as objects here)."""
        session = self.session
        insert_rows(session, _EVENTS, self._new_events)
        insert_rows(session, _SIGHTINGS, self._new_sightings)
        insert_rows(session, _REPORTS, self._new_reports)
        insert_rows(session, _COUNTS, [
            {"dimension": key[0], "value": key[1], "area_code": key[2], "source": key[3],
             "freq": key[4], "period": period, "count": self._counts[key][period]}
            for key, period in sorted(self._dirty_counts)], update=("count",))
        version = _advance_counts_version(session) if self._dirty_counts else self._version
        if self._kept is not None and self._version is not None:  # (after a prefetch's sync)
            self._kept.stage(version, {key: (first, self._counts[key])
                                       for key, first in self._first.items()
                                       if first != dt.date.max}, self.history)
        self._new_events, self._new_sightings, self._new_reports = [], [], []
        self._dirty_counts = set()

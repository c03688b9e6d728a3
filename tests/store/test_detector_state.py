"""Detector state on the store: exact counts from bulk upserts, and redelivery changes nothing.

Runs `DetectorState` as the detectors do (prefetch, add_event, claim_sighting, count_report,
flush) over batches large enough to need several chunks and several multi-row statements.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select

from services.detector.state import NATIONAL, DetectorState, series_of
from services.store import EventRow, SeriesCount, SeriesReport, Sighting, Store
from streams.records import Event, report_key
from tests.conftest import mention_event

MONDAY = dt.date(2025, 1, 6)
AREAS = ["E08000025", "E08000026", "E06000001"]
SUBSTANCES = [  # (InChIKey-shaped key, preferred name, class); two share a class
    ("SJHUJFHOXYDSJY-UHFFFAOYSA-N", "protonitazene", "nitazene"),
    ("UZZPOLCDCVWLAZ-UHFFFAOYSA-N", "butonitazene", "nitazene"),
    ("BPGDAMSIGCZZLK-UHFFFAOYSA-N", "xylazine", "xylazine_like"),
    ("ZPUCINDJVBIVPJ-LJISPDSOSA-N", "cocaine", "other"),  # class not counted
    (None, None, None),  # a mention nothing resolved
]


def _reports(n: int, seed: int = 7) -> list[Event]:
    """n reports of 1-3 mentions over 4 weeks, 3 areas and 2 sources."""
    rng = random.Random(seed)
    events = []
    for r in range(n):
        day = MONDAY + dt.timedelta(days=rng.randrange(28))
        area, source = rng.choice(AREAS), rng.choice(["ridr", "forensic"])
        for mention in range(rng.randint(1, 3)):
            events.append(mention_event(f"r-{r}", mention, day, area, source, rng.choice(SUBSTANCES)))
    return events


@dataclass
class Applied:
    """What one batch did."""

    new_events: int = 0
    sightings: list[tuple[str, str]] = field(default_factory=list)
    counted: int = 0


def _apply(store: Store, events: Sequence[Event]) -> Applied:
    applied = Applied()
    with store.session() as session:
        state = DetectorState(session)
        state.prefetch(events)
        for event in events:
            if not state.add_event(event):
                continue
            applied.new_events += 1
            if event.substance_key:
                for area in (NATIONAL, event.area_code):
                    if state.claim_sighting(event.substance_key, area, event):
                        applied.sightings.append((event.substance_key, area))
            for series in series_of(event):
                if state.count_report(series, series.period_of(event.date), event.report_key) is not None:
                    applied.counted += 1
        state.flush()
    return applied


def _expected_counts(events: Sequence[Event]) -> dict[tuple, int]:
    """Reports per series-week, each report once however many of its mentions fall in it."""
    claims = {(*series.key, series.period_of(event.date), event.report_key) for event in events
              for series in series_of(event)}
    return dict(Counter(claim[:6] for claim in claims))


def _stored_counts(store: Store) -> dict[tuple, int]:
    with store.session() as session:
        rows = session.execute(select(SeriesCount.dimension, SeriesCount.value,
                                      SeriesCount.area_code, SeriesCount.source, SeriesCount.freq, SeriesCount.period,
                                      SeriesCount.count))
        return {tuple(row[:6]): row[6] for row in rows}


def _table_sizes(store: Store) -> tuple[int, ...]:
    with store.session() as session:
        return tuple(session.execute(select(func.count()).select_from(table)).scalar_one()
                     for table in (EventRow, SeriesReport, SeriesCount, Sighting))


def test_counts_are_exact_across_batches_and_redelivery_changes_nothing(store: Store) -> None:
    events = _reports(600)
    assert len(events) > 1000  # several chunks of prefetch and several multi-row statements
    first, second = events[:700], events[700:]

    done = _apply(store, first)
    assert done.new_events == len(first)
    assert _stored_counts(store) == _expected_counts(first)

    # The next batch re-delivers the tail of the first one, then carries on: the weeks it shares
    # with the first batch are updated in place (ON CONFLICT DO UPDATE), the repeats are no-ops.
    done = _apply(store, first[-150:] + second)
    assert done.new_events == len(second)
    assert _stored_counts(store) == _expected_counts(events)

    sizes = _table_sizes(store)
    again = _apply(store, events)
    assert (again.new_events, again.sightings, again.counted) == (0, [], 0)
    assert _table_sizes(store) == sizes
    assert _stored_counts(store) == _expected_counts(events)
    assert sizes[:2] == (len(events), sum(_expected_counts(events).values()))


def test_first_sighting_is_claimed_once_nationally_and_per_area(store: Store) -> None:
    key = SUBSTANCES[0]
    events = [mention_event("a", 0, MONDAY, AREAS[0], "ridr", key),
              mention_event("b", 0, MONDAY + dt.timedelta(days=1), AREAS[0], "ridr", key),
              mention_event("c", 0, MONDAY + dt.timedelta(days=2), AREAS[1], "forensic", key)]
    done = _apply(store, events[:2])
    assert done.sightings == [(key[0], NATIONAL), (key[0], AREAS[0])]
    done = _apply(store, events)  # a and b again, c new
    assert done.sightings == [(key[0], AREAS[1])]
    with store.session() as session:
        first = dict(session.execute(select(Sighting.area_code, Sighting.first_event_id)).all())
    assert first == {NATIONAL: events[0].event_id, AREAS[0]: events[0].event_id,
                     AREAS[1]: events[2].event_id}


def test_counts_before_reads_back_stored_counts(store: Store) -> None:
    substance = SUBSTANCES[2]
    events = [mention_event(f"w{week}-{n}", 0, MONDAY + dt.timedelta(weeks=week), AREAS[0], "ridr",
                     substance)
              for week, reports in enumerate([2, 0, 1, 3]) for n in range(reports)]
    _apply(store, events)
    latest = mention_event("now", 0, MONDAY + dt.timedelta(weeks=4), AREAS[0], "ridr", substance)
    with store.session() as session:
        state = DetectorState(session)
        state.prefetch([latest])
        series = series_of(latest)
        # xylazine-like substances kill within days: counted per day as well as per week
        assert [(s.dimension, s.freq) for s in series] == [
            ("substance", "W"), ("class", "W"), ("substance", "D"), ("class", "D")]
        assert state.counts_before(series[0], latest.week, 6) == [0, 0, 2, 0, 1, 3]
        assert state.first_event_date() == MONDAY
        assert sorted(state.series_reports(series[0], MONDAY + dt.timedelta(weeks=3))) == [
            report_key("ridr", "default", f"w3-{n}") for n in range(3)]

"""Series counts kept in memory between a detector's batches (`KeptCounts`): every count and
history judged equals what reading the store anew gives, through rolled-back batches and other
writers, and the memory stays within its bound."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from services.detector.state import DetectorState, KeptCounts, series_of
from services.store import Store
from streams.records import Event
from tests.conftest import mention_event
from tests.store.test_detector_state import AREAS, SUBSTANCES

MONDAY = dt.date(2025, 1, 6)
HISTORY = {"W": 12, "D": 9}


@pytest.fixture
def anew(tmp_path: Path) -> Iterator[Store]:
    """A store of its own, whose batches read every count anew: the reference."""
    store = Store(f"sqlite:///{tmp_path / 'anew.sqlite'}")
    yield store
    store.close()


def _stream(weeks: int, per_week: int, seed: int = 3) -> list[Event]:
    """Reports in time order, some arriving late (up to five weeks), as the pipeline sees them."""
    rng = random.Random(seed)
    events = []
    for week in range(weeks):
        for r in range(per_week):
            day = MONDAY + dt.timedelta(weeks=week, days=rng.randrange(7))
            if rng.random() < 0.1:
                day -= dt.timedelta(weeks=rng.randint(1, 5))
            area, source = rng.choice(AREAS), rng.choice(["ridr", "forensic"])
            for mention in range(rng.randint(1, 2)):
                events.append(mention_event(f"w{week}-r{r}", mention, day, area, source,
                                            rng.choice(SUBSTANCES[:3])))
    return events


def _judged(store: Store, events: Sequence[Event], kept: KeptCounts | None, *,
            fail: bool = False) -> list[tuple]:
    """One batch as the detector runs it: each count taken, with the history it is judged on."""
    out = []
    with store.session() as session:
        state = DetectorState(session, history=dict(HISTORY), kept=kept)
        state.prefetch(events)
        for event in events:
            if not state.add_event(event):
                continue
            for series in series_of(event):
                period = series.period_of(event.date)
                count = state.count_report(series, period, event.report_key)
                if count is not None:
                    out.append((series.key, period, count,
                                state.counts_before(series, period, HISTORY[series.freq])))
        state.flush()
        if fail:
            raise RuntimeError("the batch's transaction fails after its flush")
    return out


def _batches(events: Sequence[Event], size: int) -> list[Sequence[Event]]:
    return [events[start:start + size] for start in range(0, len(events), size)]


def test_kept_counts_judge_as_counts_read_anew(store: Store, anew: Store) -> None:
    kept = KeptCounts()
    for batch in _batches(_stream(20, 40), 60):
        assert _judged(store, batch, kept) == _judged(anew, batch, None)
    assert len(kept) > 0 and kept.hits > kept.misses  # kept, and used


def test_a_rolled_back_batch_leaves_the_kept_counts_as_the_store(store: Store,
                                                                 anew: Store) -> None:
    kept = KeptCounts()
    batches = _batches(_stream(8, 40), 50)
    for number, batch in enumerate(batches):
        if number % 3 == 1:  # fails once, then is delivered again
            with pytest.raises(RuntimeError):
                _judged(store, batch, kept, fail=True)
        assert _judged(store, batch, kept) == _judged(anew, batch, None)


def test_counts_another_writer_takes_are_not_missed(store: Store, anew: Store) -> None:
    kept = KeptCounts()
    first, second, other, last = _batches(_stream(6, 40), 100)[:4]
    for batch in (first, second):
        assert _judged(store, batch, kept) == _judged(anew, batch, None)
    # Another detector (a second process, a restored backup) counts in the same series.
    _judged(store, other, KeptCounts())
    _judged(anew, other, None)
    assert _judged(store, last, kept) == _judged(anew, last, None)


def test_kept_counts_stay_within_their_bound() -> None:
    kept = KeptCounts(max_counts=100)
    first = MONDAY
    kept.sync(0)
    spans = {("class", f"c{n}", "E08000025", "ridr", "W"):
             (first, {MONDAY + dt.timedelta(weeks=w): 1 for w in range(30)}) for n in range(5)}
    kept.stage(1, spans)
    kept.sync(1)
    assert len(kept) == 90  # three series of 30: the two least recently used dropped
    keys = list(spans)
    assert [kept.get(key, first) is not None for key in keys] == [False, False, True, True, True]
    kept.get(keys[2], first)  # used: now the most recent
    kept.stage(2, {("class", "new", "E08000025", "ridr", "W"): spans[keys[0]]})
    kept.sync(2)
    assert len(kept) == 90
    assert [kept.get(key, first) is not None for key in keys] == [False, False, True, False, True]
    assert kept.get(keys[2], first - dt.timedelta(weeks=1)) is None  # not kept that far back


def test_kept_series_hold_their_look_back_not_their_past(store: Store, anew: Store,
                                                         tmp_path: Path) -> None:
    """Over 60 weeks, a series keeps about the 12 weeks its judgements read (and a slack of 2):
    reports up to 5 weeks late, beyond the slack, are read from the store and judged alike."""
    events = _stream(60, 30)
    slack = 2
    kept, unbounded = KeptCounts(slack=slack), KeptCounts(slack=10_000)
    for batch in _batches(events, 60):
        assert _judged(store, batch, kept) == _judged(anew, batch, None)
    series = {s.key for event in events for s in series_of(event)}
    bound = len(series) * (max(HISTORY.values()) + 2 * slack + 1)
    assert 0 < len(kept) <= bound
    other = Store(f"sqlite:///{tmp_path / 'unbounded.sqlite'}")
    for batch in _batches(events, 60):  # the same stream kept without dropping: past the bound
        _judged(other, batch, unbounded)
    other.close()
    assert len(unbounded) > 2 * bound
    assert kept.misses > unbounded.misses  # the late reports beyond the slack

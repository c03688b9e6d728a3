"""`TableState` is a second implementation of the detectors' state: same signals, same counts.

No broker here: a dict stands in for the faust Table (it has the same `get` and item set), so
`detect` runs over the table state exactly as in a worker, next to `DetectorState` over the
store. The crash test replays the worker's order of work (signals sent, then the state written)
cut at every point of its changelog.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from services.detector.detect import DetectorConfig, detect
from services.detector.novelty import first_sightings
from services.detector.state import NATIONAL, DetectorState
from services.store import SeriesCount, Sighting, Store
from services.workers.table_state import SIGHTING, TableState, parse_key, series_counts
from streams.records import Event, Signal
from tests.conftest import mention_event

CONFIG = DetectorConfig()
START = dt.date(2025, 1, 6)  # a Monday
AREAS = ["E08000025", "E08000012", "E06000023"]
SUBSTANCES = [  # (key, preferred name, class)
    ("SJHUJFHOXYDSJY-UHFFFAOYSA-N", "protonitazene", "nitazene"),
    ("BPGDAMSIGCZZLK-UHFFFAOYSA-N", "xylazine", "xylazine_like"),
    ("GVGLGOZIDCSQPN-PVHGPHFFSA-N", "heroin", "other_opioid"),
    ("ZPUCINDJVBIVPJ-LJISPDSOSA-N", "cocaine", "other"),
    (None, None, None),
]


def stream(n: int = 900, seed: int = 3) -> list[Event]:
    """n reports over 14 weeks, in date order, with a surge of heroin reports in the last two."""
    rng = random.Random(seed)
    reports = []
    for r in range(n):
        day = START + dt.timedelta(days=rng.randrange(98))
        surge = day >= START + dt.timedelta(weeks=12) and rng.random() < 0.5
        reports.append((day, r, surge))
    events = []
    for day, r, surge in sorted(reports):
        area, source = rng.choice(AREAS), rng.choice(["ridr", "forensic", "death"])
        picks = [SUBSTANCES[2]] if surge else [rng.choice(SUBSTANCES)
                                               for _ in range(rng.randint(1, 3))]
        events += [mention_event(f"r-{r}", m, day, area, source, s) for m, s in enumerate(picks)]
    return events


def _comparable(signals: Iterable[Signal]) -> dict[str, dict[str, Any]]:
    out = {}
    for signal in signals:
        dump = signal.model_dump(mode="json", exclude={"detected_at"})
        dump["report_keys"] = sorted(dump["report_keys"])  # the store returns them unordered
        out[signal.signal_id] = dump
    return out


def on_store(store: Store, events: Sequence[Event], batch: int = 60) -> list[Signal]:
    signals: list[Signal] = []
    for start in range(0, len(events), batch):
        with store.session() as session:
            signals += detect(events[start:start + batch], DetectorState(session), CONFIG)
    return signals


class Worker:
    """What the detector worker does per event, over dict tables that log their writes."""

    def __init__(self, area: dict[str, Any] | None = None, *, nationally: bool = True) -> None:
        self.area = LoggedTable(area or {})
        self.national = LoggedTable({})
        self.nationally = nationally
        self.sent: list[Signal] = []

    def handle(self, event: Event) -> None:
        for table, run in ((self.area, lambda st: detect([event], st, CONFIG)),
                           (self.national, lambda st: first_sightings(event, st))):
            if table is self.national and not (self.nationally and event.substance_key):
                continue
            state = TableState(table, partition=0,
                               scope="area" if table is self.area else "national")
            signals = run(state)
            state.flush()
            self.sent += signals  # sent and acknowledged before any state is written
            table.log.append(("sent", len(self.sent)))
            state.commit()


class LoggedTable(dict[str, Any]):
    """A dict that records its writes in order, as a changelog partition would."""

    def __init__(self, data: dict[str, Any]) -> None:
        super().__init__(data)
        self.log: list[tuple[str, Any]] = []

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self.log.append((key, value))


def _store_counts(store: Store) -> dict[tuple[str, ...], int]:
    with store.session() as session:
        rows = session.execute(select(SeriesCount.dimension, SeriesCount.value,
                                      SeriesCount.area_code, SeriesCount.source, SeriesCount.freq,
                                      SeriesCount.period, SeriesCount.count)).all()
    return {(d, v, a, s, f, p.isoformat()): c for d, v, a, s, f, p, c in rows}


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = Store(f"sqlite:///{tmp_path / 'ews.sqlite'}")
    yield opened
    opened.close()


def test_table_state_raises_the_signals_and_keeps_the_counts_of_the_store(store: Store) -> None:
    events = stream()
    want = on_store(store, events)
    worker = Worker()
    for event in events:
        worker.handle(event)

    detectors = {signal.detector for signal in want}
    assert {"aberration", "first_sighting"} <= detectors, detectors  # the stream exercises them
    assert _comparable(worker.sent) == _comparable(want)
    assert series_counts(worker.area) == _store_counts(store)
    with store.session() as session:
        stored = {(k, a): e for k, a, e in session.execute(
            select(Sighting.substance_key, Sighting.area_code, Sighting.first_event_id))}
    claimed = {}
    for table in (worker.area, worker.national):
        for key, value in table.items():
            kind, *parts = parse_key(key)
            if kind == SIGHTING:
                claimed[tuple(parts)] = value["first_event_id"]
    assert claimed == stored
    assert {area for _, area in claimed} == {NATIONAL, *AREAS}
    assert all(parse_key(key)[2] == NATIONAL
               for key in worker.national if parse_key(key)[0] == SIGHTING)


def test_a_redelivered_stream_changes_nothing() -> None:
    events = stream(300)
    worker = Worker()
    for event in events:
        worker.handle(event)
    area, national, sent = dict(worker.area), dict(worker.national), len(worker.sent)

    def writes() -> int:
        return len([w for w in worker.area.log + worker.national.log if w[0] != "sent"])

    before = writes()
    for event in events:
        worker.handle(event)
    assert dict(worker.area) == area and dict(worker.national) == national
    assert len(worker.sent) == sent
    assert writes() == before  # not even the same values written again


def test_a_crash_at_any_write_then_a_replay_loses_and_double_counts_nothing() -> None:
    """Cut the area table's changelog after every write: the replay of the whole stream on the
    prefix ends with the undisturbed counts, and every signal of the undisturbed run was sent
    before the crash or by the replay. (The national agent's table works the same way.)"""
    events = stream(150, seed=5)
    undisturbed = Worker(nationally=False)
    for event in events:
        undisturbed.handle(event)
    want_ids = {signal.signal_id for signal in undisturbed.sent}
    want_table = dict(undisturbed.area)
    log = undisturbed.area.log
    cuts = [i for i, (key, _) in enumerate(log) if key != "sent"]
    for cut in cuts[::7] + [cuts[-1] + 1]:
        prefix = [(key, value) for key, value in log[:cut] if key != "sent"]
        sent_before = max([n for key, n in log[:cut] if key == "sent"], default=0)
        restored = dict(prefix)  # what the table recovers from its changelog
        replay = Worker(area=restored, nationally=False)
        for event in events:  # nothing was committed: the whole stream comes again
            replay.handle(event)
        assert dict(replay.area) == want_table, cut
        got = {signal.signal_id for signal in undisturbed.sent[:sent_before] + replay.sent}
        assert got == want_ids, cut

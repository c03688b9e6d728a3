"""On the stream, each series is judged by the best method its history allows."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

from services.detector.aberration import FARRINGTON, history_to_prefetch, method_for
from services.detector.detect import DetectorConfig, detect
from services.detector.state import DAILY, WEEKLY, DetectorState
from services.store import Store
from streams.records import Event, Signal, stable_id

MONDAY = dt.date(2021, 1, 4)
HEROIN = ("GVGLGOZIDCSQPN-PVHGPHFFSA-N", "heroin", "other_opioid")
PROTONITAZENE = ("SJHUJFHOXYDSJY-UHFFFAOYSA-N", "protonitazene", "nitazene")


def _event(report_id: str, day: dt.date, substance: tuple[str, str, str], area: str = "E08000025") -> Event:
    key, name, klass = substance
    report_key = f"ridr/default/{report_id}"
    return Event(event_id=stable_id("ev", report_key, 0), report_key=report_key, source="ridr",
                 submitter="default", report_id=report_id, area_code=area, region_code="E12000005",
                 setting="community", date=day, received_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
                 mention_index=0, substance_key=key, substance_name=name, substance_class=klass)


def _run(tmp_path: Path, batches: list[list[Event]]) -> list[Signal]:
    store = Store(f"sqlite:///{tmp_path / 'ews.sqlite'}")
    signals: list[Signal] = []
    for batch in batches:
        with store.session() as session:
            signals += detect(batch, DetectorState(session), DetectorConfig())
    return signals


def test_method_follows_history_length() -> None:
    assert method_for(WEEKLY, 5) is None
    assert method_for(WEEKLY, 9).name == "ears_c2"
    assert method_for(WEEKLY, FARRINGTON[-1].history).name == "farrington"
    assert method_for(WEEKLY, FARRINGTON[-1].history).settings.b == 3
    assert method_for(WEEKLY, FARRINGTON[0].history + 10).settings.b == 5
    assert method_for(DAILY, 10_000).name == "ears_c2"  # no daily Farrington on the stream
    assert history_to_prefetch(MONDAY, MONDAY + dt.timedelta(weeks=10))[WEEKLY] == 9


def test_four_years_of_weekly_history_are_judged_by_farrington(tmp_path: Path) -> None:
    rng = random.Random(3)
    weeks = 4 * 52 + 10
    background = [
        _event(f"bg-{week}-{n}", MONDAY + dt.timedelta(weeks=week, days=rng.randint(0, 6)), HEROIN)
        for week in range(weeks) for n in range(rng.choice([1, 2, 2, 3, 3, 4]))
    ]
    outbreak_week = MONDAY + dt.timedelta(weeks=weeks)
    outbreak = [_event(f"ob-{n}", outbreak_week + dt.timedelta(days=n % 5), HEROIN) for n in range(14)]
    signals = _run(tmp_path, [background[i:i + 500] for i in range(0, len(background), 500)] + [outbreak])
    late = [s for s in signals if s.detector == "aberration" and s.period_start == outbreak_week]
    assert late and {s.method for s in late} == {"farrington"}
    assert all(s.observed > s.threshold for s in late)
    assert max(s.observed for s in late) == 14
    # The first months, with too little history for Farrington, were judged by EARS C2 if at all.
    early = {s.method for s in signals if s.detector == "aberration" and s.period_start < MONDAY + dt.timedelta(weeks=150)}
    assert early <= {"ears_c2"}


def test_a_nitazene_cluster_alarms_on_the_day_before_its_week_ends(tmp_path: Path) -> None:
    quiet = [_event(f"q-{n}", MONDAY + dt.timedelta(days=3 * n), PROTONITAZENE) for n in range(10)]
    day = MONDAY + dt.timedelta(days=40)
    cluster = [_event(f"c-{n}", day, PROTONITAZENE) for n in range(5)]
    signals = _run(tmp_path, [quiet, cluster])
    daily = [s for s in signals if s.method == "ears_c2_daily"]
    assert daily and all(s.period_start == s.period_end == day for s in daily)
    assert {s.severity for s in daily} == {"high"}

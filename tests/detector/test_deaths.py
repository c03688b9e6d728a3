"""Death clusters sharing a substance or class, with prison release as evidence."""

from __future__ import annotations

import datetime as dt
import itertools
import random

from services.detector.deaths import (
    DeathRecord,
    death_clusters,
    death_signals,
    deaths_from_events,
)
from streams.records import Event

AS_OF = dt.date(2025, 6, 30)
SIDE = 5
AREAS = [f"A{r}{c}" for r in range(SIDE) for c in range(SIDE)]
NEIGHBOURS = {
    f"A{r}{c}": [f"A{r + dr}{c + dc}" for dr, dc in ((0, 1), (1, 0), (0, -1), (-1, 0))
                 if 0 <= r + dr < SIDE and 0 <= c + dc < SIDE]
    for r in range(SIDE) for c in range(SIDE)
}
# Background mix: (weight, substances, classes).
MIX = (
    (0.45, {"heroin"}, {"other_opioid"}),
    (0.20, {"methadone", "diazepam"}, {"other_opioid", "benzodiazepine"}),
    (0.20, {"cocaine"}, {"other"}),
    (0.15, {"pregabalin", "heroin"}, {"gabapentinoid", "other_opioid"}),
)
_ids = itertools.count()


def death(area: str, days_ago: int, substances: set[str], classes: set[str], *,
          released: int | None = None, setting: str = "home") -> DeathRecord:
    return DeathRecord(
        report_key=f"death/default/d-{next(_ids)}", area_code=area,
        date=AS_OF - dt.timedelta(days=days_ago), substances=frozenset(substances),
        classes=frozenset(classes - {"other"}), released_from_prison_days=released,
        setting=setting,
    )


def background(rng: random.Random, days: int = 420, per_day: float = 1.2) -> list[DeathRecord]:
    out = []
    for day in range(days):
        for _ in range(int(per_day) + (rng.random() < per_day % 1)):
            _, substances, classes = rng.choices(MIX, weights=[m[0] for m in MIX])[0]
            released = rng.randint(1, 90) if rng.random() < 0.05 else None
            out.append(death(rng.choice(AREAS), day, substances, classes, released=released))
    return out


def test_nitazene_deaths_after_prison_release_are_a_critical_cluster() -> None:
    rng = random.Random(1)
    planted = [death(area, days_ago, {"protonitazene", "heroin"}, {"nitazene", "other_opioid"},
                     released=released)
               for area, days_ago, released in (("A22", 3, 6), ("A22", 9, 12), ("A23", 15, 20),
                                                ("A22", 18, None))]
    deaths = background(rng) + planted
    clusters = death_clusters(deaths, NEIGHBOURS, as_of=AS_OF)
    flagged = {(c.dimension, c.value): c for c in clusters if c.flagged}
    assert ("class", "nitazene") in flagged and ("substance", "protonitazene") in flagged
    cluster = flagged[("class", "nitazene")]
    assert set(cluster.report_keys) == {d.report_key for d in planted}
    assert cluster.released == 3 and cluster.released_p < 0.01
    assert cluster.expected < 0.01 and cluster.observed == 4
    # Heroin was named on the same deaths but is common here: no heroin cluster.
    assert ("substance", "heroin") not in flagged


def test_excess_of_a_common_substance_in_one_place_is_found() -> None:
    rng = random.Random(2)
    # Twelve heroin deaths in four weeks where about three are usual, half after release.
    planted = [death("A00", d, {"heroin"}, {"other_opioid"}, released=10 if d % 4 else None)
               for d in range(0, 24, 2)]
    clusters = death_clusters(background(rng) + planted, NEIGHBOURS, as_of=AS_OF)
    heroin = [c for c in clusters if c.flagged and c.value == "heroin"]
    assert heroin and heroin[0].centre in {"A00", *NEIGHBOURS["A00"]}
    assert {d.report_key for d in planted} <= set(heroin[0].report_keys)
    assert heroin[0].released >= 6 and heroin[0].released_p < 0.001


def test_background_alone_gives_little() -> None:
    flagged = 0
    for seed in range(4):
        deaths = background(random.Random(10 + seed))
        for days_back in (0, 30, 60):
            as_of = AS_OF - dt.timedelta(days=days_back)
            flagged += sum(c.flagged for c in death_clusters(deaths, NEIGHBOURS, as_of=as_of))
    assert flagged <= 1


def test_two_deaths_of_an_ordinary_class_are_not_a_cluster() -> None:
    deaths = background(random.Random(3)) + [
        death("A44", d, {"newbenzo"}, {"benzodiazepine"}) for d in (2, 5)]
    assert not any(c.flagged and c.value in ("newbenzo", "benzodiazepine")
                   for c in death_clusters(deaths, NEIGHBOURS, as_of=AS_OF))


def _event(record: DeathRecord, index: int, name: str, klass: str | None) -> Event:
    return Event(
        event_id=f"{record.report_key}#{index}", report_key=record.report_key, source="death",
        submitter="default", report_id=record.report_key.rsplit("/", 1)[1],
        area_code=record.area_code, region_code="R", setting=record.setting or "unknown",
        date=record.date, received_at=dt.datetime.combine(record.date, dt.time(9), dt.UTC),
        mention_index=index, substance_name=name, substance_class=klass, severity="fatal",
        released_from_prison_days=record.released_from_prison_days,
    )


def test_events_to_signals() -> None:
    rng = random.Random(4)
    records = background(rng, days=400, per_day=0.8) + [
        death("A11", d, {"protonitazene"}, {"nitazene"}, released=7) for d in (1, 4, 8)]
    events = [_event(r, i, name, next(iter(r.classes), None))
              for r in records for i, name in enumerate(sorted(r.substances))]
    deaths = deaths_from_events(events)
    assert len(deaths) == len(records)
    assert all(d.substances <= {f"name:{s}" for s in r.substances}
               for d, r in zip(sorted(deaths, key=lambda d: d.report_key),
                               sorted(records, key=lambda r: r.report_key), strict=True))
    clusters = death_clusters(deaths, NEIGHBOURS, as_of=AS_OF)
    signals = death_signals(clusters, events)
    nitazene = [s for s in signals if s.substance_class == "nitazene"]
    assert nitazene and all(s.severity == "critical" for s in nitazene)
    assert {s.subject for s in nitazene} == {"substance", "class"}
    top = next(s for s in nitazene if s.subject == "class")
    assert top.detail["released_from_prison"] == 3 and "prison release" in top.summary
    assert top.substance_key is None and top.observed == 3


def test_two_deaths_with_a_watched_substance_are_a_cluster() -> None:
    deaths = background(random.Random(5)) + [
        DeathRecord(report_key=f"death/default/w-{d}", area_code="A33",
                    date=AS_OF - dt.timedelta(days=d),
                    substances=frozenset({"protonitazene", "heroin"}),
                    classes=frozenset({"nitazene", "other_opioid"}),
                    watched=frozenset({"protonitazene"}))
        for d in (3, 10)]
    flagged = {(c.dimension, c.value) for c in death_clusters(deaths, NEIGHBOURS, as_of=AS_OF)
               if c.flagged}
    assert {("substance", "protonitazene"), ("class", "nitazene")} <= flagged
    assert ("substance", "heroin") not in flagged

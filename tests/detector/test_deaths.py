"""Death clusters sharing a substance or class, with prison release as evidence."""

from __future__ import annotations

import datetime as dt
import itertools
import random

from hypothesis import given, settings
from hypothesis import strategies as st

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


def _clusters_death_by_death(deaths, neighbours, *, as_of, window_days=28, baseline_days=365,
                             release_days=28, min_deaths=3, min_deaths_dangerous=2, alpha=0.001,
                             overdispersion=8.0):
    """The detector as first written: each neighbourhood read its series' whole background
    again. The oracle for the version that sums each series' background by area once."""
    from scipy.stats import binom, nbinom

    from services.detector.deaths import (
        DeathCluster,
        _by_series,
        _dangerous,
        _distinct,
        _released,
    )

    first = as_of - dt.timedelta(days=window_days - 1)
    base_first = first - dt.timedelta(days=baseline_days)
    recent = [d for d in deaths if first <= d.date <= as_of]
    background = [d for d in deaths if base_first <= d.date < first]
    if not recent:
        return []
    all_background = max(len(background), 1)
    released_all = sum(_released(d, release_days) for d in background) / all_background
    candidates = []
    for dimension in ("substance", "class"):
        recent_series, background_series = (_by_series(recent, dimension),
                                            _by_series(background, dimension))
        for value, members in sorted(recent_series.items()):
            least = min_deaths_dangerous if _dangerous(dimension, value, members) else min_deaths
            past = background_series.get(value, [])
            for centre in sorted({d.area_code for d in members}):
                hood = {centre, *neighbours.get(centre, ())}
                inside = [d for d in members if d.area_code in hood]
                if len(inside) >= least:
                    candidates.append((dimension, value, centre, hood, inside, past))
    tests = max(1, len(candidates))
    out = []
    for dimension, value, centre, hood, inside, past in candidates:
        local = sum(d.area_code in hood for d in past)
        share = max(sum(d.area_code in hood for d in background) / all_background,
                    1.0 / all_background)
        expected = (0.5 * local + 0.5 * max(len(past), 0.5) * share) * window_days / baseline_days
        observed = len(inside)
        p = float(nbinom.sf(observed - 1, overdispersion,
                            overdispersion / (overdispersion + expected)))
        released = sum(_released(d, release_days) for d in inside)
        background_share = (sum(_released(d, release_days) for d in past) / len(past)
                            if past else released_all)
        background_share = min(max(background_share, 0.01), 0.99)
        released_p = float(binom.sf(released - 1, observed, background_share)) if released else 1.0
        adjusted = min(1.0, p * tests)
        out.append(DeathCluster(
            dimension=dimension, value=value, centre=centre,
            areas=tuple(sorted({d.area_code for d in inside})), first_day=first, last_day=as_of,
            report_keys=tuple(sorted(d.report_key for d in inside)), observed=observed,
            expected=expected, local_baseline=local, p_value=p, adjusted_p=adjusted,
            tests=tests, released=released, released_share=released / observed,
            background_released_share=background_share, released_p=released_p,
            in_prison=sum(d.setting == "prison" for d in inside), flagged=adjusted <= alpha))
    return _distinct(sorted(out, key=lambda c: (not c.flagged, c.p_value, -c.observed)))


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), per_day=st.floats(0.0, 4.0),
       extra=st.integers(0, 30), min_deaths=st.integers(1, 4))
def test_clusters_by_area_equal_reading_each_series_again(seed: int, per_day: float,
                                                          extra: int, min_deaths: int) -> None:
    """The same clusters, counts, expectations and p-values as reading each series' background
    again for every neighbourhood, to the last bit; with recent bursts so that there are many."""
    rng = random.Random(seed)
    deaths = background(rng, per_day=per_day)
    for _ in range(extra):  # recent deaths, some of a watched substance, some after release
        substances, classes = rng.choice(((set(MIX[0][1]), set(MIX[0][2])),
                                          ({"protonitazene"}, {"nitazene"})))
        deaths.append(death(rng.choice(AREAS[:6]), rng.randint(0, 27), substances, classes,
                            released=rng.choice((None, 5, 60)),
                            setting=rng.choice(("home", "prison"))))
    options = {"min_deaths": min_deaths, "alpha": 0.5}
    assert death_clusters(deaths, NEIGHBOURS, as_of=AS_OF, **options) == \
        _clusters_death_by_death(deaths, NEIGHBOURS, as_of=AS_OF, **options)

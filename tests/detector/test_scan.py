"""Space-time permutation scan: the statistic by hand, planted clusters, the null, signals."""

from __future__ import annotations

import datetime as dt
import itertools
import math

import numpy as np
import pytest

from services.detector.scan import (
    ScanError,
    build_zones,
    poisson_llr,
    scan_events,
    scan_signals,
    space_time_scan,
    zones_from_geography,
)
from services.geography import load_geography
from streams.records import Event

BIRMINGHAM = "E08000025"


def grid_zones(side: int, max_areas: int = 6):
    """A side x side grid of areas with rook adjacency and coordinates."""
    codes = [f"A{r}{c}" for r in range(side) for c in range(side)]
    neighbours = {
        f"A{r}{c}": [f"A{r + dr}{c + dc}" for dr, dc in ((0, 1), (1, 0), (0, -1), (-1, 0))
                     if 0 <= r + dr < side and 0 <= c + dc < side]
        for r in range(side) for c in range(side)
    }
    coordinates = {f"A{r}{c}": (50.0 + r * 0.1, -1.0 + c * 0.1) for r in range(side)
                   for c in range(side)}
    return build_zones(codes, neighbours, coordinates, max_areas=max_areas)


def test_llr_matches_a_hand_computed_cylinder() -> None:
    # Three areas in a row, four days. The cylinder {A, B} x the last day holds 5 of 13 cases;
    # the zone holds 9 cases in all and the last day 5, so mu = 9 * 5 / 13.
    counts = np.array([[1, 0, 1, 3], [1, 1, 0, 2], [2, 1, 1, 0]])
    zones = build_zones(["A", "B", "C"], {"A": ["B"], "B": ["A", "C"]}, max_areas=3)
    mu = 9 * 5 / 13
    by_hand = 5 * math.log(5 / mu) + 8 * math.log(8 / (13 - mu))
    assert poisson_llr(np.array([5]), np.array([mu]), 13)[0] == pytest.approx(by_hand, rel=1e-12)
    assert by_hand == pytest.approx(0.431499, abs=1e-6)

    result = space_time_scan(counts, zones, max_window=2, max_share=0.75, replicates=0)
    best = result.clusters[0]
    assert set(best.areas) == {"A", "B"} and (best.start, best.end) == (3, 3)
    assert best.observed == 5 and best.expected == pytest.approx(mu)
    assert best.llr == pytest.approx(by_hand, rel=1e-12)
    assert best.relative_risk == pytest.approx((5 / mu) / (8 / (13 - mu)))


def test_no_excess_gives_llr_zero() -> None:
    assert poisson_llr(np.array([2.0, 3.0]), np.array([2.0, 3.5]), 10).tolist() == [0.0, 0.0]


def _brute_force_best(counts: np.ndarray, zones, max_window: int, max_share: float,
                      min_cases: int) -> float:
    total = counts.sum()
    best = 0.0
    for centre, k in itertools.product(range(zones.order.shape[0]), range(zones.max_areas)):
        members = zones.order[centre, : k + 1]
        if counts[members].sum() > max_share * total:
            continue
        for w in range(1, max_window + 1):
            n = counts[members, -w:].sum()
            mu = counts[members].sum() * counts[:, -w:].sum() / total
            if n > mu and n >= min_cases:
                best = max(best, n * math.log(n / mu)
                           + ((total - n) * math.log((total - n) / (total - mu))
                              if total > n else 0.0))
    return best


def test_vectorised_scan_equals_brute_force() -> None:
    zones = grid_zones(4, max_areas=5)
    rng = np.random.default_rng(3)
    for _ in range(5):
        counts = rng.poisson(0.6, size=(16, 20))
        result = space_time_scan(counts, zones, max_window=6, replicates=0)
        expected = _brute_force_best(counts, zones, 6, 0.5, 2)
        assert result.clusters[0].llr == pytest.approx(expected, rel=1e-12)


def test_zones_follow_adjacency_before_distance() -> None:
    # C is nearer to A as the crow flies, but B is A's neighbour: the zone grows through B.
    zones = build_zones(
        ["A", "B", "C"], {"A": ["B"], "B": ["C"]},
        {"A": (0.0, 0.0), "B": (0.0, 1.0), "C": (0.5, 0.0)}, max_areas=3,
    )
    assert [zones.area_codes[i] for i in zones.order[0]] == ["A", "B", "C"]
    assert zones.area_codes[zones.order[1, 0]] == "B"


def test_planted_cluster_in_neighbouring_districts_is_found() -> None:
    geography = load_geography()
    zones = zones_from_geography(geography, max_areas=10)
    rng = np.random.default_rng(11)
    population = np.array([geography.areas[c].population or 100_000 for c in zones.area_codes],
                          dtype=float)
    days = 91
    counts = rng.poisson(np.outer(population / population.sum() * 12.0, np.ones(days)))
    index = zones.index()
    # Birmingham and its two nearest neighbours: the zone of 3 areas centred on Birmingham.
    planted = [zones.area_codes[i] for i in zones.order[index[BIRMINGHAM], :3]]
    assert set(planted[1:]) <= geography.neighbours[BIRMINGHAM]
    for code, extra in zip(planted, (14, 5, 5), strict=True):
        counts[index[code], -5:] += rng.multinomial(extra, np.ones(5) / 5)

    result = space_time_scan(counts, zones, max_window=14, replicates=199, seed=1)
    best = result.clusters[0]
    assert best.p_value <= 0.01
    assert set(planted) <= set(best.areas) and len(best.areas) <= 5
    assert best.window <= 7 and best.observed >= 24
    assert best.recurrence_days == pytest.approx(365.25 / (best.p_value * 365.25))


def test_null_gives_large_p_values_most_of_the_time() -> None:
    zones = grid_zones(5, max_areas=6)
    rng = np.random.default_rng(5)
    p_values = []
    for run in range(20):
        counts = rng.poisson(0.25, size=(25, 60))
        result = space_time_scan(counts, zones, max_window=7, replicates=99, seed=run)
        p_values.append(result.clusters[0].p_value if result.clusters else 1.0)
    p = np.array(p_values)
    assert (p < 0.05).sum() <= 3  # 5% expected: 1 of 20
    assert p.mean() > 0.3


def test_p_value_reproducible_with_seed_and_bounded_by_replicates() -> None:
    zones = grid_zones(3)
    counts = np.random.default_rng(2).poisson(1.0, size=(9, 30))
    a = space_time_scan(counts, zones, replicates=49, seed=7)
    b = space_time_scan(counts, zones, replicates=49, seed=7)
    assert [c.p_value for c in a.clusters] == [c.p_value for c in b.clusters]
    assert all(1 / 50 <= c.p_value <= 1 for c in a.clusters)


def test_secondary_clusters_share_no_area() -> None:
    zones = grid_zones(6, max_areas=4)
    counts = np.random.default_rng(8).poisson(0.5, size=(36, 40))
    counts[0, -3:] += 6
    counts[35, -3:] += 6
    result = space_time_scan(counts, zones, max_window=5, replicates=99, max_clusters=5)
    seen: set[str] = set()
    for cluster in result.clusters:
        assert not seen & set(cluster.areas)
        seen |= set(cluster.areas)
    # The two planted corners are the two best clusters.
    assert {"A00", "A55"} <= {a for c in result.clusters[:2] for a in c.areas}


def test_empty_and_bad_input() -> None:
    zones = grid_zones(2)
    assert space_time_scan(np.zeros((4, 10), int), zones).clusters == []
    with pytest.raises(ScanError):
        space_time_scan(np.zeros((3, 10), int), zones)
    with pytest.raises(ScanError):
        space_time_scan(-np.ones((4, 10), int), zones)


def _event(i: int, area: str, day: dt.date, klass: str = "nitazene") -> Event:
    return Event(
        event_id=f"ev-{i}", report_key=f"ridr/default/r-{i}", source="ridr", submitter="default",
        report_id=f"r-{i}", area_code=area, region_code="R", setting="home", date=day,
        received_at=dt.datetime.combine(day, dt.time(12), dt.UTC), mention_index=0,
        substance_name="protonitazene", substance_key="KEY", substance_class=klass,
    )


def test_events_become_a_dated_cluster_and_a_signal() -> None:
    zones = grid_zones(4, max_areas=4)
    as_of = dt.date(2025, 6, 30)
    rng = np.random.default_rng(4)
    events = [
        _event(i, zones.area_codes[rng.integers(16)], as_of - dt.timedelta(days=int(d)))
        for i, d in enumerate(rng.integers(0, 90, size=120))
    ]
    planted = [_event(1000 + i, ("A00", "A01")[i % 2], as_of - dt.timedelta(days=i % 4))
               for i in range(16)]
    # The same report twice (two mentions) is one case.
    events += planted + [planted[0].model_copy(update={"event_id": "ev-dup", "mention_index": 1})]
    result = scan_events(events, zones, as_of=as_of, study_days=90, max_window=7,
                         replicates=999, seed=3)
    best = result.clusters[0]
    assert {"A00", "A01"} <= set(best.areas)
    assert best.last_day == as_of and best.first_day is not None
    assert best.first_day >= as_of - dt.timedelta(days=6)
    assert {e.report_key for e in planted} <= set(best.report_keys)
    assert best.observed == len(set(best.report_keys))

    signals = scan_signals(result, events, subject="class", value="nitazene", source="ridr")
    assert signals and signals[0].detector == "space_time_scan"
    top = signals[0]
    assert top.detail["recurrence_days"] >= 365
    assert top.severity in ("high", "critical") and top.substance_class == "nitazene"
    assert top.substance_key is None and top.period_end == as_of
    assert top.detail["areas"][0] == top.area_code
    again = scan_signals(result, events, subject="class", value="nitazene", source="ridr")
    assert [s.signal_id for s in again] == [s.signal_id for s in signals]
    # With too few replicates no cluster can recur as rarely as once a year: no signal.
    coarse = scan_events(events, zones, as_of=as_of, study_days=90, max_window=7, replicates=99)
    assert scan_signals(coarse, events, subject="class", value="nitazene", source="ridr") == []


def test_stopping_early_keeps_every_cluster_that_reaches_the_p_value() -> None:
    # Null grids and grids with a planted cluster: with the stopping rule, the clusters at or
    # below the p-value are the same (same p-values), every other cluster stays above it, and
    # unremarkable grids are judged on far fewer replicates.
    zones = grid_zones(5, max_areas=6)
    rng = np.random.default_rng(11)
    stop_p, drawn_on_null, kept = 0.02, [], 0
    for run in range(16):
        counts = rng.poisson(0.3, size=(25, 60))
        if run % 2:
            counts[[6, 7, 11], -3:] += 4
        full = space_time_scan(counts, zones, max_window=7, replicates=99, seed=run)
        quick = space_time_scan(counts, zones, max_window=7, replicates=99, seed=run,
                                stop_above_p=stop_p)
        reaching = [(c.areas, c.p_value) for c in full.clusters if c.p_value <= stop_p]
        assert [(c.areas, c.p_value) for c in quick.clusters if c.p_value <= stop_p] == reaching
        assert all(c.p_value > stop_p for c in quick.clusters if (c.areas, c.p_value) not in reaching)
        if reaching:
            kept += 1
            assert quick.replicates == 99
            assert np.array_equal(quick.replicate_llr, full.replicate_llr)  # batches change nothing
        if not run % 2:
            drawn_on_null.append(quick.replicates)
    assert kept >= 6  # the planted clusters were found
    assert np.mean(drawn_on_null) < 30, drawn_on_null


def test_stopping_early_on_a_grid_without_excess_draws_nothing() -> None:
    # Every cylinder holds exactly what the margins expect: no cluster, nothing to judge.
    result = space_time_scan(np.ones((9, 20), dtype=int), grid_zones(3), replicates=99,
                             stop_above_p=0.02)
    assert result.clusters == [] and result.replicates == 0

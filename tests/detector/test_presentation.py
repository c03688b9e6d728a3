"""Clinical-presentation clusters on synthetic adverse-reaction reports."""

from __future__ import annotations

import datetime as dt
import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.cluster import DBSCAN

from services.detector.presentation import (
    VOCABULARY,
    ClinicalReport,
    dbscan,
    encode,
    presentation_clusters,
    presentation_signals,
    reports_from_events,
)
from streams.records import Event

AS_OF = dt.date(2025, 6, 29)
SIDE = 5
AREAS = [f"A{r}{c}" for r in range(SIDE) for c in range(SIDE)]
NEIGHBOURS = {
    f"A{r}{c}": [f"A{r + dr}{c + dc}" for dr, dc in ((0, 1), (1, 0), (0, -1), (-1, 0))
                 if 0 <= r + dr < SIDE and 0 <= c + dc < SIDE]
    for r in range(SIDE) for c in range(SIDE)
}
# Background presentations: (weight, feature probabilities, naloxone response probabilities).
KINDS = (
    (0.40, {"reduced_consciousness": 0.9, "respiratory_depression": 0.5, "miosis": 0.45,
            "vomiting": 0.1}, {"full": 0.82, "partial": 0.14, "none": 0.04}),
    (0.30, {"tachycardia": 0.7, "agitation": 0.6, "hypertension": 0.3, "chest_pain": 0.2}, None),
    (0.15, {"seizure": 0.3, "tachycardia": 0.6, "vomiting": 0.4, "agitation": 0.5}, None),
    (0.15, {"reduced_consciousness": 0.8, "confusion": 0.5}, None),
)
SETTINGS = ("home", "public_place", "hostel", "community")
SEVERITIES = ("mild", "moderate", "severe", "life_threatening")


def _background(rng: random.Random, days: int = 200, per_day: float = 4.0) -> list[ClinicalReport]:
    reports = []
    for day in range(days):
        date = AS_OF - dt.timedelta(days=day)
        for _ in range(np.random.default_rng(rng.randrange(1 << 30)).poisson(per_day)):
            _, features, naloxone = rng.choices(KINDS, weights=[k[0] for k in KINDS])[0]
            drawn = frozenset(f for f, p in features.items() if rng.random() < p)
            response = None
            if naloxone and rng.random() < 0.6:
                response = rng.choices(list(naloxone), weights=list(naloxone.values()))[0]
            reports.append(ClinicalReport(
                report_key=f"bg-{len(reports)}", area_code=rng.choice(AREAS), date=date,
                clinical_features=drawn or frozenset({"other"}), naloxone_response=response,
                severity=rng.choice(SEVERITIES), setting=rng.choice(SETTINGS),
            ))
    return reports


def _planted(rng: random.Random, area: str, n: int = 8) -> list[ClinicalReport]:
    """The nitazene picture: opioid toxidrome, partial naloxone response, one area, one week."""
    return [
        ClinicalReport(
            report_key=f"planted-{i}", area_code=area,
            date=AS_OF - dt.timedelta(days=rng.randint(0, 6)),
            clinical_features=frozenset({"reduced_consciousness", "respiratory_depression"}
                                        | ({"miosis"} if rng.random() < 0.6 else set())),
            naloxone_response="partial", severity=rng.choice(("severe", "life_threatening")),
            setting=rng.choice(SETTINGS),
        )
        for i in range(n)
    ]


def test_encoding_weights_clinical_picture_above_context() -> None:
    report = ClinicalReport("k", "A00", AS_OF, frozenset({"seizure"}), "partial", "severe",
                            "prison", "25-34")
    row = encode([report])[0]
    assert row[VOCABULARY["feature:seizure"][0]] == 1.0
    assert row[VOCABULARY["naloxone:partial"][0]] == 1.0
    assert row[VOCABULARY["setting:prison"][0]] == 0.5
    assert row[VOCABULARY["age:25-34"][0]] == 0.5
    assert row.sum() == 1.0 + 1.0 + 0.5 + 0.5 + 0.5


def test_planted_nitazene_picture_is_found_in_its_area() -> None:
    rng = random.Random(1)
    background = _background(rng)
    planted = _planted(rng, "A22")
    clusters = presentation_clusters(background + planted, NEIGHBOURS, as_of=AS_OF)
    flagged = [c for c in clusters if c.flagged]
    assert flagged, "the planted cluster was not flagged"
    best = flagged[0]
    assert "A22" in best.areas and best.centre in {"A22", *NEIGHBOURS["A22"]}
    assert {p.report_key for p in planted} <= set(best.report_keys) | {
        k for c in flagged for k in c.report_keys}
    assert sum(k.startswith("planted") for k in best.report_keys) >= 6
    assert "opioid_toxidrome_poor_naloxone_response" in best.patterns
    assert best.observed > 3 * best.expected
    assert dict(best.profile)["naloxone_partial"] >= 0.8


def test_background_alone_flags_little() -> None:
    flagged = 0
    for seed in range(3):
        background = _background(random.Random(100 + seed))
        for days_back in (0, 20, 40):
            as_of = AS_OF - dt.timedelta(days=days_back)
            clusters = presentation_clusters(background, NEIGHBOURS, as_of=as_of)
            flagged += sum(c.flagged for c in clusters)
    assert flagged <= 1


def test_cluster_without_any_confirmed_substance_becomes_a_signal() -> None:
    rng = random.Random(2)
    planted = _planted(rng, "A11", n=8)
    background = _background(rng, per_day=3.0)
    events = [
        Event(
            event_id=f"ev-{r.report_key}", report_key=r.report_key, source="ridr",
            submitter="default", report_id=r.report_key, area_code=r.area_code, region_code="R",
            setting=r.setting or "unknown", date=r.date,
            received_at=dt.datetime.combine(r.date, dt.time(9), dt.UTC), mention_index=0,
            severity=r.severity, clinical_features=sorted(r.clinical_features),
            naloxone_response=r.naloxone_response,
        )
        for r in background + planted
    ]
    reports = reports_from_events(events + [events[-1].model_copy(update={"event_id": "dup"})])
    assert len(reports) == len(background) + len(planted)
    clusters = presentation_clusters(reports, NEIGHBOURS, as_of=AS_OF)
    signals = presentation_signals(clusters, events)
    assert signals
    top = signals[0]
    assert top.detector == "presentation_cluster" and top.severity == "critical"
    assert top.substance_key is None and top.substance_class is None
    assert "nitazene" in top.summary and top.area_code in {"A11", *NEIGHBOURS["A11"]}
    assert set(top.report_keys) & {p.report_key for p in planted}


def test_nothing_recent_gives_nothing() -> None:
    old = _background(random.Random(3), days=50)
    assert presentation_clusters(old, NEIGHBOURS, as_of=AS_OF + dt.timedelta(days=100)) == []


def test_a_clusters_profile_does_not_depend_on_the_order_of_its_reports() -> None:
    """Ties in the profile are broken by name: member order (and a frozenset's iteration order,
    which differs between processes) must not change an alert's summary."""
    from services.detector.presentation import _profile

    members = [ClinicalReport(report_key=f"r{i}", area_code="A00", date=AS_OF,
                              clinical_features=frozenset({feature, "miosis"}), severity="severe")
               for i, feature in enumerate(("vomiting", "agitation", "vomiting", "agitation"))]
    profiles = {_profile(order) for order in (members, members[::-1], members[1:] + members[:1])}
    assert profiles == {(("miosis", 1.0), ("severe", 1.0), ("agitation", 0.5), ("vomiting", 0.5))}


@settings(max_examples=200, deadline=None)
@given(points=st.lists(st.lists(st.integers(0, 3), min_size=4, max_size=4), min_size=1,
                       max_size=40),
       eps=st.sampled_from([1e-9, 0.05, 0.2, 0.4, 1.0]), min_samples=st.integers(1, 5))
def test_dbscan_labels_equal_scikit_learns_estimator(points: list[list[int]], eps: float,
                                                      min_samples: int) -> None:
    """The sweep's DBSCAN on a precomputed matrix gives the estimator's labels, border points
    and label numbers included (ties at exactly eps: many equal rows)."""
    x = np.array(points, dtype=float) + 0.5
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    distance = np.clip(1.0 - x @ x.T, 0.0, 2.0)
    want = DBSCAN(eps=eps, min_samples=min_samples, metric="precomputed").fit_predict(distance)
    assert dbscan(distance, eps, min_samples).tolist() == want.tolist()


def test_encode_rows_are_the_reports_pictures_and_independent_of_each_other() -> None:
    same = ClinicalReport("a", "A00", AS_OF, frozenset({"seizure", "tachycardia"}), "none",
                          "severe", "home")
    other = ClinicalReport("b", "A00", AS_OF, frozenset({"seizure"}))
    x = encode([same, other, same])
    assert x.shape == (3, len(VOCABULARY))
    assert x[0].tolist() == x[2].tolist() != x[1].tolist()
    assert x[0, VOCABULARY["feature:seizure"][0]] == 1.0
    assert x[0, VOCABULARY["severity:severe"][0]] == 0.5
    x[0] = 0.0  # the caller's copy: a later encoding of the same picture is unchanged
    assert encode([same])[0].tolist() == x[2].tolist()
    assert encode([]).shape == (0, len(VOCABULARY))


def _clusters_report_by_report(reports, neighbours, *, as_of, window_days=14, baseline_days=182,
                               eps=0.2, min_samples=3, min_reports=3, like_radius=0.3,
                               alpha=0.001, alpha_known=0.05):
    """The detector as first written: every distance, likeness and count report by report (its
    cost grew with the square of the reports). The oracle for the per-picture version."""
    from scipy.stats import poisson

    from services.detector.presentation import (
        KNOWN_PATTERNS,
        PresentationCluster,
        _distinct,
        _profile,
        _unit,
    )

    first = as_of - dt.timedelta(days=window_days - 1)
    base_first = first - dt.timedelta(days=baseline_days)
    recent = [r for r in reports if first <= r.date <= as_of]
    background = [r for r in reports if base_first <= r.date < first]
    if not recent:
        return []
    x_recent, x_background = _unit(encode(recent)), _unit(encode(background))
    recent_distance = np.clip(1.0 - x_recent @ x_recent.T, 0.0, 2.0)
    candidates = []
    for centre in sorted({r.area_code for r in recent}):
        hood = {centre, *neighbours.get(centre, ())}
        rows = np.array([i for i, r in enumerate(recent) if r.area_code in hood], dtype=int)
        if rows.size < min_reports:
            continue
        labels = DBSCAN(eps=eps, min_samples=min_samples, metric="precomputed").fit_predict(
            recent_distance[np.ix_(rows, rows)])
        for label in set(labels) - {-1}:
            members = rows[labels == label]
            if members.size >= min_reports:
                candidates.append((centre, hood, members))
    tests = max(1, len(candidates))
    out = []
    for centre, hood, members in candidates:
        centroid = _unit(x_recent[members].mean(axis=0, keepdims=True))[0]
        recent_like = (1.0 - x_recent @ centroid <= like_radius + 1e-12) & np.array(
            [r.area_code in hood for r in recent])
        recent_like[members] = True
        observed = int(recent_like.sum())
        if background:
            bg_like = 1.0 - x_background @ centroid <= like_radius + 1e-12
            bg_in_hood = np.array([r.area_code in hood for r in background])
            local = int((bg_like & bg_in_hood).sum())
            share = bg_in_hood.mean()
            national = int(bg_like.sum())
        else:
            local, share, national = 0, 0.0, 0
        baseline = 0.5 * local + 0.5 * max(national, 0.5) * max(share, 1.0 / max(len(reports), 1))
        expected = baseline * window_days / baseline_days
        p = float(poisson.sf(observed - 1, expected))
        member_reports = [recent[i] for i in members]
        patterns = tuple(pattern.name for pattern in KNOWN_PATTERNS
                         if sum(pattern.matches(r) for r in member_reports) > len(member_reports) / 2)
        adjusted = min(1.0, p * tests)
        out.append(PresentationCluster(
            centre=centre, areas=tuple(sorted({r.area_code for r in member_reports})),
            first_day=first, last_day=as_of,
            report_keys=tuple(sorted(r.report_key for r in member_reports)),
            observed=observed, expected=expected, baseline_like=local, p_value=p,
            adjusted_p=adjusted, tests=tests, profile=_profile(member_reports),
            patterns=patterns, flagged=adjusted <= (alpha_known if patterns else alpha)))
    return _distinct(sorted(out, key=lambda c: (not c.flagged, c.p_value, -c.observed)))


_FEW_FEATURES = ("reduced_consciousness", "respiratory_depression", "miosis", "seizure",
                 "tachycardia")


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), size=st.integers(0, 400),
       recent_share=st.floats(0.05, 0.9), pictures=st.integers(1, 40),
       eps=st.sampled_from([0.05, 0.2, 0.3]), min_samples=st.integers(1, 5),
       like_radius=st.sampled_from([0.1, 0.3, 0.5]))
def test_clusters_per_picture_equal_clustering_report_by_report(
        seed: int, size: int, recent_share: float, pictures: int, eps: float, min_samples: int,
        like_radius: float) -> None:
    """Counting by picture and area gives what comparing every report with every other did:
    the same clusters, members, counts, expectations and p-values, to the last bit. Few
    pictures and few features, so that reports repeat pictures and distances tie at eps."""
    rng = random.Random(seed)
    kinds = [(frozenset(rng.sample(_FEW_FEATURES, rng.randint(1, 3))),
              rng.choice((None, "full", "partial", "none")), rng.choice((None, *SEVERITIES)),
              rng.choice((None, *SETTINGS))) for _ in range(pictures)]
    reports = []
    for i in range(size):
        features, naloxone, severity, setting = rng.choice(kinds)
        recent = rng.random() < recent_share
        days = rng.randint(0, 13) if recent else rng.randint(14, 200)
        reports.append(ClinicalReport(
            report_key=f"r{i}", area_code=rng.choice(AREAS[:9]),
            date=AS_OF - dt.timedelta(days=days), clinical_features=features,
            naloxone_response=naloxone, severity=severity, setting=setting))
    options = {"eps": eps, "min_samples": min_samples, "like_radius": like_radius,
               "alpha": 0.5, "alpha_known": 0.5}
    assert presentation_clusters(reports, NEIGHBOURS, as_of=AS_OF, **options) == \
        _clusters_report_by_report(reports, NEIGHBOURS, as_of=AS_OF, **options)


@settings(max_examples=200, deadline=None)
@given(points=st.lists(st.tuples(st.lists(st.integers(0, 3), min_size=4, max_size=4),
                                 st.integers(1, 4)), min_size=1, max_size=25),
       eps=st.sampled_from([1e-9, 0.05, 0.2, 0.4]), min_samples=st.integers(1, 8))
def test_weighted_dbscan_equals_the_estimator_with_sample_weights(
        points: list[tuple[list[int], int]], eps: float, min_samples: int) -> None:
    x = np.array([p for p, _ in points], dtype=float) + 0.5
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    distance = np.clip(1.0 - x @ x.T, 0.0, 2.0)
    weights = np.array([w for _, w in points])
    want = DBSCAN(eps=eps, min_samples=min_samples, metric="precomputed").fit_predict(
        distance, sample_weight=weights)
    assert dbscan(distance, eps, min_samples, weights=weights).tolist() == want.tolist()

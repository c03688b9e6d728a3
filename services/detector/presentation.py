"""Clusters of adverse-reaction reports that look alike clinically, unusual for their place.

A nitazene sold as heroin shows itself first as overdoses that look like heroin overdoses but
need several doses of naloxone: reduced consciousness, respiratory depression, a partial
response. Nobody may have confirmed a substance yet. This detector looks for such groups by
their clinical picture alone:

1. **encode** each RIDR report as a weighted one-hot vector: its clinical features and its
   naloxone response (weight 1), severity, setting and age band (weight 0.5: they describe who
   and where more than what); reports are compared by cosine distance;
2. **focus**: for every area with recent reports, its *neighbourhood* (the area and its
   neighbours) over the recent ``window_days``;
3. **cluster** the neighbourhood's recent reports with DBSCAN (scikit-learn; cosine metric,
   ``eps``, ``min_samples``): a cluster is a group of reports that look alike;
4. **compare with the background**: a report is *like* the cluster when it lies within
   ``like_radius`` of the cluster's centroid. ``observed`` counts the members and the other
   recent reports like the cluster in the neighbourhood. The neighbourhood's count of reports
   like it over the previous ``baseline_days`` is shrunk half-way to what the national count
   of such reports predicts from the neighbourhood's share of all reports (so that a
   neighbourhood with little history borrows from the country), then scaled to the window:
   ``expected``. The cluster is unusual when the Poisson probability of ``observed`` or more,
   times the number of clusters tested (Bonferroni), is at most ``alpha``. The clusters are
   chosen from the very data they are tested on, so this p-value is optimistic, and
   ``alpha = 0.001`` and ``like_radius = 0.3`` are empirical: chosen on two simulated years
   (``ews simulate`` seeds 7 and 11) to keep false clusters to a few a season while finding
   the planted threats (see ``bench/detection_methods.py``);
5. **known dangerous patterns** (e.g. opioid toxidrome with a partial or no naloxone response)
   are named when most members show them; such a cluster is reported from the laxer
   ``alpha_known`` and with a higher severity.

Clusters found from overlapping neighbourhoods are the same cluster: the most significant is
kept, the others dropped when they share half their reports with it.

How the stream should call it: once a day (or per batch, when the latest RIDR event date
advances), pass the RIDR events of the last ``window_days + baseline_days`` days, all of them,
with or without a substance, to :func:`reports_from_events`, then :func:`presentation_clusters`
with ``as_of`` the day and the geography's ``neighbours``; :func:`presentation_signals` turns
the flagged clusters into signals (identified by area, window end and members, so a rerun on
the same data raises nothing new).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import get_args

import numpy as np
from scipy.special import pdtrc
from sklearn.cluster import DBSCAN

try:  # scikit-learn's own DBSCAN loop, without the estimator's per-call input validation
    from sklearn.cluster._dbscan_inner import dbscan_inner as _dbscan_inner
except ImportError:  # pragma: no cover - a scikit-learn that moved it: the estimator does the same
    _dbscan_inner = None

from services.detector.common import make_signal
from streams.records import Event, Signal
from streams.schemas import ClinicalFeature, NaloxoneResponse, Setting, Severity

FEATURE_WEIGHT = 1.0
CONTEXT_WEIGHT = 0.5  # severity, setting and age band
AGE_BANDS = ("0-12", "13-17", "18-24", "25-34", "35-44", "45-54", "55-64", "65+")


@dataclass(frozen=True)
class ClinicalReport:
    """What the detector needs of one adverse-reaction report."""

    report_key: str
    area_code: str
    date: dt.date
    clinical_features: frozenset[str]
    naloxone_response: str | None = None
    severity: str | None = None
    setting: str | None = None
    age_band: str | None = None


@dataclass(frozen=True)
class KnownPattern:
    """A clinical picture with a known meaning; matched when every listed part is present."""

    name: str
    features: frozenset[str]
    naloxone: frozenset[str] | None
    meaning: str

    def matches(self, report: ClinicalReport) -> bool:
        if not self.features <= report.clinical_features:
            return False
        return self.naloxone is None or report.naloxone_response in self.naloxone


KNOWN_PATTERNS: tuple[KnownPattern, ...] = (
    KnownPattern(
        "opioid_toxidrome_poor_naloxone_response",
        frozenset({"reduced_consciousness", "respiratory_depression"}),
        frozenset({"partial", "none"}),
        "a potent synthetic opioid (e.g. a nitazene) in what was sold as heroin or another opioid",
    ),
    KnownPattern(
        "sedation_with_skin_wounds",
        frozenset({"reduced_consciousness", "skin_wound"}),
        None,
        "an alpha-2 agonist adulterant (xylazine, medetomidine) in opioids",
    ),
    KnownPattern(
        "seizures_with_agitation_and_tachycardia",
        frozenset({"seizure", "agitation", "tachycardia"}),
        None,
        "a potent synthetic cannabinoid",
    ),
    KnownPattern(
        "hyperthermia_with_tachycardia",
        frozenset({"hyperthermia", "tachycardia"}),
        None,
        "high-dose MDMA or another serotonergic stimulant",
    ),
)


@dataclass(frozen=True)
class PresentationCluster:
    """A group of recent reports that look alike, and how unusual it is for its place.

    Attributes:
        centre: the area whose neighbourhood was clustered; ``areas`` the members' areas.
        first_day, last_day: the recent window.
        report_keys: the DBSCAN members.
        observed: recent reports in the neighbourhood like the cluster (members included).
        expected: what the background predicts for the window.
        baseline_like: background reports like it in the neighbourhood (``baseline_days``).
        p_value: Poisson ``P(X >= observed | expected)``; ``adjusted_p``: times ``tests``.
        profile: share of members with each feature / naloxone response / severity, largest
            first (parts present in at least a quarter of members).
        patterns: names of the known patterns most members match.
        flagged: whether it is unusual enough to report.
    """

    centre: str
    areas: tuple[str, ...]
    first_day: dt.date
    last_day: dt.date
    report_keys: tuple[str, ...]
    observed: int
    expected: float
    baseline_like: int
    p_value: float
    adjusted_p: float
    tests: int
    profile: tuple[tuple[str, float], ...]
    patterns: tuple[str, ...]
    flagged: bool


def reports_from_events(events: Iterable[Event]) -> list[ClinicalReport]:
    """One :class:`ClinicalReport` per RIDR report (events are per substance mention).

    ``Event`` carries no age band yet, so ``age_band`` is None here.
    """
    seen: dict[str, ClinicalReport] = {}
    for event in events:
        if event.source != "ridr" or event.report_key in seen:
            continue
        seen[event.report_key] = ClinicalReport(
            report_key=event.report_key, area_code=event.area_code, date=event.date,
            clinical_features=frozenset(event.clinical_features),
            naloxone_response=event.naloxone_response, severity=event.severity,
            setting=event.setting,
        )
    return list(seen.values())


def _vocabulary() -> dict[str, tuple[int, float]]:
    columns: list[tuple[str, float]] = [(f"feature:{f}", FEATURE_WEIGHT)
                                        for f in get_args(ClinicalFeature)]
    columns += [(f"naloxone:{r}", FEATURE_WEIGHT) for r in get_args(NaloxoneResponse)]
    columns += [(f"severity:{s}", CONTEXT_WEIGHT) for s in get_args(Severity)]
    columns += [(f"setting:{s}", CONTEXT_WEIGHT) for s in get_args(Setting)]
    columns += [(f"age:{a}", CONTEXT_WEIGHT) for a in AGE_BANDS]
    return {name: (i, weight) for i, (name, weight) in enumerate(columns)}


VOCABULARY = _vocabulary()


def encode(reports: Sequence[ClinicalReport]) -> np.ndarray:
    """Weighted one-hot rows (``VOCABULARY`` columns); unknown values are left out."""
    if not reports:
        return np.zeros((0, len(VOCABULARY)))
    return np.stack([_encoded(r.clinical_features, r.naloxone_response, r.severity, r.setting,
                              r.age_band) for r in reports])


@functools.lru_cache(maxsize=4096)
def _encoded(features: frozenset[str], naloxone: str | None, severity: str | None,
             setting: str | None, age_band: str | None) -> np.ndarray:
    """One report's row. Reports repeat a few hundred pictures: each is encoded once (the
    weekly sweep encodes half a year of reports), and the row is shared, so never written."""
    row = np.zeros(len(VOCABULARY))
    parts = [f"feature:{f}" for f in features]
    parts += [f"naloxone:{naloxone}", f"severity:{severity}", f"setting:{setting}",
              f"age:{age_band}"]
    for part in parts:
        column = VOCABULARY.get(part)
        if column is not None:
            row[column[0]] = column[1]
    row.flags.writeable = False
    return row


def dbscan(distance: np.ndarray, eps: float, min_samples: int,
           weights: np.ndarray | None = None) -> np.ndarray:
    """``DBSCAN(eps, min_samples, metric="precomputed").fit_predict(distance, sample_weight=
    weights)``, labels equal.

    The estimator validates its input on every call, about 3 ms, and the weekly sweep clusters
    some fifteen neighbourhoods of a few dozen reports: here the same neighbourhoods (within
    ``eps``, the point itself included) and core points go to the estimator's own loop.
    """
    if _dbscan_inner is None:  # pragma: no cover
        return DBSCAN(eps=eps, min_samples=min_samples, metric="precomputed").fit_predict(
            distance, sample_weight=weights)
    near = distance <= eps
    neighborhoods = np.empty(len(distance), dtype=object)
    for i, row in enumerate(near):  # item by item: equal lengths would make a 2-D array
        neighborhoods[i] = np.flatnonzero(row)
    neighbours = near.sum(axis=1) if weights is None else near @ weights
    core = np.asarray(neighbours >= min_samples, dtype=np.uint8)
    labels = np.full(len(distance), -1, dtype=np.intp)
    _dbscan_inner(core, neighborhoods, labels)
    return labels


def presentation_clusters(
    reports: Sequence[ClinicalReport],
    neighbours: Mapping[str, Iterable[str]],
    *,
    as_of: dt.date,
    window_days: int = 14,
    baseline_days: int = 182,
    eps: float = 0.2,
    min_samples: int = 3,
    min_reports: int = 3,
    like_radius: float = 0.3,
    alpha: float = 0.001,
    alpha_known: float = 0.05,
) -> list[PresentationCluster]:
    """Clusters of similar recent reports per neighbourhood, most significant first.

    Args:
        reports: RIDR reports of (at least) the window and the baseline before it.
        neighbours: adjacency of the areas (an area's neighbourhood: itself and these).
        as_of: last day of the recent window.
        window_days, baseline_days: the recent window and the background period before it.
        eps, min_samples: DBSCAN's neighbourhood radius (cosine distance) and core size.
        min_reports: fewest members for a cluster to be considered.
        like_radius: cosine distance from the cluster's centroid within which a report is
            *like* the cluster (wider than ``eps``, so that the background is not judged by
            how tightly the recent reports happen to agree).
        alpha: level for the Bonferroni-adjusted p-value.
        alpha_known: the same for clusters matching a known dangerous pattern.

    Returns:
        Every cluster tested (flagged or not), without duplicates across neighbourhoods.
    """
    first = as_of - dt.timedelta(days=window_days - 1)
    base_first = first - dt.timedelta(days=baseline_days)
    recent = [r for r in reports if first <= r.date <= as_of]
    background = [r for r in reports if base_first <= r.date < first]
    if not recent:
        return []
    # Reports repeat a few hundred clinical pictures. Distances and likeness are worked out per
    # picture, and counts per (picture, area), so that a sweep costs in proportion to its
    # reports and not to their square, whatever the density of reports.
    codes: dict[str, int] = {}  # areas as integers: a neighbourhood is a few rows of counts
    for report in (*recent, *background):
        codes.setdefault(report.area_code, len(codes))
    x_recent, recent_picture, recent_counts = _pictures(recent, codes)
    x_background, _, background_counts = _pictures(background, codes)
    background_by_area, background_by_picture = background_counts.sum(1), background_counts.sum(0)
    # Unit rows: cosine distance is then 1 - dot product.
    recent_distance = np.clip(1.0 - x_recent @ x_recent.T, 0.0, 2.0)
    recent_areas = np.array([codes[r.area_code] for r in recent])

    def in_hood(hood: set[str]) -> np.ndarray:
        """The neighbourhood's area numbers."""
        return np.array(sorted(codes[a] for a in hood if a in codes), dtype=np.intp)

    candidates: list[tuple[str, set[str], np.ndarray]] = []  # centre, hood, members
    clustered: dict[bytes, np.ndarray] = {}  # DBSCAN labels by the rows clustered
    for centre in sorted({r.area_code for r in recent}):
        hood = {centre, *neighbours.get(centre, ())}
        rows = np.flatnonzero(np.isin(recent_areas, in_hood(hood)))
        if rows.size < min_reports:
            continue
        # Neighbouring centres often hold the same recent reports: cluster each set once.
        labels = clustered.get(rows.tobytes())
        if labels is None:
            labels = clustered[rows.tobytes()] = _cluster(
                recent_picture[rows], recent_distance, eps, min_samples)
        for label in set(labels) - {-1}:
            members = rows[labels == label]
            if members.size >= min_reports:
                candidates.append((centre, hood, members))
    tests = max(1, len(candidates))

    out: list[PresentationCluster] = []
    for centre, hood, members in candidates:
        centroid = _unit(x_recent[recent_picture[members]].mean(axis=0, keepdims=True))[0]
        hood_areas = in_hood(hood)
        recent_like = 1.0 - x_recent @ centroid <= like_radius + 1e-12  # per picture
        # The members, and the other recent reports in the neighbourhood like the cluster.
        observed = int(recent_counts[hood_areas][:, recent_like].sum()
                       + (~recent_like[recent_picture[members]]).sum())
        if background:
            bg_like = 1.0 - x_background @ centroid <= like_radius + 1e-12
            local = int(background_counts[hood_areas][:, bg_like].sum())
            share = int(background_by_area[hood_areas].sum()) / len(background)
            national = int(background_by_picture[bg_like].sum())
        else:
            local, share, national = 0, 0.0, 0
        # Half local history, half the national pattern; a floor of half a report nationally
        # keeps a never-seen picture from having an expectation of exactly zero.
        baseline = 0.5 * local + 0.5 * max(national, 0.5) * max(share, 1.0 / max(len(reports), 1))
        expected = baseline * window_days / baseline_days
        p = float(pdtrc(observed - 1, expected))  # poisson.sf, without its argument checks
        member_reports = [recent[i] for i in members]
        patterns = tuple(
            pattern.name for pattern in KNOWN_PATTERNS
            if sum(pattern.matches(r) for r in member_reports) > len(member_reports) / 2
        )
        adjusted = min(1.0, p * tests)
        out.append(PresentationCluster(
            centre=centre,
            areas=tuple(sorted({r.area_code for r in member_reports})),
            first_day=first, last_day=as_of,
            report_keys=tuple(sorted(r.report_key for r in member_reports)),
            observed=observed, expected=expected, baseline_like=local, p_value=p,
            adjusted_p=adjusted, tests=tests, profile=_profile(member_reports),
            patterns=patterns,
            flagged=adjusted <= (alpha_known if patterns else alpha),
        ))
    return _distinct(sorted(out, key=lambda c: (not c.flagged, c.p_value, -c.observed)))


def _pictures(reports: Sequence[ClinicalReport], codes: Mapping[str, int],
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct pictures of `reports` as unit rows, each report's picture, and the count of
    reports per area (rows, numbered by `codes`: a neighbourhood is a few whole rows) and
    picture (columns)."""
    index: dict[tuple, int] = {}
    picture = np.array([index.setdefault(_picture_of(r), len(index)) for r in reports],
                       dtype=np.intp)
    if not index:
        return np.zeros((0, len(VOCABULARY))), picture, np.zeros((len(codes), 0), dtype=np.intp)
    rows = _unit(np.stack([_encoded(*key) for key in index]))
    areas = np.array([codes[r.area_code] for r in reports], dtype=np.intp)
    counts = np.bincount(areas * len(index) + picture, minlength=len(codes) * len(index))
    return rows, picture, counts.reshape(len(codes), len(index))


def _picture_of(report: ClinicalReport) -> tuple:
    return (report.clinical_features, report.naloxone_response, report.severity, report.setting,
            report.age_band)


def _cluster(pictures: np.ndarray, distance: np.ndarray, eps: float,
             min_samples: int) -> np.ndarray:
    """DBSCAN labels of reports with these pictures (`distance` between pictures): the distinct
    pictures are clustered, each weighted by its reports, in the order they first appear, so
    that the labels, their numbers included, are those of clustering the reports themselves."""
    distinct, first, inverse, weights = np.unique(pictures, return_index=True,
                                                  return_inverse=True, return_counts=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    distinct, weights = distinct[order], weights[order]
    within = distance[np.ix_(distinct, distinct)]
    if not ((within <= eps) @ weights >= min_samples).any():
        return np.full(pictures.size, -1, dtype=np.intp)  # no core point, no cluster
    return dbscan(within, eps, min_samples, weights=weights)[rank[inverse]]


def _unit(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def _profile(members: Sequence[ClinicalReport]) -> tuple[tuple[str, float], ...]:
    counts: Counter[str] = Counter()
    for report in members:
        counts.update(report.clinical_features)
        if report.naloxone_response:
            counts[f"naloxone_{report.naloxone_response}"] += 1
        if report.severity:
            counts[report.severity] += 1
    n = len(members)
    # Ties by name: most_common() breaks them by first appearance, which follows member order.
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return tuple((part, round(count / n, 2)) for part, count in ranked if count / n >= 0.25)


def _distinct(clusters: list[PresentationCluster]) -> list[PresentationCluster]:
    """Drop a cluster sharing half its reports with a better one already kept."""
    kept: list[PresentationCluster] = []
    for cluster in clusters:
        mine = set(cluster.report_keys)
        if all(len(mine & set(k.report_keys)) * 2 < len(mine) for k in kept):
            kept.append(cluster)
    return kept


def presentation_signals(
    clusters: Sequence[PresentationCluster], events: Sequence[Event]
) -> list[Signal]:
    """Signals for the flagged clusters.

    The signal is about the substance most members *said* they took (confirmed or not: a
    nitazene sold as heroin is reported as heroin), so that it joins alerts about that
    substance, e.g. an adulteration alert about samples sold as heroin; with no substance named
    it is about the members' commonest class, or none.

    Severity: ``critical`` for a known dangerous pattern with most members severe or worse,
    ``high`` for a known pattern, ``medium`` otherwise.
    """
    flagged = [cluster for cluster in clusters if cluster.flagged]
    if not flagged:
        return []  # spare the pass over the events
    members = {key for cluster in flagged for key in cluster.report_keys}
    by_key: dict[str, list[Event]] = {}
    for event in events:
        if event.report_key in members:
            by_key.setdefault(event.report_key, []).append(event)
    signals: list[Signal] = []
    for cluster in flagged:
        member_events = [e for key in cluster.report_keys for e in by_key.get(key, [])]
        if not member_events:
            continue
        named = Counter(e.substance_key for e in member_events if e.substance_key)
        if named:
            key = named.most_common(1)[0][0]
            chosen = [e for e in member_events if e.substance_key == key]
            subject = "substance"
        else:
            classes = Counter(e.substance_class for e in member_events if e.substance_class)
            klass = classes.most_common(1)[0][0] if classes else None
            chosen = [e for e in member_events if e.substance_class == klass]
            subject = "class"
        severe = sum(share for part, share in cluster.profile
                     if part in ("severe", "life_threatening", "fatal"))
        if cluster.patterns:
            severity = "critical" if severe > 0.5 else "high"
        else:
            severity = "medium"
        # The signal's area: the centre's, when a member there names the substance.
        template = max(chosen, key=lambda e: (e.area_code == cluster.centre, e.date, e.event_id))
        meanings = [p.meaning for p in KNOWN_PATTERNS if p.name in cluster.patterns]
        picture = ", ".join(f"{part} {share:.0%}" for part, share in cluster.profile[:6])
        days = (cluster.last_day - cluster.first_day).days + 1
        signals.append(make_signal(
            template, detector="presentation_cluster", method="dbscan_cosine_poisson",
            subject=subject, scope="area", severity=severity,  # type: ignore[arg-type]
            id_parts=(cluster.centre, cluster.last_day, cluster.report_keys),
            period_start=cluster.first_day, period_end=cluster.last_day,
            observed=cluster.observed, expected=round(cluster.expected, 4),
            summary=(f"{cluster.observed} adverse-reaction reports alike ({picture}) in "
                     f"{cluster.centre} and neighbours in the {days} days to "
                     f"{cluster.last_day.isoformat()}: expected {cluster.expected:.1f} "
                     f"(p = {cluster.p_value:.2g}, {cluster.tests} clusters tested)"
                     + (f"; looks like {'; '.join(meanings)}" if meanings else "")),
            report_keys=list(cluster.report_keys),
            detail={"centre": cluster.centre, "areas": list(cluster.areas),
                    "profile": dict(cluster.profile),
                    "patterns": list(cluster.patterns), "p_value": cluster.p_value,
                    "adjusted_p": cluster.adjusted_p, "tests": cluster.tests,
                    "baseline_like": cluster.baseline_like},
        ))
    return signals

"""Clusters of drug deaths sharing a substance or class in a neighbourhood, above background.

Deaths are few, so a cluster is judged against what the background predicts, not against a
fitted time series:

1. **series**: every substance named on a death, and its class (cuts and unknowns left out);
2. **focus**: for each area with a recent death in the series, its *neighbourhood* (the area
   and its neighbours) over the last ``window_days``; ``observed`` counts those deaths;
3. **expected**: the neighbourhood's deaths in the series over the ``baseline_days`` before the
   window, shrunk half-way to what the national count in the series predicts from the
   neighbourhood's share of all deaths (a floor of half a death nationally keeps a substance
   never seen before from having an expectation of exactly zero), scaled to the window;
4. **test**: ``P(X >= observed)`` for a negative binomial with mean ``expected`` and shape
   ``overdispersion`` (deaths come in bursts even by chance: the variance is
   ``mu + mu**2 / 8``), times the number of neighbourhoods tested (Bonferroni); a cluster when
   that is at most ``alpha`` (0.001) and it holds at least ``min_deaths`` deaths
   (``min_deaths_dangerous`` for nitazenes, fentanyl analogues and xylazine-like substances,
   and substances not in the reference library). The shape and ``alpha`` were chosen on two
   simulated years (``ews simulate`` seeds 7 and 11): about one false cluster in five months
   each, the planted nitazene deaths found in both;
5. **prison release as evidence**: how many of the cluster's deaths were within
   ``release_days`` of release from prison (the weeks of lost tolerance), against the share
   among the series' deaths nationally in the baseline (the share among all deaths when the
   series has none): a one-sided binomial p-value. It does not decide the cluster; it raises
   its severity and is shown with it.

Clusters of one series found from overlapping neighbourhoods are one cluster: the most
significant is kept, the others dropped when they share half their deaths with it.

Death notifications arrive weeks to months after the death, so the most recent window is
always incomplete: the test is conservative for the latest weeks, and a cluster may first be
seen some weeks after it began.

How the stream should call it: once a day (or per batch of death events), pass the death events
*received* by then whose date of death lies in the last ``window_days + baseline_days`` days
to :func:`deaths_from_events`, then :func:`death_clusters` with ``as_of`` the day and the
geography's ``neighbours``; :func:`death_signals` turns the flagged clusters into signals
(identified by series, area, window end and deaths, so a rerun raises nothing new).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from scipy.stats import binom, nbinom

from services.detector.common import DANGEROUS_CLASSES, INERT_CLASSES, make_signal
from streams.records import Event, Signal


@dataclass(frozen=True)
class DeathRecord:
    """One death notification: what was found, where, when, and prison release."""

    report_key: str
    area_code: str
    date: dt.date
    substances: frozenset[str]  # substance keys, or names where no structure is known
    classes: frozenset[str]
    released_from_prison_days: int | None = None
    setting: str | None = None
    #: Substances of a dangerous class or not in the reference library: two deaths are a cluster.
    watched: frozenset[str] = frozenset()


@dataclass(frozen=True)
class DeathCluster:
    """Deaths in a neighbourhood sharing a substance or class, and how unusual they are.

    Attributes:
        dimension, value: ``substance`` (key or name) or ``class`` (label).
        centre: the area whose neighbourhood it is; ``areas`` where the deaths were.
        observed, expected: deaths in the window, and what the background predicts.
        local_baseline: the neighbourhood's deaths in the series over the baseline.
        p_value, adjusted_p, tests: the p-value, and times the neighbourhoods tested.
        released: deaths within ``release_days`` of prison release; ``released_share`` of
            the cluster, ``background_released_share`` nationally, ``released_p`` binomial.
        in_prison: deaths in prison.
        flagged: whether it is a cluster worth reporting.
    """

    dimension: str
    value: str
    centre: str
    areas: tuple[str, ...]
    first_day: dt.date
    last_day: dt.date
    report_keys: tuple[str, ...]
    observed: int
    expected: float
    local_baseline: int
    p_value: float
    adjusted_p: float
    tests: int
    released: int
    released_share: float
    background_released_share: float
    released_p: float
    in_prison: int
    flagged: bool


def deaths_from_events(events: Iterable[Event]) -> list[DeathRecord]:
    """One :class:`DeathRecord` per death notification (events are per substance)."""
    grouped: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        if event.source == "death":
            grouped[event.report_key].append(event)
    out = []
    for key, mentions in grouped.items():
        first = mentions[0]
        substances = {_substance(e) for e in mentions} - {None}
        out.append(DeathRecord(
            report_key=key, area_code=first.area_code, date=first.date,
            substances=frozenset(s for s in substances if s),
            classes=frozenset(e.substance_class for e in mentions
                              if e.substance_class not in INERT_CLASSES),  # type: ignore[misc]
            released_from_prison_days=first.released_from_prison_days, setting=first.setting,
            watched=frozenset(s for e in mentions
                              if (e.novel or e.substance_class in DANGEROUS_CLASSES)
                              and (s := _substance(e))),
        ))
    return out


def _substance(event: Event) -> str | None:
    if event.substance_key:
        return event.substance_key
    return f"name:{event.substance_name.lower()}" if event.substance_name else None


def death_clusters(
    deaths: Sequence[DeathRecord],
    neighbours: Mapping[str, Iterable[str]],
    *,
    as_of: dt.date,
    window_days: int = 28,
    baseline_days: int = 365,
    release_days: int = 28,
    min_deaths: int = 3,
    min_deaths_dangerous: int = 2,
    alpha: float = 0.001,
    overdispersion: float = 8.0,
) -> list[DeathCluster]:
    """Clusters of recent deaths per series and neighbourhood, flagged ones first.

    Args:
        deaths: death records of (at least) the window and the baseline before it.
        neighbours: adjacency of the areas.
        as_of: last day of the window.
        window_days, baseline_days: the window and the background period before it.
        release_days: a death this many days or fewer after prison release counts as recent.
        min_deaths, min_deaths_dangerous: fewest deaths in a cluster (dangerous classes, and
            substances of those classes or not in the reference library: the second).
        alpha: level for the Bonferroni-adjusted p-value.
        overdispersion: shape ``k`` of the negative binomial the counts are tested with
            (variance ``mu + mu**2 / k``; ``inf`` would be Poisson).

    Returns:
        Every neighbourhood tested (flagged or not), distinct clusters only.
    """
    first = as_of - dt.timedelta(days=window_days - 1)
    base_first = first - dt.timedelta(days=baseline_days)
    recent = [d for d in deaths if first <= d.date <= as_of]
    background = [d for d in deaths if base_first <= d.date < first]
    if not recent:
        return []
    all_background = max(len(background), 1)
    by_area_all: dict[str, int] = defaultdict(int)
    for death in background:
        by_area_all[death.area_code] += 1
    released_all = sum(_released(d, release_days) for d in background) / all_background

    # Each series' background is summed by area once, and the recent deaths grouped by area, so
    # that a neighbourhood costs its own areas and not a pass over the series' year of deaths.
    candidates = []
    for dimension in ("substance", "class"):
        recent_series = _by_series(recent, dimension)
        background_series = _by_series(background, dimension)
        for value, members in sorted(recent_series.items()):
            least = min_deaths_dangerous if _dangerous(dimension, value, members) else min_deaths
            past = _Past.of(background_series.get(value, []), release_days)
            by_area: dict[str, list[DeathRecord]] = defaultdict(list)
            for death in members:
                by_area[death.area_code].append(death)
            for centre in sorted(by_area):
                hood = {centre, *neighbours.get(centre, ())}
                inside = [d for area in sorted(hood & by_area.keys()) for d in by_area[area]]
                if len(inside) >= least:
                    candidates.append((dimension, value, centre, hood, inside, past))
    tests = max(1, len(candidates))

    out = []
    for dimension, value, centre, hood, inside, past in candidates:
        local = sum(past.by_area.get(a, 0) for a in hood)
        share = sum(by_area_all.get(a, 0) for a in hood) / all_background
        share = max(share, 1.0 / all_background)
        baseline = 0.5 * local + 0.5 * max(past.deaths, 0.5) * share
        expected = baseline * window_days / baseline_days
        observed = len(inside)
        # Negative binomial with shape ``overdispersion``: deaths come in bursts even at random.
        p = float(nbinom.sf(observed - 1, overdispersion,
                            overdispersion / (overdispersion + expected)))
        released = sum(_released(d, release_days) for d in inside)
        background_share = past.released / past.deaths if past.deaths else released_all
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
            in_prison=sum(d.setting == "prison" for d in inside), flagged=adjusted <= alpha,
        ))
    return _distinct(sorted(out, key=lambda c: (not c.flagged, c.p_value, -c.observed)))


@dataclass(frozen=True)
class _Past:
    """A series' deaths over the baseline: how many, how many per area, how many released."""

    deaths: int
    by_area: dict[str, int]
    released: int

    @classmethod
    def of(cls, deaths: Sequence[DeathRecord], release_days: int) -> _Past:
        by_area: dict[str, int] = defaultdict(int)
        for death in deaths:
            by_area[death.area_code] += 1
        return cls(len(deaths), dict(by_area), sum(_released(d, release_days) for d in deaths))


def _dangerous(dimension: str, value: str, members: Sequence[DeathRecord]) -> bool:
    """A dangerous class, or a substance of one (or not in the reference library)."""
    if dimension == "class":
        return value in DANGEROUS_CLASSES
    return any(value in d.watched for d in members)


def _released(death: DeathRecord, days: int) -> bool:
    return death.released_from_prison_days is not None and death.released_from_prison_days <= days


def _by_series(deaths: Sequence[DeathRecord], dimension: str) -> dict[str, list[DeathRecord]]:
    series: dict[str, list[DeathRecord]] = defaultdict(list)
    for death in deaths:
        for value in death.substances if dimension == "substance" else death.classes:
            series[value].append(death)
    return series


def _distinct(clusters: list[DeathCluster]) -> list[DeathCluster]:
    kept: list[DeathCluster] = []
    for cluster in clusters:
        mine = set(cluster.report_keys)
        if all((k.dimension, k.value) != (cluster.dimension, cluster.value)
               or len(mine & set(k.report_keys)) * 2 < len(mine) for k in kept):
            kept.append(cluster)
    return kept


def death_signals(clusters: Sequence[DeathCluster], events: Sequence[Event]) -> list[Signal]:
    """Signals for the flagged clusters.

    Severity: ``critical`` for a dangerous class (or a substance of one, or one not in the
    reference library); ``high`` when the prison-release excess is significant (binomial
    p <= 0.05 with at least 2 such deaths) or the cluster very strong (adjusted p <= 0.001);
    ``medium`` otherwise.
    """
    if not any(cluster.flagged for cluster in clusters):
        return []  # spare the pass over the events
    by_key: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        if event.source == "death":
            by_key[event.report_key].append(event)
    signals = []
    for cluster in clusters:
        if not cluster.flagged:
            continue
        matching = [e for key in cluster.report_keys for e in by_key.get(key, [])
                    if (cluster.value == (_substance(e) if cluster.dimension == "substance"
                                          else e.substance_class))]
        if not matching:
            continue
        template = max(matching, key=lambda e: (e.area_code == cluster.centre, e.date,
                                                e.event_id))
        prison = cluster.released >= 2 and cluster.released_p <= 0.05
        if template.substance_class in DANGEROUS_CLASSES or template.novel:
            severity = "critical"
        elif prison or cluster.adjusted_p <= 0.001:
            severity = "high"
        else:
            severity = "medium"
        what = (template.substance_label if cluster.dimension == "substance"
                else f"class {cluster.value}")
        release_note = (f"; {cluster.released} of {cluster.observed} within 28 days of prison "
                        f"release (usually {cluster.background_released_share:.0%})"
                        if cluster.released else "")
        signals.append(make_signal(
            template, detector="death_cluster", method="neighbourhood_poisson",
            subject=cluster.dimension, scope="area", severity=severity,  # type: ignore[arg-type]
            id_parts=(cluster.dimension, cluster.value, cluster.centre, cluster.last_day,
                      cluster.report_keys),
            period_start=cluster.first_day, period_end=cluster.last_day,
            observed=cluster.observed, expected=round(cluster.expected, 4),
            summary=(f"{cluster.observed} deaths with {what} in {cluster.centre} and "
                     f"neighbours in the {(cluster.last_day - cluster.first_day).days + 1} "
                     f"days to {cluster.last_day.isoformat()}: expected "
                     f"{cluster.expected:.2f} (p = {cluster.p_value:.2g}, {cluster.tests} "
                     f"neighbourhoods tested){release_note}"),
            report_keys=list(cluster.report_keys),
            detail={"centre": cluster.centre, "areas": list(cluster.areas),
                    "p_value": cluster.p_value,
                    "adjusted_p": cluster.adjusted_p, "tests": cluster.tests,
                    "local_baseline": cluster.local_baseline,
                    "released_from_prison": cluster.released,
                    "released_share": round(cluster.released_share, 3),
                    "background_released_share": round(cluster.background_released_share, 3),
                    "released_p": cluster.released_p, "in_prison": cluster.in_prison,
                    "series": {"dimension": cluster.dimension, "value": cluster.value}},
        ))
    return signals

"""Prospective space-time permutation scan (Kulldorff et al. 2005, PLoS Med 2(3):e59).

The scan looks for a group of neighbouring areas whose share of the cases is higher in the most
recent days than it was over the whole study period, without needing population denominators:
under the null hypothesis the spatial and temporal distributions of the cases are independent.

For one series (one substance or class, one source) the inputs are case counts ``c[a, d]`` per
area ``a`` and period ``d`` (day or week) over a study period ending today. Then:

1. **cylinders**: a *zone* is an area together with its ``k - 1`` nearest areas (nearest by
   hops over the adjacency graph, ties broken by centroid distance), for ``k = 1 ..
   max_areas``, as long as the zone holds at most ``max_share`` of all cases; a *window* is the
   last ``w`` periods, ``w = 1 .. max_window`` (prospective: every window ends at the last
   period, so only clusters still going on today are looked for);
2. **expected** count of a cylinder (zone ``Z`` x window ``W``): ``mu = C_Z * C_W / C``, with
   ``C_Z`` the cases in the zone over the whole study period, ``C_W`` the cases anywhere in the
   window and ``C`` all cases (Kulldorff 2005, eq. 1-2, summed over the cylinder);
3. **statistic**: the Poisson generalised likelihood ratio, for cylinders with more cases than
   expected (``n > mu``) and at least ``min_cases``::

       llr = n log(n / mu) + (C - n) log((C - n) / (C - mu))

   The most likely cluster is the cylinder with the largest ``llr``;
4. **p-value** by Monte Carlo: the dates are shuffled across the cases (keeping every case's
   area, hence all ``C_Z`` and ``C_W``), the largest ``llr`` of each of ``replicates`` shuffled
   data sets is recorded, and ``p = (1 + #{replicate llr >= observed llr}) / (1 + replicates)``;
5. **secondary clusters**: the next best cylinders that share no area with a cluster already
   reported, each judged against the same replicate maxima (conservative, as in SaTScan);
6. **recurrence interval**: how often a cluster at least this unlikely would arise by chance
   when scanning ``scans_per_year`` times a year: ``RI = 1 / (p * scans_per_year)`` years,
   reported in days (``365.25 / (p * scans_per_year)``; a daily scan gives ``RI = 1 / p``
   days, Kulldorff 2005).

Everything is vectorised: zones are kept as each centre's areas in order of distance, so the
count of every (zone, window) cylinder is a cumulative sum, first over time (the last ``w``
periods) then over each centre's nearest areas; replicates are drawn in batches with one
``bincount`` per batch. A scan of all 361 UK districts with 999 replicates takes seconds (see
``bench/scan_all_areas.py``).

How the stream should call it: once a day, for each harm series (class or substance key, per
source, for the ``ridr`` and ``death`` sources) with at least 3 cases in the last
``max_window`` days, pass that series' events received so far and dated in the last
``study_days`` days to :func:`scan_events` (zones from :func:`zones_from_geography`, built once
per process; 999 replicates), then turn the clusters worth reporting into signals with
:func:`scan_signals` (recurrence interval of a year or more). Signals are identified by series,
areas, window and count, so a rescan of the same data raises nothing new. Forensic results are
better left out: seizures come in operations and drug checking at festivals, so their space-time
clusters are mostly the sampling itself (on the simulated demo year, most forensic clusters
were festival weekends and batches, see ``bench/detection_methods.py``). A scan costs about a
second for a series of a few thousand cases.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path
from scipy.special import xlogy

from services.detector.common import DANGEROUS_CLASSES, make_signal
from services.geography import Geography
from streams.records import Event, Signal

DAYS_PER_YEAR = 365.25
#: Elements of one replicate batch's (replicates x centres x areas x windows) arrays.
_BATCH_ELEMENTS = 4_000_000


class ScanError(ValueError):
    """Unusable input to the scan; the message names the argument."""


@dataclass(frozen=True)
class Zones:
    """Candidate zones: for every centre area, the areas in order of distance from it.

    Attributes:
        area_codes: the areas, in the row order of the count matrices the scan takes.
        order: ``(areas, max_areas)`` indices into ``area_codes``; row ``c`` lists centre ``c``
            first, then its nearest areas. Zone ``(c, k)`` is ``order[c, : k + 1]``.
    """

    area_codes: tuple[str, ...]
    order: np.ndarray

    @property
    def max_areas(self) -> int:
        return int(self.order.shape[1])

    def index(self) -> dict[str, int]:
        return {code: i for i, code in enumerate(self.area_codes)}


def build_zones(
    area_codes: Sequence[str],
    neighbours: Mapping[str, Iterable[str]],
    coordinates: Mapping[str, tuple[float, float]] | None = None,
    *,
    max_areas: int = 15,
) -> Zones:
    """Zones over an adjacency graph: each area and its nearest areas, up to ``max_areas``.

    Args:
        area_codes: all areas (the rows of the count matrices).
        neighbours: adjacency; links to unknown areas are ignored, links are made symmetric.
        coordinates: ``(lat, lon)`` centroids, to order areas at the same number of hops (and
            areas the graph cannot reach); without them, ties keep ``area_codes`` order.
        max_areas: the largest zone, in areas.
    """
    codes = tuple(area_codes)
    n = len(codes)
    if n == 0:
        raise ScanError("area_codes is empty")
    if len(set(codes)) != n:
        raise ScanError("area_codes has duplicates")
    if max_areas < 1:
        raise ScanError(f"max_areas must be at least 1, got {max_areas}")
    index = {code: i for i, code in enumerate(codes)}
    rows, cols = [], []
    for code, others in neighbours.items():
        if code not in index:
            continue
        for other in others:
            if other in index and other != code:
                rows += [index[code], index[other]]
                cols += [index[other], index[code]]
    graph = csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    hops = shortest_path(graph, unweighted=True, directed=False)  # inf where unreachable
    if coordinates is not None:
        missing = [code for code in codes if code not in coordinates]
        if missing:
            raise ScanError(f"coordinates lack {len(missing)} area(s), e.g. {missing[0]}")
        lat = np.radians([coordinates[code][0] for code in codes])
        lon = np.radians([coordinates[code][1] for code in codes])
        # Equirectangular distance: only the ordering of nearby areas matters.
        x = (lon[None, :] - lon[:, None]) * np.cos((lat[None, :] + lat[:, None]) / 2)
        y = lat[None, :] - lat[:, None]
        distance = np.hypot(x, y)
    else:
        distance = np.broadcast_to(np.arange(n, dtype=float), (n, n)).copy()
    hops = np.where(np.isinf(hops), n + 1.0, hops)
    np.fill_diagonal(hops, -1.0)  # the centre first, whatever the tie-break says
    k = min(max_areas, n)
    order = np.lexsort((distance, hops), axis=1)[:, :k]
    return Zones(area_codes=codes, order=np.ascontiguousarray(order, dtype=np.intp))


def zones_from_geography(geography: Geography, *, max_areas: int = 15) -> Zones:
    """Zones over the UK districts of ``services.geography`` (adjacency, centroid ties)."""
    codes = sorted(geography.areas)
    coordinates = {code: (geography.areas[code].lat, geography.areas[code].lon) for code in codes}
    return build_zones(codes, geography.neighbours, coordinates, max_areas=max_areas)


@dataclass(frozen=True)
class ScanCluster:
    """One cluster: a zone over a window ending at the last period.

    Attributes:
        areas: area codes of the zone, centre first, then nearest first.
        start, end: 0-based period indices of the window (``end`` is the last period).
        observed: cases in the cylinder.
        expected: ``C_Z * C_W / C``.
        relative_risk: ``(n / mu) / ((C - n) / (C - mu))``, the rate inside against outside
            (as SaTScan reports it); ``inf`` when every case is inside.
        llr: log likelihood ratio.
        p_value: Monte Carlo p-value against the replicates' largest ``llr``.
        recurrence_days: ``365.25 / (p_value * scans_per_year)``.
        rank: 1 for the most likely cluster, then 2, 3 ... for secondary clusters.
        first_day, last_day, report_keys: filled by :func:`scan_events` (dates of the window,
            the reports inside the cylinder).
    """

    areas: tuple[str, ...]
    start: int
    end: int
    observed: int
    expected: float
    relative_risk: float
    llr: float
    p_value: float
    recurrence_days: float
    rank: int
    first_day: dt.date | None = None
    last_day: dt.date | None = None
    report_keys: tuple[str, ...] = ()

    @property
    def centre(self) -> str:
        return self.areas[0]

    @property
    def window(self) -> int:
        return self.end - self.start + 1


@dataclass(frozen=True)
class ScanResult:
    """Clusters of one scan, best first, and what they were judged against."""

    clusters: list[ScanCluster]
    total_cases: int
    periods: int
    replicates: int
    replicate_llr: np.ndarray = field(repr=False)  # largest llr of each replicate


def poisson_llr(observed: np.ndarray, expected: np.ndarray, total: float) -> np.ndarray:
    """Kulldorff's Poisson log likelihood ratio; 0 where ``observed <= expected``."""
    n = np.asarray(observed, dtype=float)
    mu = np.asarray(expected, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        llr = xlogy(n, n / mu) + xlogy(total - n, (total - n) / (total - mu))
    return np.where(n > mu, llr, 0.0)


def _llr_above(n: np.ndarray, mu: np.ndarray, total: float) -> np.ndarray:
    """:func:`poisson_llr` where ``n > mu > 0`` is known, in single precision (for replicates)."""
    n = n.astype(np.float32)
    rest = np.float32(total) - n
    outside = np.log(np.maximum(rest, np.float32(1e-30)) / (np.float32(total) - mu))
    return n * np.log(n / mu) + rest * outside


def space_time_scan(
    counts: np.ndarray | Sequence[Sequence[int]],
    zones: Zones,
    *,
    max_window: int = 14,
    max_share: float = 0.5,
    min_cases: int = 2,
    replicates: int = 999,
    seed: int = 0,
    scans_per_year: float = DAYS_PER_YEAR,
    max_clusters: int = 5,
    stop_above_p: float | None = None,
) -> ScanResult:
    """Prospective space-time permutation scan of ``counts`` (areas x periods, oldest first).

    Args:
        counts: non-negative integer case counts, rows in ``zones.area_codes`` order.
        zones: candidate zones, from :func:`build_zones` or :func:`zones_from_geography`.
        max_window: longest window, in periods (ending at the last period).
        max_share: largest share of all cases a zone may hold (Kulldorff 2005: 50%).
        min_cases: fewest cases a cylinder needs to count as a cluster.
        replicates: Monte Carlo replicates (999 gives p-values down to 0.001).
        seed: seed of the shuffles; the same input and seed give the same p-values.
        scans_per_year: how often the scan is run, for the recurrence interval (daily: 365.25,
            weekly: 52.18).
        max_clusters: at most this many clusters, sharing no area.
        stop_above_p: stop drawing replicates as soon as they show that no cluster can reach
            a p-value at or below this (Besag & Clifford's sequential Monte Carlo test): the
            result then holds the replicates drawn, and p-values from them, each above
            ``stop_above_p`` (a scan whose clusters only matter below a p-value, as the
            stream's, is spared the replicates of the unremarkable ones, most of them).

    Returns:
        A :class:`ScanResult`; its clusters are best first whatever their p-values (the caller
        chooses the p-value or recurrence interval worth reporting).
    """
    c = np.asarray(counts)
    n_areas = len(zones.area_codes)
    if c.ndim != 2 or c.shape[0] != n_areas:
        raise ScanError(f"counts must have shape ({n_areas}, periods), got {c.shape}")
    if c.size and (not np.issubdtype(c.dtype, np.number) or (c < 0).any()
                   or (np.round(c) != c).any()):
        raise ScanError("counts must be non-negative integers")
    if not 0 < max_share <= 1:
        raise ScanError(f"max_share must be in (0, 1], got {max_share}")
    if max_window < 1 or replicates < 0 or min_cases < 1 or scans_per_year <= 0:
        raise ScanError("max_window, min_cases and scans_per_year must be positive, "
                        "replicates not negative")
    c = c.astype(np.int64)
    periods = c.shape[1]
    total = int(c.sum())
    empty = ScanResult([], total, periods, replicates, np.zeros(replicates))
    if total == 0 or periods == 0:
        return empty
    window = min(max_window, periods)
    order = zones.order

    # Fixed under the permutation: zone totals, window totals, hence every expected count.
    zone_cases = np.cumsum(c.sum(axis=1)[order], axis=1)  # (centres, k)
    window_cases = np.cumsum(c.sum(axis=0)[::-1][:window])  # (w,)
    expected = zone_cases[:, :, None] * window_cases[None, None, :] / total
    allowed = (zone_cases <= max_share * total)[:, :, None]

    # A cylinder counts when n > mu, n >= min_cases and the zone is small enough; n is an
    # integer, so that is n > threshold. Logs are taken only there: most cylinders are empty.
    threshold = np.where(allowed, np.maximum(expected, min_cases - 0.5), np.inf).ravel()
    # ... that is n >= need, an integer comparison (fast on the replicates' int32 counts).
    need = np.minimum(np.floor(threshold) + 1, np.iinfo(np.int32).max).astype(np.int32)
    expected_flat = expected.ravel()
    # A zone's cases in any window are at most its cases over the whole study period, which the
    # permutation keeps: zones that cannot reach `need` anywhere are left out of the replicates
    # (most of them, for a sparse series); the maxima are the same.
    live = (zone_cases[:, :, None] >= need.reshape(expected.shape)).any(axis=(1, 2))
    # Replicate cells are laid out (k, centre, w): adding one more area to every zone at once is
    # then a sum of contiguous blocks (the maximum does not depend on the layout).
    live_order = np.ascontiguousarray(order[live].T)
    live_need = need.reshape(expected.shape)[live].transpose(1, 0, 2).ravel()
    # replicates: single precision, half the memory traffic
    expected_single = expected[live].transpose(1, 0, 2).ravel().astype(np.float32)

    def max_llr(recent: np.ndarray) -> np.ndarray:
        """Largest llr per leading index of ``recent[rep, area, w]`` (cases in the last w+1)."""
        best = np.zeros(recent.shape[0])
        if not live_need.size:
            return best
        inside = recent[:, live_order, :].astype(np.int32, copy=False)  # (rep, k, centre, w)
        for k in range(1, inside.shape[1]):
            inside[:, k] += inside[:, k - 1]
        inside = inside.reshape(recent.shape[0], -1)
        hit = np.flatnonzero(inside >= live_need)
        if hit.size:
            rep, cell = np.divmod(hit, live_need.size)
            llr = _llr_above(inside.ravel()[hit], expected_single[cell], total)
            starts = np.flatnonzero(np.r_[True, rep[1:] != rep[:-1]])
            best[rep[starts]] = np.maximum.reduceat(llr, starts)
        return best

    recent = np.cumsum(c[:, ::-1][:, :window], axis=1)  # (areas, w)
    inside = np.cumsum(recent[order, :], axis=1)
    observed_llr = np.where(inside.ravel() > threshold,
                            poisson_llr(inside.ravel(), expected_flat, total), 0.0)
    observed_llr = observed_llr.reshape(expected.shape)
    enough = None
    if stop_above_p is not None:
        best_llr = float(observed_llr.max(initial=0.0))
        # p = (1 + k) / (1 + replicates) stays at or below stop_above_p while k <= allowed
        allowed = math.floor(stop_above_p * (1 + replicates) - 1 + 1e-9)
        if best_llr <= 0:  # no cluster to judge
            return ScanResult([], total, periods, 0, np.zeros(0))

        def enough(null: np.ndarray) -> bool:
            return int((null >= best_llr * (1 - 1e-5)).sum()) > allowed

    null = (_replicate_maxima(c, window, order.size, replicates, seed, max_llr, enough)
            if live.any() else np.zeros(replicates))  # no replicate can have a cluster
    replicates = null.size

    clusters: list[ScanCluster] = []
    used = np.zeros(n_areas, dtype=bool)
    flat = np.argsort(observed_llr, axis=None)[::-1]
    for position in flat:
        best = float(observed_llr.flat[position])
        if best <= 0 or len(clusters) >= max_clusters:
            break
        centre, k, w = np.unravel_index(position, observed_llr.shape)
        members = order[centre, : k + 1]
        if used[members].any():
            continue
        used[members] = True
        n = int(recent[members, w].sum())
        mu = float(expected[centre, k, w])
        # Replicates are in single precision: a tie within its rounding counts as a tie.
        p = (1 + int((null >= best * (1 - 1e-5)).sum())) / (1 + replicates)
        with np.errstate(divide="ignore"):
            rr = (n / mu) / ((total - n) / (total - mu)) if total > n else np.inf
        clusters.append(ScanCluster(
            areas=tuple(zones.area_codes[i] for i in members),
            start=periods - 1 - int(w), end=periods - 1, observed=n, expected=mu,
            relative_risk=float(rr), llr=best, p_value=p,
            recurrence_days=DAYS_PER_YEAR / (p * scans_per_year), rank=len(clusters) + 1,
        ))
    return ScanResult(clusters, total, periods, replicates, null)


def _replicate_maxima(
    counts: np.ndarray,
    window: int,
    zone_cells: int,
    replicates: int,
    seed: int,
    llr_of: Callable[[np.ndarray], np.ndarray],
    enough: Callable[[np.ndarray], bool] | None = None,
) -> np.ndarray:
    """Largest llr of each of ``replicates`` data sets with the dates shuffled across cases;
    fewer when ``enough`` of those drawn so far says so (checked after each batch)."""
    if replicates == 0:
        return np.zeros(0)
    n_areas, periods = counts.shape
    area_of_case = np.repeat(np.arange(n_areas), counts.sum(axis=1))
    # Age of each case in periods before the last one; the permutation shuffles ages.
    age_of_case = np.repeat(np.tile(np.arange(periods)[::-1], n_areas), counts.ravel())
    cells = n_areas * window
    batch = max(1, min(replicates, _BATCH_ELEMENTS // max(1, zone_cells * window)))
    rng = np.random.default_rng(seed)
    out = np.empty(replicates)
    lo = 0
    while lo < replicates:
        # With a stopping rule, batches of 1, 2, 4, ... replicates: an unremarkable scan stops
        # at the first replicate beating it, most of them within a few. Rows are shuffled one
        # after another from one generator, so the batches do not change the replicates.
        size = min(batch if enough is None else min(batch, lo + 1), replicates - lo)
        ages = rng.permuted(np.tile(age_of_case, (size, 1)), axis=1)
        rep, case = np.nonzero(ages < window)
        index = (rep * n_areas + area_of_case[case]) * window + ages[rep, case]
        recent = np.bincount(index, minlength=size * cells).reshape(size, n_areas, window)
        out[lo : lo + size] = llr_of(np.cumsum(recent, axis=2, dtype=np.int32))
        lo += size
        if enough is not None and lo < replicates and enough(out[:lo]):
            return out[:lo]
    return out


# --- the stream's side: events in, signals out -------------------------------------------------


def scan_events(
    events: Iterable[Event],
    zones: Zones,
    *,
    as_of: dt.date,
    study_days: int = 182,
    max_window: int = 14,
    replicates: int = 999,
    seed: int = 0,
    **options: float,
) -> ScanResult:
    """Scan one series' events by day: the study period is the ``study_days`` days to ``as_of``.

    Each report counts once in its area and day (a report naming two substances of a class is
    one case of the class). Events outside the study period or in areas the zones do not know
    are left out. ``options`` go to :func:`space_time_scan` (``max_share``, ``min_cases``,
    ``scans_per_year``, ``max_clusters``).

    Returns:
        The :class:`ScanResult`, its clusters with ``first_day``, ``last_day`` and the
        ``report_keys`` inside them.
    """
    if study_days < 1:
        raise ScanError(f"study_days must be at least 1, got {study_days}")
    first = as_of - dt.timedelta(days=study_days - 1)
    index = zones.index()
    cases: dict[tuple[int, int], set[str]] = {}
    for event in events:
        area = index.get(event.area_code)
        if area is None or not first <= event.date <= as_of:
            continue
        cases.setdefault((area, (event.date - first).days), set()).add(event.report_key)
    counts = np.zeros((len(zones.area_codes), study_days), dtype=np.int64)
    for (area, day), keys in cases.items():
        counts[area, day] = len(keys)
    result = space_time_scan(counts, zones, max_window=max_window, replicates=replicates,
                             seed=seed, **options)  # type: ignore[arg-type]
    dated = []
    for cluster in result.clusters:
        members = {index[code] for code in cluster.areas}
        keys = sorted({key for (area, day), found in cases.items()
                       if area in members and cluster.start <= day <= cluster.end
                       for key in found})
        dated.append(replace(cluster, first_day=first + dt.timedelta(days=cluster.start),
                             last_day=first + dt.timedelta(days=cluster.end),
                             report_keys=tuple(keys)))
    return replace(result, clusters=dated)


#: Recurrence intervals (days) from which a cluster becomes a signal (once a year by chance
#: for one series scanned daily) and a ``high`` one (nothing as extreme in 999 replicates).
REPORT_RECURRENCE_DAYS = 365.0
HIGH_RECURRENCE_DAYS = 1000.0


def scan_signals(
    result: ScanResult,
    events: Sequence[Event],
    *,
    subject: str,
    value: str,
    source: str,
    min_recurrence_days: float = REPORT_RECURRENCE_DAYS,
) -> list[Signal]:
    """Signals for the clusters of :func:`scan_events` recurring by chance less often than
    once in ``min_recurrence_days``.

    Args:
        result: the scan of one series.
        events: that series' events (the ones scanned); the latest event of a cluster's centre
            area lends the signal its substance identity.
        subject: ``"substance"`` or ``"class"``; ``value`` the substance key or class label.
        source: the source the series counts.

    Severity: ``medium`` from ``min_recurrence_days`` (a year), ``high`` from 1000 days (a
    dangerous class: one step higher, ``critical`` at most).
    """
    by_key: dict[str, list[Event]] = {}
    for event in events:
        by_key.setdefault(event.report_key, []).append(event)
    signals: list[Signal] = []
    for cluster in result.clusters:
        if cluster.recurrence_days < min_recurrence_days or not cluster.report_keys:
            continue
        inside = [e for key in cluster.report_keys for e in by_key.get(key, [])]
        if not inside:
            continue
        template = max(inside, key=lambda e: (e.area_code == cluster.centre, e.date, e.event_id))
        rank = 2 if cluster.recurrence_days >= HIGH_RECURRENCE_DAYS else 1
        if template.substance_class in DANGEROUS_CLASSES:
            rank += 1
        severity = ("low", "medium", "high", "critical")[min(rank, 3)]
        what = template.substance_label if subject == "substance" else f"class {value}"
        assert cluster.first_day is not None and cluster.last_day is not None
        others = len(cluster.areas) - 1
        where = cluster.centre + (f" and {others} neighbouring area(s)" if others else "")
        signals.append(make_signal(
            template, detector="space_time_scan", method="space_time_permutation_scan",
            subject=subject, scope="area", severity=severity,  # type: ignore[arg-type]
            id_parts=(subject, value, source, cluster.areas, cluster.first_day,
                      cluster.last_day, cluster.observed),
            period_start=cluster.first_day, period_end=cluster.last_day,
            observed=cluster.observed, expected=round(cluster.expected, 4),
            summary=(f"{cluster.observed} {source} reports of {what} in {where} over the "
                     f"{cluster.window} days to {cluster.last_day.isoformat()}: expected "
                     f"{cluster.expected:.1f} from the study period's space and time margins "
                     f"(space-time permutation scan, p = {cluster.p_value:.3g}, recurrence "
                     f"interval {cluster.recurrence_days:.0f} days)"),
            report_keys=list(cluster.report_keys)[:200],
            detail={"centre": cluster.centre, "areas": list(cluster.areas),
                    "llr": round(cluster.llr, 4),
                    "relative_risk": round(cluster.relative_risk, 4)
                    if np.isfinite(cluster.relative_risk) else None,
                    "p_value": cluster.p_value,
                    "recurrence_days": round(cluster.recurrence_days, 1),
                    "replicates": result.replicates, "study_cases": result.total_cases,
                    "study_days": result.periods, "window_days": cluster.window,
                    "rank": cluster.rank, "series": {"dimension": subject, "value": value}},
        ))
    return signals

"""Detection methods side by side: the Noufaily et al. (2013) simulation, then the demo's threats.

Part 1 follows the simulation design of Noufaily, Enki, Farrington, Garthwaite, Andrews and
Charlett (2013), "An improved algorithm for outbreak detection in multiple surveillance
systems", Statistics in Medicine 32:1206-1222:

- 42 scenarios: weekly counts over 624 weeks, negative binomial with mean
  ``mu(t) = exp(theta + beta t + sum_{j<=m} gamma1 cos(2 pi j t / 52) + gamma2 sin(2 pi j t / 52))``
  and variance ``phi mu`` (Poisson when ``phi = 1``); seven parameter sets, each with and
  without trend (``beta``) and with ``m = 0, 1, 2`` seasonal harmonics;
- four past outbreaks in weeks 313-575, of size ``k`` in 2-10 (uniform), so that the methods'
  baselines hold outbreaks to be down-weighted;
- one current outbreak starting in weeks 576-620 of size ``k`` = 2, 3, 5 or 10: its case count
  is Poisson with mean ``k`` times the baseline standard deviation ``sqrt(phi mu)`` at its
  start, each case falling ``floor(X)`` weeks after the start with ``X`` lognormal(0, 0.5);
- every method judges the 49 weeks 576-624 prospectively; the false positive rate (FPR) is the
  share of alarms among those weeks in the same series *without* the current outbreak; the
  probability of detection (POD) the share of outbreaks with an alarm in at least one of their
  weeks; sensitivity the share of outbreak weeks with an alarm; the delay the weeks from the
  outbreak's start to its first alarm, over the outbreaks detected.

The paper used 100 series per scenario; this benchmark uses ``--replicates`` (default 6, i.e.
252 series, each judged without and with each of the four outbreak sizes) so that the whole run
takes a few minutes on two cores. The methods are those of ``ews detect series`` (EARS C1-C3,
improved Farrington, and ``auto``, the default); with five years of history available, ``auto``
*is* improved Farrington, so a second block gives each series only 2 or 3 years of history
before the evaluation year, where the two differ.

Part 2 replays the demo's simulated year (``ews simulate``, seed 7, the defaults of ``ews up
--demo``) day by day through the detectors of ``services/detector`` (only records received by
each day are used) and says, for each planted threat, which detectors found it and how many
days after it began, and how many false alerts each raised over the same months. Weekly count
methods run on area x class/substance x source series as the stream counts them (an alarm
needs at least 3 reports in the week, as in the stream); ``stream_c2`` is the stream's current
weekly test (EARS C2 with the baseline standard deviation floored at 1).

``--candidates`` adds two exploratory Farrington variants (not product methods) to part 1.

Run: python bench/detection_methods.py [--replicates N] [--workers N] [--quick] [--candidates]
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import math
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from services.detector.ears import ears
from services.detector.farrington import IMPROVED, farrington
from services.detector.series import METHODS

WEEKS = 624
PAST_OUTBREAKS = (313, 575)  # 1-based weeks where past outbreaks start
CURRENT = (576, 624)  # the evaluation weeks
CURRENT_STARTS = (576, 620)
SIZES = (2, 3, 5, 10)
METHOD_NAMES = ("ears_c1", "ears_c2", "ears_c3", "farrington", "auto")
SHORT_HISTORIES = (2, 3)  # years of history in the second block
SHORT_METHODS = ("ears_c2", "farrington", "auto")
#: The stream's weekly exceedance today (services/detector/aberration.py): EARS C2 with the
#: baseline's standard deviation floored at 1.
STREAM_C2 = "stream_c2"


# --- Part 1: Noufaily et al. (2013) -----------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    theta: float
    beta: float
    gamma1: float
    gamma2: float
    phi: float
    m: int

    def mean(self, weeks: int = WEEKS) -> np.ndarray:
        t = np.arange(1, weeks + 1, dtype=float)
        eta = self.theta + self.beta * t
        for j in range(1, self.m + 1):
            eta += self.gamma1 * np.cos(2 * np.pi * j * t / 52)
            eta += self.gamma2 * np.sin(2 * np.pi * j * t / 52)
        return np.exp(eta)


#: The seven parameter sets of Noufaily et al. (2013), Table I: theta, beta, gamma1, gamma2, phi.
PARAMETER_SETS = (
    (0.1, 0.0025, 0.6, 0.6, 1.5),
    (-2.0, 0.005, 0.1, 0.3, 2.0),
    (1.5, 0.003, 0.2, -0.4, 1.0),
    (0.5, 0.002, 0.5, 0.5, 5.0),
    (2.5, 0.001, 1.0, 0.1, 3.0),
    (3.75, 0.001, 0.1, -0.1, 1.1),
    (5.0, 0.0001, 0.05, 0.01, 1.2),
)


def scenarios() -> list[Scenario]:
    """The 42 scenarios: each parameter set without and with trend, with 0, 1, 2 harmonics."""
    out = []
    for theta, beta, gamma1, gamma2, phi in PARAMETER_SETS:
        for trend in (0, 1):
            for m in (0, 1, 2):
                out.append(Scenario(theta, beta * trend, gamma1 if m else 0.0,
                                    gamma2 if m else 0.0, phi, m))
    return out


def negative_binomial(rng: np.random.Generator, mu: np.ndarray, phi: float) -> np.ndarray:
    """Counts with mean ``mu`` and variance ``phi * mu``."""
    if phi <= 1.0:
        return rng.poisson(mu)
    return rng.negative_binomial(mu / (phi - 1.0), 1.0 / phi)


def outbreak(rng: np.random.Generator, mu: np.ndarray, phi: float, start: int, k: float
             ) -> np.ndarray:
    """Cases of one outbreak starting at 0-based week ``start``, spread lognormally."""
    size = rng.poisson(k * math.sqrt(phi * mu[start]))
    weeks = start + np.floor(rng.lognormal(0.0, 0.5, size)).astype(int)
    return np.bincount(weeks[weeks < mu.size], minlength=mu.size)


@dataclass
class Tally:
    """Counts that make up FPR, POD, sensitivity and delay for one method."""

    alarms: int = 0
    judged: int = 0
    undecided: int = 0
    outbreaks: int = 0
    detected: int = 0
    outbreak_weeks: int = 0
    alarmed_weeks: int = 0
    delays: list[int] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        for name in ("alarms", "judged", "undecided", "outbreaks", "detected",
                     "outbreak_weeks", "alarmed_weeks"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.delays += other.delays

    def row(self) -> tuple[float, float, float, float]:
        fpr = self.alarms / self.judged if self.judged else float("nan")
        pod = self.detected / self.outbreaks if self.outbreaks else float("nan")
        sens = self.alarmed_weeks / self.outbreak_weeks if self.outbreak_weeks else float("nan")
        delay = float(np.mean(self.delays)) if self.delays else float("nan")
        return fpr, pod, sens, delay


def _farrington_without_minimum(counts: np.ndarray) -> np.ndarray:
    """Exploratory: improved Farrington without the 5-cases-in-4-weeks rule (limit54)."""
    return farrington(counts, replace(IMPROVED["week"], limit54=(0, 4))).alarm


def _farrington_two_week(counts: np.ndarray, alpha: float = 0.03) -> np.ndarray:
    """Exploratory: Farrington at ``alpha``, or the last two weeks' sum above the ``1 - alpha``
    quantile of its negative binomial (mean: the two weeks' expected counts; dispersion: the
    fit's ``phi``), aimed at outbreaks spread over two or three weeks."""
    result = farrington(counts, replace(IMPROVED["week"], alpha=alpha))
    mean = result.expected + np.r_[np.nan, result.expected[:-1]]
    total = counts + np.r_[np.nan, counts[:-1]]
    with np.errstate(invalid="ignore", divide="ignore"):
        size = mean / np.maximum(result.phi - 1.0, 1e-9)
        upper = np.where(result.phi > 1.000001,
                         stats.nbinom.ppf(1 - alpha, size, size / (size + mean)),
                         stats.poisson.ppf(1 - alpha, mean))
        two_week = (total > upper) & (result.enough_cases == 1) & (counts > 0)
    return np.where(np.isnan(result.alarm), np.nan,
                    np.maximum(result.alarm, two_week.astype(float)))


#: Exploratory variants (``--candidates``), not methods of the product.
CANDIDATES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "farr_no_min": _farrington_without_minimum,
    "farr_2week": _farrington_two_week,
}


def _alarms(method: str, counts: np.ndarray) -> np.ndarray:
    if method in CANDIDATES:
        return CANDIDATES[method](counts.astype(float))
    return METHODS[method].run(counts.astype(float), "week").alarm


def replicate(task: tuple[int, int, int, int, tuple[str, ...]]) -> dict[tuple, Tally]:
    """One series of one scenario, judged by each method without and with each outbreak size.

    Returns tallies keyed by (block, method) and (block, method, k); block is ``"long"`` or
    the years of history of the short block.
    """
    scenario_index, rep, seed, history_years, methods = task
    scenario = scenarios()[scenario_index]
    rng = np.random.default_rng([seed, scenario_index, rep, history_years])
    mu = scenario.mean()
    counts = negative_binomial(rng, mu, scenario.phi)
    for start in rng.choice(np.arange(PAST_OUTBREAKS[0] - 1, PAST_OUTBREAKS[1]), 4,
                            replace=False):
        counts = counts + outbreak(rng, mu, scenario.phi, int(start), int(rng.integers(2, 11)))
    first_current = CURRENT[0] - 1
    # The methods look back at most 5 years and 3 weeks (263 weeks): keep just that (long
    # block) or the shorter history of the short block.
    keep = 52 * 5 + 3 if history_years == 0 else 52 * history_years
    lo = first_current - keep
    block: Any = "long" if history_years == 0 else history_years
    out: dict[tuple, Tally] = defaultdict(Tally)
    clean = counts[lo:]
    current = slice(first_current - lo, None)
    verdicts = {name: _alarms(name, clean)[current] for name in methods}
    for name, alarm in verdicts.items():
        tally = out[(block, name)]
        tally.alarms += int(np.nansum(alarm))
        tally.judged += int((~np.isnan(alarm)).sum())
        tally.undecided += int(np.isnan(alarm).sum())
    for k in SIZES:
        start = int(rng.integers(CURRENT_STARTS[0] - 1, CURRENT_STARTS[1]))
        extra = outbreak(rng, mu, scenario.phi, start, k)
        if extra.sum() == 0:
            continue
        weeks = np.flatnonzero(extra[first_current:]) + first_current - lo  # outbreak weeks
        with_outbreak = clean + extra[lo:]
        for name in methods:
            alarm = _alarms(name, with_outbreak)
            hits = weeks[np.nan_to_num(alarm[weeks]) == 1]
            for key in ((block, name), (block, name, k)):
                tally = out[key]
                tally.outbreaks += 1
                tally.outbreak_weeks += weeks.size
                tally.alarmed_weeks += hits.size
                if hits.size:
                    tally.detected += 1
                    tally.delays.append(int(hits[0] - (start - lo)))
    return dict(out)


def run_simulation(replicates: int, seed: int, workers: int, methods: tuple[str, ...]
                   ) -> dict[tuple, Tally]:
    tasks = [(s, r, seed, 0, methods) for s in range(42) for r in range(replicates)]
    short_reps = max(1, replicates // 2)
    tasks += [(s, r, seed, years, SHORT_METHODS) for years in SHORT_HISTORIES
              for s in range(42) for r in range(short_reps)]
    totals: dict[tuple, Tally] = defaultdict(Tally)
    with Pool(workers) as pool:
        for result in pool.imap_unordered(replicate, tasks, chunksize=4):
            for key, tally in result.items():
                totals[key].add(tally)
    return totals


def print_simulation(totals: dict[tuple, Tally], replicates: int, seconds: float,
                     methods: tuple[str, ...]) -> None:
    print(f"\n== Part 1: Noufaily et al. (2013) simulation: 42 scenarios x {replicates} series, "
          f"49 evaluation weeks each, outbreaks k = {', '.join(map(str, SIZES))} "
          f"({seconds:.0f} s) ==")
    print("\nFive years of history or more (the paper's setting):")
    print(f"{'method':<12} {'FPR':>7} {'POD':>7} {'sens':>7} {'delay (weeks)':>14}")
    for name in methods:
        fpr, pod, sens, delay = totals[("long", name)].row()
        note = "  (exploratory)" if name in CANDIDATES else ""
        print(f"{name:<12} {fpr:7.4f} {pod:7.3f} {sens:7.3f} {delay:14.2f}{note}")
    print("\nPOD by outbreak size k (five years of history):")
    print(f"{'method':<12} " + " ".join(f"{'k=' + str(k):>7}" for k in SIZES))
    for name in methods:
        cells = " ".join(f"{totals[('long', name, k)].row()[1]:7.3f}" for k in SIZES)
        print(f"{name:<12} {cells}")
    for years in SHORT_HISTORIES:
        print(f"\nOnly {years} years of history before the evaluation year "
              f"({max(1, replicates // 2)} series per scenario):")
        print(f"{'method':<12} {'FPR':>7} {'POD':>7} {'sens':>7} {'delay (weeks)':>14} "
              f"{'no verdict':>11}")
        for name in SHORT_METHODS:
            tally = totals[(years, name)]
            fpr, pod, sens, delay = tally.row()
            undecided = tally.undecided / max(1, tally.undecided + tally.judged)
            fpr_text = f"{fpr:7.4f}" if tally.judged else "      -"
            print(f"{name:<12} {fpr_text} {pod:7.3f} {sens:7.3f} {delay:14.2f} "
                  f"{undecided:10.0%}")


# --- Part 2: the demo's planted threats -------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    """A signal as the replay raised it: by which detector, on which day."""

    detector: str
    day: dt.date
    names: frozenset[str]  # substance names and classes the signal is about (lower case)
    areas: tuple[str, ...]
    period: tuple[dt.date, dt.date]
    report_keys: frozenset[str]
    series: str


@dataclass
class Demo:
    events: list[Any]
    market_records: dict[str, dict[str, Any]]
    truth: dict[str, Any]
    start: dt.date
    end: dt.date
    seed: int


def load_demo(end: dt.date | None, folder: Path, seed: int = 7) -> Demo:
    """Simulate the demo stream (as ``ews up --demo`` does) and normalise it into events."""
    import json

    from chemistry import resolve
    from services.geography import load_geography
    from services.normaliser import normalise
    from services.simulate import iter_stream, simulate
    from streams.records import Accepted

    summary = simulate(folder, seed=seed, end=end)
    geography = load_geography()
    cached = functools.lru_cache(maxsize=None)(resolve)
    events, market = [], {}
    for item in iter_stream(folder):
        accepted = Accepted(source=item.source, submitter="default",
                            report_id=item.record["report_id"], received_at=item.arrival,
                            via="file", record=item.record)
        events += normalise(accepted, cached, geography)
        if item.source == "market":
            market[accepted.key] = item.record
    truth = json.loads((folder / "ground_truth.json").read_text())
    return Demo(events, market, truth, summary.start, summary.end, seed)


def _names(signal: Any) -> frozenset[str]:
    names = {signal.substance_name, signal.substance_class}
    return frozenset(n.lower() for n in names if n)


def _hit(detector: str, day: dt.date, signal: Any, series: str) -> Hit:
    return Hit(detector, day, _names(signal),
               tuple(signal.detail.get("areas") or [signal.area_code]),
               (signal.period_start, signal.period_end), frozenset(signal.report_keys), series)


def _received(events: Iterable[Any], day: dt.date) -> list[Any]:
    return [e for e in events if e.received_at.date() <= day]


def replay_presentation(demo: Demo, days: Sequence[dt.date]) -> list[Hit]:
    from services.detector.presentation import (
        presentation_clusters,
        presentation_signals,
        reports_from_events,
    )
    from services.geography import load_geography

    neighbours = load_geography().neighbours
    ridr = [e for e in demo.events if e.source == "ridr"]
    hits = []
    for day in days:
        known = _received(ridr, day)
        clusters = presentation_clusters(reports_from_events(known), neighbours, as_of=day)
        for signal in presentation_signals(clusters, known):
            hits.append(_hit("presentation", day, signal, signal.area_code))
    return hits


def replay_deaths(demo: Demo, days: Sequence[dt.date]) -> list[Hit]:
    from services.detector.deaths import death_clusters, death_signals, deaths_from_events
    from services.geography import load_geography

    neighbours = load_geography().neighbours
    deaths = [e for e in demo.events if e.source == "death"]
    hits = []
    for day in days:
        known = _received(deaths, day)
        clusters = death_clusters(deaths_from_events(known), neighbours, as_of=day)
        for signal in death_signals(clusters, known):
            hits.append(_hit("deaths", day, signal, str(signal.detail["series"]["value"])))
    return hits


def replay_market(demo: Demo, days: Sequence[dt.date]) -> list[Hit]:
    from services.detector.market import (
        drug_label,
        market_anomalies,
        market_signals,
        observation_from_record,
    )
    from services.geography import load_geography

    neighbours = load_geography().neighbours
    events = [e for e in demo.events if e.source == "market"]
    observations = [observation_from_record(e.report_key, demo.market_records[e.report_key],
                                            drug_label(e)) for e in events]
    hits = []
    for day in days:
        known = [o for o in observations if o.date <= day]  # a price arrives when collected
        findings = market_anomalies(known, as_of=day, neighbours=neighbours)
        for signal in market_signals(findings, [e for e in events if e.date <= day]):
            hits.append(_hit("market", day, signal, f"{signal.detail['drug']}/"
                                                     f"{signal.detail['measure']}"))
    return hits


def _scan_day(args: tuple[dt.date, dict[tuple[str, str], list[Any]]]) -> list[Hit]:
    from services.detector.scan import scan_events, scan_signals

    day, series = args
    zones = _zones()
    hits = []
    for (source, klass), events in sorted(series.items()):
        known = [e for e in _received(events, day) if e.date > day - dt.timedelta(days=182)]
        if sum(e.date > day - dt.timedelta(days=14) for e in known) < 3:
            continue
        result = scan_events(known, zones, as_of=day, replicates=999, seed=0)
        for signal in scan_signals(result, known, subject="class", value=klass, source=source):
            hits.append(_hit("scan", day, signal, f"{source}/{klass}"))
    return hits


@functools.cache
def _zones() -> Any:
    from services.detector.scan import zones_from_geography
    from services.geography import load_geography

    return zones_from_geography(load_geography(), max_areas=15)


def replay_scan(demo: Demo, days: Sequence[dt.date], workers: int) -> list[Hit]:
    series: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for event in demo.events:
        if event.source in ("ridr", "death") and event.substance_class not in (None, "other"):
            series[(event.source, event.substance_class)].append(event)
    with Pool(workers) as pool:
        return [hit for hits in pool.map(_scan_day, [(d, series) for d in days]) for hit in hits]


def replay_counts(demo: Demo, first: dt.date, min_count: int = 3) -> list[Hit]:
    """Weekly count methods on area x (class | substance) x source series, as the stream counts.

    An alarmed week is detected on the day its count first exceeded the threshold (the day the
    report that took it over arrived), not at the week's end.
    """
    weeks: dict[tuple[str, str, str, str], dict[dt.date, list[Any]]] = defaultdict(
        lambda: defaultdict(list))
    labels: dict[tuple[str, str, str, str], Any] = {}
    for event in demo.events:
        if event.source not in ("ridr", "forensic", "death"):
            continue
        keys = []
        substance = event.substance_key or (f"name:{event.substance_name}"
                                            if event.substance_name else None)
        if substance:
            keys.append(("substance", substance))
        if event.substance_class:
            keys.append(("class", event.substance_class))
        for dimension, value in keys:
            series = (dimension, value, event.area_code, event.source)
            reports = weeks[series][event.week]
            if all(r.report_key != event.report_key for r in reports):
                reports.append(event)
            labels.setdefault(series, event)
    origin = min(e.week for e in demo.events)
    judged_from = first - dt.timedelta(days=6)
    hits = []
    for series, by_week in weeks.items():
        if not any(w >= judged_from and len(r) >= min_count for w, r in by_week.items()):
            continue  # no week in the replay could alarm
        last = max(by_week)
        n = (last - origin).days // 7 + 1
        counts = np.zeros(n)
        for week, reports in by_week.items():
            counts[(week - origin).days // 7] = len(reports)
        dimension, value, area, source = series
        template = labels[series]
        names = {template.substance_class} | ({template.substance_name}
                                              if dimension == "substance" else set())
        for name in (*METHOD_NAMES, STREAM_C2):
            verdict = (ears(counts, "C2", min_sigma=1.0) if name == STREAM_C2
                       else METHODS[name].run(counts, "week"))
            for i in np.flatnonzero(np.nan_to_num(verdict.alarm) == 1):
                week = origin + dt.timedelta(weeks=int(i))
                if counts[i] < min_count or week < judged_from:
                    continue
                need = max(min_count, math.floor(verdict.upper[i]) + 1)
                arrivals = sorted(r.received_at.date() for r in by_week[week])
                hits.append(Hit(name, arrivals[need - 1],
                                frozenset(n.lower() for n in names if n), (area,),
                                (week, week + dt.timedelta(days=6)),
                                frozenset(r.report_key for r in by_week[week]),
                                f"{source}/{value}"))
    return hits


SLACK = dt.timedelta(days=14)
EPISODE_GAP = dt.timedelta(days=28)


def score(hits: Sequence[Hit], demo: Demo) -> tuple[dict[str, dict[str, int | None]],
                                                       dict[str, int]]:
    """Per detector: days from each threat's start to its first matching hit; false episodes.

    A hit finds a threat when it is about the threat (its substance, class, what it was sold
    as, or that substance's class), lies in or next to the threat's areas, overlaps its dates
    (with 14 days' slack) and cites at least one of the threat's planted reports. A hit citing
    no planted report at all is false; false hits of one detector, series and area within 28
    days of each other are one false alert.
    """
    from chemistry import resolve
    from services.geography import load_geography

    geography = load_geography()
    threats = []
    planted: set[str] = set()
    for threat in demo.truth["threats"]:
        wanted = {threat["substance_name"], threat["substance_class"], threat.get("sold_as")}
        if threat.get("sold_as"):
            wanted.add(resolve(threat["sold_as"]).klass)
        keys = {f"{source}/default/{rid}" for source, rids in threat["report_ids"].items()
                for rid in rids}
        planted |= keys
        threats.append((threat, {w.lower() for w in wanted if w}, keys))
    found: dict[str, dict[str, int | None]] = defaultdict(dict)
    false: dict[str, list[Hit]] = defaultdict(list)
    for hit in sorted(hits, key=lambda h: h.day):
        if not hit.report_keys & planted:
            false[hit.detector].append(hit)
            continue
        for threat, wanted, keys in threats:
            start = dt.date.fromisoformat(threat["start"])
            end = dt.date.fromisoformat(threat["end"])
            near = any(geography.is_neighbour_or_same(a, b) for a in hit.areas
                       for b in threat["area_codes"])
            when = hit.period[0] <= end + SLACK and hit.period[1] >= start - SLACK
            if near and when and hit.names & wanted and hit.report_keys & keys:
                found[hit.detector].setdefault(threat["id"], (hit.day - start).days)
    episodes: dict[str, int] = {}
    for detector, hits_ in false.items():
        last: dict[tuple[str, str], dt.date] = {}
        count = 0
        for hit in hits_:
            key = (hit.series, hit.areas[0])
            if key not in last or hit.day - last[key] > EPISODE_GAP:
                count += 1
            last[key] = hit.day
        episodes[detector] = count
    return found, episodes


def print_demo(demo: Demo, found: dict[str, dict[str, int | None]], episodes: dict[str, int],
               columns: Sequence[str], first: dt.date, seconds: float, notes: str) -> None:
    print(f"\n== Part 2: the demo's planted threats (simulated {demo.start} to {demo.end}, "
          f"seed {demo.seed}; "
          f"replayed from {first}; {seconds:.0f} s) ==")
    print("days from the threat's start to its first signal; '-' not found\n")
    width = max(len(c) for c in columns) + 1
    print(f"{'threat':<38}" + "".join(f"{c:>{width}}" for c in columns))
    for threat in demo.truth["threats"]:
        cells = []
        for column in columns:
            delay = found.get(column, {}).get(threat["id"])
            cells.append("-" if delay is None else f"{delay} d")
        print(f"{threat['id']:<38}" + "".join(f"{c:>{width}}" for c in cells))
    print(f"{'threats found':<38}" + "".join(
        f"{len(found.get(c, {})):>{width}}" for c in columns))
    print(f"{'false alerts (episodes)':<38}" + "".join(
        f"{episodes.get(c, 0):>{width}}" for c in columns))
    print(notes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replicates", type=int, default=6,
                        help="series per scenario in part 1 (the paper: 100)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2013)
    parser.add_argument("--end", type=dt.date.fromisoformat, default=None,
                        help="last day of the demo year (default: yesterday, as the demo)")
    parser.add_argument("--demo-seed", type=int, default=7,
                        help="seed of the simulated year (the demo's: 7)")
    parser.add_argument("--quick", action="store_true",
                        help="2 series per scenario, demo scan every 14 days")
    parser.add_argument("--candidates", action="store_true",
                        help="also score exploratory Farrington variants in part 1")
    parser.add_argument("--skip-simulation", action="store_true")
    parser.add_argument("--skip-demo", action="store_true")
    args = parser.parse_args()
    replicates = 2 if args.quick else args.replicates

    if not args.skip_simulation:
        began = time.perf_counter()
        methods = METHOD_NAMES + (tuple(CANDIDATES) if args.candidates else ())
        totals = run_simulation(replicates, args.seed, args.workers, methods)
        print_simulation(totals, replicates, time.perf_counter() - began, methods)

    if not args.skip_demo:
        began = time.perf_counter()
        with tempfile.TemporaryDirectory() as folder:
            demo = load_demo(args.end, Path(folder), args.demo_seed)
        first = demo.end - dt.timedelta(days=150)
        days = [first + dt.timedelta(days=i) for i in range((demo.end - first).days + 1)]
        scan_step = 14 if args.quick else 7
        hits = replay_counts(demo, first)
        hits += replay_presentation(demo, days)
        hits += replay_deaths(demo, days)
        hits += replay_market(demo, days)
        hits += replay_scan(demo, days[::scan_step], args.workers)
        found, episodes = score(hits, demo)
        columns = (*METHOD_NAMES, STREAM_C2, "scan", "presentation", "market", "deaths")
        print_demo(demo, found, episodes, columns, first, time.perf_counter() - began,
                   f"(count methods: weekly series, an alarm needs >= 3 reports; stream_c2: EARS "
                   f"C2 with sd floored at 1, as services/detector/aberration.py; presentation, "
                   f"market, deaths replayed daily; scan every {scan_step} days on ridr and "
                   f"death class series, 999 replicates, recurrence interval >= 1 year)")


if __name__ == "__main__":
    main()

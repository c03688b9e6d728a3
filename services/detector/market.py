"""Street purity and price outside their rolling baseline, per drug and area.

A sudden jump in heroin or MDMA purity kills people who dose as usual; a sudden drop in price
can mean a cheaper, stronger product (or a cut) has arrived. For each drug and area, the recent
window's observations are compared with a robust baseline of the weeks before it:

1. **measures**: purity in percent as reported; price as the log of the price of one unit
   (``g``, ``tablet``, ``blotter``, ``ml``; ``mg`` and ``kg`` converted to grams), corrected
   for bulk discount: ``log price - beta * log quantity``, with the elasticity ``beta`` fitted
   per drug and unit by least squares on the national baseline (clipped to 0.5-1.1; 0.85, a
   usual street value, when the baseline has too few or too alike quantities);
2. **baseline**: observations of the previous ``baseline_weeks`` (before the window) in the
   area; with fewer than ``min_baseline`` there, the area and its neighbours; then the whole
   country (the *national fallback*). Its centre is the median and its scale the normalised
   median absolute deviation (``1.4826 MAD``), floored (``PURITY_SCALE_FLOOR`` percentage
   points, ``PRICE_SCALE_FLOOR`` in log price) so that a run of identical values cannot make
   every change look infinite;
3. **test**: the window's median against the baseline's,
   ``z = (recent - baseline) / (scale * sqrt(f / n_recent + (pi / 2) / n_baseline))`` with
   ``f = pi / 2`` (the median's variance factor) from 3 recent values and 1 below that; a
   finding when ``|z| >= z_threshold`` (3.5) *and* the change is large enough to matter
   (``min_purity_change`` percentage points, ``min_price_change`` as a ratio).

Both directions are reported (``direction`` = ``high`` / ``low``): high purity and low price
are the dangerous ones and carry the higher severity.

How the stream should call it: market events carry purity but not price, quantity or unit, so
build :class:`MarketObservation` from each accepted market record with
:func:`observation_from_record` (or from an event plus those three fields with
:func:`observation_from_event`). When a market report arrives (or once a day), call
:func:`market_anomalies` with the observations of its drug over the last ``window_days +
7 * baseline_weeks`` days, ``as_of`` its date and ``areas={its area}``; pass the findings and
the market events to :func:`market_signals`.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from services.detector.common import make_signal
from streams.records import Event, Signal

Measure = Literal["purity", "price"]
Direction = Literal["high", "low"]

#: Units a price is compared in: grams for mass, each for the rest.
UNIT_GRAMS: dict[str, float] = {"g": 1.0, "mg": 0.001, "kg": 1000.0}
DEFAULT_ELASTICITY = 0.85
ELASTICITY_RANGE = (0.5, 1.1)
PURITY_SCALE_FLOOR = 2.0  # percentage points
PRICE_SCALE_FLOOR = 0.05  # log price: about 5%
MAD_TO_SD = 1.4826


@dataclass(frozen=True)
class MarketObservation:
    """One price (and maybe purity) observation; ``drug`` is the resolved drug's label."""

    report_key: str
    drug: str
    area_code: str
    date: dt.date
    price_gbp: float | None = None
    quantity: float | None = None
    unit: str | None = None
    purity_percent: float | None = None

    @property
    def price_unit(self) -> str | None:
        """The unit the price is compared in (``g`` for any mass)."""
        if self.unit is None:
            return None
        return "g" if self.unit in UNIT_GRAMS else self.unit

    # Cached: the daily sweep reads each observation of half a year again every day.
    @functools.cached_property
    def units(self) -> float | None:
        """The quantity in :attr:`price_unit`."""
        if self.quantity is None or self.unit is None:
            return None
        return self.quantity * UNIT_GRAMS.get(self.unit, 1.0)

    @functools.cached_property
    def measures(self) -> tuple[tuple[str, str, str | None], ...]:
        """What it is compared in, as ``(measure, drug, unit)``: purity per drug, price per
        drug and unit."""
        keys: list[tuple[str, str, str | None]] = []
        if self.purity_percent is not None:
            keys.append(("purity", self.drug, None))
        if self.price_gbp and self.units:
            keys.append(("price", self.drug, self.price_unit))
        return tuple(keys)

    @functools.cached_property
    def log_price_units(self) -> tuple[float, float] | None:
        """``(log price, log units)``, when both are positive: what the price model uses."""
        price, units = self.price_gbp, self.units
        if price and units and price > 0 and units > 0:
            return math.log(price), math.log(units)
        return None


@dataclass(frozen=True)
class MarketFinding:
    """A drug's purity or price in an area outside its baseline.

    Attributes:
        unit: the price's unit (``g``, ``tablet`` ...); None for purity.
        recent, baseline: medians of the window and the baseline (percent, or GBP per unit).
        scale: the baseline's robust standard deviation (percentage points, or log price).
        baseline_scope: ``area``, ``neighbourhood`` or ``national``.
        z: the test statistic; ``report_keys`` the window's observations.
    """

    drug: str
    unit: str | None
    area_code: str
    measure: Measure
    direction: Direction
    first_day: dt.date
    last_day: dt.date
    n_recent: int
    recent: float
    n_baseline: int
    baseline: float
    scale: float
    baseline_scope: str
    z: float
    report_keys: tuple[str, ...]


def observation_from_record(report_key: str, record: Mapping[str, Any],
                            drug: str | None = None) -> MarketObservation:
    """An observation from a v1 ``market`` record (``drug``: its resolved label, if known)."""
    return MarketObservation(
        report_key=report_key, drug=drug or str(record["drug"]).strip().lower(),
        area_code=record["area_code"], date=_date(record["collected_on"]),
        price_gbp=_number(record.get("price_gbp")), quantity=_number(record.get("quantity")),
        unit=record.get("unit"), purity_percent=_number(record.get("purity_percent")),
    )


def observation_from_event(event: Event, *, price_gbp: float | None = None,
                           quantity: float | None = None,
                           unit: str | None = None) -> MarketObservation:
    """An observation from a market event (purity) and its record's price fields."""
    return MarketObservation(
        report_key=event.report_key, drug=drug_label(event), area_code=event.area_code,
        date=event.date, price_gbp=price_gbp, quantity=quantity, unit=unit,
        purity_percent=event.purity_percent,
    )


def drug_label(event: Event) -> str:
    """How a market event's drug is grouped: its structure key, else its name as resolved."""
    return event.substance_key or (event.substance_label or "unidentified").lower()


def market_anomalies(
    observations: Iterable[MarketObservation],
    *,
    as_of: dt.date,
    window_days: int = 7,
    baseline_weeks: int = 26,
    min_baseline: int = 10,
    z_threshold: float = 3.5,
    min_purity_change: float = 10.0,
    min_price_change: float = 1.25,
    neighbours: Mapping[str, Iterable[str]] | None = None,
    areas: Collection[str] | None = None,
) -> list[MarketFinding]:
    """Findings for every (drug, area) with observations in the window, largest ``|z|`` first.

    Args:
        observations: market observations (any drugs, any dates; others are ignored).
        as_of: last day of the window of ``window_days`` days.
        baseline_weeks: the baseline: that many weeks before the window.
        min_baseline: fewest baseline values before falling back to a wider area.
        z_threshold: smallest ``|z|`` reported.
        min_purity_change: smallest purity change reported, in percentage points.
        min_price_change: smallest price ratio reported (1.25: up 25% or down to 1/1.25).
        neighbours: adjacency, for the neighbourhood fallback (none: area, then national).
        areas: judge only these areas (default: every area with recent observations).
    """
    first = as_of - dt.timedelta(days=window_days - 1)
    base_first = first - dt.timedelta(weeks=baseline_weeks)
    # Purity is compared per drug whatever the unit; price per drug and unit.
    recent: dict[tuple[str, str, str | None, str], list[MarketObservation]] = defaultdict(list)
    base: dict[tuple[str, str, str | None], list[MarketObservation]] = defaultdict(list)
    for obs in observations:
        if first <= obs.date <= as_of and (areas is None or obs.area_code in areas):
            for measure, drug, unit in obs.measures:
                recent[(measure, drug, unit, obs.area_code)].append(obs)
        elif base_first <= obs.date < first:
            for key in obs.measures:
                base[key].append(obs)
    # Per drug (and unit), whichever areas are judged: the elasticity and the national scale.
    national_of: dict[tuple[str, str, str | None], tuple[float | None, float]] = {}

    def national(key: tuple[str, str, str | None]) -> tuple[float | None, float]:
        if key not in national_of:
            history = base.get(key, [])
            beta = _elasticity(history) if key[0] == "price" and key in base else None
            national_of[key] = beta, _robust_scale(_values(history, key[0], beta), key[0])
        return national_of[key]

    # Each baseline by area once, so that judging an area costs its neighbourhood's values and
    # not a pass over the drug's whole national baseline (every area is judged on busy days).
    by_area_of: dict[tuple[str, str, str | None], dict[str, list[MarketObservation]]] = {}

    def by_area(key: tuple[str, str, str | None]) -> dict[str, list[MarketObservation]]:
        if key not in by_area_of:
            grouped = by_area_of[key] = defaultdict(list)
            for obs in base.get(key, []):
                grouped[obs.area_code].append(obs)
        return by_area_of[key]

    findings: list[MarketFinding] = []
    for (measure, drug, unit, area), window in sorted(recent.items(), key=lambda kv: str(kv[0])):
        history = base.get((measure, drug, unit), [])
        hood = {area, *(neighbours or {}).get(area, ())}
        chosen = _baseline(history, by_area((measure, drug, unit)), area, hood, min_baseline)
        if chosen is None:
            continue
        beta, national_scale = national((measure, drug, unit))
        scope, pool = chosen
        values, reference = _values(window, measure, beta), _values(pool, measure, beta)
        judged = _judge(values, reference, national_scale, measure,
                        z_threshold, min_purity_change, math.log(min_price_change))
        if judged is None:
            continue
        direction, z, centre, ref_centre, scale = judged
        findings.append(MarketFinding(
            drug=drug, unit=unit, area_code=area, measure=measure,  # type: ignore[arg-type]
            direction=direction, first_day=first, last_day=as_of,  # type: ignore[arg-type]
            n_recent=int(values.size), recent=_report(centre, measure),
            n_baseline=int(reference.size), baseline=_report(ref_centre, measure),
            scale=scale, baseline_scope=scope, z=z,
            report_keys=tuple(sorted({o.report_key for o in window})),
        ))
    return sorted(findings, key=lambda f: -abs(f.z))


def _baseline(history: list[MarketObservation], by_area: Mapping[str, list[MarketObservation]],
              area: str, hood: set[str], least: int,
              ) -> tuple[str, list[MarketObservation]] | None:
    """The narrowest baseline with enough values: the area, its neighbourhood, the country.

    A pool's order does not matter: only medians, deviations from them and sizes are taken."""
    local = by_area.get(area, [])
    if len(local) >= least:
        return "area", local
    if sum(len(by_area.get(a, ())) for a in hood) >= least:
        return "neighbourhood", [o for a in sorted(hood) for o in by_area.get(a, ())]
    if len(history) >= least:
        return "national", history
    return None


def _values(observations: Sequence[MarketObservation], measure: str,
            beta: float | None) -> np.ndarray:
    if measure == "purity":
        return np.array([o.purity_percent for o in observations if o.purity_percent is not None])
    slope = DEFAULT_ELASTICITY if beta is None else beta
    pairs = _log_pairs(observations)
    return pairs[:, 0] - slope * pairs[:, 1]


def _log_pairs(observations: Sequence[MarketObservation]) -> np.ndarray:
    """``(log price, log units)`` rows of the observations that have both."""
    return np.array([pair for o in observations if (pair := o.log_price_units) is not None],
                    dtype=float).reshape(-1, 2)


def _elasticity(observations: Sequence[MarketObservation]) -> float:
    """Bulk-discount exponent of price on quantity (log-log least squares), clipped."""
    pairs = _log_pairs(observations)
    if len(pairs) < 10 or np.ptp(pairs[:, 1]) < math.log(2):
        return DEFAULT_ELASTICITY
    slope = np.polyfit(pairs[:, 1], pairs[:, 0], 1)[0]
    return float(np.clip(slope, *ELASTICITY_RANGE))


def _median(values: np.ndarray) -> float:
    """``np.median`` of a 1-D array, without its general machinery (the daily sweep takes some
    25,000 medians of a few dozen values each)."""
    ordered = np.sort(values)
    n = ordered.size
    if n == 0 or np.isnan(ordered[-1]):  # as np.median: NaN for no values or any NaN
        return float("nan")
    middle = n // 2
    return float(ordered[middle]) if n % 2 else float((ordered[middle - 1] + ordered[middle]) / 2)


def _robust_scale(values: np.ndarray, measure: str) -> float:
    """Normalised MAD, floored."""
    floor = PURITY_SCALE_FLOOR if measure == "purity" else PRICE_SCALE_FLOOR
    if values.size == 0:
        return floor
    return max(MAD_TO_SD * _median(np.abs(values - _median(values))), floor)


def _judge(values: np.ndarray, reference: np.ndarray, national_scale: float, measure: str,
           z_threshold: float, min_purity_change: float, min_log_price_change: float,
           ) -> tuple[str, float, float, float, float] | None:
    centre, ref_centre = _median(values), _median(reference)
    # A local baseline's own spread is noisy: never trust it below the national spread.
    scale = max(_robust_scale(reference, measure), national_scale)
    factor = math.pi / 2 if values.size >= 3 else 1.0
    se = scale * math.sqrt(factor / values.size + (math.pi / 2) / reference.size)
    z = (centre - ref_centre) / se
    change = min_purity_change if measure == "purity" else min_log_price_change
    if abs(z) < z_threshold or abs(centre - ref_centre) < change:
        return None
    if values.size < 2 and not (measure == "purity" and z > 0):
        return None  # one observation is enough only for a warning of high purity
    return ("high" if z > 0 else "low"), z, centre, ref_centre, scale


def _report(value: float, measure: str) -> float:
    return round(value if measure == "purity" else math.exp(value), 4)


def _date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def _number(value: Any) -> float | None:
    return None if value is None or value == "" else float(value)


#: Severity by what moved: dangerous directions first.
SEVERITY: dict[tuple[str, str], str] = {
    ("purity", "high"): "high",
    ("price", "low"): "medium",
    ("purity", "low"): "low",
    ("price", "high"): "low",
}


def market_signals(findings: Sequence[MarketFinding], events: Sequence[Event]) -> list[Signal]:
    """Signals for market findings; the latest market event of a finding gives its drug.

    Severity: high purity ``high``, a price drop ``medium``, the other directions ``low`` (the
    alert builder records those and lets them corroborate, without raising on them alone).
    """
    if not findings:
        return []  # spare the pass over the events
    by_key = {event.report_key: event for event in events if event.source == "market"}
    signals: list[Signal] = []
    for finding in findings:
        inside = [by_key[key] for key in finding.report_keys if key in by_key]
        if not inside:
            continue
        template = max(inside, key=lambda e: (e.date, e.event_id))
        subject = "substance" if template.substance_key or template.substance_name else "class"
        if finding.measure == "purity":
            level = (f"median purity {finding.recent:.0f}% against a usual "
                     f"{finding.baseline:.0f}%")
        else:
            level = (f"median price GBP {finding.recent:.2f}/{finding.unit} against a usual "
                     f"GBP {finding.baseline:.2f}")
        signals.append(make_signal(
            template, detector="market", method=f"robust_baseline_{finding.measure}",
            subject=subject, scope="area",
            severity=SEVERITY[(finding.measure, finding.direction)],  # type: ignore[arg-type]
            id_parts=(finding.drug, finding.unit, finding.area_code, finding.measure,
                      finding.direction, finding.report_keys),
            period_start=finding.first_day, period_end=finding.last_day,
            observed=finding.recent, expected=finding.baseline,
            summary=(f"{finding.direction.capitalize()} {finding.measure} of "
                     f"{template.substance_label} in {finding.area_code}: {level} "
                     f"({finding.n_recent} recent, {finding.n_baseline} in the "
                     f"{finding.baseline_scope} baseline; z = {finding.z:.1f})"),
            report_keys=list(finding.report_keys),
            detail={"measure": finding.measure, "direction": finding.direction,
                    "unit": finding.unit, "z": round(finding.z, 3),
                    "scale": round(finding.scale, 4), "n_recent": finding.n_recent,
                    "n_baseline": finding.n_baseline, "baseline_scope": finding.baseline_scope,
                    "drug": finding.drug},
        ))
    return signals

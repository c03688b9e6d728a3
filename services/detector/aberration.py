"""Count exceedance per area x (substance | class) x source, per week and per day.

Each period is judged prospectively, by the best method its history allows: the improved
Farrington method (Noufaily et al. 2013) once a weekly series has three years behind it, EARS C2
before that (R `surveillance` is the reference for both; see tests/detector/golden). Daily
series (dangerous classes, new structures) are judged by C2 over days.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from services.detector.common import DANGEROUS_CLASSES, make_signal
from services.detector.ears import Judgement, ears_latest, required_history
from services.detector.farrington import FarringtonSettings, farrington_latest
from services.detector.state import DAILY, STEP, WEEKLY, DetectorState, Series, series_of
from streams.records import Event, Signal

# EARS C2 compares a period with a 7-period baseline that ends 2 periods before it.
BASELINE_PERIODS = 7
C2_HISTORY = required_history("C2", baseline=BASELINE_PERIODS)
# Farrington needs b years of baseline; three is the least at which R fits a trend.
FARRINGTON_YEARS = (5, 4, 3)
COUNTED_SOURCES = frozenset({"ridr", "forensic", "death"})


@dataclass(frozen=True)
class Method:
    name: str
    history: int  # earlier periods it needs
    settings: FarringtonSettings | None = None

    def judge(self, history: list[int], count: int, min_sigma: float) -> Judgement:
        if self.settings is not None:
            return farrington_latest(history, count, self.settings)
        return ears_latest(history, count, "C2", baseline=BASELINE_PERIODS, min_sigma=min_sigma)


EARS_C2 = Method("ears_c2", C2_HISTORY)
FARRINGTON = tuple(
    Method("farrington", FarringtonSettings(b=b).history, FarringtonSettings(b=b))
    for b in FARRINGTON_YEARS
)


def method_for(freq: str, periods_of_history: int) -> Method | None:
    """The best method a series with this much history can use (None: not enough to judge)."""
    if freq == WEEKLY:
        for method in FARRINGTON:
            if periods_of_history >= method.history:
                return method
    return EARS_C2 if periods_of_history >= EARS_C2.history else None


def history_to_prefetch(data_start: dt.date | None, latest: dt.date) -> dict[str, int]:
    """How many earlier periods the state must load for the methods this history allows."""
    weekly = method_for(WEEKLY, _periods_between(data_start, latest, WEEKLY))
    return {WEEKLY: weekly.history if weekly else C2_HISTORY, DAILY: C2_HISTORY}


def _periods_between(data_start: dt.date | None, day: dt.date, freq: str) -> int:
    if data_start is None:
        return 0
    series = Series("", "", "", "", freq)
    return max(0, (series.period_of(day) - series.period_of(data_start)) // STEP[freq])


def exceedances(
    event: Event,
    state: DetectorState,
    data_start: dt.date | None,
    *,
    min_count: int,
    min_sigma: float,
) -> list[Signal]:
    """Count the event's report in its series; a signal for each series now above threshold."""
    if event.source not in COUNTED_SOURCES:
        return []
    signals: list[Signal] = []
    for series in series_of(event):
        period = series.period_of(event.date)
        count = state.count_report(series, period, event.report_key)
        if count is None or count < min_count:
            continue
        method = method_for(series.freq, _periods_between(data_start, event.date, series.freq))
        if method is None:
            continue  # not enough history to judge: no alarm, and no "no alarm" either
        history = state.counts_before(series, period, method.history)
        judged = method.judge(history, count, min_sigma)
        if not judged.alarm:
            continue
        assert judged.expected is not None and judged.upper is not None
        signals.append(_signal(event, series, period, count, judged, method, history, state))
    return signals


def _signal(event: Event, series: Series, period: dt.date, count: int, judged: Judgement,
            method: Method, history: list[int], state: DetectorState) -> Signal:
    expected, upper = judged.expected or 0.0, judged.upper or 0.0
    dangerous = event.substance_class in DANGEROUS_CLASSES
    severity = "high" if dangerous or count >= 2 * max(upper, 1.0) else "medium"
    what = event.substance_label if series.dimension == "substance" else f"class {series.value}"
    span = "week" if series.freq == WEEKLY else "day"
    method_name = method.name if series.freq == WEEKLY else f"{method.name}_daily"
    return make_signal(
        event, detector="aberration", method=method_name, subject=series.dimension, scope="area",
        severity=severity,  # type: ignore[arg-type]
        id_parts=(*series.key, period, count),
        period_start=period, period_end=period + STEP[series.freq] - dt.timedelta(days=1),
        observed=count, expected=round(expected, 4), threshold=round(upper, 4),
        summary=(f"{count} {event.source} reports of {what} in {event.area_code} in the {span} of "
                 f"{period.isoformat()}: expected {expected:.1f}, threshold {upper:.1f} "
                 f"({method_name})"),
        report_keys=state.series_reports(series, period),
        detail={"series": {"dimension": series.dimension, "value": series.value,
                           "freq": series.freq},
                "history": history[-52:], "method": method_name, "period": period.isoformat()},
    )

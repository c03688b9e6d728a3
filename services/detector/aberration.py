"""Weekly count exceedance per area x (substance | class) x source, judged by EARS C2.

The full method suite (improved Farrington for long histories) replaces this choice later; the
stream side stays the same: count the report, judge the current week against its own history.
"""

from __future__ import annotations

import datetime as dt

from services.detector.common import DANGEROUS_CLASSES, make_signal
from services.detector.ears import ears_latest, required_history
from services.detector.state import DetectorState, Series, series_of
from streams.records import Event, Signal

# EARS C2 compares the week with a 7-week baseline that ends 2 weeks before it.
BASELINE_WEEKS = 7
LAG_WEEKS = 2
HISTORY_WEEKS = required_history("C2", baseline=BASELINE_WEEKS)
COUNTED_SOURCES = frozenset({"ridr", "forensic", "death"})


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
        count = state.count_report(series, event.week, event.report_key)
        if count is None or count < min_count:
            continue
        if data_start is None or event.week - dt.timedelta(weeks=HISTORY_WEEKS) < _monday(data_start):
            continue  # not enough history to judge: no alarm, and no "no alarm" either
        history = state.weekly_history(series, event.week, HISTORY_WEEKS)
        judged = ears_latest(history, count, "C2", baseline=BASELINE_WEEKS, min_sigma=min_sigma)
        if not judged.alarm:
            continue
        assert judged.expected is not None and judged.upper is not None
        signals.append(_signal(event, series, count, judged.expected, judged.upper, history, state))
    return signals


def _signal(event: Event, series: Series, count: int, expected: float, upper: float,
            history: list[int], state: DetectorState) -> Signal:
    dangerous = event.substance_class in DANGEROUS_CLASSES
    severity = "high" if dangerous or count >= 2 * max(upper, 1.0) else "medium"
    what = (event.substance_label if series.dimension == "substance"
            else f"class {series.value}")
    week_end = event.week + dt.timedelta(days=6)
    return make_signal(
        event, detector="aberration", method="ears_c2", subject=series.dimension, scope="area",
        severity=severity,  # type: ignore[arg-type]
        id_parts=(series.dimension, series.value, series.area_code, series.source, event.week, count),
        period_start=event.week, period_end=week_end,
        observed=count, expected=round(expected, 4), threshold=round(upper, 4),
        summary=(f"{count} {event.source} reports of {what} in {event.area_code} in the week of "
                 f"{event.week.isoformat()}: expected {expected:.1f}, threshold "
                 f"{upper:.1f} (EARS C2)"),
        report_keys=state.series_reports(series, event.week),
        detail={"series": {"dimension": series.dimension, "value": series.value},
                "history": history, "baseline_weeks": BASELINE_WEEKS, "lag_weeks": LAG_WEEKS,
                "week": event.week.isoformat()},
    )


def _monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())

"""The counts behind an alert, week by week (or day by day), with what the detector expected.

For every series an aberration detector judged for the alert (a substance or class, in one area,
from one input, weekly or daily), the counts from the store's `series_count` table around the
alert's dates, and for each judged period the detector's expected level and threshold. An
alert from other detectors (clusters, novelty, deaths) has no such series: then the counts of
its substance (or class) in its areas, every input summed, with no baseline.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy import select

from services.geography import Geography
from services.store import AlertRow, SeriesCount, SignalRow, Store

MAX_SERIES = 4
STEP = {"W": dt.timedelta(weeks=1), "D": dt.timedelta(days=1)}
BEFORE = {"W": 26, "D": 42}  # periods of history shown before the first judged period
AFTER = {"W": 4, "D": 7}


def _period_of(day: dt.date, freq: str) -> dt.date:
    return day - dt.timedelta(days=day.weekday()) if freq == "W" else day


def _periods(first: dt.date, last: dt.date, freq: str) -> list[dt.date]:
    out, day = [], first
    while day <= last:
        out.append(day)
        day += STEP[freq]
    return out


def _counts(session: Any, dimension: str, value: str, areas: list[str], sources: list[str] | None,
            freq: str, first: dt.date, last: dt.date) -> dict[dt.date, int]:
    stmt = select(SeriesCount.period, SeriesCount.count).where(
        SeriesCount.dimension == dimension, SeriesCount.value == value,
        SeriesCount.area_code.in_(areas), SeriesCount.freq == freq,
        SeriesCount.period >= first, SeriesCount.period <= last)
    if sources is not None:
        stmt = stmt.where(SeriesCount.source.in_(sources))
    totals: dict[dt.date, int] = defaultdict(int)
    for period, count in session.execute(stmt):
        totals[period] += count
    return totals


def _series(session: Any, geography: Geography, *, dimension: str, value: str, areas: list[str],
            sources: list[str] | None, freq: str, judged: list[dict[str, Any]],
            first_seen: dt.date, last_seen: dt.date) -> dict[str, Any]:
    dates = [dt.date.fromisoformat(j["period"]) for j in judged] or [first_seen, last_seen]
    first = _period_of(min(dates), freq) - BEFORE[freq] * STEP[freq]
    last = min(_period_of(max(max(dates), last_seen), freq) + AFTER[freq] * STEP[freq],
               _period_of(dt.date.today(), freq))
    last = max(last, _period_of(max(dates), freq))
    counts = _counts(session, dimension, value, areas, sources, freq, first, last)
    return {
        "dimension": dimension, "value": value, "freq": freq,
        "areas": [{"code": code, "name": geography.areas[code].name if code in geography.areas
                   else code} for code in areas],
        "sources": sources,
        "points": [{"period": p.isoformat(), "count": counts.get(p, 0)}
                   for p in _periods(first, last, freq)],
        "judged": sorted(judged, key=lambda j: j["period"]),
    }


def alert_series(store: Store, geography: Geography, alert_id: str) -> dict[str, Any] | None:
    """The alert's count series (at most `MAX_SERIES`), or None when there is no such alert."""
    with store.session() as session:
        alert = session.get(AlertRow, alert_id)
        if alert is None:
            return None
        signals = session.execute(select(SignalRow).where(SignalRow.alert_id == alert_id)
                                  .order_by(SignalRow.period_start)).scalars().all()
        # Per series and period, the last judgement (a period is judged again as reports arrive).
        judged: dict[tuple[str, str, str, str, str], dict[str, dict[str, Any]]] = defaultdict(dict)
        for signal in sorted(signals, key=lambda row: row.detected_at):
            series = (signal.payload.get("detail") or {}).get("series")
            if not isinstance(series, dict) or signal.payload.get("expected") is None:
                continue
            key = (series["dimension"], series["value"], signal.area_code, signal.source,
                   series.get("freq", "W"))
            judged[key][signal.period_start.isoformat()] = {
                "period": signal.period_start.isoformat(), "observed": signal.payload.get("observed"),
                "expected": signal.payload.get("expected"),
                "threshold": signal.payload.get("threshold"), "method": signal.method,
                "signal_id": signal.signal_id}
        subject = {alert.substance_name, alert.substance_key, alert.substance_class} - {None}
        out = []
        # The alert's own substance or class first, then weekly series (the longer history).
        for key in sorted(judged, key=lambda k: (k[1] not in subject, k[4] != "W",
                                                 -len(judged[k]), k))[:MAX_SERIES]:
            dimension, value, area, source, freq = key
            out.append(_series(session, geography, dimension=dimension, value=value, areas=[area],
                               sources=[source], freq=freq, judged=list(judged[key].values()),
                               first_seen=alert.first_seen, last_seen=alert.last_seen))
        note = None
        if not out:
            dimension, value = (("substance", alert.substance_name or alert.substance_key)
                                if (alert.substance_name or alert.substance_key)
                                else ("class", alert.substance_class))
            if value:
                out.append(_series(session, geography, dimension=dimension, value=value,
                                   areas=list(alert.areas), sources=None, freq="W", judged=[],
                                   first_seen=alert.first_seen, last_seen=alert.last_seen))
            note = (f"no count baseline: this alert comes from {', '.join(alert.detectors)}; "
                    f"the counts are every input's reports of its {dimension} in its areas")
        return {"alert_id": alert_id, "series": out, "note": note}

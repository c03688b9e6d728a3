"""The demo's ground truth: which alerts found which planted threat, and which were false."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from services.geography import Geography
from services.store import AlertRow, SignalRow, Store

# An alert counts as finding a threat when it is about the threat's substance, class, or what
# the substance was sold as, in the threat's areas (or next to them), within this slack of its dates.
SLACK = dt.timedelta(days=14)


@dataclass(frozen=True)
class ThreatResult:
    threat_id: str
    detected: bool
    alert_ids: list[str]
    first_alert_period: dt.date | None
    delay_days: int | None


def _about(alert: AlertRow, threat: dict[str, Any]) -> bool:
    wanted = {str(v).lower() for v in (threat.get("substance_name"), threat.get("substance_class"),
                                       threat.get("sold_as")) if v}
    have = {str(v).lower() for v in (alert.substance_name, alert.substance_class) if v}
    have |= {term.split(":", 1)[1].lower() for term in alert.terms if term.startswith("class:")}
    return bool(wanted & have)


def _where_and_when(alert: AlertRow, threat: dict[str, Any], geography: Geography) -> bool:
    areas = set(threat["area_codes"])
    near = any(geography.is_neighbour_or_same(a, b) for a in alert.areas for b in areas)
    start, end = dt.date.fromisoformat(threat["start"]), dt.date.fromisoformat(threat["end"])
    return near and alert.first_seen <= end + SLACK and alert.last_seen >= start - SLACK


def at_background_festival(alert: AlertRow, ground_truth: Path, geography: Geography) -> bool:
    """Whether a false alert is a real rise the simulated world put there: a festival weekend.

    The background has festivals (listed in its ground truth) whose drug harms are real events
    of that world; a rise there is a true rise, but not one of the planted threats.
    """
    festivals = json.loads(ground_truth.read_text())["background"].get("festivals", [])
    return any(
        any(geography.is_neighbour_or_same(area, festival["area_code"]) for area in alert.areas)
        and alert.first_seen <= dt.date.fromisoformat(festival["end"]) + dt.timedelta(days=7)
        and alert.last_seen >= dt.date.fromisoformat(festival["start"]) - dt.timedelta(days=7)
        for festival in festivals
    )


def score(store: Store, ground_truth: Path, geography: Geography) -> tuple[list[ThreatResult], list[AlertRow]]:
    """Per planted threat, the alerts that found it; and the alerts that match no threat."""
    threats = json.loads(ground_truth.read_text())["threats"]
    with store.session() as session:
        alerts = list(session.execute(select(AlertRow)).scalars())
        evidence = session.execute(select(SignalRow.alert_id, SignalRow.period_end)
                                   .where(SignalRow.alert_id.is_not(None))).all()
    matched: set[str] = set()
    results: list[ThreatResult] = []
    for threat in threats:
        hits = [a for a in alerts if _about(a, threat) and _where_and_when(a, threat, geography)]
        matched |= {a.alert_id for a in hits}
        start = dt.date.fromisoformat(threat["start"])
        ids = {a.alert_id for a in hits}
        # Delay: from the threat's start to the end of the first period whose evidence, inside the
        # threat's window, is part of an alert about it (an alert opened earlier by something
        # else and joined by the threat does not count as an early detection).
        first = min((end for alert_id, end in evidence if alert_id in ids and end >= start), default=None)
        results.append(ThreatResult(threat["id"], bool(hits), sorted(ids), first,
                                    (first - start).days if first else None))
    return results, [a for a in alerts if a.alert_id not in matched]

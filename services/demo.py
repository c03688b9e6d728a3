"""The demo's ground truth: which alerts found which planted threat, and which were false."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from services.geography import Geography
from services.store import AlertRow, Store

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


def score(store: Store, ground_truth: Path, geography: Geography) -> tuple[list[ThreatResult], list[AlertRow]]:
    """Per planted threat, the alerts that found it; and the alerts that match no threat."""
    threats = json.loads(ground_truth.read_text())["threats"]
    with store.session() as session:
        alerts = list(session.execute(select(AlertRow)).scalars())
    matched: set[str] = set()
    results: list[ThreatResult] = []
    for threat in threats:
        hits = [a for a in alerts if _about(a, threat) and _where_and_when(a, threat, geography)]
        matched |= {a.alert_id for a in hits}
        first = min((a.first_seen for a in hits), default=None)
        start = dt.date.fromisoformat(threat["start"])
        results.append(ThreatResult(threat["id"], bool(hits), [a.alert_id for a in hits], first,
                                    (first - start).days if first else None))
    return results, [a for a in alerts if a.alert_id not in matched]

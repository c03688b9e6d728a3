"""What of an alert each caller may see: which alerts at all, and in how much detail.

Two views of an alert:

- **full** (clinical network; a public-health lead for an alert touching their areas; open
  mode): everything, down to de-identified case level: report keys, each signal's detail, the
  reviewers' comments and reasons.
- **restricted** (intelligence; forensic providers; a public-health lead outside their areas):
  what the alert is about, where, when, how sure, and the counts and thresholds behind it, and
  no clinical detail: no case-level evidence (report keys, signal detail such as clinical
  pictures), no free text written from reports (signal and alert summaries), no reviewers'
  names, reasons or comments.
"""

from __future__ import annotations

from typing import Any, Literal

from services.api.auth.permissions import (
    ALERT_STATUSES_VISIBLE,
    CLINICAL,
    PUBLIC_HEALTH,
)
from services.api.auth.principal import Principal

View = Literal["full", "restricted"]

_EVIDENCE_FIELDS = ("signal_id", "detector", "method", "source", "area_code", "period_start",
                    "period_end", "observed", "expected", "threshold", "severity", "detected_at")


def visibility(who: Principal) -> tuple[tuple[str, ...] | None, tuple[str, ...]]:
    """(visible_statuses, visible_areas) for the alert index; (None, ()) means everything."""
    if who.is_open or who.role == CLINICAL:
        return None, ()
    statuses = ALERT_STATUSES_VISIBLE.get(who.role) if who.role else None  # type: ignore[call-overload]
    if statuses is None:  # a role with no alert access (the route refuses it anyway)
        return (), ()
    areas = tuple(sorted(who.areas)) if who.role == PUBLIC_HEALTH else ()
    return tuple(sorted(statuses)), areas


def view_of(who: Principal, status: str, areas: list[str]) -> View | None:
    """How much of an alert with this status and these areas the caller sees; None: nothing."""
    if who.is_open or who.role == CLINICAL:
        return "full"
    if who.role == PUBLIC_HEALTH and who.areas & set(areas):
        return "full"
    statuses = ALERT_STATUSES_VISIBLE.get(who.role) if who.role else None  # type: ignore[call-overload]
    if statuses and status in statuses:
        return "restricted"
    return None


def _area_codes(alert: dict[str, Any]) -> list[str]:
    return [area["code"] if isinstance(area, dict) else area for area in alert.get("areas", [])]


def neutral_summary(alert: dict[str, Any]) -> str:
    sources = ", ".join(alert.get("sources", []))
    return (f"{alert.get('title')}; {alert.get('severity')} severity, evidence from "
            f"{sources or 'no source'} between {alert.get('first_seen')} and {alert.get('last_seen')}")


def restrict_summary(alert: dict[str, Any]) -> dict[str, Any]:
    """A search hit (or the top of a detail) without free text written from reports."""
    return {**alert, "summary": neutral_summary(alert)}


def restrict_detail(alert: dict[str, Any]) -> dict[str, Any]:
    """The restricted view of an alert's detail (see the module's docstring)."""
    out = restrict_summary(alert)
    out["evidence"] = [{name: item.get(name) for name in _EVIDENCE_FIELDS}
                       for item in alert.get("evidence", [])]
    out["report_count"] = len(alert.get("reports", []))
    out["reports"] = []
    out["audit"] = [{"at": entry["at"], "action": entry["action"], "from": entry["from"],
                     "to": entry["to"]}
                    for entry in alert.get("audit", []) if entry["action"] == "status"]
    out.pop("comments", None)
    out.pop("assignment", None)
    out["view"] = "restricted"
    return out


def for_caller(who: Principal, alert: dict[str, Any], *, detail: bool) -> dict[str, Any] | None:
    """The alert as this caller may see it, or None when they may not see it at all."""
    view = view_of(who, alert["status"], _area_codes(alert))
    if view is None:
        return None
    if view == "full":
        return {**alert, "view": "full"}
    return restrict_detail(alert) if detail else {**restrict_summary(alert), "view": "restricted"}

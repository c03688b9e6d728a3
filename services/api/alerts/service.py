"""Alert queries over the index (search, facets) and the store (detail, evidence)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from services.api.alerts.documents import alert_summary
from services.api.index import AlertIndex, AlertQuery, SearchPage
from services.geography import Geography
from services.store import AlertAssignment, AlertComment, AlertRow, AuditEntry, SignalRow, Store


def search_alerts(index: AlertIndex, query: AlertQuery) -> SearchPage:
    return index.search(query)


def _evidence(signal: SignalRow) -> dict[str, Any]:
    payload = signal.payload
    return {
        "signal_id": signal.signal_id,
        "detector": signal.detector,
        "method": signal.method,
        "source": signal.source,
        "area_code": signal.area_code,
        "period_start": signal.period_start.isoformat(),
        "period_end": signal.period_end.isoformat(),
        "observed": payload.get("observed"),
        "expected": payload.get("expected"),
        "threshold": payload.get("threshold"),
        "severity": signal.severity,
        "summary": payload.get("summary"),
        "substance_name": payload.get("substance_name"),
        "substance_class": payload.get("substance_class"),
        "report_keys": payload.get("report_keys", []),
        "detail": payload.get("detail", {}),
        "disposition": signal.disposition,
        "reason": signal.reason,
        "detected_at": signal.detected_at.isoformat(),
    }


def get_alert(store: Store, geography: Geography, alert_id: str) -> dict[str, Any] | None:
    """An alert with its evidence (every signal fused into it) and its audit trail."""
    with store.session() as session:
        row = session.get(AlertRow, alert_id)
        if row is None:
            return None
        signals = session.execute(
            select(SignalRow).where(SignalRow.alert_id == alert_id).order_by(SignalRow.period_start)
        ).scalars().all()
        audit = session.execute(
            select(AuditEntry).where(AuditEntry.alert_id == alert_id).order_by(AuditEntry.id)
        ).scalars().all()
        comments = session.execute(
            select(AlertComment).where(AlertComment.alert_id == alert_id).order_by(AlertComment.id)
        ).scalars().all()
        assignment = session.get(AlertAssignment, alert_id)
        evidence = [_evidence(signal) for signal in signals]
        reports = sorted({key for item in evidence for key in item["report_keys"]})
        return {
            **alert_summary(row, geography),
            "evidence": evidence,
            "corroborating_sources": sorted({item["source"] for item in evidence}),
            "reports": reports,
            "audit": [
                {"at": entry.at.isoformat(), "actor": entry.actor, "action": entry.action,
                 "from": entry.from_value, "to": entry.to_value, "why": entry.why}
                for entry in audit
            ],
            "comments": [{"id": c.id, "at": c.at.isoformat(), "author": c.author, "body": c.body}
                         for c in comments],
            "assignment": None if assignment is None else {
                "assignee": assignment.assignee, "assigned_by": assignment.assigned_by,
                "assigned_at": assignment.assigned_at.isoformat()},
        }


def list_signals(store: Store, *, detector: str | None = None, disposition: str | None = None,
                 area: str | None = None, substance_key: str | None = None,
                 limit: int = 100, offset: int = 0) -> dict[str, Any]:
    """Every detector hit, filterable, with what was done with it and why."""
    with store.session() as session:
        stmt = select(SignalRow)
        for column, value in ((SignalRow.detector, detector), (SignalRow.disposition, disposition),
                              (SignalRow.area_code, area), (SignalRow.substance_key, substance_key)):
            if value:
                stmt = stmt.where(column == value)
        rows = session.execute(
            stmt.order_by(SignalRow.detected_at.desc()).limit(limit).offset(offset)
        ).scalars().all()
        return {"signals": [_evidence(row) for row in rows]}

"""Alert review by the clinical network: status, severity, assignment, comments.

Every change is one transaction through `retry_on_conflict`: the alert's version counter makes
a change over a stale read fail and be redone on top of the other writer's (another reviewer,
or the alert builder folding new evidence in). Each change writes an audit entry (who, when,
from, to, why), which the store refuses to change or delete. The alert's version moves with
every change, so the index follows (at once here when this process holds the index writer,
otherwise on the pipeline's next sync).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.api.alerts.documents import alert_summary, sync_index
from services.store import (
    Account,
    AlertAssignment,
    AlertComment,
    AlertRow,
    AuditEntry,
    retry_on_conflict,
)

# DESIGN.md: new -> under_review -> confirmed | dismissed; confirmed -> published -> closed.
TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"under_review"}),
    "under_review": frozenset({"confirmed", "dismissed"}),
    "confirmed": frozenset({"published"}),
    "published": frozenset({"closed"}),
    "dismissed": frozenset(),
    "closed": frozenset(),
}
STATUSES = tuple(TRANSITIONS)
SEVERITIES = ("low", "medium", "high", "critical")
# Starting a review needs no reason; every other change says why.
_NO_REASON_NEEDED = frozenset({"under_review"})


class ReviewError(Exception):
    """Root of review errors."""


class AlertNotFound(ReviewError):
    pass


class ReviewRefused(ReviewError):
    """The change does not apply to the alert as it is now (409)."""


class ReviewInvalid(ReviewError):
    """The request itself is wrong (422)."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _load(session: Session, alert_id: str) -> AlertRow:
    alert = session.get(AlertRow, alert_id)
    if alert is None:
        raise AlertNotFound(f"no alert {alert_id!r}")
    return alert


def _audit(session: Session, alert: AlertRow, actor: str, action: str, from_value: str | None,
           to_value: str | None, why: str | None) -> None:
    now = _now()
    alert.updated_at = now  # the alert's version moves: concurrent writers conflict, the index follows
    session.add(AuditEntry(alert_id=alert.alert_id, at=now, actor=actor, action=action,
                           from_value=from_value, to_value=to_value, why=why))


def _reason(why: str | None, what: str) -> str:
    text = (why or "").strip()
    if not text:
        raise ReviewInvalid(f"say why ({what}): the audit trail records a reason for every change")
    return text


def _apply(system: Any, alert_id: str, change: Any) -> dict[str, Any]:
    def run(session: Session) -> dict[str, Any]:
        alert = _load(session, alert_id)
        change(session, alert)
        session.flush()
        return alert_summary(alert, system.geography)

    result = retry_on_conflict(system.store, run)
    if getattr(system, "index_writable", False):
        sync_index(system.store, system.index, system.geography)
    return result


def change_status(system: Any, alert_id: str, to: str, why: str | None, actor: str) -> dict[str, Any]:
    """Move an alert along new -> under_review -> confirmed | dismissed; -> published -> closed."""
    if to not in TRANSITIONS:
        raise ReviewInvalid(f"status {to!r}: expected one of {', '.join(STATUSES)}")
    reason = why.strip() if why and why.strip() else None
    if to not in _NO_REASON_NEEDED:
        reason = _reason(why, f"moving to {to}")

    def change(session: Session, alert: AlertRow) -> None:
        if to not in TRANSITIONS[alert.status]:
            allowed = ", ".join(sorted(TRANSITIONS[alert.status])) or "nothing (it is final)"
            raise ReviewRefused(f"alert {alert_id} is {alert.status}: it can move to {allowed}, "
                                f"not {to}")
        _audit(session, alert, actor, "status", alert.status, to, reason)
        alert.status = to

    return _apply(system, alert_id, change)


def change_severity(system: Any, alert_id: str, severity: str, why: str | None,
                    actor: str) -> dict[str, Any]:
    if severity not in SEVERITIES:
        raise ReviewInvalid(f"severity {severity!r}: expected one of {', '.join(SEVERITIES)}")
    reason = _reason(why, "changing the severity")

    def change(session: Session, alert: AlertRow) -> None:
        if alert.status in ("dismissed", "closed"):
            raise ReviewRefused(f"alert {alert_id} is {alert.status}: its severity is final")
        if alert.severity == severity:
            raise ReviewRefused(f"alert {alert_id} is {severity} already")
        _audit(session, alert, actor, "severity", alert.severity, severity, reason)
        alert.severity = severity

    return _apply(system, alert_id, change)


def assign(system: Any, alert_id: str, assignee: str | None, why: str | None,
           actor: str) -> dict[str, Any]:
    """Give an alert to a member of the clinical network (None: to nobody)."""
    def change(session: Session, alert: AlertRow) -> None:
        if assignee is not None:
            account = session.execute(select(Account).where(Account.username == assignee)).scalar_one_or_none()
            if account is None or account.role != "clinical" or account.disabled:
                raise ReviewInvalid(f"{assignee!r} is not an enabled clinical-network account")
        current = session.get(AlertAssignment, alert.alert_id)
        before = current.assignee if current is not None else None
        if before == assignee:
            raise ReviewRefused(f"alert {alert_id} is assigned to {assignee or 'nobody'} already")
        if current is None:
            current = AlertAssignment(alert_id=alert.alert_id)
            session.add(current)
        current.assignee, current.assigned_by, current.assigned_at = assignee, actor, _now()
        _audit(session, alert, actor, "assignment", before, assignee,
               why.strip() if why and why.strip() else None)

    return _apply(system, alert_id, change)


def add_comment(system: Any, alert_id: str, body: str, actor: str) -> dict[str, Any]:
    text = body.strip()
    if not text:
        raise ReviewInvalid("the comment is empty")
    made: dict[str, Any] = {}

    def change(session: Session, alert: AlertRow) -> None:
        comment = AlertComment(alert_id=alert.alert_id, at=_now(), author=actor, body=text)
        session.add(comment)
        session.flush()
        _audit(session, alert, actor, "comment", None, f"comment:{comment.id}", text)
        made.update(id=comment.id, at=comment.at.isoformat(), author=actor, body=text)

    alert = _apply(system, alert_id, change)
    return {"comment": made, "alert": alert}


def review_queue(system: Any, *, assignee: str | None = None, unassigned: bool = False,
                 limit: int = 100) -> list[dict[str, Any]]:
    """Alerts waiting for review (new, under review): most severe first, then most recent."""
    rank = {name: n for n, name in enumerate(SEVERITIES)}
    with system.store.session() as session:
        rows = session.execute(
            select(AlertRow, AlertAssignment.assignee)
            .outerjoin(AlertAssignment, AlertAssignment.alert_id == AlertRow.alert_id)
            .where(AlertRow.status.in_(("new", "under_review")))).all()
        items = [{**alert_summary(row, system.geography), "assignee": who} for row, who in rows]
    if assignee is not None:
        items = [item for item in items if item["assignee"] == assignee]
    if unassigned:
        items = [item for item in items if item["assignee"] is None]
    items.sort(key=lambda item: (-rank.get(item["severity"], -1),
                                 -dt.datetime.fromisoformat(item["updated_at"]).timestamp()))
    return items[:limit]

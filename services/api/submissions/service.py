"""What became of a submitter's records: accepted, normalised (into which substances),
dead-lettered (why), and the alerts they are evidence for. Only the caller's own, ever."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import or_, select

from services.api.alerts.access import view_of
from services.api.auth.principal import Principal
from services.store import AlertRow, EventRow, SignalRow, Submission
from streams import topics
from streams.records import report_key


def owns(submitter: str, account: str) -> bool:
    """Whether a submitter string (`account`, or `account:lab` for forensic results) is the account's."""
    return submitter == account or submitter.startswith(account + ":")


def _owned(account: str) -> Any:
    return or_(Submission.submitter == account,
               Submission.submitter.startswith(account + ":", autoescape=True))


def _normaliser_letters(system: Any, account: str) -> dict[str, dict[str, Any]]:
    """Dead letters of the normaliser for the account's records, by report key."""
    out: dict[str, dict[str, Any]] = {}
    for message in system.transport.read_all(topics.DEADLETTER):
        value = message.value
        payload = value.get("payload") if isinstance(value.get("payload"), dict) else {}
        submitter = str(payload.get("submitter", value.get("submitter", "")))
        if value.get("stage") != "normaliser" or not owns(submitter, account):
            continue
        if payload.get("source") and payload.get("report_id"):
            key = report_key(payload["source"], submitter, str(payload["report_id"]))
            out[key] = {"reason": value.get("reason"), "received_at": value.get("received_at")}
    return out


def _states(system: Any, who: Principal, rows: list[Submission]) -> list[dict[str, Any]]:
    keys = {row.id: report_key(row.source, row.submitter, row.report_id) for row in rows}
    substances: dict[str, list[dict[str, Any]]] = defaultdict(list)
    areas: set[str] = set()
    with system.store.session() as session:
        if keys:
            for key, area, payload in session.execute(
                    select(EventRow.report_key, EventRow.area_code, EventRow.payload)
                    .where(EventRow.report_key.in_(list(keys.values())))):
                areas.add(area)
                substances[key].append({
                    "mention": payload.get("mention"), "name": payload.get("substance_name"),
                    "substance_key": payload.get("substance_key"),
                    "class": payload.get("substance_class"), "novel": payload.get("novel"),
                    "resolution_error": payload.get("resolution_error")})
        linked: dict[str, set[str]] = defaultdict(set)
        if areas:
            wanted = set(keys.values())
            for alert_id, payload in session.execute(
                    select(SignalRow.alert_id, SignalRow.payload)
                    .where(SignalRow.alert_id.is_not(None), SignalRow.area_code.in_(sorted(areas)))):
                for key in wanted.intersection(payload.get("report_keys", [])):
                    linked[key].add(alert_id)
        alert_ids = sorted({a for ids in linked.values() for a in ids})
        alerts = {row.alert_id: row for row in session.execute(
            select(AlertRow).where(AlertRow.alert_id.in_(alert_ids))).scalars()} if alert_ids else {}
    missing = [key for key in keys.values() if key not in substances]
    letters = _normaliser_letters(system, who.username) if missing else {}
    out = []
    for row in rows:
        key = keys[row.id]
        if key in substances:
            state, reason = "normalised", None
        elif key in letters:
            state, reason = "dead_lettered", letters[key]["reason"]
        else:
            state, reason = "accepted", None
        shown = []
        for alert_id in sorted(linked.get(key, ())):
            alert = alerts.get(alert_id)
            if alert is None:
                continue
            item: dict[str, Any] = {"alert_id": alert_id, "status": alert.status}
            if view_of(who, alert.status, list(alert.areas)) is not None:
                item.update(title=alert.title, severity=alert.severity)
            shown.append(item)
        out.append({
            "submission_id": row.id, "source": row.source, "report_id": row.report_id,
            "submitter": row.submitter, "lab_id": row.submitter.partition(":")[2] or None,
            "via": row.via, "received_at": row.received_at.isoformat(), "state": state,
            "reason": reason, "substances": substances.get(key, []), "alerts": shown,
        })
    return out


def list_submissions(system: Any, who: Principal, *, source: str | None = None,
                     report_id: str | None = None, limit: int = 100,
                     offset: int = 0) -> dict[str, Any]:
    with system.store.session() as session:
        stmt = select(Submission).where(_owned(who.username))
        if source:
            stmt = stmt.where(Submission.source == source)
        if report_id:
            stmt = stmt.where(Submission.report_id == report_id)
        rows = list(session.execute(stmt.order_by(Submission.id.desc())
                                    .limit(limit).offset(offset)).scalars())
    return {"submissions": _states(system, who, rows)}


def get_submission(system: Any, who: Principal, submission_id: int) -> dict[str, Any] | None:
    with system.store.session() as session:
        row = session.get(Submission, submission_id)
    if row is None or not owns(row.submitter, who.username):
        return None
    return _states(system, who, [row])[0]


def dead_letters(system: Any, who: Principal, *, source: str | None, limit: int,
                 offset: int) -> dict[str, Any]:
    """The account's records that could not go on (at ingest or at the normaliser), with why."""
    letters = []
    for message in system.transport.read_all(topics.DEADLETTER):
        value = message.value
        payload = value.get("payload") if isinstance(value.get("payload"), dict) else {}
        submitter = str(value.get("submitter", ""))
        if value.get("stage") == "normaliser":
            submitter = str(payload.get("submitter", submitter))
        if not owns(submitter, who.username):
            continue
        if source is not None and value.get("source") != source:
            continue
        letters.append({"offset": message.offset, **value})
    return {"total": len(letters), "dead_letters": letters[offset:offset + limit]}

"""What the notifier sent (or could not), from the store."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from services.api.auth.principal import Principal
from services.store import Account, DigestSent, NotificationSent, Store


def _stamp(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def sent(store: Store, who: Principal, *, status: str | None, limit: int) -> dict[str, Any]:
    """Alert emails and digests: a public-health lead's own; everyone's for an administrator."""
    mine = who.role != "admin"
    with store.session() as session:
        alerts = select(NotificationSent, Account.username).join(
            Account, Account.id == NotificationSent.account_id)
        digests = select(DigestSent, Account.username).join(Account, Account.id == DigestSent.account_id)
        if mine:
            alerts = alerts.where(NotificationSent.account_id == who.account_id)
            digests = digests.where(DigestSent.account_id == who.account_id)
        if status:
            alerts = alerts.where(NotificationSent.status == status)
            digests = digests.where(DigestSent.status == status)
        alert_rows = session.execute(alerts.order_by(NotificationSent.id.desc()).limit(limit)).all()
        digest_rows = session.execute(digests.order_by(DigestSent.id.desc()).limit(limit)).all()
        return {
            "alerts": [{"alert_id": r.alert_id, "state": r.state, "username": name, "email": r.email,
                        "subject": r.subject, "status": r.status, "attempts": r.attempts,
                        "error": r.error, "created_at": _stamp(r.created_at),
                        "sent_at": _stamp(r.sent_at)} for r, name in alert_rows],
            "digests": [{"day": r.day.isoformat(), "username": name, "email": r.email,
                         "alert_count": r.alert_count, "status": r.status, "attempts": r.attempts,
                         "error": r.error, "created_at": _stamp(r.created_at),
                         "sent_at": _stamp(r.sent_at)} for r, name in digest_rows],
        }

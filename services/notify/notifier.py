"""The notifier: alert emails to subscribed public-health leads, and their daily digest.

At most once, never twice. For each (alert, state, account) the store holds one row under a
unique key, and the row is committed with status `sending` BEFORE the message is handed to the
mail server; afterwards it becomes `sent`, `failed` or `unknown`:

- a crash between the commit and the hand-over leaves `sending`: never sent again;
- `failed` means the server certainly did not take it (no connection, an explicit refusal):
  it is tried again later, up to `MAX_ATTEMPTS` times, each try claimed by a compare-and-set on
  the row so that two notifiers cannot both retry it;
- `unknown` means the connection broke while the message was being handed over: it may have
  arrived, so it is never tried again.

Why at most once rather than at least once: a duplicate alert email is the failure users
notice and learn to ignore ("never twice for the same alert state"), while a lost one is caught
by two other paths: the daily digest lists every alert that changed for the subscriber that
day, and the dashboard shows it; the rows left `sending`/`unknown` are listed at
GET /v1/notifications for an administrator to follow up. Two notifier processes are safe: the
unique key lets only one of them claim each email.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from services.notify.mailer import Mailer, MailNotSent, MailOutcomeUnknown, mailer_for
from services.notify.messages import alert_email, digest_email
from services.store import (
    Account,
    AlertRow,
    AuditEntry,
    DigestSent,
    NotificationSent,
    Store,
    Subscription,
)

log = logging.getLogger(__name__)

NOTIFY_STATES = ("confirmed", "published")
DIGEST_STATES = ("confirmed", "published", "closed")
SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}
MAX_ATTEMPTS = 5
RETRY_AFTER = dt.timedelta(seconds=30)  # doubled after each failed try


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Sub:
    """A subscription with its account, as the matcher needs it."""

    subscription_id: int
    account_id: int
    email: str
    areas: frozenset[str]  # the subscription's areas within the account's areas
    classes: frozenset[str]
    min_severity: str
    created_at: dt.datetime


def matches(sub: Sub, alert: AlertRow) -> bool:
    """Whether an alert is one a subscription asks for: its areas, class and severity."""
    if not sub.areas & set(alert.areas):
        return False
    if sub.classes and alert.substance_class not in sub.classes:
        return False
    return SEVERITY_RANK.get(alert.severity, -1) >= SEVERITY_RANK.get(sub.min_severity, 99)


def _subscriptions(session: Any) -> list[Sub]:
    rows = session.execute(
        select(Subscription, Account).join(Account, Account.id == Subscription.account_id)
        .where(Subscription.active.is_(True), Account.disabled.is_(False),
               Account.role == "public_health", Account.email.is_not(None))).all()
    return [Sub(sub.id, account.id, account.email, frozenset(sub.areas) & frozenset(account.areas),
                frozenset(sub.classes), sub.min_severity, sub.created_at)
            for sub, account in rows]


def _reached(session: Any, alert_ids: list[str]) -> dict[tuple[str, str], dt.datetime]:
    """When each alert last reached each state (from the audit trail)."""
    out: dict[tuple[str, str], dt.datetime] = {}
    for alert_id, to_value, at in session.execute(
            select(AuditEntry.alert_id, AuditEntry.to_value, AuditEntry.at)
            .where(AuditEntry.alert_id.in_(alert_ids), AuditEntry.action == "status")):
        key = (alert_id, to_value)
        if key not in out or at > out[key]:
            out[key] = at
    return out


def _claim(store: Store, row: NotificationSent | DigestSent) -> int | None:
    """Insert the row (status `sending`) and commit; None when another has it already."""
    try:
        with store.session() as session:
            session.add(row)
            session.flush()
            return row.id
    except IntegrityError:
        return None


def _reclaim(store: Store, model: type, row_id: int, attempts: int, now: dt.datetime) -> bool:
    """Take a failed row back for another try; False when another notifier took it first."""
    with store.session() as session:
        result = session.execute(
            update(model).where(model.id == row_id, model.status == "failed",
                                model.attempts == attempts)
            .values(status="sending", attempts=attempts + 1, attempted_at=now))
        return result.rowcount == 1


def _deliver(store: Store, model: type, row_id: int, mailer: Mailer, message: EmailMessage) -> bool:
    status, error = "sent", None
    try:
        mailer.send(message)
    except MailNotSent as exc:
        status, error = "failed", str(exc)
    except MailOutcomeUnknown as exc:
        status, error = "unknown", str(exc)
    except Exception as exc:
        log.exception("sending %s failed unexpectedly", message["Message-ID"])
        status, error = "unknown", f"{type(exc).__name__}: {exc}"
    with store.session() as session:
        session.execute(update(model).where(model.id == row_id).values(
            status=status, error=error, sent_at=_now() if status == "sent" else None))
    if status != "sent":
        log.warning("email %s to %s: %s (%s)", message["Message-ID"], message["To"], status, error)
    return status == "sent"


def _due(row: NotificationSent | DigestSent, now: dt.datetime) -> bool:
    return (row.attempts < MAX_ATTEMPTS
            and now - row.attempted_at >= RETRY_AFTER * 2 ** (row.attempts - 1))


def notify_pending(system: Any, *, mailer: Mailer | None = None,
                   now: dt.datetime | None = None) -> int:
    """Send every alert email due: one per (alert, state, account); the number sent.

    An alert is due for an account when it is confirmed or published, one of the account's
    active subscriptions matches it (areas, class, minimum severity), and it reached that state
    after the subscription was made (older alerts are in the dashboard and the digest).
    """
    store, settings = system.store, system.settings
    mailer = mailer or mailer_for(settings)
    now = now or _now()
    with store.session() as session:
        subs = _subscriptions(session)
        if not subs:
            return 0
        alerts = list(session.execute(
            select(AlertRow).where(AlertRow.status.in_(NOTIFY_STATES))).scalars())
        ids = [alert.alert_id for alert in alerts]
        reached = _reached(session, ids) if ids else {}
        done: dict[tuple[str, str, int], NotificationSent] = {
            (row.alert_id, row.state, row.account_id): row
            for row in session.execute(
                select(NotificationSent).where(NotificationSent.alert_id.in_(ids))).scalars()
        } if ids else {}
    sent = 0
    for alert in alerts:
        state = alert.status
        since = reached.get((alert.alert_id, state), alert.updated_at)
        accounts: dict[int, Sub] = {}
        for sub in subs:
            if sub.account_id not in accounts and matches(sub, alert) and since >= sub.created_at:
                accounts[sub.account_id] = sub
        for account_id, sub in accounts.items():
            message = alert_email(alert, state, to=sub.email, sender=settings.mail_from,
                                  account_id=account_id, geography=system.geography,
                                  base_url=settings.base_url(), now=now)
            previous = done.get((alert.alert_id, state, account_id))
            if previous is None:
                row_id = _claim(store, NotificationSent(
                    alert_id=alert.alert_id, state=state, account_id=account_id, email=sub.email,
                    subject=str(message["Subject"]), status="sending", attempts=1,
                    created_at=now, attempted_at=now))
                if row_id is None:
                    continue
            elif previous.status == "failed" and _due(previous, now):
                if not _reclaim(store, NotificationSent, previous.id, previous.attempts, now):
                    continue
                row_id = previous.id
            else:
                continue
            sent += _deliver(store, NotificationSent, row_id, mailer, message)
    return sent


def digest_alerts(session: Any, sub_list: Iterable[Sub], day: dt.date) -> list[AlertRow]:
    """Alerts matching any of the subscriptions that changed on `day` (UTC) and are now
    confirmed, published or closed."""
    start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    changed = set(session.execute(
        select(AuditEntry.alert_id).where(AuditEntry.at >= start,
                                          AuditEntry.at < start + dt.timedelta(days=1))).scalars())
    if not changed:
        return []
    alerts = session.execute(select(AlertRow).where(AlertRow.alert_id.in_(sorted(changed)),
                                                    AlertRow.status.in_(DIGEST_STATES))).scalars()
    subs = list(sub_list)
    picked = [alert for alert in alerts if any(matches(sub, alert) for sub in subs)]
    return sorted(picked, key=lambda a: (-SEVERITY_RANK.get(a.severity, 0), a.alert_id))


def send_digests(system: Any, day: dt.date, *, mailer: Mailer | None = None,
                 now: dt.datetime | None = None) -> int:
    """Each subscriber's digest of `day`, at most once each; none when nothing changed for them."""
    store, settings = system.store, system.settings
    mailer = mailer or mailer_for(settings)
    now = now or _now()
    sent = 0
    with store.session() as session:
        by_account: dict[int, list[Sub]] = defaultdict(list)
        for sub in _subscriptions(session):
            by_account[sub.account_id].append(sub)
        plans = [(account_id, subs[0].email, digest_alerts(session, subs, day))
                 for account_id, subs in by_account.items()]
        done = {row.account_id: row for row in session.execute(
            select(DigestSent).where(DigestSent.day == day)).scalars()}
    for account_id, email, alerts in plans:
        if not alerts:
            continue
        message = digest_email(alerts, day, to=email, sender=settings.mail_from,
                               account_id=account_id, geography=system.geography,
                               base_url=settings.base_url(), now=now)
        previous = done.get(account_id)
        if previous is None:
            row_id = _claim(store, DigestSent(account_id=account_id, day=day, email=email,
                                              alert_count=len(alerts), status="sending",
                                              attempts=1, created_at=now, attempted_at=now))
            if row_id is None:
                continue
        elif previous.status == "failed" and _due(previous, now):
            if not _reclaim(store, DigestSent, previous.id, previous.attempts, now):
                continue
            row_id = previous.id
        else:
            continue
        sent += _deliver(store, DigestSent, row_id, mailer, message)
    return sent


def digest_due(settings: Any, now: dt.datetime) -> dt.date | None:
    """Yesterday (UTC) once today's digest hour has passed, else None."""
    if now.hour < settings.digest_hour_utc:
        return None
    return now.date() - dt.timedelta(days=1)


class Notifier:
    """The pipeline's idle hook: alert emails every `notify_interval_s`, digests when due.

    Never raises: a mail server that is down must not stop the pipeline (what could not be
    sent is retried, see the module's docstring).
    """

    def __init__(self, system: Any, *, mailer: Mailer | None = None) -> None:
        self.system = system
        self.mailer = mailer or mailer_for(system.settings)
        self._last = 0.0
        self._digest_checked: tuple[dt.date, float] | None = None

    def tick(self) -> None:
        if time.monotonic() - self._last < self.system.settings.notify_interval_s:
            return
        self._last = time.monotonic()
        try:
            notify_pending(self.system, mailer=self.mailer)
            day = digest_due(self.system.settings, _now())
            if day is not None and (self._digest_checked is None or self._digest_checked[0] != day
                                    or time.monotonic() - self._digest_checked[1] > 300):
                send_digests(self.system, day, mailer=self.mailer)
                self._digest_checked = (day, time.monotonic())
        except Exception:
            log.exception("the notifier failed; it tries again in %.0f s",
                          self.system.settings.notify_interval_s)

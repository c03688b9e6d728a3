"""The text of alert emails and daily digests.

An email goes to a public-health lead about an alert touching their areas, so it may say what
the alert says; it never carries case-level evidence (no report keys, narratives or patient
fields): the link leads to the dashboard, which checks who is looking.
"""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage
from email.utils import format_datetime

from services.geography import Geography
from services.store import AlertRow

STATE_WORDS = {"confirmed": "Confirmed", "published": "Published", "closed": "Closed"}


def _domain(sender: str) -> str:
    return sender.rpartition("@")[2] or "ews.local"


def _areas(alert: AlertRow, geography: Geography) -> str:
    return ", ".join(f"{geography.areas[code].name} ({code})" if code in geography.areas else code
                     for code in alert.areas)


def _alert_lines(alert: AlertRow, geography: Geography, base_url: str) -> list[str]:
    return [
        f"{alert.title}",
        f"  status: {alert.status}; severity: {alert.severity}; confidence: {alert.confidence:.2f}",
        f"  substance: {alert.substance_name or '-'}; class: {alert.substance_class or '-'}",
        f"  areas: {_areas(alert, geography)}",
        (f"  seen: {alert.first_seen.isoformat()} to {alert.last_seen.isoformat()}; "
         f"sources: {', '.join(alert.sources)}"),
        f"  {base_url}/?alert={alert.alert_id}",
    ]


def alert_email(alert: AlertRow, state: str, *, to: str, sender: str, account_id: int,
                geography: Geography, base_url: str, now: dt.datetime) -> EmailMessage:
    """One alert, one state, one recipient; its Message-ID is the same every time it is made."""
    message = EmailMessage()
    word = STATE_WORDS.get(state, state)
    message["Subject"] = f"[NPS alert] {word}: {alert.title} ({alert.severity})"
    message["From"] = sender
    message["To"] = to
    message["Date"] = format_datetime(now)
    message["Message-ID"] = f"<alert.{alert.alert_id}.{state}.{account_id}@{_domain(sender)}>"
    message["X-EWS-Kind"] = "alert"
    message["X-EWS-Alert-Id"] = alert.alert_id
    message["X-EWS-Alert-State"] = state
    body = [
        f"An alert for your areas has been {state} by the NPS clinical network.",
        "",
        *_alert_lines(alert, geography, base_url),
        "",
        alert.summary,
        "",
        ("You receive this because of your alert subscription; manage it in the dashboard "
         f"({base_url}/)."),
    ]
    message.set_content("\n".join(body))
    return message


def digest_email(alerts: list[AlertRow], day: dt.date, *, to: str, sender: str, account_id: int,
                 geography: Geography, base_url: str, now: dt.datetime) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = f"[NPS alerts] Daily digest for {day.isoformat()}: {len(alerts)} alert(s)"
    message["From"] = sender
    message["To"] = to
    message["Date"] = format_datetime(now)
    message["Message-ID"] = f"<digest.{day.isoformat()}.{account_id}@{_domain(sender)}>"
    message["X-EWS-Kind"] = "digest"
    message["X-EWS-Digest-Day"] = day.isoformat()
    lines = [(f"Alerts for your subscriptions that changed on {day.isoformat()} (UTC), "
              "confirmed, published or closed:"), ""]
    for alert in alerts:
        lines += [*_alert_lines(alert, geography, base_url), ""]
    lines.append(f"Manage your subscriptions in the dashboard ({base_url}/).")
    message.set_content("\n".join(lines))
    return message

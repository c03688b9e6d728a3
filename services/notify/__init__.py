"""The notifier: alert emails and daily digests to subscribed public-health leads, at most once."""

from services.notify.mailer import (
    Mailer,
    MailError,
    MailNotSent,
    MailOutcomeUnknown,
    OutboxMailer,
    SmtpMailer,
    list_outbox,
    mailer_for,
    read_outbox_message,
)
from services.notify.notifier import Notifier, digest_due, matches, notify_pending, send_digests

__all__ = ["MailError", "MailNotSent", "MailOutcomeUnknown", "Mailer", "Notifier", "OutboxMailer",
           "SmtpMailer", "digest_due", "list_outbox", "mailer_for", "matches", "notify_pending",
           "read_outbox_message", "send_digests"]

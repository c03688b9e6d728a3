"""Sending email: SMTP to any relay, or an outbox folder of .eml files (embedded default, demo).

A send either succeeds, or fails in one of two ways the notifier treats differently:
`MailNotSent` (the message certainly did not go: no connection, refused before or at DATA: safe
to try again) and `MailOutcomeUnknown` (the connection broke while the message was being handed
over: it may have gone, so it is never tried again; see services/notify/notifier.py).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import smtplib
import ssl
import tempfile
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any, Protocol

from services.settings import Settings


class MailError(Exception):
    """Root of sending errors."""


class MailNotSent(MailError):
    """The message was certainly not accepted: it may be sent again."""


class MailOutcomeUnknown(MailError):
    """The message may or may not have been accepted: it must not be sent again."""


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> None:
        """Hand one message over; raises MailNotSent or MailOutcomeUnknown on failure."""
        ...

    def describe(self) -> str: ...


class SmtpMailer:
    """SMTP to a relay (Mailpit in compose, any relay in production), STARTTLS and AUTH optional."""

    def __init__(self, host: str, port: int = 25, *, user: str = "", password: str = "",
                 starttls: bool = False, timeout: float = 30.0) -> None:
        self.host, self.port, self.user, self._password = host, port, user, password
        self.starttls, self.timeout = starttls, timeout

    def describe(self) -> str:
        return f"smtp://{self.host}:{self.port}" + (" (STARTTLS)" if self.starttls else "")

    def send(self, message: EmailMessage) -> None:
        sender = message["From"]
        recipients = [address.strip() for address in str(message["To"]).split(",") if address.strip()]
        try:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        except (OSError, smtplib.SMTPException) as exc:
            raise MailNotSent(f"cannot connect to {self.describe()}: {exc}") from exc
        try:
            try:
                smtp.ehlo()
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                if self.user:
                    smtp.login(self.user, self._password)
                code, reply = smtp.mail(sender)
                if code != 250:
                    raise MailNotSent(f"MAIL FROM refused: {code} {reply!r}")
                for recipient in recipients:
                    code, reply = smtp.rcpt(recipient)
                    if code not in (250, 251):
                        raise MailNotSent(f"RCPT TO {recipient} refused: {code} {reply!r}")
            except (OSError, smtplib.SMTPException) as exc:
                raise MailNotSent(f"{self.describe()} refused the message before it was sent: "
                                  f"{exc}") from exc
            try:
                code, reply = smtp.data(message.as_bytes(policy=policy.SMTP))
            except smtplib.SMTPResponseException as exc:  # an explicit refusal: it did not go
                raise MailNotSent(f"{self.describe()} refused the message: {exc.smtp_code} "
                                  f"{exc.smtp_error!r}") from exc
            except (OSError, smtplib.SMTPException) as exc:
                raise MailOutcomeUnknown(f"the connection to {self.describe()} broke while "
                                         f"handing the message over: {exc}") from exc
            if code != 250:  # the server answered the message itself with a refusal
                raise MailNotSent(f"{self.describe()} refused the message: {code} {reply!r}")
        finally:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MESSAGE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.eml$")


class OutboxMailer:
    """Writes each message to a folder as an .eml file (atomically: it is there whole or not)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def describe(self) -> str:
        return f"outbox folder {self.folder}"

    def send(self, message: EmailMessage) -> None:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        ident = _UNSAFE.sub("-", str(message.get("Message-ID", "")).strip("<>"))[:120] or "message"
        name = f"{stamp}-{ident}.eml"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("wb", dir=self.folder, suffix=".tmp",
                                             delete=False) as handle:
                handle.write(message.as_bytes(policy=policy.SMTP))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(handle.name, self.folder / name)
        except OSError as exc:
            raise MailNotSent(f"cannot write to {self.describe()}: {exc}") from exc


def mailer_for(settings: Settings) -> Mailer:
    """SMTP when EWS_SMTP_HOST is set; otherwise the outbox folder in the data directory."""
    if settings.smtp_host:
        return SmtpMailer(settings.smtp_host, settings.smtp_port, user=settings.smtp_user,
                          password=settings.smtp_password.get_secret_value(),
                          starttls=settings.smtp_starttls, timeout=settings.smtp_timeout_s)
    return OutboxMailer(settings.outbox_path())


def list_outbox(folder: Path, *, recipient: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """The outbox's messages, newest first; only those to `recipient` when given."""
    if not folder.is_dir():
        return []
    parser = BytesHeaderParser(policy=policy.default)
    out: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.eml"), reverse=True):
        with path.open("rb") as handle:
            headers = parser.parse(handle)
        to = str(headers.get("To", ""))
        if recipient is not None and recipient.lower() not in {a.strip().lower() for a in to.split(",")}:
            continue
        out.append({"name": path.name, "to": to, "subject": str(headers.get("Subject", "")),
                    "date": str(headers.get("Date", "")), "size": path.stat().st_size,
                    "alert_id": headers.get("X-EWS-Alert-Id"), "kind": headers.get("X-EWS-Kind")})
        if len(out) >= limit:
            break
    return out


def read_outbox_message(folder: Path, name: str, *, recipient: str | None = None) -> str | None:
    """One message's text; None when it is not there (or not to `recipient`)."""
    if not MESSAGE_NAME.match(name):
        return None
    path = folder / name
    if not path.is_file():
        return None
    data = path.read_bytes()
    if recipient is not None:
        headers = BytesHeaderParser(policy=policy.default).parsebytes(data)
        if recipient.lower() not in {a.strip().lower() for a in str(headers.get("To", "")).split(",")}:
            return None
    return data.decode("utf-8", errors="replace")

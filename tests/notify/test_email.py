"""Alert emails and digests through a real SMTP server (aiosmtpd), read as they arrive.

One email per (alert, state, subscriber), never twice: not on a second pass, not after a crash
between recording and sending, not after a restart. Refusals are retried; a broken hand-over
is not.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from services.api.app import create_app
from services.api.subscriptions import service as subscriptions
from services.api.users import service as users
from services.notify import (
    MailOutcomeUnknown,
    SmtpMailer,
    notify_pending,
    send_digests,
)
from services.pipeline import EmbeddedSystem, Pipeline
from services.settings import Settings
from services.store import DigestSent, NotificationSent
from tests.api.helpers import (
    BIRMINGHAM,
    COVENTRY,
    HARTLEPOOL,
    PH_EMAIL,
    Accounts,
    make_accounts,
    seed_alert,
)
from tests.conftest import valid
from tests.notify.conftest import Inbox


def _settings(tmp_path: Path, port: int, **extra: object) -> Settings:
    return Settings(data_dir=tmp_path / "ews", smtp_host="127.0.0.1", smtp_port=port,
                    mail_from="alerts@ews.test", **extra)  # type: ignore[arg-type]


@pytest.fixture
def mail_system(tmp_path: Path, smtp: tuple[Inbox, int]) -> Iterator[EmbeddedSystem]:
    system = EmbeddedSystem(_settings(tmp_path, smtp[1]))
    yield system
    system.close()


@pytest.fixture
def accounts(mail_system: EmbeddedSystem) -> Accounts:
    made = make_accounts(mail_system)
    lead = users.principal_from_token(mail_system.store, made.tokens["public_health"])
    assert lead is not None
    subscriptions.create_subscription(mail_system.store, lead, areas=[BIRMINGHAM],
                                      classes=["nitazene", "xylazine_like"], min_severity="high")
    return made


@pytest.fixture
def api(mail_system: EmbeddedSystem) -> Iterator[TestClient]:
    with TestClient(create_app(mail_system)) as client:
        yield client


def _review(api: TestClient, accounts: Accounts, alert_id: str, *steps: str) -> None:
    for step in steps:
        answer = api.post(f"/v1/alerts/{alert_id}/status", headers=accounts.headers("clinical"),
                          json={"to": step, "why": f"reviewed: {step}"})
        assert answer.status_code == 200, answer.text


def _mailer(port: int) -> SmtpMailer:
    return SmtpMailer("127.0.0.1", port, timeout=5)


def _rows(system: EmbeddedSystem) -> list[tuple[str, str, str]]:
    with system.store.session() as session:
        return [(r.alert_id, r.state, r.status) for r in
                session.execute(select(NotificationSent).order_by(NotificationSent.id)).scalars()]


def test_one_email_per_alert_state_and_never_twice(mail_system: EmbeddedSystem, accounts: Accounts,
                                                   api: TestClient, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    alert_id = seed_alert(mail_system, areas=(BIRMINGHAM, COVENTRY), klass="nitazene", severity="critical")
    assert notify_pending(mail_system, mailer=_mailer(port)) == 0  # new: nothing to say yet
    _review(api, accounts, alert_id, "under_review")
    assert notify_pending(mail_system, mailer=_mailer(port)) == 0
    _review(api, accounts, alert_id, "confirmed")
    assert notify_pending(mail_system, mailer=_mailer(port)) == 1
    assert notify_pending(mail_system, mailer=_mailer(port)) == 0  # the same state: never again
    (message,) = inbox.messages
    assert message["To"] == PH_EMAIL and message["X-Test-Rcpt-To"] == PH_EMAIL
    assert message["X-EWS-Alert-Id"] == alert_id and message["X-EWS-Alert-State"] == "confirmed"
    assert "Confirmed" in message["Subject"] and "critical" in message["Subject"]
    body = message.get_content()
    assert "Birmingham" in body and f"?alert={alert_id}" in body
    assert "ridr/clin/r-1" not in body  # no case-level evidence in an email

    _review(api, accounts, alert_id, "published")
    assert notify_pending(mail_system, mailer=_mailer(port)) == 1
    _review(api, accounts, alert_id, "closed")
    assert notify_pending(mail_system, mailer=_mailer(port)) == 0  # closed is not announced
    assert [m["X-EWS-Alert-State"] for m in inbox.messages] == ["confirmed", "published"]
    assert _rows(mail_system) == [(alert_id, "confirmed", "sent"), (alert_id, "published", "sent")]
    answer = api.get("/v1/notifications", headers=accounts.headers("public_health")).json()
    assert [(n["state"], n["status"]) for n in answer["alerts"]] == [("published", "sent"),
                                                                      ("confirmed", "sent")]


def test_only_subscribed_areas_classes_and_severities(mail_system: EmbeddedSystem,
                                                     accounts: Accounts, api: TestClient,
                                                     smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    wanted = seed_alert(mail_system, areas=(BIRMINGHAM,), klass="xylazine_like", severity="high")
    elsewhere = seed_alert(mail_system, areas=(HARTLEPOOL,), klass="nitazene", severity="critical")
    other_class = seed_alert(mail_system, areas=(BIRMINGHAM,), klass="synthetic_cannabinoid",
                             severity="critical")
    too_mild = seed_alert(mail_system, areas=(BIRMINGHAM,), klass="nitazene", severity="medium")
    for alert_id in (wanted, elsewhere, other_class, too_mild):
        _review(api, accounts, alert_id, "under_review", "confirmed")
    assert notify_pending(mail_system, mailer=_mailer(port)) == 1
    assert [m["X-EWS-Alert-Id"] for m in inbox.messages] == [wanted]


def test_a_crash_between_recording_and_sending_never_sends_twice(
        tmp_path: Path, mail_system: EmbeddedSystem, accounts: Accounts, api: TestClient,
        smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    alert_id = seed_alert(mail_system, klass="nitazene", severity="critical")
    _review(api, accounts, alert_id, "under_review", "confirmed")

    class DiesMidSend:
        """The process dies after the row is committed, before the server has the message."""

        def describe(self) -> str:
            return "dying"

        def send(self, message: EmailMessage) -> None:
            raise KeyboardInterrupt("killed")

    with pytest.raises(KeyboardInterrupt):
        notify_pending(mail_system, mailer=DiesMidSend())
    assert _rows(mail_system) == [(alert_id, "confirmed", "sending")]
    # A restart: the system opened again over the same data, the real server this time.
    mail_system.close()
    restarted = EmbeddedSystem(_settings(tmp_path, port))
    try:
        assert notify_pending(restarted, mailer=_mailer(port)) == 0
        assert notify_pending(restarted) == 0  # the configured SMTP mailer too
    finally:
        restarted.close()
    assert inbox.messages == []  # at most once: the crash cost this email, the digest has it
    reopened = EmbeddedSystem(_settings(tmp_path, port))
    try:
        assert send_digests(reopened, dt.datetime.now(dt.UTC).date(), mailer=_mailer(port)) == 1
    finally:
        reopened.close()
    (digest,) = inbox.of_kind("digest")
    assert alert_id in digest.get_content()


def test_a_refused_email_is_retried_and_a_broken_hand_over_is_not(
        mail_system: EmbeddedSystem, accounts: Accounts, api: TestClient,
        smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    refused = seed_alert(mail_system, klass="nitazene", severity="critical")
    _review(api, accounts, refused, "under_review", "confirmed")
    inbox.refuse = 1
    assert notify_pending(mail_system, mailer=_mailer(port)) == 0
    assert _rows(mail_system) == [(refused, "confirmed", "failed")]
    assert notify_pending(mail_system, mailer=_mailer(port)) == 0  # not yet: it backs off
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    assert notify_pending(mail_system, mailer=_mailer(port), now=later) == 1
    assert notify_pending(mail_system, mailer=_mailer(port), now=later) == 0
    assert [m["X-EWS-Alert-Id"] for m in inbox.messages] == [refused]

    broken = seed_alert(mail_system, klass="nitazene", severity="critical")
    _review(api, accounts, broken, "under_review", "confirmed")

    class BreaksDuringData:
        def describe(self) -> str:
            return "broken"

        def send(self, message: EmailMessage) -> None:
            raise MailOutcomeUnknown("connection reset during DATA")

    assert notify_pending(mail_system, mailer=BreaksDuringData()) == 0
    much_later = later + dt.timedelta(days=1)
    assert notify_pending(mail_system, mailer=_mailer(port), now=much_later) == 0
    assert (broken, "confirmed", "unknown") in _rows(mail_system)
    assert [m["X-EWS-Alert-Id"] for m in inbox.messages] == [refused]


def test_no_server_is_a_failure_to_retry_not_a_crash(tmp_path: Path, accounts: Accounts,
                                                     mail_system: EmbeddedSystem,
                                                     api: TestClient) -> None:
    from tests.notify.conftest import free_port

    alert_id = seed_alert(mail_system, klass="nitazene", severity="critical")
    _review(api, accounts, alert_id, "under_review", "confirmed")
    assert notify_pending(mail_system, mailer=_mailer(free_port())) == 0
    assert _rows(mail_system) == [(alert_id, "confirmed", "failed")]


def test_daily_digest_once_per_subscriber_and_day(mail_system: EmbeddedSystem, accounts: Accounts,
                                                  api: TestClient, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    today = dt.datetime.now(dt.UTC).date()
    confirmed = seed_alert(mail_system, klass="nitazene", severity="critical")
    published = seed_alert(mail_system, klass="xylazine_like", severity="high")
    still_new = seed_alert(mail_system, klass="nitazene", severity="critical")
    _review(api, accounts, confirmed, "under_review", "confirmed")
    _review(api, accounts, published, "under_review", "confirmed", "published")
    assert send_digests(mail_system, today - dt.timedelta(days=1), mailer=_mailer(port)) == 0
    assert send_digests(mail_system, today, mailer=_mailer(port)) == 1
    assert send_digests(mail_system, today, mailer=_mailer(port)) == 0
    (digest,) = inbox.of_kind("digest")
    assert digest["To"] == PH_EMAIL and today.isoformat() in digest["Subject"]
    text = digest.get_content()
    assert confirmed in text and published in text and still_new not in text
    with mail_system.store.session() as session:
        (row,) = session.execute(select(DigestSent)).scalars()
        assert (row.day, row.alert_count, row.status) == (today, 2, "sent")
    # An administrator can send a day's digest on demand: still at most once.
    answer = api.post("/v1/notifications/digest", headers=accounts.headers("admin"),
                      json={"day": today.isoformat()})
    assert answer.json() == {"day": today.isoformat(), "sent": 0}


def test_demo_outbox_and_its_api(tmp_path: Path) -> None:
    system = EmbeddedSystem(Settings(data_dir=tmp_path / "ews"))  # no SMTP host: the outbox
    try:
        accounts = make_accounts(system)
        lead = users.principal_from_token(system.store, accounts.tokens["public_health"])
        assert lead is not None
        subscriptions.create_subscription(system.store, lead, areas=[], classes=[],
                                          min_severity="low")
        with TestClient(create_app(system)) as api:
            alert_id = seed_alert(system)
            _review(api, accounts, alert_id, "under_review", "confirmed")
            assert notify_pending(system) == 1
            files = list(system.settings.outbox_path().glob("*.eml"))
            assert len(files) == 1
            listing = api.get("/v1/outbox", headers=accounts.headers("public_health")).json()
            assert listing["delivery"] == "outbox"
            (item,) = listing["messages"]
            assert item["to"] == PH_EMAIL and item["alert_id"] == alert_id
            text = api.get(f"/v1/outbox/{item['name']}", headers=accounts.headers("admin")).text
            assert f"X-EWS-Alert-Id: {alert_id}" in text
            assert api.get("/v1/outbox/../secret_key", headers=accounts.headers("admin")).status_code == 404
            # Another lead sees none of it.
            users.create_account(system.store, username="ph2", role="public_health",
                                 areas=[HARTLEPOOL], email="other@ph.example", created_by="t")
            token = users.create_token(system.store, "ph2", created_by="t")["token"]
            other = {"Authorization": f"Bearer {token}"}
            assert api.get("/v1/outbox", headers=other).json()["messages"] == []
            assert api.get(f"/v1/outbox/{item['name']}", headers=other).status_code == 404
    finally:
        system.close()


@pytest.mark.slow
def test_report_in_alert_out_reviewed_and_emailed_by_the_running_pipeline(
        tmp_path: Path, smtp: tuple[Inbox, int]) -> None:
    """The end-to-end flow: a lab's result, the alert it raises, a clinician's confirmation, and
    the email the pipeline's notifier sends on its own, once."""
    inbox, port = smtp
    system = EmbeddedSystem(_settings(tmp_path, port, notify_interval_s=0.1))
    stop = threading.Event()
    try:
        accounts = make_accounts(system)
        lead = users.principal_from_token(system.store, accounts.tokens["public_health"])
        assert lead is not None
        subscriptions.create_subscription(system.store, lead, areas=[], classes=[],
                                          min_severity="high")
        with TestClient(create_app(system)) as api:
            sample = valid("forensic", "f-1", components=[
                {"name": "heroin", "purity_percent": 20}, {"name": "protonitazene"}])
            sample["lab_id"] = "lab-a-1"
            answer = api.post("/v1/reports/forensic", json=sample, headers=accounts.headers("forensic"))
            assert answer.status_code == 202, answer.text
            pipeline = Pipeline(system)
            pipeline.drain()
            found = api.get("/v1/alerts", params={"q": "nitazene"},
                            headers=accounts.headers("clinical")).json()
            (alert,) = found["alerts"]
            runner = threading.Thread(target=pipeline.run, args=(stop,), daemon=True)
            runner.start()
            _review(api, accounts, alert["alert_id"], "under_review", "confirmed")
            deadline = time.monotonic() + 20
            while not inbox.messages and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(0.5)  # a few more notifier passes: still one email
            assert [m["X-EWS-Alert-Id"] for m in inbox.messages] == [alert["alert_id"]]
            # The forensic provider sees its submission linked to the alert.
            mine = api.get("/v1/submissions", headers=accounts.headers("forensic")).json()
            (submission,) = mine["submissions"]
            assert submission["state"] == "normalised"
            assert alert["alert_id"] in {a["alert_id"] for a in submission["alerts"]}
    finally:
        stop.set()
        time.sleep(0.2)
        system.close()

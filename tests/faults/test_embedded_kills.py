"""SIGKILL every process of the embedded deployment at random points while a seeded stream
flows; restart it; the outcome equals an undisturbed run of the same stream.

The processes: the API (`ews api`, which accepts reports) and each pipeline stage as a process of
its own (`ews pipeline --stage normaliser|sweeper|detector|alert-builder|notifier`), which the
undisturbed run has as one process (the sweeper and the detector apart must raise what they do
together, in the same order). The client retries a
submission refused or cut off by a kill with the same report_ids, as any client must. Then every
alert is reviewed (confirmed, then published) through the API while the notifier is killed
mid-send: each alert email goes out at most once (the notifier claims an email before handing it
over; a kill between claim and hand-over loses that one email, by design: see
services/notify/notifier.py), and the test reports how many were lost that way.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from services.api.reports.service import submit_json
from services.api.subscriptions import service as subscriptions
from services.api.users import service as users
from services.notify.notifier import Sub, matches
from services.pipeline import EmbeddedSystem, Pipeline
from services.settings import Settings
from services.store import AlertRow, NotificationSent, Store, Subscription
from streams import topics
from streams.sqlite_log import SqliteLog
from tests.faults.clients import RetryingClient, Submission
from tests.faults.processes import Processes
from tests.notify.conftest import Inbox, free_port
from tests.pipeline.test_crash_recovery import AREAS, _caught_up, _derived, _records

pytestmark = pytest.mark.slow
RECORDS = 900
PER_SUBMISSION = 60
LEAD_EMAIL = "lead@ph.example"


class SlowInbox(Inbox):
    """A relay that takes 50 ms per message, so that kills land while the notifier sends."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(0.05)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def slow_smtp() -> Iterator[tuple[SlowInbox, int]]:
    inbox, port = SlowInbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def _accounts(system: EmbeddedSystem) -> dict[str, str]:
    """A clinical account (ridr, reviews), a forensic provider and a subscribed public-health lead."""
    tokens = {}
    for username, role, extra in (("clin", "clinical", {}), ("lab", "forensic", {"labs": ["lab-wm-1"]}),
                                  ("lead", "public_health", {"areas": AREAS, "email": LEAD_EMAIL})):
        users.create_account(system.store, username=username, role=role, created_by="test",
                             geography=system.geography, **extra)
        tokens[role] = users.create_token(system.store, username, created_by="test")["token"]
    lead = users.principal_from_token(system.store, tokens["public_health"])
    subscriptions.create_subscription(system.store, lead, areas=AREAS, classes=[], min_severity="low")
    return tokens


def _submissions(tokens: dict[str, str], n: int = RECORDS) -> list[Submission]:
    """The stream in a fixed order: chunks of records, each split by source."""
    records = _records(n)
    out = []
    for start in range(0, len(records), PER_SUBMISSION):
        chunk = records[start:start + PER_SUBMISSION]
        for source, role in (("ridr", "clinical"), ("forensic", "forensic"), ("death", "clinical")):
            of_source = [r for s, r in chunk if s == source]
            if of_source:
                out.append(Submission(source, tokens[role], of_source))
    return out


def _reference(path: Path, n: int = RECORDS) -> dict[str, object]:
    """The same submissions, in the same order, through the same service, nothing killed."""
    system = EmbeddedSystem(Settings(data_dir=path))
    try:
        tokens = _accounts(system)
        for submission in _submissions(tokens, n):
            who = users.principal_from_token(system.store, submission.token)
            submit_json(system, submission.source, who, submission.records)
        Pipeline(system).drain()
        return _derived(system.store)
    finally:
        system.close()


def _wait(condition: Any, within: float, what: str, processes: Processes) -> None:
    deadline = time.monotonic() + within
    while not condition():
        processes.assert_alive()
        assert time.monotonic() < deadline, f"timed out after {within:.0f} s waiting for {what}"
        time.sleep(0.2)


def _review_all(processes: Processes, token: str, alert_ids: list[str], *steps: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    for alert_id in alert_ids:
        for step in steps:
            answer = httpx.post(f"{processes.base_url}/v1/alerts/{alert_id}/status", headers=headers,
                                json={"to": step, "why": f"fault test: {step}"}, timeout=30)
            assert answer.status_code == 200, answer.text


def test_sigkill_each_process_loses_nothing_counts_nothing_twice_mails_nothing_twice(
        tmp_path: Path, slow_smtp: tuple[SlowInbox, int]) -> None:
    inbox, smtp_port = slow_smtp
    want = _reference(tmp_path / "reference")

    data_dir = tmp_path / "disturbed"
    system = EmbeddedSystem(Settings(data_dir=data_dir))
    tokens = _accounts(system)
    system.close()
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    processes = Processes({"EWS_DATA_DIR": str(data_dir), "EWS_SMTP_HOST": "127.0.0.1",
                           "EWS_SMTP_PORT": str(smtp_port), "EWS_NOTIFY_INTERVAL_S": "0.2"},
                          log_dir)
    log = SqliteLog(data_dir / "log.sqlite")
    store = Store(Settings(data_dir=data_dir).store_url())
    rng = random.Random(8)
    kills: Counter[str] = Counter()
    mid_work: Counter[str] = Counter()
    try:
        for name in ("alert-builder", "api", "normaliser", "sweeper", "detector", "notifier"):
            processes.start(name)

        # Phase 1: the stream flows in through the API; the API and the stages are killed.
        client = RetryingClient(processes.base_url, pace=0.3)
        submissions = _submissions(tokens)
        client.start(submissions)
        # Each process once, two of them twice (a restart costs seconds of imports: the suite
        # must stay short); the order and the moments are random.
        victims = ["api", "normaliser", "sweeper", "detector", "alert-builder"]
        victims += rng.sample(victims, 2)
        rng.shuffle(victims)
        for victim in victims:
            time.sleep(rng.uniform(0.3, 1.2))

            def busy(victim: str = victim) -> bool:  # a request in the API, or stage input
                return client.in_flight.is_set() if victim == "api" else _stage_lag(log, victim) > 0
            deadline = time.monotonic() + 2.0
            while not busy() and time.monotonic() < deadline and not client.done.is_set():
                time.sleep(0.005)
            busy_now = busy()
            processes.kill(victim)
            kills[victim] += 1
            mid_work[victim] += busy_now
            processes.start(victim)
        _wait(client.done.is_set, 400, "the client to have every submission accepted", processes)
        assert client.error is None, client.error
        _wait(lambda: _caught_up(log, store), 300, "the pipeline to catch up", processes)
        got = _derived(store)

        # Phase 2: every alert confirmed, then published, while the notifier is killed mid-send.
        alert_ids = [alert_id for alert_id, *_ in got["alerts"]]
        assert alert_ids, "the stream raised no alert: nothing to email"
        for steps in (("under_review", "confirmed"), ("published",)):
            before = len(inbox.messages)
            _review_all(processes, tokens["clinical"], alert_ids, *steps)
            # Kill once the notifier has begun sending this round, at a random point in it.
            _wait(lambda before=before: len(inbox.messages) > before, 180, "the notifier to send",
                  processes)
            time.sleep(rng.uniform(0.0, 0.2))
            mid_work["notifier"] += _unsent(store) > 0
            processes.kill("notifier")
            kills["notifier"] += 1
            processes.start("notifier")
            _wait(lambda: _unsent(store) == 0, 240, "every due email to be sent", processes)
    finally:
        processes.stop_all()

    due, claimed = _mail_state(store)
    mailed = Counter((m["X-EWS-Alert-Id"], m["X-EWS-Alert-State"], m["X-Test-Rcpt-To"])
                     for m in inbox.of_kind("alert"))
    twice = {key: n for key, n in mailed.items() if n > 1}
    arrived = {(alert_id, state) for alert_id, state, _ in mailed}
    # Claimed, and the notifier killed before it recorded the hand-over: never sent again,
    # whether or not the relay got it (at most once).
    uncertain = {key for key, status in claimed.items() if status in ("sending", "unknown")}
    lost = due - arrived
    print(f"\n{RECORDS} reports in {len(submissions)} submissions; SIGKILLs {dict(kills)} "
          f"(with work in flight {dict(mid_work)}); client resent {sum(client.retries.values())} "
          f"times ({dict(client.retries)}); outcomes {dict(client.outcomes)}; events "
          f"{len(got['events'])} (reference {len(want['events'])}), signals {len(got['signals'])}, "
          f"alerts {len(got['alerts'])}; emails due {len(due)}, sent {sum(mailed.values())}, "
          f"sent twice {len(twice)}, outcome uncertain after a kill {len(uncertain)} of which "
          f"lost {len(lost)}")

    assert all(kills[name] >= 1 for name in ("api", "normaliser", "sweeper", "detector",
                                              "alert-builder", "notifier")), kills
    assert (mid_work["api"] + mid_work["normaliser"] + mid_work["sweeper"]
            + mid_work["detector"] >= 2), mid_work
    assert len(set(client.accepted_ids)) == RECORDS
    assert got["reports"] == want["reports"] == RECORDS
    assert got["counts"] == want["counts"]
    assert got["events"] == want["events"]
    assert got["signals"] == want["signals"]
    assert got["alerts"] == want["alerts"]
    assert not twice, twice
    assert set(claimed) == due
    assert arrived <= due and lost <= uncertain, (lost, uncertain)
    log.close()
    store.close()


def _stage_lag(log: SqliteLog, stage: str) -> int:
    inputs = {"normaliser": topics.RAW_TOPICS, "sweeper": [topics.EVENTS],
              "detector": [topics.EVENTS], "alert-builder": [topics.SIGNALS]}[stage]
    return log.lag(stage, inputs)


def _mail_state(store: Store) -> tuple[set[tuple[str, str]], dict[tuple[str, str], str]]:
    """The emails due to the lead (alert, state), by the subscription it matches, and the
    status of each one claimed so far."""
    with store.session() as session:
        sub = session.execute(select(Subscription)).scalar_one()
        lead = Sub(sub.id, sub.account_id, LEAD_EMAIL, frozenset(sub.areas), frozenset(sub.classes),
                   sub.min_severity, sub.created_at)
        reached = {"confirmed": ("confirmed",), "published": ("confirmed", "published")}
        due = {(alert.alert_id, state) for alert in session.execute(select(AlertRow)).scalars()
               if matches(lead, alert) for state in reached.get(alert.status, ())}
        claimed = {(row.alert_id, row.state): row.status
                   for row in session.execute(select(NotificationSent)).scalars()}
    return due, claimed


def _unsent(store: Store) -> int:
    """Emails due and not yet handed over (or claimed and certain to be retried)."""
    due, claimed = _mail_state(store)
    return len({key for key in due if claimed.get(key) in (None, "failed")})

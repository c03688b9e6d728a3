"""Reports posted to the API -> Kafka -> faust workers -> alerts searchable through the API,
and an email for a confirmed one at a real SMTP server (aiosmtpd).

The API runs in this process over the scaled deployment's transport (a Tansu broker of the
test's own); every role runs as `ews worker ROLE` processes, as in docker-compose: normaliser,
detector and alert builder (per-report detectors), the sweeper (windowed detectors: here a
cluster of deaths) and the notifier.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from services.api.app import create_app
from services.pipeline import EmbeddedSystem
from services.settings import Settings
from services.workers import ROLES, STREAM_ROLES
from tests.conftest import valid
from tests.notify.conftest import Inbox
from tests.workers.conftest import (
    LEAD_EMAIL,
    Workers,
    caught_up,
    confirm,
    subscribe_lead,
    sweep_day,
    wait_for,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
BIRMINGHAM = "E08000025"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_settings(request: pytest.FixtureRequest, kafka_settings: Settings,
                   smtp: tuple[Inbox, int]) -> Settings:
    """The scaled deployment's settings with the store on SQLite, then on a real PostgreSQL;
    mail to this test's SMTP server."""
    update: dict[str, object] = {"smtp_host": "127.0.0.1", "smtp_port": smtp[1],
                                 "mail_from": "alerts@ews.test", "notify_interval_s": 0.5}
    if request.param == "postgresql":
        update["database_url"] = SecretStr(request.getfixturevalue("fresh_postgres_url"))
    return kafka_settings.model_copy(update=update)


def test_reports_posted_to_the_api_become_a_searchable_alert_through_the_workers(
        store_settings: Settings, smtp: tuple[Inbox, int], tmp_path: Path) -> None:
    workers = Workers(store_settings, tmp_path)
    try:
        _end_to_end(store_settings, workers, smtp[0])
    finally:
        workers.close()


def _end_to_end(settings: Settings, workers: Workers, inbox: Inbox) -> None:
    workers.wait_joined(*(workers.start(role) for role in ROLES))
    system = EmbeddedSystem(settings, index_writable=False)  # the alert builder writes it
    try:
        with TestClient(create_app(system)) as client:
            sample = valid("forensic", "f-1", components=[
                {"name": "heroin", "purity_percent": 20},
                {"name": "protonitazene", "purity_percent": 1.5}, {"name": "caffeine"}])
            harms = [valid("ridr", f"r-{i}", substances=[{"name": "heroin", "route": "injected"}])
                     for i in range(3)]
            posted = time.monotonic()
            assert client.post("/v1/reports/forensic", json=sample).status_code == 202
            assert client.post("/v1/reports/ridr", json=harms).status_code == 202

            def searchable() -> dict | None:
                page = client.get("/v1/alerts", params={"q": "nitazene"}).json()
                return page if page["total"] else None

            found = wait_for(searchable, within=90, what="the nitazene alert in GET /v1/alerts",
                             workers=workers, every=0.1)
            latency = time.monotonic() - posted
            alert = found["alerts"][0]
            assert alert["class"] == "nitazene" and alert["severity"] == "critical"
            assert found["facets"]["class"] == {"nitazene": 1}
            detail = client.get(f"/v1/alerts/{alert['alert_id']}").json()
            mismatch = [e for e in detail["evidence"] if e["detector"] == "adulteration"]
            assert mismatch and mismatch[0]["detail"]["sold_as"] == "heroin"
            assert "forensic/default:lab-wm-1/f-1" in detail["reports"]

            # A resubmission is refused as a duplicate, so it changes nothing downstream either.
            again = client.post("/v1/reports/forensic", json=sample).json()
            assert again["counts"] == {"duplicate": 1}
            wait_for(lambda: caught_up(system.transport, system.store, STREAM_ROLES), within=60,
                     what="every stage to commit its input", workers=workers)
            assert client.get("/v1/alerts").json()["total"] == 1

            # Windowed detectors run in the sweeper: three protonitazene deaths in a week are a
            # cluster once the data's date passes the week's sweep day.
            week = (dt.date.today() - sweep_day(dt.date.today())).days
            deaths = [valid("death", f"d-{i}", days_ago=week + back,
                            substances=[{"name": "protonitazene"}, {"name": "heroin"}])
                      for i, back in enumerate((4, 5, 6))]
            assert client.post("/v1/reports/death", json=deaths).status_code == 202
            wait_for(lambda: caught_up(system.transport, system.store, STREAM_ROLES), within=60,
                     what="the deaths to reach the sweeper", workers=workers)
            tick = valid("ridr", "r-next-day", area="E08000012", days_ago=week - 1)
            assert client.post("/v1/reports/ridr", json=tick).status_code == 202

            def clustered() -> str | None:
                for hit in client.get("/v1/alerts", params={"q": "protonitazene"}).json()["alerts"]:
                    evidence = client.get(f"/v1/alerts/{hit['alert_id']}").json()["evidence"]
                    if any(e["detector"] == "death_cluster" for e in evidence):
                        return hit["alert_id"]
                return None

            cluster_alert = wait_for(clustered, within=90, every=0.2, workers=workers,
                                     what="the sweeper's death cluster in an alert")

            # Confirmed by the clinical network: the notifier emails the subscribed lead, once.
            headers = subscribe_lead(system, [BIRMINGHAM])
            confirm(client, headers, cluster_alert)
            wait_for(lambda: inbox.messages, within=60, what="the alert email", workers=workers)
            time.sleep(2 * settings.notify_interval_s + 0.5)  # a second email would come by now
            (message,) = inbox.messages
            assert message["X-EWS-Alert-Id"] == cluster_alert
            assert message["X-EWS-Alert-State"] == "confirmed"
            assert message["X-Test-Rcpt-To"] == LEAD_EMAIL
            print(f"\nreport -> searchable alert through Kafka and 3 workers: {latency:.2f} s; "
                  f"death cluster by the sweeper and its email through the notifier: ok")
    finally:
        system.close()
    for worker in workers.started:
        assert workers.stop(worker) == 0, worker.log()[-3000:]

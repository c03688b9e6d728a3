"""The embedded pipeline over processes: an API that may not write the tantivy index (`ews api`
beside `ews pipeline`) has its reviews indexed by the alert builder, with no signal to wait for."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from services.api.app import create_app
from services.api.users import service as users
from services.pipeline import EmbeddedSystem, Pipeline
from services.settings import Settings
from tests.conftest import valid


@pytest.fixture
def api_system(settings: Settings, system: EmbeddedSystem) -> Iterator[EmbeddedSystem]:
    opened = EmbeddedSystem(settings, index_writable=False)  # as `ews api` opens tantivy
    yield opened
    opened.close()


def test_a_review_in_a_read_only_api_reaches_the_index_while_no_signal_comes(
        system: EmbeddedSystem, api_system: EmbeddedSystem) -> None:
    api = TestClient(create_app(api_system))
    sample = valid("forensic", "f-1", components=[{"name": "protonitazene"}], sold_as="heroin")
    assert api.post("/v1/reports/forensic", json=sample).status_code == 202
    Pipeline(system).drain()
    users.create_account(api_system.store, username="clin", role="clinical", created_by="test",
                         geography=api_system.geography)
    token = users.create_token(api_system.store, "clin", created_by="test")["token"]
    api.headers["Authorization"] = f"Bearer {token}"
    (alert,) = api.get("/v1/alerts", params={"q": "nitazene"}).json()["alerts"]

    stop = threading.Event()
    builder = threading.Thread(target=Pipeline(system, only=("alert-builder",)).run, args=(stop,))
    builder.start()
    try:
        answer = api.post(f"/v1/alerts/{alert['alert_id']}/status", json={"to": "under_review"})
        assert answer.status_code == 200, answer.text
        deadline = time.monotonic() + 10
        while (api.get("/v1/alerts", params={"status": "under_review"}).json()["total"] == 0
               and time.monotonic() < deadline):
            time.sleep(0.05)
        took = 10 - (deadline - time.monotonic())
    finally:
        stop.set()
        builder.join(timeout=10)
    assert api.get("/v1/alerts", params={"status": "under_review"}).json()["total"] == 1, (
        "the review never reached the index")
    assert api.get("/v1/alerts", params={"status": "new"}).json()["total"] == 0
    print(f"\nthe review was in the index after {took:.2f} s")


def test_a_child_that_keeps_exiting_at_start_is_restarted_less_and_less_often(
        settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    from services.pipeline.split import StageProcess

    caplog.set_level("ERROR", logger="services.pipeline.split")
    child = StageProcess(settings, ("no-such-stage",))  # `ews pipeline` refuses it: exit 2
    child.start()
    try:
        deadline = time.monotonic() + 60
        while len(caplog.records) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        child.stop()
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) >= 3, messages
    assert all("exited with 2" in message for message in messages), messages
    delays = [message.split("starting them again in ")[1].split(" s")[0] for message in messages]
    assert delays[:3] == ["1", "2", "4"], messages
    assert child.starts == len(messages)  # stopped while waiting: not started again

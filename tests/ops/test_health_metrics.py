"""Operations (issue 8, point 6): liveness, readiness and the Prometheus metrics."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from services.api.app import create_app
from services.pipeline import EmbeddedSystem, Pipeline
from services.settings import Settings
from services.store import AlertRow
from tests.conftest import valid


@pytest.fixture
def api_system(settings: Settings, system: EmbeddedSystem) -> Iterator[EmbeddedSystem]:
    """The API's own view of the files the pipeline (`system`) works on, as another process has."""
    opened = EmbeddedSystem(settings, index_writable=False)
    yield opened
    opened.close()


def _samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(answer.text) for sample in family.samples}


def test_healthz_and_readyz_when_everything_answers(api_system: EmbeddedSystem) -> None:
    client = TestClient(create_app(api_system))
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "ready" and ready.json()["not_ready"] == []
    assert set(ready.json()["checks"]) == {"store", "transport", "index"}


def test_readyz_names_what_is_not_ready(settings: Settings, api_system: EmbeddedSystem) -> None:
    client = TestClient(create_app(api_system))
    # The log and the store's files become unopenable (a lost volume): a directory where each was.
    api_system.transport.close()
    api_system.store.engine.dispose()
    for path in (settings.transport_path(), settings.data_dir / "ews.sqlite"):
        path.rename(path.with_name(path.name + ".gone"))
        path.mkdir()
    try:
        answer = client.get("/readyz")
        assert answer.status_code == 503
        body = answer.json()
        assert body["status"] == "not ready" and body["not_ready"] == ["store", "transport"]
        assert "unable to open database file" in body["checks"]["store"]["detail"]
        assert body["checks"]["index"]["ok"] is True
        assert client.get("/healthz").status_code == 200  # alive, only not ready
    finally:
        for path in (settings.transport_path(), settings.data_dir / "ews.sqlite"):
            shutil.rmtree(path)
            path.with_name(path.name + ".gone").rename(path)


def test_metrics_report_what_the_pipeline_did_from_another_process_view(
        system: EmbeddedSystem, api_system: EmbeddedSystem) -> None:
    """The API's metrics come from the store and the log, so they are right though the work
    was done by another `EmbeddedSystem` (another process in a split deployment)."""
    client = TestClient(create_app(api_system))
    ridr = [valid("ridr", f"r-{n}", area="E08000025") for n in range(6)]
    forensic = [valid("forensic", f"f-{n}", sold_as="heroin",
                      components=[{"name": "protonitazene"}]) for n in range(3)]
    assert client.post("/v1/reports/ridr", json=ridr).status_code == 202
    assert client.post("/v1/reports/forensic", json=forensic).status_code == 202
    assert client.post("/v1/reports/ridr", json=ridr[:2]).status_code == 202  # duplicates
    bad = b'{"report_id": "broken"}\n'
    assert client.post("/v1/reports/market/files", files={
        "file": ("m.ndjson", bad, "application/x-ndjson")}).status_code == 202

    before = _samples(client)
    assert before[("ews_reports_accepted_total", (("source", "ridr"),))] == 6
    assert before[("ews_reports_accepted_total", (("source", "forensic"),))] == 3
    assert before[("ews_dead_lettered_total", (("source", "market"), ("stage", "ingest")))] == 1
    assert before[("ews_consumer_lag", (("stage", "normaliser"),))] == 9
    assert before[("ews_alerts_raised_total", ())] == 0

    Pipeline(system).drain()
    after = _samples(client)
    for stage in ("normaliser", "detector", "alert-builder"):
        assert after[("ews_consumer_lag", (("stage", stage),))] == 0
    # In one process the sweeper is part of the detector: no lag of its own to show.
    assert ("ews_consumer_lag", (("stage", "sweeper"),)) not in after
    with system.store.session() as session:
        alerts = session.execute(select(func.count()).select_from(AlertRow)).scalar_one()
    assert alerts >= 1
    assert after[("ews_alerts_raised_total", ())] == alerts
    assert sum(v for (name, labels), v in after.items() if name == "ews_alerts") == alerts
    assert after[("ews_stage_batch_seconds_count", (("stage", "detector"),))] >= 1
    assert after[("ews_http_requests_total", (("method", "POST"), ("route", "/v1/reports/{source}"),
                                              ("status", "202")))] >= 3
    assert after[("ews_http_request_seconds_count", (("method", "POST"),
                                                     ("route", "/v1/reports/{source}")))] >= 3
    # Ids never become labels: one series per route template.
    assert not any("r-1" in str(labels) for _name, labels in after)

    # A sweeper process of its own shows its lag once it has taken a batch (every event here).
    assert Pipeline(system, only=("sweeper",)).stages[0].step() > 0
    assert _samples(client)[("ews_consumer_lag", (("stage", "sweeper"),))] == 0

"""The flow's own code on each store: normaliser -> detectors -> alert builder, and the embedded
system end to end with PostgreSQL as its system of record.

The same reports give the same counts, signals, decisions and alerts on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from chemistry import resolve
from services.api.app import create_app
from services.detector.detect import DetectorConfig, detect
from services.detector.fusion import build_alerts, signal_row
from services.detector.state import DetectorState
from services.geography import Geography, load_geography
from services.ingest.validate import validate
from services.normaliser import normalise
from services.pipeline import EmbeddedSystem, Pipeline
from services.settings import Settings
from services.store import (
    AlertRow,
    AuditEntry,
    SeriesCount,
    Sighting,
    SignalRow,
    Store,
    engine_insert,
)
from streams.records import Accepted, Event, Signal
from tests.conftest import valid

NOVEL_SC = "COC(=O)[C@@H](NC(=O)c1nn(CCCCC=C)c2ccccc12)C(C)(C)C"
RECEIVED = dt.datetime(2025, 6, 2, 9, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def geography() -> Geography:
    return load_geography()


def _reports() -> list[tuple[str, dict[str, Any]]]:
    """A nitazene sold as heroin, a new synthetic cannabinoid, and a weekly rise of xylazine
    reports over a steady baseline."""
    reports: list[tuple[str, dict[str, Any]]] = [
        ("forensic", valid("forensic", "f-1", days_ago=9, components=[
            {"name": "heroin", "purity_percent": 20},
            {"name": "protonitazene", "purity_percent": 1.5}, {"name": "caffeine"}])),
        ("ridr", valid("ridr", "r-sc", area="E08000026", days_ago=8,
                       substances=[{"smiles": NOVEL_SC, "route": "smoked", "confirmed": True}])),
    ]
    for week in range(2, 12):
        reports.append(("ridr", valid("ridr", f"r-x{week}", area="E06000001", days_ago=7 * week,
                                      substances=[{"name": "xylazine"}])))
    for n in range(6):
        reports.append(("ridr", valid("ridr", f"r-rise{n}", area="E06000001", days_ago=8,
                                      substances=[{"name": "xylazine"}])))
    return reports


def _events(geography: Geography) -> list[Event]:
    events = []
    for source, payload in _reports():
        record = validate(source, payload)
        accepted = Accepted(source=source, submitter="default", report_id=payload["report_id"],
                            received_at=RECEIVED, via="api", record=record.model_dump(mode="json"))
        events += normalise(accepted, resolve, geography)
    return sorted(events, key=lambda event: (event.date, event.event_id))


def _detect(store: Store, events: Sequence[Event]) -> list[Signal]:
    """The detector stage: detector state and the signal outbox in one transaction."""
    with store.session() as session:
        signals = detect(events, DetectorState(session), DetectorConfig())
        if signals:
            columns = [column.key for column in SignalRow.__table__.columns]
            rows = [{name: getattr(row, name) for name in columns}
                    for row in map(signal_row, signals)]
            insert = engine_insert(session.get_bind())
            session.execute(insert(SignalRow).on_conflict_do_nothing(), rows)
    return signals


def _run(store: Store, events: Sequence[Event], geography: Geography, batch: int = 5) -> list[str]:
    touched: list[str] = []
    for start in range(0, len(events), batch):
        signals = _detect(store, events[start:start + batch])
        with store.session() as session:
            touched += build_alerts(session, signals, geography)
    return touched


def _rows(session: Session, *columns: Any) -> list[tuple[Any, ...]]:
    return sorted(tuple(row) for row in session.execute(select(*columns)))


def _snapshot(store: Store) -> dict[str, Any]:
    """Everything the flow decided, without the wall-clock times."""
    with store.session() as session:
        return {
            "counts": _rows(session, SeriesCount.dimension, SeriesCount.value,
                            SeriesCount.area_code, SeriesCount.source, SeriesCount.freq, SeriesCount.period,
                            SeriesCount.count),
            "sightings": _rows(session, Sighting.substance_key, Sighting.area_code,
                               Sighting.first_event_id),
            "signals": _rows(session, SignalRow.signal_id, SignalRow.detector, SignalRow.severity,
                             SignalRow.disposition, SignalRow.alert_id, SignalRow.reason),
            "alerts": [(a.alert_id, a.status, a.severity, a.confidence, a.substance_class,
                        a.novel, a.scope, a.terms, a.areas, a.sources, a.detectors, a.first_seen,
                        a.last_seen, a.title, a.version)
                       for a in session.scalars(select(AlertRow).order_by(AlertRow.alert_id))],
            "audit": _rows(session, AuditEntry.alert_id, AuditEntry.action, AuditEntry.to_value),
        }


def test_detectors_and_alert_builder_decide_alike_on_sqlite_and_postgresql(
        tmp_path: Path, fresh_postgres_url: str, geography: Geography) -> None:
    events = _events(geography)
    snapshots = {}
    for name, url in (("sqlite", f"sqlite:///{tmp_path / 'ews.sqlite'}"),
                      ("postgresql", fresh_postgres_url)):
        store = Store(url)
        try:
            assert _run(store, events, geography)
            first = _snapshot(store)
            # Redelivered, whole and in other batches: no count, signal or alert changes.
            assert _run(store, events, geography, batch=7) == []
            assert _snapshot(store) == first
            snapshots[name] = first
        finally:
            store.close()
    assert snapshots["postgresql"] == snapshots["sqlite"]

    alerts = {a[4]: a for a in snapshots["postgresql"]["alerts"]}
    assert alerts["nitazene"][2] == "critical" and "adulteration" in alerts["nitazene"][10]
    assert any(a[5] and a[6] == "national" for a in alerts.values())  # the new cannabinoid
    rise = alerts["xylazine_like"]
    assert rise[10] == ["aberration"] and rise[14] > 1  # raised, then updated while open
    assert {d for *_, d, _, _ in snapshots["postgresql"]["signals"]} == {"raised", "updated",
                                                                        "suppressed"}
    # One "raised" entry per alert: the builder's updates are not review actions.
    assert sorted((alert_id, action) for alert_id, action, _ in snapshots["postgresql"]["audit"]) \
        == sorted((alert[0], "raised") for alert in alerts.values())


@pytest.fixture
def pg_system(tmp_path: Path, fresh_postgres_url: str) -> Iterator[EmbeddedSystem]:
    system = EmbeddedSystem(Settings(data_dir=tmp_path / "ews", database_url=fresh_postgres_url))
    yield system
    system.close()


def test_report_in_alert_out_with_postgresql_as_the_system_of_record(
        pg_system: EmbeddedSystem) -> None:
    assert pg_system.store.dialect == "postgresql"
    sample = valid("forensic", "f-1", lab_id="lab-" + "w" * 400, components=[
        {"name": "heroin", "purity_percent": 20}, {"name": "protonitazene", "purity_percent": 1.5}])
    with TestClient(create_app(pg_system)) as client:
        assert client.post("/v1/reports/forensic", json=sample).status_code == 202
        assert client.post("/v1/reports/forensic", json=sample).json()["results"][0]["outcome"] \
            == "duplicate"
        Pipeline(pg_system).drain()

        found = client.get("/v1/alerts", params={"q": "nitazene"}).json()
        assert found["total"] == 1
        alert = found["alerts"][0]
        assert alert["class"] == "nitazene" and alert["severity"] == "critical"
        detail = client.get(f"/v1/alerts/{alert['alert_id']}").json()
        assert [entry["action"] for entry in detail["audit"]] == ["raised"]
        assert detail["audit"][0]["at"].endswith("+00:00")
        assert any(e["detector"] == "adulteration" for e in detail["evidence"])
        assert client.get("/v1/signals", params={"detector": "adulteration"}).json()["signals"]

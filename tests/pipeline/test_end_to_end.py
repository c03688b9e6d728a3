"""Report in, alert out, searchable: the flow end to end through its public interfaces."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from services.pipeline import EmbeddedSystem, Pipeline
from services.store import EventRow, SeriesCount
from tests.conftest import valid

NOVEL_SC = "COC(=O)[C@@H](NC(=O)c1nn(CCCCC=C)c2ccccc12)C(C)(C)C"


def _drain(system: EmbeddedSystem) -> None:
    Pipeline(system).drain()


def _counts(system: EmbeddedSystem) -> list[tuple]:
    with system.store.session() as session:
        return sorted(session.execute(select(SeriesCount.dimension, SeriesCount.value,
                                             SeriesCount.area_code, SeriesCount.source,
                                             SeriesCount.freq, SeriesCount.period, SeriesCount.count)).all())


def test_nitazene_sold_as_heroin_becomes_a_searchable_alert_with_evidence(
        client: TestClient, system: EmbeddedSystem) -> None:
    sample = valid("forensic", "f-1", components=[
        {"name": "heroin", "purity_percent": 20}, {"name": "protonitazene", "purity_percent": 1.5},
        {"name": "caffeine"}])
    assert client.post("/v1/reports/forensic", json=sample).status_code == 202
    _drain(system)

    found = client.get("/v1/alerts", params={"q": "nitazene"}).json()
    assert found["total"] == 1
    alert = found["alerts"][0]
    assert alert["class"] == "nitazene" and alert["severity"] == "critical"
    assert found["facets"]["class"] == {"nitazene": 1}
    assert client.get("/v1/alerts", params={"class": "nitazene", "area": "E08000025"}).json()["total"] == 1
    assert client.get("/v1/alerts", params={"area": "E06000001"}).json()["total"] == 0
    for params, total in (({"substance": "protonitazene"}, 1), ({"substance": "heroin"}, 0),
                          ({"status": "new"}, 1), ({"status": "closed"}, 0),
                          ({"severity": "critical"}, 1), ({"source": "ridr"}, 0),
                          ({"from": alert["first_seen"], "to": alert["last_seen"]}, 1),
                          ({"from": "2999-01-01"}, 0), ({"to": "2000-01-01"}, 0)):
        assert client.get("/v1/alerts", params=params).json()["total"] == total, params
    assert client.get("/v1/alerts/alert-nope").status_code == 404

    detail = client.get(f"/v1/alerts/{alert['alert_id']}").json()
    mismatch = [e for e in detail["evidence"] if e["detector"] == "adulteration"]
    assert mismatch and mismatch[0]["method"] == "sold_as_mismatch"
    assert mismatch[0]["detail"]["sold_as"] == "heroin" and mismatch[0]["detail"]["sold_as_present"]
    assert "forensic/default:lab-wm-1/f-1" in detail["reports"]
    assert detail["corroborating_sources"] == ["forensic"]
    assert detail["audit"][0]["action"] == "raised"


def test_resubmission_changes_no_count_and_no_alert(client: TestClient, system: EmbeddedSystem) -> None:
    batch = [valid("ridr", f"r-{n}") for n in range(6)] + [valid("ridr", "r-x", substances=[{"smiles": NOVEL_SC}])]
    client.post("/v1/reports/ridr", json=batch)
    _drain(system)
    counts, alerts = _counts(system), client.get("/v1/alerts").json()
    detail = client.get(f"/v1/alerts/{alerts['alerts'][0]['alert_id']}").json()

    again = client.post("/v1/reports/ridr", json=batch).json()
    assert again["counts"] == {"duplicate": 7}
    _drain(system)
    assert _counts(system) == counts
    assert client.get("/v1/alerts").json()["total"] == alerts["total"]
    assert client.get(f"/v1/alerts/{detail['alert_id']}").json()["evidence"] == detail["evidence"]
    with system.store.session() as session:
        assert session.execute(select(func.count()).select_from(EventRow)).scalar_one() == 7


def test_novel_structure_is_a_first_sighting_alert(client: TestClient, system: EmbeddedSystem) -> None:
    sample = valid("forensic", "f-9", sold_as=None, setting="prison", form="paper",
                   components=[{"smiles": NOVEL_SC}])
    client.post("/v1/reports/forensic", json=sample)
    _drain(system)
    alerts = client.get("/v1/alerts", params={"class": "synthetic_cannabinoid"}).json()["alerts"]
    assert len(alerts) == 1 and alerts[0]["novel"] is True
    detail = client.get(f"/v1/alerts/{alerts[0]['alert_id']}").json()
    methods = {e["method"] for e in detail["evidence"]}
    assert {"first_sighting_national", "first_sighting_area"} <= methods
    # The same structure in a second area joins the alert rather than raising another one.
    client.post("/v1/reports/forensic", json={**sample, "report_id": "f-10", "area_code": "E08000012"})
    _drain(system)
    alerts = client.get("/v1/alerts", params={"class": "synthetic_cannabinoid"}).json()["alerts"]
    assert len(alerts) == 1 and {a["code"] for a in alerts[0]["areas"]} == {"E08000025", "E08000012"}


def _background(client: TestClient, system: EmbeddedSystem) -> None:
    client.post("/v1/reports/ridr", json=[valid("ridr", f"bg-{week}", days_ago=7 * week + 3)
                                          for week in range(1, 13)])
    _drain(system)


def test_a_large_weekly_rise_is_an_alert_with_ears_c2_evidence(client: TestClient, system: EmbeddedSystem) -> None:
    _background(client, system)
    assert client.get("/v1/alerts").json()["total"] == 0
    client.post("/v1/reports/ridr", json=[valid("ridr", f"spike-{n}", days_ago=0) for n in range(12)])
    _drain(system)
    alerts = client.get("/v1/alerts", params={"q": "rise heroin"}).json()["alerts"]
    assert alerts, "a rise of 12 against a baseline of about 1 a week must alert"
    detail = client.get(f"/v1/alerts/{alerts[0]['alert_id']}").json()
    c2 = [e for e in detail["evidence"] if e["method"] == "ears_c2"]
    assert c2 and all(e["observed"] > e["threshold"] >= e["expected"] for e in c2)
    assert max(e["observed"] for e in c2) == 12
    assert len(detail["reports"]) == 12


def test_a_moderate_rise_waits_for_corroboration_from_another_source(
        client: TestClient, system: EmbeddedSystem) -> None:
    _background(client, system)
    client.post("/v1/reports/ridr", json=[valid("ridr", f"spike-{n}", days_ago=0) for n in range(6)])
    _drain(system)
    assert client.get("/v1/alerts").json()["total"] == 0
    held = client.get("/v1/signals", params={"disposition": "held"}).json()["signals"]
    assert held and all("held" in s["reason"] for s in held)
    # A forensic result from the same area: fentanyl in heroin. The new alert takes the rise with it.
    client.post("/v1/reports/forensic", json=valid("forensic", "f-1", days_ago=1, components=[
        {"name": "heroin"}, {"name": "fentanyl"}]))
    _drain(system)
    alerts = client.get("/v1/alerts").json()["alerts"]
    assert len(alerts) == 1
    detail = client.get(f"/v1/alerts/{alerts[0]['alert_id']}").json()
    assert {"adulteration", "aberration"} <= {e["detector"] for e in detail["evidence"]}
    assert detail["corroborating_sources"] == ["forensic", "ridr"]
    assert detail["confidence"] > 0.5
    assert client.get("/v1/signals", params={"disposition": "held"}).json()["signals"] == []


def test_bad_file_row_is_dead_lettered_while_the_rest_is_processed(
        client: TestClient, system: EmbeddedSystem) -> None:
    lines = [json.dumps(valid("ridr", "r-1")), json.dumps({**valid("ridr", "r-2"), "outcome": "x"}),
             json.dumps(valid("ridr", "r-3", substances=[{"name": "bromazolam"}]))]
    body = client.post("/v1/reports/ridr/files",
                       files={"file": ("r.ndjson", "\n".join(lines).encode(), "application/x-ndjson")}).json()
    assert body["counts"] == {"accepted": 2, "dead_lettered": 1}
    _drain(system)
    letters = client.get("/v1/deadletter").json()["dead_letters"]
    assert len(letters) == 1 and letters[0]["errors"][0]["field"] == "outcome"
    with system.store.session() as session:
        payloads = list(session.execute(select(EventRow.payload)).scalars())
    assert {p["substance_name"] for p in payloads} >= {"heroin", "bromazolam"}


def test_unresolvable_names_are_kept_as_events_with_the_error(client: TestClient, system: EmbeddedSystem) -> None:
    client.post("/v1/reports/ridr", json=valid("ridr", "r-1", substances=[{"name": "zzqxv unknown powder"}]))
    _drain(system)
    with system.store.session() as session:
        payload = session.execute(select(EventRow.payload)).scalar_one()
    assert payload["substance_key"] is None and payload["resolution_error"]


def test_an_alert_is_named_after_the_signal_that_says_what_the_substance_is(
        client: TestClient, system: EmbeddedSystem) -> None:
    """A rise opens the alert; the mis-sold sample that explains it names it, and every
    substance it is about is searchable."""
    _background(client, system)
    client.post("/v1/reports/ridr", json=[valid("ridr", f"spike-{n}", days_ago=0) for n in range(12)])
    _drain(system)
    client.post("/v1/reports/forensic", json=valid("forensic", "f-1", days_ago=1, components=[
        {"name": "heroin"}, {"name": "isotonitazene"}]))
    _drain(system)
    alerts = client.get("/v1/alerts").json()["alerts"]
    assert len(alerts) == 1
    assert alerts[0]["title"].startswith("isotonitazene in samples sold as heroin")
    for q in ("isotonitazene", "nitazene", "heroin"):
        assert client.get("/v1/alerts", params={"q": q}).json()["total"] == 1, q

"""Submitting reports through the API: 202 with outcomes, 422 naming fields, idempotency, files."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from services.pipeline import EmbeddedSystem
from streams import topics
from tests.conftest import valid


def test_schema_is_served_for_each_source(client: TestClient) -> None:
    for source in ("ridr", "forensic", "market", "death"):
        schema = client.get(f"/v1/schemas/{source}").json()
        assert "report_id" in schema["required"] and "area_code" in schema["required"]
    assert client.get("/v1/schemas/tweets").status_code == 404


def test_one_record_is_accepted(client: TestClient, system: EmbeddedSystem) -> None:
    response = client.post("/v1/reports/ridr", json=valid("ridr", "r-1"))
    assert response.status_code == 202
    assert response.json()["results"] == [{"index": 0, "report_id": "r-1", "outcome": "accepted"}]
    assert system.transport.count(topics.raw("ridr")) == 1


def test_a_batch_is_accepted_and_resubmission_is_a_duplicate(client: TestClient, system: EmbeddedSystem) -> None:
    batch = [valid("forensic", f"f-{n}") for n in range(5)]
    first = client.post("/v1/reports/forensic", json=batch).json()
    assert first["counts"] == {"accepted": 5}
    again = client.post("/v1/reports/forensic", json=batch).json()
    assert again["counts"] == {"duplicate": 5}
    assert system.transport.count(topics.raw("forensic")) == 5


def test_changed_content_under_an_accepted_id_is_a_conflict(client: TestClient, system: EmbeddedSystem) -> None:
    client.post("/v1/reports/market", json=valid("market", "m-1"))
    changed = {**valid("market", "m-1"), "price_gbp": 99}
    result = client.post("/v1/reports/market", json=changed).json()["results"][0]
    assert result["outcome"] == "conflict" and "new report_id" in result["reason"]
    assert system.transport.count(topics.raw("market")) == 1


def test_same_report_id_in_another_lab_is_another_report(client: TestClient) -> None:
    a = valid("forensic", "f-1")
    b = {**valid("forensic", "f-1"), "lab_id": "lab-nw-2"}
    assert client.post("/v1/reports/forensic", json=[a, b]).json()["counts"] == {"accepted": 2}


def test_bad_record_gets_422_naming_the_field_and_nothing_is_accepted(
        client: TestClient, system: EmbeddedSystem) -> None:
    good = valid("ridr", "r-1")
    bad = {**valid("ridr", "r-2"), "severity": "awful"}
    response = client.post("/v1/reports/ridr", json=[good, bad])
    assert response.status_code == 422
    body = response.json()
    assert body["errors"] == [{"index": 1, "report_id": "r-2", "field": "severity",
                               "problem": body["errors"][0]["problem"]}]
    assert "nothing was accepted" in body["detail"]
    assert system.transport.count(topics.raw("ridr")) == 0


def test_malformed_json_is_422(client: TestClient) -> None:
    response = client.post("/v1/reports/ridr", content=b"{not json",
                           headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert "not valid JSON" in response.json()["errors"][0]["problem"]


def test_empty_batch_is_422(client: TestClient) -> None:
    response = client.post("/v1/reports/ridr", json=[])
    assert response.status_code == 422 and "empty" in response.json()["errors"][0]["problem"]


def test_unknown_source_is_404(client: TestClient) -> None:
    assert client.post("/v1/reports/tweets", json={}).status_code == 404


def test_ndjson_file_bad_rows_are_dead_lettered_and_good_rows_go_on(
        client: TestClient, system: EmbeddedSystem) -> None:
    lines = [json.dumps(valid("death", "d-1")), "{oops", json.dumps({**valid("death", "d-3"), "sex": "x"}),
             json.dumps(valid("death", "d-4"))]
    response = client.post("/v1/reports/death/files",
                           files={"file": ("deaths.ndjson", "\n".join(lines).encode(), "application/x-ndjson")})
    assert response.status_code == 202
    body = response.json()
    assert body["counts"] == {"accepted": 2, "dead_lettered": 2}
    outcomes = {r["index"]: r for r in body["results"]}
    assert "not valid JSON" in outcomes[2]["reason"]
    assert outcomes[3]["errors"][0]["field"] == "sex"
    assert system.transport.count(topics.raw("death")) == 2
    letters = client.get("/v1/deadletter", params={"source": "death"}).json()
    assert letters["total"] == 2
    assert {letter["row"] for letter in letters["dead_letters"]} == {2, 3}
    assert any("sex" in letter["reason"] for letter in letters["dead_letters"])


def test_csv_file_with_nested_columns(client: TestClient, system: EmbeddedSystem) -> None:
    record = valid("forensic", "f-1")
    header = ("report_id,lab_id,sample_id,collected_on,analysed_on,area_code,setting,sold_as,form,"
              "components.0.name,components.0.purity_percent,components.1.name,method")
    good = (f"f-1,lab-1,S1,{record['collected_on']},{record['analysed_on']},E08000025,police_seizure,"
            f"heroin,powder,heroin,30,caffeine,GC-MS")
    bad = (f"f-2,lab-1,S2,{record['collected_on']},{record['analysed_on']},E08000025,police_seizure,"
           f"heroin,powder,heroin,300,,GC-MS")
    also_good = (f'f-3,lab-1,S3,{record["collected_on"]},{record["analysed_on"]},E08000025,prison,,'
                 f'paper,"MDMB-4en-PINACA",,,LC-MS')
    data = "\n".join([header, good, bad, also_good]).encode()
    body = client.post("/v1/reports/forensic/files",
                       files={"file": ("results.csv", data, "text/csv")}).json()
    assert body["counts"] == {"accepted": 2, "dead_lettered": 1}
    bad_row = next(r for r in body["results"] if r["outcome"] == "dead_lettered")
    assert bad_row["report_id"] == "f-2" and bad_row["errors"][0]["field"] == "components[0].purity_percent"
    accepted = [m.value["record"] for m in system.transport.read_all(topics.raw("forensic"))]
    assert accepted[0]["components"] == [{"name": "heroin", "purity_percent": 30.0, "smiles": None,
                                          "inchi": None, "role": None}, {"name": "caffeine", "smiles": None,
                                          "inchi": None, "purity_percent": None, "role": None}]


def test_csv_list_of_words_and_json_cells(client: TestClient) -> None:
    record = valid("death", "d-1")
    header = "report_id,date_of_death,notified_on,area_code,age_band,sex,setting,substances,cause_icd10,status"
    row = (f'd-1,{record["date_of_death"]},{record["notified_on"]},E08000025,35-44,male,home,'
           f'"[{{""name"": ""heroin""}}]",X42;T40.1,confirmed')
    body = client.post("/v1/reports/death/files",
                       files={"file": ("d.csv", f"{header}\n{row}\n".encode(), "text/csv")}).json()
    assert body["counts"] == {"accepted": 1}, body


def test_file_of_unknown_format_is_422(client: TestClient) -> None:
    response = client.post("/v1/reports/death/files", files={"file": ("d.xlsx", b"PK", "application/zip")})
    assert response.status_code == 422 and ".csv or .ndjson" in response.json()["detail"]


def test_openapi_is_served(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/v1/reports/{source}" in spec["paths"] and "/v1/alerts" in spec["paths"]
    assert client.get("/docs").status_code == 200

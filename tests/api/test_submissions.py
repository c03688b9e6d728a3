"""Forensic providers submit for their own labs, and see their own submissions' state only."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from services.pipeline import EmbeddedSystem, Pipeline
from streams import topics
from tests.api.helpers import Accounts, forensic_sample
from tests.conftest import valid


def test_the_submitter_is_the_account_and_only_its_own_labs(api: TestClient, accounts: Accounts,
                                                            system: EmbeddedSystem) -> None:
    lab_a = accounts.headers("forensic")
    answer = api.post("/v1/reports/forensic", json=[forensic_sample("f-1", "lab-a-1"),
                                                    forensic_sample("f-2", "lab-b-1")], headers=lab_a)
    assert answer.status_code == 403
    assert answer.json()["errors"] == [{"index": 1, "report_id": "f-2", "field": "lab_id",
                                        "problem": answer.json()["errors"][0]["problem"]}]
    assert system.transport.count(topics.raw("forensic")) == 0  # nothing of the batch
    assert api.post("/v1/reports/forensic", json=forensic_sample("f-1", "lab-a-1"), headers=lab_a).status_code == 202
    (message,) = system.transport.read_all(topics.raw("forensic"))
    assert message.value["submitter"] == "lab-a:lab-a-1"
    # The same report id from another provider is another report.
    lab_b = accounts.headers("forensic_b")
    assert api.post("/v1/reports/forensic", json=forensic_sample("f-1", "lab-b-1"),
                    headers=lab_b).json()["counts"] == {"accepted": 1}
    # A file: the row for another lab is dead-lettered, the rest go on.
    rows = [json.dumps(forensic_sample("f-3", "lab-a-1")), json.dumps(forensic_sample("f-4", "lab-b-1"))]
    body = api.post("/v1/reports/forensic/files", headers=lab_a, files={
        "file": ("r.ndjson", "\n".join(rows).encode(), "application/x-ndjson")}).json()
    assert body["counts"] == {"accepted": 1, "dead_lettered": 1}
    # A clinician submits clinical reports, not lab results; and the other way round.
    assert api.post("/v1/reports/forensic", json=forensic_sample("f-9", "lab-a-1"),
                    headers=accounts.headers("clinical")).status_code == 403
    assert api.post("/v1/reports/ridr", json=valid("ridr", "r-1"), headers=lab_a).status_code == 403
    assert api.post("/v1/reports/ridr", json=valid("ridr", "r-1"),
                    headers=accounts.headers("clinical")).status_code == 202


def test_providers_see_their_own_submissions_and_nobody_elses(api: TestClient, accounts: Accounts,
                                                              system: EmbeddedSystem) -> None:
    lab_a, lab_b = accounts.headers("forensic"), accounts.headers("forensic_b")
    api.post("/v1/reports/forensic", headers=lab_a, json=forensic_sample("f-1", "lab-a-1", components=[
        {"name": "heroin", "purity_percent": 20}, {"name": "protonitazene"}]))
    api.post("/v1/reports/forensic", headers=lab_b, json=forensic_sample("f-1", "lab-b-1"))
    bad = [json.dumps({**forensic_sample("f-5", "lab-a-1"), "form": "gas"})]
    api.post("/v1/reports/forensic/files", headers=lab_a,
             files={"file": ("bad.ndjson", "\n".join(bad).encode(), "application/x-ndjson")})
    before = api.get("/v1/submissions", headers=lab_a).json()["submissions"]
    assert [(s["report_id"], s["state"]) for s in before] == [("f-1", "accepted")]
    Pipeline(system).drain()

    (mine,) = api.get("/v1/submissions", headers=lab_a).json()["submissions"]
    assert mine["state"] == "normalised" and mine["lab_id"] == "lab-a-1"
    assert {s["name"] for s in mine["substances"]} >= {"heroin", "protonitazene"}
    assert mine["alerts"] and mine["alerts"][0]["status"] == "new"
    assert "title" not in mine["alerts"][0]  # an unpublished alert: its id and state only
    assert api.get(f"/v1/submissions/{mine['submission_id']}", headers=lab_a).json() == mine

    (theirs,) = api.get("/v1/submissions", headers=lab_b).json()["submissions"]
    assert theirs["submission_id"] != mine["submission_id"]
    assert api.get(f"/v1/submissions/{mine['submission_id']}", headers=lab_b).status_code == 404
    assert api.get(f"/v1/submissions/{mine['submission_id']}",
                   headers=accounts.headers("clinical")).status_code == 404

    letters = api.get("/v1/submissions/deadletters", headers=lab_a).json()
    assert letters["total"] == 1 and letters["dead_letters"][0]["errors"][0]["field"] == "form"
    assert api.get("/v1/submissions/deadletters", headers=lab_b).json()["total"] == 0
    assert api.get("/v1/deadletter", headers=lab_a).status_code == 403  # everyone's: admin only

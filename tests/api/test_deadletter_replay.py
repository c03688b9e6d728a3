"""Dead letters are countable and replayable: once the cause is fixed, a replay lets them on,
exactly once, and what still fails stays with its reason."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from services.ingest import dead_letter
from services.pipeline import EmbeddedSystem, Pipeline
from services.store import EventRow
from streams import topics
from tests.api.helpers import Accounts, forensic_sample
from tests.conftest import valid


def _upload(api: TestClient, headers: dict[str, str], records: list[dict]) -> dict:
    body = "\n".join(json.dumps(record) for record in records).encode()
    return api.post("/v1/reports/forensic/files", headers=headers,
                    files={"file": ("r.ndjson", body, "application/x-ndjson")}).json()


def _events(system: EmbeddedSystem) -> int:
    with system.store.session() as session:
        return session.execute(select(func.count()).select_from(EventRow)).scalar_one()


def test_a_refused_row_goes_on_once_its_cause_is_fixed_and_only_once(
        api: TestClient, accounts: Accounts, system: EmbeddedSystem) -> None:
    lab_a, admin = accounts.headers("forensic"), accounts.headers("admin")
    answer = _upload(api, lab_a, [forensic_sample("f-1", "lab-a-1"), forensic_sample("f-2", "lab-a-2"),
                                  {**forensic_sample("f-3", "lab-a-1"), "form": "gas"}])
    assert answer["counts"] == {"accepted": 1, "dead_lettered": 2}
    letters = api.get("/v1/deadletter", headers=admin).json()
    assert letters["total"] == 2
    refused, invalid = (letter["id"] for letter in letters["dead_letters"])

    # Nothing has changed yet: both still fail, each with its reason, and no new letter.
    first = api.post("/v1/deadletter/replay", headers=admin, json={"all": True}).json()
    assert first["counts"] == {"still_refused": 1, "still_invalid": 1}
    by_id = {item["id"]: item for item in first["results"]}
    assert "lab-a-2" in by_id[refused]["reason"]
    assert by_id[invalid]["errors"][0]["field"] == "form"
    assert system.transport.count(topics.DEADLETTER) == 2

    # The admin gives the provider its second lab: the refused row now goes on, once.
    changed = api.patch("/v1/users/lab-a", headers=admin, json={"labs": ["lab-a-1", "lab-a-2"]})
    assert changed.status_code == 200, changed.text
    second = api.post("/v1/deadletter/replay", headers=admin, json={"ids": [refused]}).json()
    assert second["results"] == [{"id": refused, "outcome": "accepted", "report_id": "f-2"}]
    again = api.post("/v1/deadletter/replay", headers=admin, json={"ids": [refused]}).json()
    assert again["counts"] == {"duplicate": 1}
    Pipeline(system).drain()
    (message,) = [m for m in system.transport.read_all(topics.raw("forensic"))
                  if m.value["report_id"] == "f-2"]
    assert message.value["submitter"] == "lab-a:lab-a-2"
    assert message.value["via"] == f"replay:{refused}"
    mine = api.get("/v1/submissions", headers=lab_a).json()["submissions"]
    assert sorted(s["report_id"] for s in mine) == ["f-1", "f-2"]


def test_a_record_the_normaliser_could_not_handle_is_appended_again(
        api: TestClient, accounts: Accounts, system: EmbeddedSystem) -> None:
    admin = accounts.headers("admin")
    assert api.post("/v1/reports/ridr", json=valid("ridr", "r-1"),
                    headers=accounts.headers("clinical")).status_code == 202
    (accepted,) = system.transport.read_all(topics.raw("ridr"))
    Pipeline(system).drain()
    events = _events(system)
    assert events > 0
    # As the normaliser dead-letters a record it cannot handle (handlers.normaliser).
    dead_letter(system.transport, "ridr", accepted.value["submitter"], "normaliser",
                f"{topics.raw('ridr')}@{accepted.offset}", "could not normalise: RuntimeError",
                payload=accepted.value)
    (letter,) = api.get("/v1/deadletter", headers=admin).json()["dead_letters"]
    answer = api.post("/v1/deadletter/replay", headers=admin, json={"ids": [letter["id"]]}).json()
    assert answer["results"] == [{"id": letter["id"], "outcome": "requeued", "report_id": "r-1"}]
    assert system.transport.count(topics.raw("ridr")) == 2
    Pipeline(system).drain()
    assert _events(system) == events  # normalised again, counted once


def test_replay_names_what_it_cannot_find_and_refuses_an_empty_request(
        api: TestClient, accounts: Accounts) -> None:
    admin = accounts.headers("admin")
    assert api.post("/v1/deadletter/replay", headers=admin, json={}).status_code == 422
    bad = api.post("/v1/deadletter/replay", headers=admin, json={"ids": ["seven"]})
    assert bad.status_code == 422 and "ids" in bad.text
    answer = api.post("/v1/deadletter/replay", headers=admin, json={"ids": ["0-41"]}).json()
    assert answer["results"] == [{"id": "0-41", "outcome": "unknown", "report_id": None,
                                  "reason": "no dead letter has this id"}]
    assert api.post("/v1/deadletter/replay", headers=admin,
                    json={"source": "nope"}).status_code == 404

"""Alert review by the clinical network, its audit trail, and what other roles see of alerts."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from services.pipeline import EmbeddedSystem
from services.store import AlertComment, AlertRow, AuditEntry, AuditIsAppendOnly
from tests.api.helpers import BIRMINGHAM, HARTLEPOOL, Accounts, seed_alert


def _post(api: TestClient, accounts: Accounts, alert_id: str, what: str, body: dict,
          role: str = "clinical") -> tuple[int, dict]:
    answer = api.post(f"/v1/alerts/{alert_id}/{what}", json=body, headers=accounts.headers(role))
    return answer.status_code, answer.json()


def test_the_review_workflow_and_its_audit_trail(api: TestClient, accounts: Accounts,
                                                system: EmbeddedSystem) -> None:
    alert_id = seed_alert(system, severity="high")
    clinical = accounts.headers("clinical")
    assert _post(api, accounts, alert_id, "status", {"to": "confirmed", "why": "x"})[0] == 409
    assert _post(api, accounts, alert_id, "status", {"to": "under_review"})[0] == 200
    assert _post(api, accounts, alert_id, "assignment", {"assignee": "clin", "why": "mine"})[0] == 200
    assert _post(api, accounts, alert_id, "assignment", {"assignee": "intel"})[0] == 422
    code, body = _post(api, accounts, alert_id, "status", {"to": "confirmed"})
    assert code == 422 and "why" in body["detail"]  # every change but starting a review says why
    assert _post(api, accounts, alert_id, "severity", {"severity": "critical",
                                                       "why": "two deaths"})[0] == 200
    assert _post(api, accounts, alert_id, "comments", {"body": "lab confirms protonitazene"})[0] == 201
    assert _post(api, accounts, alert_id, "status", {"to": "confirmed", "why": "lab result"})[0] == 200
    assert _post(api, accounts, alert_id, "status", {"to": "published", "why": "bulletin"})[0] == 200
    assert _post(api, accounts, alert_id, "status", {"to": "dismissed", "why": "x"})[0] == 409
    assert _post(api, accounts, alert_id, "status", {"to": "closed", "why": "over"})[0] == 200
    assert _post(api, accounts, alert_id, "status", {"to": "under_review"})[0] == 409
    assert _post(api, accounts, "alert-nope", "status", {"to": "under_review"})[0] == 404

    detail = api.get(f"/v1/alerts/{alert_id}", headers=clinical).json()
    assert (detail["status"], detail["severity"]) == ("closed", "critical")
    trail = [(e["actor"], e["action"], e["from"], e["to"], e["why"]) for e in detail["audit"]]
    assert trail == [
        ("system", "raised", None, "new", "seeded"),
        ("clinical:clin", "status", "new", "under_review", None),
        ("clinical:clin", "assignment", None, "clin", "mine"),
        ("clinical:clin", "severity", "high", "critical", "two deaths"),
        ("clinical:clin", "comment", None, trail[4][3], "lab confirms protonitazene"),
        ("clinical:clin", "status", "under_review", "confirmed", "lab result"),
        ("clinical:clin", "status", "confirmed", "published", "bulletin"),
        ("clinical:clin", "status", "published", "closed", "over"),
    ]
    assert all(dt.datetime.fromisoformat(e["at"]) for e in detail["audit"])
    assert detail["assignment"]["assignee"] == "clin"
    assert [c["body"] for c in detail["comments"]] == ["lab confirms protonitazene"]
    # The index follows at once: search by the new status finds it.
    found = api.get("/v1/alerts", params={"status": "closed"}, headers=clinical).json()
    assert [a["alert_id"] for a in found["alerts"]] == [alert_id]


def test_nobody_can_edit_the_audit_trail_or_comments(api: TestClient, accounts: Accounts,
                                                     system: EmbeddedSystem) -> None:
    alert_id = seed_alert(system)
    _post(api, accounts, alert_id, "comments", {"body": "first"})
    with pytest.raises(AuditIsAppendOnly), system.store.session() as session:
        entry = session.execute(select(AuditEntry).where(AuditEntry.alert_id == alert_id)).scalars().first()
        entry.why = "rewritten"
    with pytest.raises(AuditIsAppendOnly), system.store.session() as session:
        session.execute(update(AlertComment).values(body="rewritten"))
    with pytest.raises(AuditIsAppendOnly), system.store.session() as session:
        session.delete(session.execute(select(AlertComment)).scalars().first())
    # And there is no route that would: only POSTs that append.
    methods = {(r["method"], r["path"]) for r in _review_routes(api)}
    assert methods == {("POST", f"/v1/alerts/{{alert_id}}/{what}")
                       for what in ("status", "severity", "assignment", "comments")}


def _review_routes(api: TestClient) -> list[dict]:
    spec = api.get("/openapi.json").json()
    return [{"method": method.upper(), "path": path} for path, ops in spec["paths"].items()
            for method, op in ops.items() if "review" in op.get("tags", []) and method != "get"]


def test_a_review_change_meets_a_concurrent_alert_update_without_losing_either(
        api: TestClient, accounts: Accounts, system: EmbeddedSystem) -> None:
    """The alert builder folds evidence into the alert between a reviewer's read and write:
    the review is redone on top, and both changes stand."""
    from services.api.alerts import review
    from services.store import retry_on_conflict

    alert_id = seed_alert(system)
    real = retry_on_conflict
    interleaved = False

    def builder_meanwhile(store, fn, **kw):
        def once(session):
            nonlocal interleaved
            session.get(AlertRow, alert_id)  # the reviewer's read
            if not interleaved:
                interleaved = True
                with store.session() as other:  # the alert builder commits new evidence
                    row = other.get(AlertRow, alert_id)
                    row.areas = [*row.areas, HARTLEPOOL]
                    row.updated_at = dt.datetime.now(dt.UTC)
            return fn(session)
        return real(store, once, **kw)

    review.retry_on_conflict = builder_meanwhile  # type: ignore[assignment]
    try:
        assert _post(api, accounts, alert_id, "status", {"to": "under_review"})[0] == 200
    finally:
        review.retry_on_conflict = real  # type: ignore[assignment]
    assert interleaved
    detail = api.get(f"/v1/alerts/{alert_id}", headers=accounts.headers("clinical")).json()
    assert detail["status"] == "under_review"
    assert {a["code"] for a in detail["areas"]} == {BIRMINGHAM, HARTLEPOOL}


CLINICAL_WORDS = ("ridr/clin/r-1", "reduced_consciousness", "naloxone", "age_band", "profile",
                  "lab-a:lab-a-1")


def test_intelligence_sees_confirmed_and_published_alerts_without_clinical_detail(
        api: TestClient, accounts: Accounts, system: EmbeddedSystem) -> None:
    new = seed_alert(system, status="new")
    confirmed = seed_alert(system, status="confirmed")
    published = seed_alert(system, status="published", areas=(HARTLEPOOL,))
    _post(api, accounts, confirmed, "comments", {"body": "patient 25-34 male, naloxone partial"})
    intel = accounts.headers("intelligence")
    found = api.get("/v1/alerts", headers=intel).json()
    assert {a["alert_id"] for a in found["alerts"]} == {confirmed, published}
    assert found["total"] == 2 and sum(found["facets"]["status"].values()) == 2
    assert api.get(f"/v1/alerts/{new}", headers=intel).status_code == 404
    for alert_id in (confirmed, published):
        detail = api.get(f"/v1/alerts/{alert_id}", headers=intel).json()
        text = json.dumps(detail)
        assert detail["view"] == "restricted" and detail["report_count"] == 2
        assert not any(word in text for word in CLINICAL_WORDS), text
        assert "comments" not in detail and all("actor" not in e for e in detail["audit"])
        assert detail["evidence"][0]["observed"] == 4  # the counts behind it are there
    assert not any(word in json.dumps(found) for word in CLINICAL_WORDS)


def test_public_health_sees_its_areas_in_full_and_published_elsewhere_restricted(
        api: TestClient, accounts: Accounts, system: EmbeddedSystem) -> None:
    mine_new = seed_alert(system, status="new", areas=(BIRMINGHAM,))
    far_new = seed_alert(system, status="new", areas=(HARTLEPOOL,))
    far_published = seed_alert(system, status="published", areas=(HARTLEPOOL,))
    lead = accounts.headers("public_health")
    found = api.get("/v1/alerts", headers=lead).json()
    assert {a["alert_id"] for a in found["alerts"]} == {mine_new, far_published}
    full = api.get(f"/v1/alerts/{mine_new}", headers=lead).json()
    assert full["view"] == "full" and "ridr/clin/r-1" in full["reports"]
    restricted = api.get(f"/v1/alerts/{far_published}", headers=lead).json()
    assert restricted["view"] == "restricted" and restricted["reports"] == []
    assert api.get(f"/v1/alerts/{far_new}", headers=lead).status_code == 404


def test_forensic_providers_read_published_alerts_only(api: TestClient, accounts: Accounts,
                                                       system: EmbeddedSystem) -> None:
    seed_alert(system, status="confirmed")
    published = seed_alert(system, status="published")
    found = api.get("/v1/alerts", headers=accounts.headers("forensic")).json()
    assert [a["alert_id"] for a in found["alerts"]] == [published]
    detail = api.get(f"/v1/alerts/{published}", headers=accounts.headers("forensic")).json()
    assert "lab-a:lab-a-1" not in json.dumps(detail)  # no report keys, even its own


def test_review_queue_most_severe_first_and_by_assignee(api: TestClient, accounts: Accounts,
                                                       system: EmbeddedSystem) -> None:
    medium = seed_alert(system, severity="medium")
    critical = seed_alert(system, severity="critical")
    seed_alert(system, status="confirmed", severity="critical")
    clinical = accounts.headers("clinical")
    queue = api.get("/v1/review/queue", headers=clinical).json()
    assert [a["alert_id"] for a in queue["alerts"]] == [critical, medium]
    _post(api, accounts, medium, "assignment", {"assignee": "clin"})
    mine = api.get("/v1/review/queue", params={"assignee": "me"}, headers=clinical).json()
    assert [a["alert_id"] for a in mine["alerts"]] == [medium]
    unassigned = api.get("/v1/review/queue", params={"unassigned": True}, headers=clinical).json()
    assert [a["alert_id"] for a in unassigned["alerts"]] == [critical]

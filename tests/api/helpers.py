"""Accounts of every role and alerts in the store, for the API's authorisation tests."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from typing import Any

from services.api.alerts.documents import sync_index
from services.api.users import service as users
from services.pipeline import EmbeddedSystem
from services.store import AlertRow, AuditEntry, SignalRow
from streams.records import stable_id
from tests.conftest import valid

BIRMINGHAM, COVENTRY, HARTLEPOOL = "E08000025", "E08000026", "E06000001"
PH_EMAIL = "lead@ph.example"
PASSWORD = "correct horse battery"


@dataclass
class Accounts:
    """A token per role (and a second forensic provider), made through the accounts service."""

    tokens: dict[str, str] = field(default_factory=dict)
    usernames: dict[str, str] = field(default_factory=dict)

    def headers(self, role: str | None) -> dict[str, str]:
        return {} if role is None else {"Authorization": f"Bearer {self.tokens[role]}"}


PLANS: dict[str, dict[str, Any]] = {
    "clinical": {"username": "clin"},
    "forensic": {"username": "lab-a", "labs": ["lab-a-1"]},
    "forensic_b": {"username": "lab-b", "labs": ["lab-b-1"], "role": "forensic"},
    "intelligence": {"username": "intel"},
    "public_health": {"username": "ph", "areas": [BIRMINGHAM], "email": PH_EMAIL},
    "admin": {"username": "admin"},
}


def make_accounts(system: EmbeddedSystem) -> Accounts:
    made = Accounts()
    for key, plan in PLANS.items():
        plan = dict(plan)
        role = plan.pop("role", key)
        username = plan.pop("username")
        users.create_account(system.store, username=username, role=role, created_by="test",
                             password=PASSWORD, geography=system.geography, **plan)
        made.tokens[key] = users.create_token(system.store, username, created_by="test")["token"]
        made.usernames[key] = username
    return made


def forensic_sample(report_id: str, lab: str, **extra: object) -> dict:
    """A valid forensic result of `lab`, as a provider submits it."""
    record = valid("forensic", report_id, **extra)
    record["lab_id"] = lab
    return record


_ids = itertools.count(1)


def seed_alert(system: EmbeddedSystem, alert_id: str | None = None, *, status: str = "new",
               areas: tuple[str, ...] = (BIRMINGHAM,), severity: str = "high",
               klass: str | None = "nitazene",
               report_keys: tuple[str, ...] = ("ridr/clin/r-1", "forensic/lab-a:lab-a-1/f-1")) -> str:
    """An alert with one signal of clinical evidence (report keys, a clinical picture)."""
    alert_id = alert_id or f"alert-test-{next(_ids)}"
    now = dt.datetime.now(dt.UTC)
    day = now.date()
    with system.store.session() as session:
        session.add(AlertRow(
            alert_id=alert_id, fusion_key=f"class:{klass}", title=f"Rise in {klass} reports",
            summary="4 adverse-reaction reports alike (reduced_consciousness 80%, naloxone partial)",
            status=status, severity=severity, confidence=0.6, substance_key=None,
            substance_name="protonitazene", substance_class=klass, novel=False, scope="area",
            terms=[f"class:{klass}"], areas=list(areas), sources=["ridr"],
            detectors=["presentation_cluster"], first_seen=day - dt.timedelta(days=7),
            last_seen=day, created_at=now, updated_at=now))
        session.add(SignalRow(
            signal_id=stable_id("sig", alert_id), detector="presentation_cluster",
            method="dbscan_cosine_poisson", substance_key=None, substance_class=klass,
            area_code=areas[0], source="ridr", period_start=day - dt.timedelta(days=7),
            period_end=day, severity=severity, disposition="raised", alert_id=alert_id,
            reason="new alert", detected_at=now, published=True,
            payload={"observed": 4, "expected": 0.5, "threshold": 2,
                     "summary": "4 adverse-reaction reports alike (reduced_consciousness 80%)",
                     "report_keys": list(report_keys),
                     "detail": {"profile": {"reduced_consciousness": 0.8, "age_band:25-34": 0.5}}}))
        session.add(AuditEntry(alert_id=alert_id, at=now, actor="system", action="raised",
                               from_value=None, to_value="new", why="seeded"))
    sync_index(system.store, system.index, system.geography)
    return alert_id

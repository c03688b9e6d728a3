"""The demo's accounts: one per role, with a password to sign in and a token each."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from services.api.auth.keys import random_token
from services.api.auth.permissions import ADMIN, CLINICAL, FORENSIC, INTELLIGENCE, PUBLIC_HEALTH
from services.api.subscriptions.service import create_subscription
from services.api.users import service
from services.geography import Geography
from services.store import Store

DEMO_EMAIL = "public-health-lead@demo.invalid"


def create_demo_accounts(store: Store, geography: Geography, *, labs: list[str],
                         public_health_areas: list[str], path: Path) -> list[dict[str, Any]]:
    """Make the five demo accounts (random passwords) and a token each; save them to `path`
    (mode 600) and return them. The public-health lead subscribes to every class from medium."""
    plans: list[tuple[str, str, dict[str, Any]]] = [
        ("demo-clinical", CLINICAL, {}),
        ("demo-forensic", FORENSIC, {"labs": labs}),
        ("demo-intelligence", INTELLIGENCE, {}),
        ("demo-public-health", PUBLIC_HEALTH, {"areas": public_health_areas, "email": DEMO_EMAIL}),
        ("demo-admin", ADMIN, {}),
    ]
    made = []
    for username, role, extra in plans:
        password = random_token(12)
        account = service.create_account(store, username=username, role=role, created_by="demo",
                                         password=password, geography=geography, **extra)
        token = service.create_token(store, username, created_by="demo", label="demo")
        made.append({"username": username, "role": role, "password": password,
                     "token": token["token"], "areas": account["areas"], "labs": account["labs"]})
    lead = next(a for a in made if a["role"] == PUBLIC_HEALTH)
    principal = service.principal_from_token(store, lead["token"])
    assert principal is not None
    create_subscription(store, principal, areas=[], classes=[], min_severity="medium")
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(made, handle, indent=2)
    return made

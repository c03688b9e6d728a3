"""The authorisation matrix: every route under /v1 x every role, and anonymous callers.

The expected status comes from the permission table (services/api/auth/permissions.py):
anonymous -> 401; a role the route's rule does not name -> 403; a role it names -> the
example's success status, narrowed where the table says so (a source the role does not submit:
403; an alert or submission the caller may not see: 404). A route missing from the table, or
from the examples below, fails the suite. The same routes are tried in open mode (no account
exists): allowed where the rule says `open`, 401 elsewhere.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.api.app import create_app, v1_routes
from services.api.auth.permissions import ROLES, ROUTES, SUBMITS
from services.api.subscriptions import service as subscriptions
from services.api.users import service as users
from services.notify import OutboxMailer
from services.notify.messages import alert_email
from services.pipeline import EmbeddedSystem
from services.settings import Settings
from services.store import AlertRow
from tests.api.helpers import BIRMINGHAM, HARTLEPOOL, PH_EMAIL, Accounts, make_accounts, seed_alert
from tests.conftest import valid

CALLERS: list[str | None] = [*ROLES, None]  # None: anonymous
_unique = itertools.count(1)


@dataclass
class World:
    system: EmbeddedSystem
    client: TestClient
    accounts: Accounts | None  # None: open mode
    alerts: dict[str, str] = field(default_factory=dict)
    submission_id: int = 0
    outbox_name: str = ""

    @property
    def open(self) -> bool:
        return self.accounts is None

    def headers(self, role: str | None) -> dict[str, str]:
        return self.accounts.headers(role) if self.accounts else {}


@dataclass
class Call:
    method: str
    url: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    ok: int = 200
    # For a role the route allows: the status expected (the route's own narrowing).
    narrowed: Callable[[str], int] | None = None

    def expected_for(self, role: str) -> int:
        return self.narrowed(role) if self.narrowed else self.ok


def _n() -> int:
    return next(_unique)


def _report(source: str, lab: str = "lab-a-1") -> dict[str, Any]:
    record = valid(source, f"{source}-{_n()}")
    if source == "forensic":
        record["lab_id"] = lab
    return record


def _submits(source: str, ok: int) -> Callable[[str], int]:
    return lambda role: ok if role == "open" or source in SUBMITS.get(role, ()) else 403  # type: ignore[call-overload]


def _sees(visible: set[str]) -> Callable[[str], int]:
    return lambda role: 200 if role in visible or role == "open" else 404


def _fresh_alert(w: World) -> str:
    return seed_alert(w.system)


def _throwaway_user(w: World) -> str:
    if w.open:  # making an account would end open mode
        return "nobody"
    name = f"user-{_n()}"
    users.create_account(w.system.store, username=name, role="intelligence", created_by="test")
    return name


def _throwaway_token(w: World) -> str:
    if w.open:
        return "0000"
    return users.create_token(w.system.store, "intel", created_by="test")["token_id"]


def _throwaway_subscription(w: World) -> int:
    if w.open:
        return 999
    principal = users.principal_from_token(w.system.store, w.accounts.tokens["public_health"])  # type: ignore[union-attr]
    assert principal is not None
    return subscriptions.create_subscription(w.system.store, principal, areas=[], classes=[],
                                             min_severity="high")["subscription_id"]


def _file(source: str) -> dict[str, Any]:
    body = json.dumps(_report(source)).encode()
    return {"files": {"file": (f"{source}.ndjson", body, "application/x-ndjson")}}


EXAMPLES: dict[tuple[str, str], Callable[[World], list[Call]]] = {
    ("GET", "/v1/me"): lambda w: [Call("GET", "/v1/me")],
    ("GET", "/v1/areas"): lambda w: [Call("GET", "/v1/areas")],
    ("GET", "/v1/areas/geometry"): lambda w: [Call("GET", f"/v1/areas/geometry?codes={BIRMINGHAM}")],
    ("GET", "/v1/schemas/{source}"): lambda w: [Call("GET", "/v1/schemas/ridr")],
    ("POST", "/v1/reports/{source}"): lambda w: [
        Call("POST", f"/v1/reports/{source}", {"json": _report(source)}, narrowed=_submits(source, 202))
        for source in ("ridr", "death", "forensic", "market")],
    ("POST", "/v1/reports/{source}/files"): lambda w: [
        Call("POST", f"/v1/reports/{source}/files", _file(source), narrowed=_submits(source, 202))
        for source in ("ridr", "forensic")],
    ("GET", "/v1/deadletter"): lambda w: [Call("GET", "/v1/deadletter")],
    ("POST", "/v1/deadletter/replay"): lambda w: [
        Call("POST", "/v1/deadletter/replay", {"json": {"ids": ["0-999999"]}})],
    ("GET", "/v1/submissions"): lambda w: [Call("GET", "/v1/submissions")],
    ("GET", "/v1/submissions/deadletters"): lambda w: [Call("GET", "/v1/submissions/deadletters")],
    ("GET", "/v1/submissions/{submission_id}"): lambda w: [
        Call("GET", f"/v1/submissions/{w.submission_id}", narrowed=_sees({"forensic"}))],
    ("GET", "/v1/alerts"): lambda w: [Call("GET", "/v1/alerts")],
    ("GET", "/v1/alerts/{alert_id}"): lambda w: [
        Call("GET", f"/v1/alerts/{w.alerts['new_in_area']}",
             narrowed=_sees({"clinical", "public_health"})),
        Call("GET", f"/v1/alerts/{w.alerts['confirmed_in_area']}",
             narrowed=_sees({"clinical", "public_health", "intelligence"})),
        Call("GET", f"/v1/alerts/{w.alerts['confirmed_elsewhere']}",
             narrowed=_sees({"clinical", "intelligence"})),
        Call("GET", f"/v1/alerts/{w.alerts['published_elsewhere']}",
             narrowed=_sees({"clinical", "public_health", "intelligence", "forensic"})),
    ],
    ("GET", "/v1/alerts/{alert_id}/series"): lambda w: [
        Call("GET", f"/v1/alerts/{w.alerts['new_in_area']}/series",
             narrowed=_sees({"clinical", "public_health"})),
        Call("GET", f"/v1/alerts/{w.alerts['confirmed_elsewhere']}/series",
             narrowed=_sees({"clinical"})),  # intelligence sees it, but not in full
    ],
    ("GET", "/v1/alerts/{alert_id}/structure.svg"): lambda w: [
        Call("GET", f"/v1/alerts/{w.alerts['new_in_area']}/structure.svg",
             narrowed=_sees({"clinical", "public_health"})),
        Call("GET", f"/v1/alerts/{w.alerts['published_elsewhere']}/structure.svg",
             narrowed=_sees({"clinical", "public_health", "intelligence", "forensic"})),
    ],
    ("GET", "/v1/signals"): lambda w: [Call("GET", "/v1/signals")],
    ("GET", "/v1/review/queue"): lambda w: [Call("GET", "/v1/review/queue")],
    ("POST", "/v1/alerts/{alert_id}/status"): lambda w: [
        Call("POST", f"/v1/alerts/{_fresh_alert(w)}/status", {"json": {"to": "under_review"}})],
    ("POST", "/v1/alerts/{alert_id}/severity"): lambda w: [
        Call("POST", f"/v1/alerts/{_fresh_alert(w)}/severity",
             {"json": {"severity": "critical", "why": "deaths reported"}})],
    ("POST", "/v1/alerts/{alert_id}/assignment"): lambda w: [
        Call("POST", f"/v1/alerts/{_fresh_alert(w)}/assignment", {"json": {"assignee": "clin"}})],
    ("POST", "/v1/alerts/{alert_id}/comments"): lambda w: [
        Call("POST", f"/v1/alerts/{_fresh_alert(w)}/comments", {"json": {"body": "seen it"}}, ok=201)],
    ("GET", "/v1/trends"): lambda w: [Call("GET", "/v1/trends?rows=area&cols=week")],
    ("GET", "/v1/trends.csv"): lambda w: [Call("GET", "/v1/trends.csv?rows=source")],
    ("GET", "/v1/subscriptions"): lambda w: [Call("GET", "/v1/subscriptions")],
    ("POST", "/v1/subscriptions"): lambda w: [
        Call("POST", "/v1/subscriptions", {"json": {"min_severity": "medium"}}, ok=201)],
    ("DELETE", "/v1/subscriptions/{subscription_id}"): lambda w: [
        Call("DELETE", f"/v1/subscriptions/{_throwaway_subscription(w)}", ok=204)],
    ("GET", "/v1/notifications"): lambda w: [Call("GET", "/v1/notifications")],
    ("POST", "/v1/notifications/digest"): lambda w: [
        Call("POST", "/v1/notifications/digest", {"json": {"day": "2020-01-01"}})],
    ("GET", "/v1/outbox"): lambda w: [Call("GET", "/v1/outbox")],
    ("GET", "/v1/outbox/{name}"): lambda w: [Call("GET", f"/v1/outbox/{w.outbox_name}")],
    ("GET", "/v1/users"): lambda w: [Call("GET", "/v1/users")],
    ("POST", "/v1/users"): lambda w: [
        Call("POST", "/v1/users", {"json": {"username": f"new-{_n()}", "role": "intelligence"}},
             ok=201)],
    ("PATCH", "/v1/users/{username}"): lambda w: [
        Call("PATCH", f"/v1/users/{_throwaway_user(w)}", {"json": {"email": "x@example.org"}})],
    ("GET", "/v1/users/{username}/tokens"): lambda w: [Call("GET", "/v1/users/clin/tokens")],
    ("POST", "/v1/users/{username}/tokens"): lambda w: [
        Call("POST", f"/v1/users/{_throwaway_user(w)}/tokens", {"json": {"label": "ci"}}, ok=201)],
    ("DELETE", "/v1/tokens/{token_id}"): lambda w: [
        Call("DELETE", f"/v1/tokens/{_throwaway_token(w)}", ok=204)],
}


def _build(tmp: Path, *, with_accounts: bool) -> Iterator[World]:
    system = EmbeddedSystem(Settings(data_dir=tmp / "ews"))
    accounts = make_accounts(system) if with_accounts else None
    with TestClient(create_app(system)) as client:
        world = World(system, client, accounts)
        world.alerts = {
            "new_in_area": seed_alert(system, status="new", areas=(BIRMINGHAM,)),
            "confirmed_in_area": seed_alert(system, status="confirmed", areas=(BIRMINGHAM,)),
            "confirmed_elsewhere": seed_alert(system, status="confirmed", areas=(HARTLEPOOL,)),
            "published_elsewhere": seed_alert(system, status="published", areas=(HARTLEPOOL,)),
        }
        answer = client.post("/v1/reports/forensic", json=_report("forensic"),
                             headers=world.headers("forensic") if accounts else {})
        assert answer.status_code == 202, answer.text
        with system.store.session() as session:
            from services.store import Submission

            world.submission_id = session.query(Submission.id).order_by(Submission.id.desc()).first()[0]
            alert = session.get(AlertRow, world.alerts["confirmed_in_area"])
        outbox = system.settings.outbox_path()
        OutboxMailer(outbox).send(alert_email(
            alert, "confirmed", to=PH_EMAIL, sender="ews@test", account_id=1,
            geography=system.geography, base_url="http://test", now=alert.updated_at))
        world.outbox_name = next(outbox.glob("*.eml")).name
        yield world
    system.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from _build(tmp_path_factory.mktemp("matrix"), with_accounts=True)


@pytest.fixture(scope="module")
def open_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from _build(tmp_path_factory.mktemp("open"), with_accounts=False)


def test_every_route_is_in_the_permission_table_and_has_examples(world: World) -> None:
    routes = set(v1_routes(world.client.app))  # type: ignore[arg-type]
    assert routes - set(ROUTES) == set(), "routes without a permission rule"
    assert routes - set(EXAMPLES) == set(), "routes without an example in this test"
    assert set(ROUTES) - routes == set(), "permission rules for routes that do not exist"
    assert len(routes) >= 30


@pytest.mark.parametrize("route", sorted(ROUTES), ids=lambda r: f"{r[0]} {r[1]}")
@pytest.mark.parametrize("role", CALLERS, ids=lambda r: r or "anonymous")
def test_route_x_role(world: World, route: tuple[str, str], role: str | None) -> None:
    rule = ROUTES[route]
    for call in EXAMPLES[route](world):
        if role is None:
            expected = 401
        elif role not in rule.roles:
            expected = 403
        else:
            expected = call.expected_for(role)
        answer = world.client.request(call.method, call.url, headers=world.headers(role),
                                      **call.kwargs)
        assert answer.status_code == expected, (
            f"{role or 'anonymous'} {call.method} {call.url}: {answer.status_code} {answer.text[:300]}")


@pytest.mark.parametrize("route", sorted(ROUTES), ids=lambda r: f"{r[0]} {r[1]}")
def test_route_in_open_mode(open_world: World, route: tuple[str, str]) -> None:
    rule = ROUTES[route]
    for call in EXAMPLES[route](open_world):
        expected = call.expected_for("open") if rule.open else 401
        answer = open_world.client.request(call.method, call.url, **call.kwargs)
        assert answer.status_code == expected, (
            f"open mode {call.method} {call.url}: {answer.status_code} {answer.text[:300]}")
    assert not users.any_accounts(open_world.system.store), "the examples must not end open mode"


def test_a_revoked_token_and_a_disabled_account_are_refused(world: World) -> None:
    made = users.create_token(world.system.store, "intel", created_by="test")
    headers = {"Authorization": f"Bearer {made['token']}"}
    assert world.client.get("/v1/me", headers=headers).status_code == 200
    users.revoke_token(world.system.store, made["token_id"])
    assert world.client.get("/v1/me", headers=headers).status_code == 401
    name = f"gone-{_n()}"
    users.create_account(world.system.store, username=name, role="clinical", created_by="test")
    token = users.create_token(world.system.store, name, created_by="test")["token"]
    assert world.client.get("/v1/alerts", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    users.disable_account(world.system.store, name)
    assert world.client.get("/v1/alerts", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    for bad in ("Bearer nonsense", "Bearer ews_x_y", "Basic abc", "Bearer "):
        answer = world.client.get("/v1/me", headers={"Authorization": bad})
        assert answer.status_code == 401 and answer.headers["www-authenticate"].startswith("Bearer")


def test_tokens_are_stored_hashed(world: World) -> None:
    made = users.create_token(world.system.store, "intel", created_by="test")
    secret = made["token"].split("_", 2)[2]
    with world.system.store.engine.connect() as connection:
        dump = "\n".join(str(row) for row in connection.exec_driver_sql("SELECT * FROM api_token"))
    assert made["token_id"] in dump and secret not in dump

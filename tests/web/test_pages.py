"""The dashboard's pages and the routes only it uses, without a browser: each page serves HTML
to the roles whose API it reads, the sign-in form to nobody, and 403 to the other roles; the
map, chart and structure routes answer what the pages draw."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.api.app import create_app
from services.api.pages import WEB_DIR
from services.pipeline import EmbeddedSystem
from services.settings import Settings
from services.store import SeriesCount, SignalRow
from streams.records import stable_id
from tests.api.helpers import BIRMINGHAM, COVENTRY, PASSWORD, Accounts, make_accounts, seed_alert

PAGES = {"/": {"clinical", "forensic", "intelligence", "public_health", "admin"},
         "/alerts/some-alert": {"clinical", "forensic", "intelligence", "public_health"},
         "/trends": {"clinical", "intelligence", "public_health"},
         "/submissions": {"clinical", "forensic"}}
ROLES = ("clinical", "forensic", "intelligence", "public_health", "admin")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EmbeddedSystem, TestClient, Accounts]]:
    system = EmbeddedSystem(Settings(data_dir=tmp_path_factory.mktemp("pages") / "ews"))
    accounts = make_accounts(system)
    with TestClient(create_app(system)) as client:
        yield system, client, accounts
    system.close()


@pytest.mark.parametrize("path", sorted(PAGES))
@pytest.mark.parametrize("role", ROLES)
def test_each_page_is_served_to_its_roles_only(world, path: str, role: str) -> None:
    _system, client, accounts = world
    answer = client.get(path, headers=accounts.headers(role), follow_redirects=False)
    if role in PAGES[path]:
        assert answer.status_code == 200, answer.text[:300]
        assert answer.headers["content-type"].startswith("text/html")
        assert '<script src="/web/common.js"></script>' in answer.text
    else:
        assert answer.status_code == 403
        assert "Not allowed" in answer.text and "not for your role" in answer.text


@pytest.mark.parametrize("path", sorted(PAGES))
def test_nobody_signed_in_gets_the_sign_in_form(world, path: str) -> None:
    _system, client, _accounts = world
    answer = client.get(path, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/signin?next=")


def test_an_email_link_keeps_its_alert_through_sign_in(world) -> None:
    _system, client, _accounts = world
    answer = client.get("/?alert=alert-1", follow_redirects=False)
    assert answer.headers["location"] == "/signin?next=%2F%3Falert%3Dalert-1"


def test_a_signed_in_browser_gets_the_pages_of_its_role(world) -> None:
    _system, client, _accounts = world
    browser = TestClient(client.app)
    form = browser.get("/signin")
    csrf = form.text.split('name="csrf_token" value="')[1].split('"')[0]
    browser.post("/signin", data={"username": "lab-a", "password": PASSWORD, "csrf_token": csrf},
                 follow_redirects=False)
    assert browser.get("/submissions").status_code == 200
    assert browser.get("/trends").status_code == 403
    assert browser.get("/v1/trends").status_code == 403  # the API it would call says the same
    assert browser.get("/v1/me").json()["pages"] == ["/", "/submissions"]


def test_every_page_in_open_mode(tmp_path: Path) -> None:
    system = EmbeddedSystem(Settings(data_dir=tmp_path / "ews"))
    with TestClient(create_app(system)) as client:
        for path in PAGES:
            assert client.get(path).status_code == 200
        assert client.get("/v1/me").json()["pages"] == ["/", "/trends", "/submissions"]
    system.close()


@pytest.mark.parametrize("name,status,kind", [
    ("common.js", 200, "text/javascript"), ("charts.js", 200, "text/javascript"),
    ("style.css", 200, "text/css"), ("index.html", 404, None), ("..%2Fapp.py", 404, None),
    ("missing.js", 404, None)])
def test_assets_ship_with_the_package(world, name: str, status: int, kind: str | None) -> None:
    _system, client, _accounts = world
    answer = client.get(f"/web/{name}")
    assert answer.status_code == status
    if kind:
        assert answer.headers["content-type"].startswith(kind)



def test_no_page_loads_anything_from_another_site() -> None:
    for path in WEB_DIR.iterdir():
        text = path.read_text(encoding="utf-8")
        for link in re.findall(r'(?:src|href)\s*=\s*["\']([^"\'$]+)', text):
            assert link.startswith(("/", "#")), f"{path.name}: {link}"
        assert not re.search(r"url\(\s*['\"]?https?:|import\s.*https?:", text), path.name


def test_geometry_is_the_affected_areas_and_their_neighbours(world) -> None:
    _system, client, accounts = world
    answer = client.get(f"/v1/areas/geometry?codes={BIRMINGHAM},XX0000000",
                        headers=accounts.headers("intelligence")).json()
    affected = [f["properties"]["code"] for f in answer["features"] if f["properties"]["affected"]]
    context = {f["properties"]["code"] for f in answer["features"] if not f["properties"]["affected"]}
    assert affected == [BIRMINGHAM]
    assert COVENTRY not in context and "E08000029" in context  # Solihull borders Birmingham
    assert answer["missing"] == ["XX0000000"]
    assert "Open Government Licence v3.0" in answer["attribution"]
    assert {f["geometry"]["type"] for f in answer["features"]} <= {"Polygon", "MultiPolygon"}


def test_the_series_is_the_judged_counts_with_expected_and_threshold(world) -> None:
    system, client, accounts = world
    alert_id = seed_alert(system)
    monday = dt.date.today() - dt.timedelta(days=dt.date.today().weekday() + 14)
    with system.store.session() as session:
        for weeks_ago, count in ((0, 9), (1, 2), (3, 1)):
            session.add(SeriesCount(dimension="class", value="nitazene", area_code=BIRMINGHAM,
                                    source="forensic", freq="W", count=count,
                                    period=monday - dt.timedelta(weeks=weeks_ago)))
        session.add(SignalRow(
            signal_id=stable_id("sig", alert_id, "ears"), detector="aberration", method="ears_c2",
            substance_key=None, substance_class="nitazene", area_code=BIRMINGHAM,
            source="forensic", period_start=monday, period_end=monday + dt.timedelta(days=6),
            severity="high", disposition="raised", alert_id=alert_id, reason="fused",
            detected_at=dt.datetime.now(dt.UTC), published=True,
            payload={"observed": 9, "expected": 1.2, "threshold": 4.5, "report_keys": [],
                     "detail": {"series": {"dimension": "class", "value": "nitazene",
                                           "freq": "W"}}}))
    answer = client.get(f"/v1/alerts/{alert_id}/series", headers=accounts.headers("clinical"))
    assert answer.status_code == 200, answer.text
    [series] = answer.json()["series"]
    counts = {p["period"]: p["count"] for p in series["points"]}
    assert counts[monday.isoformat()] == 9
    assert counts[(monday - dt.timedelta(weeks=2)).isoformat()] == 0  # gaps are zeros
    assert series["judged"] == [{"period": monday.isoformat(), "observed": 9, "expected": 1.2,
                                 "threshold": 4.5, "method": "ears_c2",
                                 "signal_id": stable_id("sig", alert_id, "ears")}]
    assert client.get(f"/v1/alerts/{alert_id}/series",
                      headers=accounts.headers("intelligence")).status_code == 403


def test_an_alert_without_a_count_detector_gets_its_counts_without_a_baseline(world) -> None:
    system, client, accounts = world
    answer = client.get(f"/v1/alerts/{seed_alert(system)}/series",
                        headers=accounts.headers("clinical")).json()
    assert answer["note"].startswith("no count baseline")
    assert answer["series"][0]["judged"] == []


def test_the_structure_is_drawn_by_rdkit_and_a_class_alert_has_none(world) -> None:
    system, client, accounts = world
    drawn = client.get(f"/v1/alerts/{seed_alert(system)}/structure.svg",
                       headers=accounts.headers("clinical"))
    assert drawn.status_code == 200
    assert drawn.headers["content-type"].startswith("image/svg+xml")
    assert "<svg" in drawn.text and "rdkit" in drawn.text
    with system.store.session() as session:
        from services.store import AlertRow

        class_alert = seed_alert(system)
        session.get(AlertRow, class_alert).substance_name = None
    none = client.get(f"/v1/alerts/{class_alert}/structure.svg", headers=accounts.headers("clinical"))
    assert none.status_code == 404 and "class" in none.json()["detail"]

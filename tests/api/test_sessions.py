"""People sign in at /signin: a signed HttpOnly session cookie, a CSRF token on every change."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from services.api.auth.dependencies import SESSION_COOKIE
from services.pipeline import EmbeddedSystem
from tests.api.helpers import PASSWORD, Accounts, seed_alert


@pytest.fixture
def browser(api: TestClient) -> TestClient:
    return api


def _csrf_of_form(client: TestClient, next_url: str = "/") -> str:
    page = client.get("/signin", params={"next": next_url})
    assert page.status_code == 200 and 'name="password"' in page.text
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match
    return match.group(1)


def sign_in(client: TestClient, username: str = "clin", password: str = PASSWORD,
            next_url: str = "/") -> dict:
    """Sign in through the form; the session's CSRF token (from /v1/me)."""
    form_token = _csrf_of_form(client, next_url)
    answer = client.post("/signin", data={"username": username, "password": password,
                                          "csrf_token": form_token, "next": next_url},
                         follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return client.get("/v1/me").json()


def test_sign_in_sets_a_signed_http_only_lax_cookie(browser: TestClient) -> None:
    form_token = _csrf_of_form(browser)
    answer = browser.post("/signin", data={"username": "clin", "password": PASSWORD,
                                           "csrf_token": form_token, "next": "/"},
                          follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    cookie = next(h for h in answer.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax") and "Path=/" in cookie
    me = browser.get("/v1/me").json()
    assert me["username"] == "clin" and me["role"] == "clinical" and me["via"] == "session"
    assert me["csrf_token"]
    assert browser.get("/").status_code == 200  # the dashboard page still loads


def test_wrong_password_unknown_user_and_missing_form_token(browser: TestClient) -> None:
    for username, password in (("clin", "wrong password!"), ("nobody", PASSWORD)):
        token = _csrf_of_form(browser)
        answer = browser.post("/signin", data={"username": username, "password": password,
                                               "csrf_token": token})
        assert answer.status_code == 401 and "Wrong username or password" in answer.text
        assert SESSION_COOKIE not in browser.cookies
    fresh = TestClient(browser.app)  # no sign-in cookie: a cross-site form post (login CSRF)
    answer = fresh.post("/signin", data={"username": "clin", "password": PASSWORD,
                                         "csrf_token": "forged"}, follow_redirects=False)
    assert answer.status_code == 403 and SESSION_COOKIE not in fresh.cookies


def test_a_change_with_the_cookie_needs_the_csrf_token(browser: TestClient,
                                                       system: EmbeddedSystem,
                                                       accounts: Accounts) -> None:
    me = sign_in(browser)
    alert_id = seed_alert(system)
    url = f"/v1/alerts/{alert_id}/comments"
    refused = browser.post(url, json={"body": "from a forged page"})
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    wrong = browser.post(url, json={"body": "x"}, headers={"X-CSRF-Token": "guess"})
    assert wrong.status_code == 403
    assert browser.post(url, json={"body": "mine"}, headers={"X-CSRF-Token": me["csrf_token"]}).status_code == 201
    # Reading needs no token; a bearer token needs none either (browsers never add it).
    assert browser.get(f"/v1/alerts/{alert_id}").status_code == 200
    machine = TestClient(browser.app)
    assert machine.post(url, json={"body": "by a machine"},
                        headers=accounts.headers("clinical")).status_code == 201
    comments = [c["body"] for c in browser.get(f"/v1/alerts/{alert_id}").json()["comments"]]
    assert comments == ["mine", "by a machine"]


def test_sign_out_needs_the_token_and_ends_the_session(browser: TestClient) -> None:
    me = sign_in(browser)
    cookie = browser.cookies[SESSION_COOKIE]
    assert browser.post("/signout", follow_redirects=False).status_code == 403
    answer = browser.post("/signout", data={"csrf_token": me["csrf_token"]}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/signin"
    stale = TestClient(browser.app, cookies={SESSION_COOKIE: cookie})
    assert stale.get("/v1/me").status_code == 401  # the session is gone from the store


def test_tampered_cookie_and_disabled_account_are_signed_out(browser: TestClient,
                                                             system: EmbeddedSystem) -> None:
    sign_in(browser)
    secret, _, signature = browser.cookies[SESSION_COOKIE].rpartition(".")
    forged = TestClient(browser.app, cookies={SESSION_COOKIE: f"{secret}x.{signature}"})
    assert forged.get("/v1/me").status_code == 401
    from services.api.users import service as users

    users.disable_account(system.store, "clin")
    assert browser.get("/v1/me").status_code == 401


def test_next_only_leads_within_the_site(browser: TestClient) -> None:
    for target, expected in (("//evil.example/x", "/"), ("https://evil.example", "/"),
                             ("/?alert=a-1", "/?alert=a-1")):
        browser.cookies.clear()
        token = _csrf_of_form(browser, target)
        answer = browser.post("/signin", data={"username": "intel", "password": PASSWORD,
                                               "csrf_token": token, "next": target},
                              follow_redirects=False)
        assert answer.headers["location"] == expected


def test_roles_apply_to_people_as_to_machines(browser: TestClient) -> None:
    me = sign_in(browser, "intel")
    assert browser.get("/v1/trends").status_code == 200
    assert browser.get("/v1/signals").status_code == 403
    assert browser.post("/v1/users", json={"username": "x1", "role": "admin"},
                        headers={"X-CSRF-Token": me["csrf_token"]}).status_code == 403

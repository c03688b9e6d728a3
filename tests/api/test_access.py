"""Access (issue 8, point 3): secrets stored hashed and compared in constant time, rate limits
per token and per address, and an audit row for every read of clinical detail."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, inspect, select, text

from services.api.app import create_app
from services.api.auth import keys, passwords
from services.api.auth.dependencies import SESSION_COOKIE
from services.api.users import service as users
from services.pipeline import EmbeddedSystem
from services.settings import Settings
from services.store import AuditIsAppendOnly, DetailRead
from tests.api.helpers import BIRMINGHAM, HARTLEPOOL, PASSWORD, Accounts, make_accounts, seed_alert
from tests.api.test_sessions import sign_in

# --- secrets at rest -------------------------------------------------------------------------


def _every_stored_value(system: EmbeddedSystem) -> str:
    """Every row of every table of the store, as text: what someone with the database reads."""
    out = []
    with system.store.engine.connect() as connection:
        for table in inspect(connection).get_table_names():
            for row in connection.execute(text(f'SELECT * FROM "{table}"')):
                out.append(f"{table}: {tuple(row)!r}")
    return "\n".join(out)


def _files_bytes(settings: Settings) -> bytes:
    """The raw bytes of every file of the data dir (databases, their WAL, the log, the index)."""
    return b"".join(path.read_bytes() for path in Path(settings.data_dir).rglob("*")
                    if path.is_file() and path.name != "secret_key")


def test_tokens_passwords_and_session_secrets_are_stored_only_hashed(
        system: EmbeddedSystem, settings: Settings, api: TestClient, accounts: Accounts) -> None:
    password = "a long pass phrase 42"
    users.create_account(system.store, username="auditor", role="clinical", created_by="test",
                         password=password)
    made = users.create_token(system.store, "auditor", created_by="test")
    token = made["token"]
    token_id, token_secret = keys.parse_token(token)  # type: ignore[misc]
    assert api.get("/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    me = sign_in(api, "auditor", password)
    cookie = api.cookies[SESSION_COOKIE]
    session_secret = cookie.rpartition(".")[0]
    assert me["username"] == "auditor" and session_secret

    stored = _every_stored_value(system)
    raw = _files_bytes(settings)
    for secret in (password, token, token_secret, session_secret, cookie,
                   *accounts.tokens.values(), PASSWORD):
        assert secret not in stored, "a secret is stored in clear"
        assert secret.encode() not in raw, "a secret is in a file of the data dir"
    # What is stored instead: a salted scrypt hash, a salted SHA-256, the session secret's hash.
    with system.store.engine.connect() as connection:
        password_hash = connection.execute(
            text("SELECT password_hash FROM account WHERE username = 'auditor'")).scalar_one()
        salt, secret_hash = connection.execute(
            text("SELECT salt, secret_hash FROM api_token WHERE token_id = :id"),
            {"id": token_id}).one()
        session_hashes = set(connection.execute(text("SELECT session_hash FROM web_session")).scalars())
    assert password_hash.startswith("scrypt$16384$8$1$")
    assert passwords.verify_password(password, password_hash)
    assert secret_hash == keys.sha256_hex(salt, token_secret)
    assert keys.sha256_hex(session_secret) in session_hashes


def test_secrets_are_compared_in_constant_time_whatever_the_caller_sends(
        system: EmbeddedSystem, api: TestClient, accounts: Accounts,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Non-ASCII where a secret is expected once made hmac.compare_digest raise (a 500).
    assert api.get("/v1/me", headers={"Authorization": "Bearer ews_0123456789abcdef_\u00e9"
                                      .encode("latin-1")}).status_code == 401
    assert api.get("/v1/me", headers={"Cookie": f"{SESSION_COOKIE}=\u00e9\u00e9.\u00e9"
                                      .encode("latin-1")}).status_code == 401
    sign_in(api)
    assert api.post("/v1/alerts/x/comments", json={"body": "hi"},
                    headers={"X-CSRF-Token": "\u00e9".encode("latin-1")}).status_code == 403
    api.cookies.clear()
    page = api.get("/signin")
    assert api.post("/signin", data={"username": "clin", "password": PASSWORD,
                                     "csrf_token": "\u00e9"}).status_code == 403
    assert page.status_code == 200

    # The same work whether the token's id exists or not, and whether the user exists or not:
    # the answer's timing does not tell an id or a username that exists.
    compared: list[str] = []
    real_matches = keys.token_matches

    def counting(secret: str, salt: str, secret_hash: str) -> bool:
        compared.append(salt)
        return real_matches(secret, salt, secret_hash)

    monkeypatch.setattr("services.api.users.service.token_matches", counting)
    known_id = keys.parse_token(accounts.tokens["clinical"])[0]  # type: ignore[index]
    assert users.principal_from_token(system.store, f"ews_{known_id}_wrong-secret") is None
    assert users.principal_from_token(system.store, "ews_ffffffffffffffff_wrong-secret") is None
    assert len(compared) == 2
    hashed: list[int] = []
    real_scrypt = passwords.hashlib.scrypt

    def counting_scrypt(*args, **kwargs):  # type: ignore[no-untyped-def]
        hashed.append(kwargs["n"])
        return real_scrypt(*args, **kwargs)

    monkeypatch.setattr(passwords.hashlib, "scrypt", counting_scrypt)
    assert users.sign_in(system.store, "clin", "wrong password!", hours=1) is None
    assert users.sign_in(system.store, "nobody-here", "wrong password!", hours=1) is None
    assert hashed == [2**14, 2**14]


# --- rate limits -----------------------------------------------------------------------------


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[tuple[TestClient, Accounts, EmbeddedSystem]]:
    # 120 a minute: a bucket of 120 that refills one every half second.
    settings = Settings(data_dir=tmp_path / "limited", rate_limit_per_minute=120,
                        auth_failures_per_minute=60)
    system = EmbeddedSystem(settings)
    made = make_accounts(system)
    with TestClient(create_app(system), base_url="http://testserver") as client:
        yield client, made, system
    system.close()


def test_requests_beyond_a_tokens_allowance_get_429_with_retry_after_and_it_refills(
        limited: tuple[TestClient, Accounts, EmbeddedSystem]) -> None:
    api, made, _system = limited
    clinical = made.headers("clinical")
    started, allowed = time.monotonic(), 0
    while (refused := api.get("/v1/areas", headers=clinical)).status_code == 200:
        allowed += 1
    # A minute's allowance at once, plus what refilled (2 a second) while it was spent.
    assert 120 <= allowed <= 120 + 2 * (time.monotonic() - started) + 1
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 2
    assert "too many requests" in refused.json()["detail"]
    # Per token: another token, from the same address, is not held back.
    assert api.get("/v1/areas", headers=made.headers("intelligence")).status_code == 200
    time.sleep(int(refused.headers["Retry-After"]) + 0.1)
    assert api.get("/v1/areas", headers=clinical).status_code == 200


def test_failed_authentication_is_limited_per_address_before_any_check(
        limited: tuple[TestClient, Accounts, EmbeddedSystem]) -> None:
    api, made, _system = limited
    bad = {"Authorization": "Bearer ews_0123456789abcdef_guess"}
    started, failures = time.monotonic(), 0
    while (refused := api.get("/v1/me", headers=bad)).status_code == 401:
        failures += 1
    assert 60 <= failures <= 60 + (time.monotonic() - started) + 1
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    # Once an address is refused, even a good token from it waits: a guesser learns nothing.
    assert api.get("/v1/me", headers=made.headers("clinical")).status_code == 429
    # Sign-in from that address too, with Retry-After on the form.
    form = api.get("/signin").text
    csrf = form.split('name="csrf_token" value="')[1].split('"')[0]
    page = api.post("/signin", data={"username": "clin", "password": PASSWORD, "csrf_token": csrf})
    assert page.status_code == 429 and "Retry-After" in page.headers
    time.sleep(int(refused.headers["Retry-After"]) + 0.1)
    assert api.get("/v1/me", headers=made.headers("clinical")).status_code == 200


def test_wrong_passwords_are_limited_per_address_across_usernames(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "signin", auth_failures_per_minute=5)
    system = EmbeddedSystem(settings)
    make_accounts(system)
    try:
        with TestClient(create_app(system)) as api:
            statuses = []
            for n in range(6):  # a different username each time: the per-username throttle sleeps
                form = api.get("/signin").text
                csrf = form.split('name="csrf_token" value="')[1].split('"')[0]
                statuses.append(api.post("/signin", data={
                    "username": f"user-{n}", "password": "not it at all",
                    "csrf_token": csrf}).status_code)
            assert statuses == [401] * 5 + [429]
    finally:
        system.close()


def test_the_default_limits_leave_a_dashboard_session_alone(api: TestClient) -> None:
    sign_in(api)
    assert all(api.get("/v1/alerts").status_code == 200 for _ in range(200))


# --- the audit of reads of clinical detail ---------------------------------------------------


def _reads(system: EmbeddedSystem) -> list[DetailRead]:
    with system.store.session() as session:
        return list(session.execute(select(DetailRead).order_by(DetailRead.id)).scalars())


def test_every_read_of_clinical_detail_writes_who_what_when(
        system: EmbeddedSystem, api: TestClient, accounts: Accounts) -> None:
    alert_id = seed_alert(system, status="confirmed")
    clinical, admin = accounts.headers("clinical"), accounts.headers("admin")
    # One bad row: a dead letter, whose payload is the raw record.
    assert api.post("/v1/reports/ridr/files", headers=clinical, files={
        "file": ("r.ndjson", (b"{\"report_id\": \"x\"}\n"), "application/x-ndjson")}
    ).status_code == 202
    before = time.time()
    calls = [
        (clinical, f"/v1/alerts/{alert_id}", "alert_evidence", alert_id),
        (clinical, f"/v1/alerts/{alert_id}/series", "alert_series", alert_id),
        (clinical, "/v1/signals", "signals", None),
        (admin, "/v1/deadletter", "dead_letters", None),
        (clinical, "/v1/submissions/deadletters", "dead_letters", None),
        (accounts.headers("public_health"), f"/v1/alerts/{alert_id}", "alert_evidence", alert_id),
    ]
    for headers, url, _what, _resource in calls:
        assert api.get(url, headers=headers).status_code == 200, url
    rows = _reads(system)
    assert [(r.what, r.resource) for r in rows] == [(what, resource) for *_, what, resource in calls]
    first = rows[0]
    assert first.actor == "clinical:clin" and first.via == "token" and first.token_id
    assert first.route == "/v1/alerts/{alert_id}" and first.client == "testclient"
    assert first.items == 2  # two case-level reports shown
    assert abs(first.at.timestamp() - before) < 60
    assert rows[-1].actor == "public_health:ph"
    # Signed-in people are audited as such.
    sign_in(api)
    assert api.get(f"/v1/alerts/{alert_id}").status_code == 200
    assert _reads(system)[-1].via == "session"
    # And the trail cannot be rewritten.
    with pytest.raises(AuditIsAppendOnly), system.store.session() as session:
        session.execute(delete(DetailRead))


def test_reads_without_clinical_detail_write_nothing(
        system: EmbeddedSystem, api: TestClient, accounts: Accounts) -> None:
    alert_id = seed_alert(system, status="confirmed", areas=(BIRMINGHAM,))
    elsewhere = seed_alert(system, status="published", areas=(HARTLEPOOL,))
    intel, forensic = accounts.headers("intelligence"), accounts.headers("forensic")
    for headers, url in [
        (intel, f"/v1/alerts/{alert_id}"),  # the restricted view: no case-level evidence
        (accounts.headers("public_health"), f"/v1/alerts/{elsewhere}"),  # outside their areas
        (forensic, f"/v1/alerts/{elsewhere}"),
        (intel, "/v1/alerts"), (accounts.headers("clinical"), "/v1/alerts?q=nitazene"),
        (intel, "/v1/trends?rows=area"), (intel, "/v1/me"), (intel, "/v1/areas"),
        (accounts.headers("clinical"), "/v1/review/queue"),
        (accounts.headers("clinical"), "/v1/signals?detector=none-such"),  # nothing shown
        (forensic, "/v1/submissions"),
    ]:
        answer = api.get(url, headers=headers)
        assert answer.status_code == 200, (url, answer.text)
        if "/alerts/" in url:
            assert answer.json()["view"] == "restricted"
    assert _reads(system) == []

"""Accounts and tokens: `ews users ...` as an operator types it, and the admin API."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.api.app import create_app
from services.api.users import service as users
from services.cli import main
from services.pipeline import EmbeddedSystem
from services.settings import Settings
from tests.api.helpers import Accounts, make_accounts
from tests.conftest import valid


def test_ews_users_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                            monkeypatch: pytest.MonkeyPatch) -> None:
    data = ["--data-dir", str(tmp_path / "ews")]
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert main([*data, "users", "add", "lab-1", "--role", "forensic", "--lab", "fews-north",
                 "--lab", "fews-south", "--password-stdin"]) == 0
    assert main([*data, "users", "add", "lead", "--role", "public_health", "--area", "E08000025",
                 "--email", "lead@example.org"]) == 0
    assert main([*data, "users", "add", "lead2", "--role", "public_health"]) == 1  # no area
    assert main([*data, "users", "add", "bad", "--role", "admin", "--area", "E99"]) == 1
    assert main([*data, "users", "add", "default", "--role", "admin"]) == 1  # reserved
    capsys.readouterr()
    assert main([*data, "users", "token", "lab-1", "--label", "lims"]) == 0
    out = capsys.readouterr().out.splitlines()
    token = out[-1]
    assert token.startswith("ews_")
    assert main([*data, "users", "list"]) == 0
    listing = capsys.readouterr().out
    assert "lab-1\tforensic\tenabled\t-\tfews-north,fews-south" in listing
    assert "lead\tpublic_health\tenabled\tE08000025" in listing

    system = EmbeddedSystem(Settings(data_dir=tmp_path / "ews"))
    try:
        api = TestClient(create_app(system))
        headers = {"Authorization": f"Bearer {token}"}
        sample = valid("forensic", "f-1")
        sample["lab_id"] = "fews-north"
        assert api.post("/v1/reports/forensic", json=sample, headers=headers).status_code == 202
        assert api.post("/v1/reports/forensic", json=sample).status_code == 401  # accounts exist now
        token_id = token.split("_")[1]
        assert main([*data, "users", "revoke-token", token_id]) == 0
        assert api.get("/v1/me", headers=headers).status_code == 401
        assert main([*data, "users", "revoke-token", "nope"]) == 1
        assert main([*data, "users", "disable", "lead"]) == 0
        assert users.get_account(system.store, "lead")["disabled"] is True
    finally:
        system.close()


def test_admin_manages_accounts_and_tokens_through_the_api(system: EmbeddedSystem) -> None:
    accounts: Accounts = make_accounts(system)
    api = TestClient(create_app(system))
    admin = accounts.headers("admin")
    made = api.post("/v1/users", headers=admin, json={
        "username": "new-lab", "role": "forensic", "labs": ["lab-x"], "password": "0123456789ab"})
    assert made.status_code == 201 and made.json()["has_password"] is True
    assert "password" not in made.json() and "password_hash" not in made.json()
    assert api.post("/v1/users", headers=admin, json={"username": "new-lab",
                                                      "role": "forensic"}).status_code == 409
    assert api.post("/v1/users", headers=admin, json={"username": "x", "role": "wizard"}).status_code == 422
    token = api.post("/v1/users/new-lab/tokens", headers=admin, json={"label": "lims"}).json()
    assert token["token"].startswith("ews_")
    listed = api.get("/v1/users/new-lab/tokens", headers=admin).json()
    assert [t["token_id"] for t in listed] == [token["token_id"]] and "token" not in listed[0]
    lab = {"Authorization": f"Bearer {token['token']}"}
    assert api.get("/v1/me", headers=lab).json()["labs"] == ["lab-x"]
    assert api.patch("/v1/users/new-lab", headers=admin, json={"labs": ["lab-y"]}).json()["labs"] == ["lab-y"]
    assert api.get("/v1/me", headers=lab).json()["labs"] == ["lab-y"]
    assert api.delete(f"/v1/tokens/{token['token_id']}", headers=admin).status_code == 204
    assert api.get("/v1/me", headers=lab).status_code == 401
    assert api.delete("/v1/tokens/nope", headers=admin).status_code == 404
    assert api.patch("/v1/users/nobody", headers=admin, json={"email": "a@b.c"}).status_code == 404

"""No secret in the logs, and structured (JSON lines) logs: `ews api` run for real, on a real
PostgreSQL whose URL carries a password, signed in to, used with a token, and refused."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from services.api.users import service as users
from services.ops.logs import JsonLines, RedactSecrets, redact
from services.store import Store
from tests.store.conftest import fresh_postgres_url, postgres_admin  # noqa: F401 - fixtures

ROOT = Path(__file__).resolve().parents[2]
PG_PASSWORD = "Pg-S3cret-pw.in-the-url"
PASSWORD = "a very secret pass phrase"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_sign_in_token_use_and_failures_leave_no_secret_in_json_logs(
        tmp_path: Path, fresh_postgres_url: str) -> None:  # noqa: F811
    # The embedded server trusts local connections: the password is carried, never checked,
    # which is all this test needs (that it is never written out).
    url = make_url(fresh_postgres_url).set(password=PG_PASSWORD).render_as_string(
        hide_password=False)
    port = _free_port()
    env = {**os.environ, "EWS_DATA_DIR": str(tmp_path / "ews"), "EWS_DATABASE_URL": url,
           "EWS_LOG_FORMAT": "json", "EWS_PORT": str(port), "EWS_HOST": "127.0.0.1"}
    store = Store(url)
    try:
        users.create_account(store, username="clin", role="clinical", created_by="test",
                             password=PASSWORD)
        token = users.create_token(store, "clin", created_by="test")["token"]
    finally:
        store.close()

    log_path = tmp_path / "api.log"
    with log_path.open("w") as log_file:
        server = subprocess.Popen([sys.executable, "-m", "services.cli", "api"], cwd=ROOT,
                                  env=env, stdout=log_file, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline and server.poll() is None, log_path.read_text()
                time.sleep(0.2)
            bearer = {"Authorization": f"Bearer {token}"}
            assert httpx.get(f"{base}/v1/me", headers=bearer).status_code == 200
            assert httpx.get(f"{base}/v1/me", headers={
                "Authorization": token[:-3] + "xyz"}).status_code == 401
            assert httpx.get(f"{base}/v1/me", headers={
                "Authorization": f"Bearer {token[:-3]}xyz"}).status_code == 401
            # A client that wrongly puts its token in the query string: the access log has it.
            assert httpx.get(f"{base}/v1/areas", params={"token": token}).status_code == 401
            with httpx.Client(base_url=base) as browser:
                form = browser.get("/signin").text
                csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
                assert browser.post("/signin", data={"username": "clin", "password": "wrong one!!",
                                                     "csrf_token": csrf}).status_code == 401
                form = browser.get("/signin").text
                csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
                signed = browser.post("/signin", data={"username": "clin", "password": PASSWORD,
                                                       "csrf_token": csrf})
                assert signed.status_code == 303 and browser.get("/v1/me").status_code == 200
                cookie = browser.cookies["ews_session"]
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=30)

    text = log_path.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    for line in lines:
        assert {"timestamp", "level", "logger", "message"} <= set(line), line
    startup = next(line for line in lines if line["message"] == "ews api starting")
    assert startup["context"]["store"].startswith("postgresql")
    assert ":***@" in startup["context"]["store"]
    access = [line["message"] for line in lines if line["logger"] == "uvicorn.access"]
    assert any("/v1/me" in message and "401" in message for message in access)
    assert any("token=***" in message for message in access)
    secrets = [PG_PASSWORD, PASSWORD, token, token.split("_", 2)[2], cookie,
               cookie.rpartition(".")[0], "wrong one!!"]
    for secret in secrets:
        assert secret not in text, f"a secret reached the log: {secret[:6]}..."


def test_the_filter_masks_secrets_in_messages_arguments_exceptions_and_context() -> None:
    record = logging.makeLogRecord({
        "name": "x", "levelno": logging.ERROR, "levelname": "ERROR",
        "msg": "connect %s with %s", "args": ("postgresql://ews:hunter2@db/ews",
                                              "Bearer ews_0123456789abcdef_SECRETsecret"),
        "cookie": "ews_session=abc.def; other=1"})
    try:
        raise RuntimeError("password=hunter2 refused")
    except RuntimeError:
        record.exc_info = sys.exc_info()
    assert RedactSecrets().filter(record)
    entry = json.loads(JsonLines().format(record))
    dumped = json.dumps(entry)
    assert "hunter2" not in dumped and "SECRETsecret" not in dumped and "abc.def" not in dumped
    assert entry["message"] == "connect postgresql://ews:***@db/ews with Bearer ***"
    assert entry["context"] == {"cookie": "ews_session=***; other=1"}
    assert "RuntimeError: password=***" in entry["exception"]
    assert redact("nothing secret here") == "nothing secret here"

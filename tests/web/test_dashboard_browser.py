"""The dashboard in a real browser: headless Chromium against a running `ews up --demo`.

Steps: start a real SMTP server (aiosmtpd) and `ews up --demo` pointed at it; wait for the
planted protonitazene alert; in Chromium sign in as the demo's clinical user, search, open the
alert, check that its map, chart, evidence table and structure are drawn, move it to
under_review and then to confirmed with a reason through the review form; then exactly one
email about that alert reaches the SMTP server (to the demo's public-health lead, who is
subscribed to every class from medium in Birmingham and its neighbours). Screenshots of the
main pages (list, alert, trends as the intelligence user, submissions as the forensic user)
are saved under artifacts/screenshots/ (or $EWS_SCREENSHOTS).

Chromium is Debian's `chromium` package (/usr/bin/chromium, or $EWS_CHROMIUM); the suite skips,
saying why, when it or the `playwright` package is missing. Nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("EWS_SCREENSHOTS", ROOT / "artifacts" / "screenshots"))
CHROMIUM = os.environ.get("EWS_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
SUBSTANCE = "protonitazene"  # the demo's planted threat in Birmingham and its neighbours
LEAD_EMAIL = "public-health-lead@demo.invalid"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, token: str) -> Any:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


class Inbox:
    """Every message the test SMTP server accepted."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        with self._lock:
            self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"

    def about(self, alert_id: str) -> list[tuple[list[str], Message]]:
        with self._lock:
            return [(to, m) for to, m in self.messages if alert_id in _text(m)]


def _text(message: Message) -> str:
    parts = message.walk() if message.is_multipart() else [message]
    out = [str(message.get("Subject", ""))]
    for part in parts:
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            out.append(payload.decode(part.get_content_charset() or "utf-8", "replace"))
    return "\n".join(out)


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Inbox, int]]:
    controller_module = pytest.importorskip("aiosmtpd.controller")
    inbox = Inbox()
    port = _free_port()
    controller = controller_module.Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, smtp: tuple[Inbox, int]) -> Iterator[dict[str, Any]]:
    """`ews up --demo` on a free port, mailing through the test SMTP server; its accounts."""
    _inbox, smtp_port = smtp
    tmp = tmp_path_factory.mktemp("dashboard")
    port = _free_port()
    env = {**os.environ, "EWS_DATA_DIR": str(tmp / "ews"), "EWS_SMTP_HOST": "127.0.0.1",
           "EWS_SMTP_PORT": str(smtp_port), "EWS_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    output = tmp / "ews-up.out"
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "up", "--demo", "--port", str(port),
         "--replay-seconds", "20"],
        env=env, stdout=output.open("w"), stderr=subprocess.STDOUT, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    accounts_file = tmp / "ews" / "demo" / "demo-accounts.json"
    try:
        deadline = time.monotonic() + 120
        accounts: dict[str, dict[str, Any]] = {}
        alert: dict[str, Any] | None = None
        while time.monotonic() < deadline and alert is None:
            assert process.poll() is None, output.read_text()
            time.sleep(1)
            try:
                accounts = accounts or {a["role"]: a for a in json.loads(accounts_file.read_text())}
                page = _get(f"{base}/v1/alerts?q={SUBSTANCE}&limit=20", accounts["clinical"]["token"])
            except (OSError, ValueError, KeyError):
                continue
            alert = next((a for a in page["alerts"] if a["substance_name"] == SUBSTANCE
                          and a["status"] == "new"), None)
        assert alert is not None, f"no {SUBSTANCE} alert within 120 s:\n{output.read_text()[-3000:]}"
        yield {"base": base, "accounts": accounts, "alert": alert, "output": output}
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's `chromium` package "
                    "(or set EWS_CHROMIUM) to run the browser tests")
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="the `playwright` package is needed for browser tests")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                              headless=True)
        yield chromium
        chromium.close()


def _sign_in(browser: Any, base: str, account: dict[str, Any]) -> Any:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{base}/")
    page.wait_for_url("**/signin**")
    page.fill("#username", account["username"])
    page.fill("#password", account["password"])
    page.click("button[type=submit]")
    page.wait_for_selector("#who")
    return page


def _shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_clinical_user_confirms_an_alert_and_the_lead_gets_one_email(
        demo: dict[str, Any], browser: Any, smtp: tuple[Inbox, int]) -> None:
    inbox, _port = smtp
    base, alert_id = demo["base"], demo["alert"]["alert_id"]
    page = _sign_in(browser, base, demo["accounts"]["clinical"])
    assert "demo-clinical" in page.inner_text("#who")

    # Search, and open the alert from the list.
    page.fill("#q", SUBSTANCE)
    row = page.locator(f'.alert-row[data-id="{alert_id}"]')
    row.wait_for()
    assert page.locator(".facet").count() >= 3
    _shot(page, "1-alert-list")
    row.click()
    page.wait_for_url(f"**/alerts/{alert_id}")
    page.wait_for_selector("body[data-ready='1']")

    # What the alert page draws: map, chart, evidence, structure.
    assert SUBSTANCE in page.inner_text("#alert-title")
    assert page.locator("svg#map path.affected").count() >= 1
    assert page.locator("svg#map path.context").count() >= 1
    assert "Open Government Licence" in page.inner_text("#attribution")
    assert page.locator("svg.chart rect.bar").count() >= 10
    assert page.locator("svg.chart .threshold").count() >= 1
    assert page.locator("svg.chart .expected").count() >= 1
    assert page.locator("#evidence-table tbody tr").count() >= 1
    structure = page.locator("#structure-img")
    structure.wait_for()
    assert page.evaluate("document.getElementById('structure-img').naturalWidth") > 0
    _shot(page, "2-alert-page")

    # Review through the form: start the review, then confirm with a reason.
    page.select_option("#to", "under_review")
    page.click("#status-submit")
    page.wait_for_function("document.getElementById('alert-status').textContent === 'under_review'")
    assert inbox.about(alert_id) == []  # starting a review tells nobody
    page.select_option("#to", "confirmed")
    page.fill("#why", "forensic confirmation in three samples; clinical picture fits")
    page.click("#status-submit")
    page.wait_for_function("document.getElementById('alert-status').textContent === 'confirmed'")
    assert "forensic confirmation" in page.inner_text("#audit-table")
    _shot(page, "3-alert-confirmed")

    # Exactly one email, to the subscribed public-health lead.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not inbox.about(alert_id):
        time.sleep(0.5)
    time.sleep(3)  # a second (duplicate) email would arrive within this
    emails = inbox.about(alert_id)
    assert len(emails) == 1, [m.get("Subject") for _to, m in emails]
    recipients, message = emails[0]
    assert recipients == [LEAD_EMAIL]
    assert "confirmed" in _text(message).lower()
    page.context.close()


def test_intelligence_user_sees_trends_and_forensic_user_their_submissions(
        demo: dict[str, Any], browser: Any) -> None:
    base = demo["base"]
    intelligence = _sign_in(browser, base, demo["accounts"]["intelligence"])
    intelligence.goto(f"{base}/trends")
    intelligence.wait_for_selector("body[data-ready='1']")
    assert intelligence.locator("#trends-table tbody tr").count() >= 2
    assert intelligence.locator("svg#weekly rect.bar").count() >= 10
    assert "Submissions" not in intelligence.inner_text("header nav")
    _shot(intelligence, "4-trends-intelligence")
    answer = intelligence.goto(f"{base}/submissions")
    assert answer is not None and answer.status == 403
    assert "not for your role" in intelligence.inner_text("#refused")
    intelligence.context.close()

    forensic = _sign_in(browser, base, demo["accounts"]["forensic"])
    forensic.goto(f"{base}/submissions")
    forensic.wait_for_selector("body[data-ready='1']")
    assert forensic.locator("#submissions-table tbody tr").count() >= 10
    assert "Trends" not in forensic.inner_text("header nav")
    _shot(forensic, "5-submissions-forensic")
    answer = forensic.goto(f"{base}/trends")
    assert answer is not None and answer.status == 403
    forensic.context.close()

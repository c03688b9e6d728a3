"""`ews up --demo` end to end: one command, alerts for the planted threats, Ctrl-C stops it.

Also the demo's scorecard: every planted threat alerted, and how many false alerts the
background produces (printed; bounded so that a detector gone noisy fails the suite).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from services.demo import at_background_festival, score
from services.geography import load_geography
from services.settings import Settings
from services.store import Store

pytestmark = pytest.mark.slow
# Alerts matching no planted threat, outside the background's own festival weekends.
MAX_OTHER_FALSE_ALERTS = 10


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, token: str | None = None) -> dict:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def _clinical_token(demo_dir: Path) -> str | None:
    """The demo's clinical account's token (the demo makes one account per role)."""
    try:
        accounts = json.loads((demo_dir / "demo-accounts.json").read_text())
    except (OSError, ValueError):
        return None
    return next(a["token"] for a in accounts if a["role"] == "clinical")


def test_ews_up_demo_raises_an_alert_for_every_planted_threat(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "EWS_DATA_DIR": str(tmp_path / "ews")}
    output_path = tmp_path / "ews-up.out"
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "up", "--demo", "--port", str(port), "--replay-seconds", "20"],
        env=env, stdout=output_path.open("w"), stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    first_alert = None
    token = None
    try:
        deadline = started + 180
        while time.monotonic() < deadline:
            assert process.poll() is None, output_path.read_text()
            token = token or _clinical_token(tmp_path / "ews" / "demo")
            try:
                page = _get(f"{base}/v1/alerts?limit=1", token)
            except OSError:
                time.sleep(0.5)
                continue
            if page["total"] and first_alert is None:
                first_alert = time.monotonic() - started
            if "reports submitted" in output_path.read_text():
                break
            time.sleep(1)
        assert first_alert is not None and first_alert < 60, f"first alert after {first_alert} s"
        # Let the pipeline finish what the replay submitted: the last planted threat is alerted.
        while time.monotonic() < deadline and not _get(f"{base}/v1/alerts?q=xylazine", token)["total"]:
            time.sleep(1)
        time.sleep(3)
        with pytest.raises(urllib.error.HTTPError, match="401"):
            _get(f"{base}/v1/alerts?q=nitazene")  # the demo has accounts: nobody gets in without
        nitazene = _get(f"{base}/v1/alerts?q=nitazene", token)
        assert nitazene["total"] >= 1
        detail = _get(f"{base}/v1/alerts/{nitazene['alerts'][0]['alert_id']}", token)
        assert detail["evidence"] and detail["reports"]
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    output = output_path.read_text()
    assert process.returncode == 0, output
    assert "stopped" in output and "first alert after" in output
    assert "demo-clinical" in output and "/signin" in output

    demo_dir = tmp_path / "ews" / "demo"
    store = Store(Settings(data_dir=demo_dir).store_url())
    truth = demo_dir / "simulated" / "ground_truth.json"
    results, false_alerts = score(store, truth, load_geography())
    other = [a for a in false_alerts if not at_background_festival(a, truth, load_geography())]
    print(f"\nfirst alert after {first_alert:.1f} s; planted threats alerted "
          f"{sum(r.detected for r in results)} of {len(results)}; alerts matching no planted threat "
          f"{len(false_alerts)}, {len(other)} of them outside background festival weekends")
    for result in results:
        print(f"  {result.threat_id}: detected={result.detected} delay_days={result.delay_days}")
    for alert in false_alerts:
        print(f"  false: {alert.severity} {alert.title} {alert.first_seen} {alert.detectors}")
    assert [r.threat_id for r in results if not r.detected] == []
    assert len(other) <= MAX_OTHER_FALSE_ALERTS

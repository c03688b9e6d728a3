"""bench/load.py runs (a few seconds, embedded only), so that the load test cannot rot."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_load_script_runs_and_loses_nothing() -> None:
    if importlib.util.find_spec("locust") is None:  # not imported here: it patches threading
        pytest.skip("the load test needs locust")
    ran = subprocess.run([sys.executable, str(ROOT / "bench" / "load.py"), "--seconds", "3",
                          "--users", "4", "--only", "embedded"],
                         capture_output=True, text=True, timeout=240, cwd=ROOT, check=False)
    assert ran.returncode == 0, ran.stdout + ran.stderr[-3000:]
    figures = dict(item.split("=", 1) for item in ran.stdout.split() if "=" in item)
    assert int(figures["reports_accepted"]) > 0 and figures["lost"] == "0", ran.stdout
    assert figures["ingest_failures"] == "0", ran.stdout
    assert int(figures["searches"]) > 0 and figures["search_failures"] == "0", ran.stdout

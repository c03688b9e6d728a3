"""A full disk or a read-only log refuses reports with a clear error; nothing accepted is lost.

Every report the API answered 202 is in the log exactly once; every report it refused (503,
naming the cause) is not, and is accepted (not a "duplicate") when sent again once the disk has
room or the log is writable again.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.api.app import create_app
from services.pipeline import EmbeddedSystem
from services.settings import Settings
from streams import topics
from streams.sqlite_log import SqliteLog
from streams.transport import TransportError
from tests.conftest import valid
from tests.faults.conftest import fill_disk, read_only

BATCH = 20


def _batch(number: int) -> list[dict]:
    return [valid("ridr", f"r-{number}-{k}") for k in range(BATCH)]


def _logged(system: EmbeddedSystem) -> Counter[str]:
    return Counter(message.value["report_id"] for message in system.transport.read_all(topics.raw("ridr")))


def _refused_while(system: EmbeddedSystem, fault: Callable[[], contextlib.AbstractContextManager],
                   cause: str) -> None:
    """Batch 0 before the fault, 1 and 2 during it (refused), 1 and 2 again after it."""
    with TestClient(create_app(system)) as client:
        assert client.post("/v1/reports/ridr", json=_batch(0)).status_code == 202
        with fault():
            for number in (1, 2):
                answer = client.post("/v1/reports/ridr", json=_batch(number))
                assert answer.status_code == 503, answer.text
                assert cause in answer.json()["detail"] and "not accepted" in answer.json()["detail"]
                assert answer.headers["retry-after"]
            assert sum(_logged(system).values()) == BATCH
        for number in (1, 2):
            answer = client.post("/v1/reports/ridr", json=_batch(number))
            assert answer.status_code == 202, answer.text
            assert answer.json()["counts"] == {"accepted": BATCH}  # the refusal claimed nothing
    logged = _logged(system)
    assert len(logged) == 3 * BATCH and set(logged.values()) == {1}


def test_full_log_refuses_reports_then_accepts_them(system: EmbeddedSystem) -> None:
    """The log's own size limit (SQLite max_page_count) reached: SQLITE_FULL, as on a full disk."""
    log = system.transport
    assert isinstance(log, SqliteLog)

    @contextlib.contextmanager
    def full() -> Iterator[None]:
        for conn in list(log._connections):  # the API's connections, whichever thread made them
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            conn.execute(f"PRAGMA max_page_count={pages}")
        try:
            yield
        finally:
            for conn in list(log._connections):
                conn.execute("PRAGMA max_page_count=4294967294")

    _refused_while(system, full, "the disk is full")


def test_full_disk_refuses_reports_then_accepts_them(small_tmpfs: Path, tmp_path: Path) -> None:
    """The log on a small tmpfs that a file fills up: ENOSPC, for real."""
    system = EmbeddedSystem(Settings(data_dir=tmp_path / "ews",
                                     transport=f"sqlite:///{small_tmpfs / 'log.sqlite'}"))
    try:
        _refused_while(system, lambda: fill_disk(small_tmpfs), "the disk is full")
    finally:
        system.close()


def test_read_only_log_is_refused_with_the_reason_then_used_again(tmp_path: Path) -> None:
    log_dir = tmp_path / "log"
    settings = Settings(data_dir=tmp_path / "ews", transport=f"sqlite:///{log_dir / 'log.sqlite'}")
    system = EmbeddedSystem(settings)
    with TestClient(create_app(system)) as client:
        assert client.post("/v1/reports/ridr", json=_batch(0)).status_code == 202
    system.close()

    with read_only(log_dir):
        with pytest.raises(TransportError, match="the log is read-only"):
            EmbeddedSystem(settings)
        env = {**os.environ, "EWS_DATA_DIR": str(settings.data_dir),
               "EWS_TRANSPORT": settings.transport, "EWS_PORT": "1"}
        ran = subprocess.run([sys.executable, "-m", "services.cli", "api"], env=env,
                             capture_output=True, text=True, timeout=60, check=False)
        assert ran.returncode == 1, ran.stderr
        assert "ews: error: cannot open the log" in ran.stderr and "read-only" in ran.stderr
        assert "Traceback" not in ran.stderr

    system = EmbeddedSystem(settings)
    try:
        with TestClient(create_app(system)) as client:
            answer = client.post("/v1/reports/ridr", json=_batch(1))
            assert answer.status_code == 202, answer.text
        logged = _logged(system)
        assert len(logged) == 2 * BATCH and set(logged.values()) == {1}
    finally:
        system.close()

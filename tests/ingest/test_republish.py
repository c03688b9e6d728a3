"""`ews republish`: records a log (a broker) lost after acknowledging them reach the pipeline
again from the system of record, and appending them twice counts nothing twice."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import update

from services.cli import main
from services.ingest import accept, validate
from services.ingest.republish import republish
from services.pipeline import EmbeddedSystem, Pipeline
from services.settings import Settings
from services.store import Submission
from tests.pipeline.test_crash_recovery import _derived, _records

RECORDS = 300


def _accept_all(system: EmbeddedSystem) -> None:
    records = _records(RECORDS)
    for start in range(0, RECORDS, 50):
        chunk = records[start:start + 50]
        for source in ("ridr", "forensic", "death"):
            batch = [(i, validate(source, record)) for i, (s, record) in enumerate(chunk)
                     if s == source]
            if batch:
                accept(system.store, system.transport, source, "test", batch, via="test")


def _republish_cli(data_dir: Path, capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    assert main(["--data-dir", str(data_dir), "republish", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_records_the_log_lost_are_counted_once_after_republishing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reference = EmbeddedSystem(Settings(data_dir=tmp_path / "reference"))
    _accept_all(reference)
    Pipeline(reference).drain()
    want = _derived(reference.store)
    reference.close()

    data_dir = tmp_path / "lossy"
    started = dt.datetime.now(dt.UTC)
    system = EmbeddedSystem(Settings(data_dir=data_dir))
    _accept_all(system)
    # The log loses a third of what it acknowledged, before the pipeline read it.
    with sqlite3.connect(data_dir / "log.sqlite") as log:
        lost = log.execute("DELETE FROM log WHERE topic LIKE 'raw.%' AND offset % 3 = 0").rowcount
    assert lost >= RECORDS // 4
    Pipeline(system).drain()
    assert _derived(system.store)["reports"] == RECORDS - lost

    before = dt.datetime(2020, 1, 1, tzinfo=dt.UTC).isoformat()
    assert _republish_cli(data_dir, capsys, "--since", before, "--until",
                          started.isoformat())["appended_total"] == 0
    done = _republish_cli(data_dir, capsys, "--since", started.isoformat())
    assert done["appended_total"] == RECORDS and done["without_record"] == 0
    assert set(done["appended"]) == {"ridr", "forensic", "death"}
    Pipeline(system).drain()
    got = _derived(system.store)
    # Every report counted once, as if none had been lost. (Signals may differ: the lost
    # reports reached the detectors later, as late reports do.)
    for what in ("reports", "events", "counts"):
        assert got[what] == want[what], what

    # Again, and only deaths: appended twice, nothing changes, not even a signal.
    again = republish(system.store, system.transport, since=started, sources=["death"])
    assert list(again.appended) == ["death"] and again.appended["death"] > 0
    Pipeline(system).drain()
    assert _derived(system.store) == got

    # A submission from before the store kept records is named, not silently skipped.
    with system.store.session() as session:
        session.execute(update(Submission).where(Submission.id == 1).values(record=None))
    assert republish(system.store, system.transport, since=started).without_record == 1
    with pytest.raises(ValueError, match="time zone"):
        republish(system.store, system.transport, since=dt.datetime(2026, 1, 1))
    system.close()

"""Backup and restore of the embedded store (issue 8, point 6): a backup taken while the
pipeline writes, restored into a fresh data dir, holds what it says, searches, and resumes
from its offsets to exactly the state an undisturbed run of the same reports reaches."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from services.api.auth.principal import Principal
from services.api.index import AlertQuery
from services.api.reports.service import submit_json
from services.cli import main
from services.ops import BackupError, backup, restore
from services.pipeline import EmbeddedSystem, Pipeline
from services.pipeline.embedded import STAGES
from services.settings import Settings
from services.store import AlertRow, EventRow, SeriesCount, SignalRow, Submission
from streams import topics
from tests.conftest import valid
from tests.pipeline.test_crash_recovery import _caught_up

AREAS = ["E08000025", "E08000026", "E08000027", "E06000001"]
OPEN = Principal(username="default", role=None, via="open")


def _batches() -> list[tuple[str, list[dict]]]:
    out = []
    for n in range(24):
        area = AREAS[n % len(AREAS)]
        out.append(("ridr", [valid("ridr", f"r-{n}-{k}", area=area, days_ago=3 + (n + k) % 40,
                                   substances=[{"name": "protonitazene"}] if k % 3 == 0 else None)
                             for k in range(8)]))
        out.append(("forensic", [valid("forensic", f"f-{n}-{k}", area=area, days_ago=5 + k,
                                       components=[{"name": "protonitazene"}]) for k in range(3)]))
    return out


def _state(system: EmbeddedSystem) -> dict[str, object]:
    with system.store.session() as session:
        return {
            "submissions": session.execute(select(func.count()).select_from(Submission)).scalar_one(),
            "events": sorted(session.execute(select(EventRow.event_id)).scalars()),
            "series": sorted(tuple(row) for row in session.execute(select(
                SeriesCount.dimension, SeriesCount.value, SeriesCount.area_code, SeriesCount.source,
                SeriesCount.freq, SeriesCount.period, SeriesCount.count))),
            "signals": sorted(session.execute(select(SignalRow.signal_id)).scalars()),
            "alerts": sorted(session.execute(select(AlertRow.fusion_key)).scalars()),
        }


def _raw_in_order(system: EmbeddedSystem) -> list[tuple[str, str | None, dict]]:
    messages = [m for topic in topics.RAW_TOPICS for m in system.transport.read_all(topic)]
    return [(m.topic, m.key, m.value) for m in sorted(messages, key=lambda m: m.offset)]


def _start(system: EmbeddedSystem, apart: bool, stop: threading.Event) -> list[threading.Thread]:
    """The pipeline in one thread, or with the sweeper and the detector in threads apart (as
    when they are processes apart: the detector waits for what the sweeper recorded)."""
    parts = ([("normaliser", "sweeper", "alert-builder"), ("detector",)] if apart
             else [STAGES])
    runners = [threading.Thread(target=Pipeline(system, only=only).run, args=(stop,), daemon=True)
               for only in parts]
    for runner in runners:
        runner.start()
    return runners


def _stop(stop: threading.Event, runners: list[threading.Thread]) -> None:
    stop.set()
    for runner in runners:
        runner.join(timeout=60)


@pytest.mark.slow
@pytest.mark.parametrize("apart", [False, True], ids=["one-process", "sweeper-apart"])
def test_backup_while_the_pipeline_writes_then_restore_resume_and_match(
        tmp_path: Path, system: EmbeddedSystem, settings: Settings, cli_logging: None,
        apart: bool) -> None:
    batches = _batches()
    stop = threading.Event()
    runners = _start(system, apart, stop)
    archive = tmp_path / "backup.tar.gz"
    manifest: dict = {}
    try:
        for n, (source, records) in enumerate(batches):
            if n == len(batches) // 2:  # mid-stream, once the pipeline is busy behind the reports
                deadline = time.monotonic() + 60
                while not system.transport.committed("detector", topics.EVENTS):
                    assert time.monotonic() < deadline, "the pipeline never started"
                    time.sleep(0.05)
                submit_json(system, source, OPEN, records)
                manifest = backup(settings, archive)  # the batch just sent not normalised yet
                continue
            submit_json(system, source, OPEN, records)
    finally:
        _stop(stop, runners)
    assert archive.stat().st_mode & 0o077 == 0  # password hashes and the key inside
    accepted_then = manifest["rows"]["submission"]
    assert 0 < accepted_then < sum(len(records) for _, records in batches)
    assert manifest["log_locked_seconds"] < 2
    print(f"backup mid-stream: {accepted_then} reports, log locked "
          f"{manifest['log_locked_seconds'] * 1000:.1f} ms, messages {manifest['messages']}")

    # Restore into a fresh data dir, through the CLI as an operator would.
    fresh = Settings(data_dir=tmp_path / "restored")
    assert main(["--data-dir", str(fresh.data_dir), "restore", str(archive)]) == 0
    assert main(["--data-dir", str(fresh.data_dir), "restore", str(archive)]) == 1  # no overwrite
    restored = EmbeddedSystem(fresh)
    try:
        with restored.store.session() as session:
            alerts = session.execute(select(func.count()).select_from(AlertRow)).scalar_one()
            assert alerts == manifest["rows"]["alert"]
            assert session.execute(select(func.count()).select_from(Submission)).scalar_one() \
                == accepted_then
        for topic, count in manifest["messages"].items():
            assert restored.transport.count(topic) == count
        for key, offset in manifest["committed"].items():
            group, topic = key.split("/", 1)
            assert restored.transport.committed(group, topic) == offset
        # The index was rebuilt from the store: every alert is found, by text too.
        assert restored.index.count() == alerts
        if alerts:
            assert restored.index.search(AlertQuery(q="protonitazene")).total >= 1
        # Taken mid-flow: some of the stream processed, some still to do.
        assert manifest["rows"]["event"] > 0
        assert restored.transport.lag("normaliser", topics.RAW_TOPICS) > 0
        # The pipeline resumes from the restored offsets (the sweeper from its record)...
        if apart:
            assert "sweeps.sqlite" in manifest["files"]
            stop = threading.Event()
            runners = _start(restored, apart, stop)
            deadline = time.monotonic() + 120
            while not _caught_up(restored.transport, restored.store):
                assert time.monotonic() < deadline, "the restored pipeline did not catch up"
                time.sleep(0.1)
            _stop(stop, runners)
        else:
            Pipeline(restored).drain()
        resumed = _state(restored)
        raw = _raw_in_order(restored)
    finally:
        restored.close()
    assert resumed["submissions"] == accepted_then

    # ...to the state of an undisturbed run over exactly the reports the backup held.
    reference = EmbeddedSystem(Settings(data_dir=tmp_path / "reference"))
    try:
        for topic, key, value in raw:
            reference.transport.produce(topic, value, key=key)
        Pipeline(reference).drain()
        undisturbed = _state(reference)
    finally:
        reference.close()
    for part in ("events", "series", "signals", "alerts"):
        assert resumed[part] == undisturbed[part], f"{part} differ: loss or double count"
    assert len(resumed["events"]) >= accepted_then  # nothing accepted was lost


def test_backup_refuses_what_it_cannot_copy_and_restore_checks_the_file(
        tmp_path: Path, system: EmbeddedSystem, settings: Settings) -> None:
    remote = Settings(data_dir=settings.data_dir, database_url="postgresql://ews:pw@db/ews")
    with pytest.raises(BackupError, match="pg_dump"):
        backup(remote, tmp_path / "x.tar.gz")
    archive = tmp_path / "ok.tar.gz"
    manifest = backup(settings, archive)
    assert json.loads(json.dumps(manifest))["format"] == 1
    not_a_backup = tmp_path / "other.tar.gz"
    import tarfile

    with tarfile.open(not_a_backup, "w:gz") as handle:
        handle.add(archive, arcname="something-else")
    with pytest.raises(BackupError, match="not an ews backup"):
        restore(Settings(data_dir=tmp_path / "elsewhere"), not_a_backup)

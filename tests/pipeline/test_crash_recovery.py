"""SIGKILL the pipeline mid-stream, restart it: every report counted exactly once.

Delivery is at least once (a killed stage sees its uncommitted batch again); handlers are
idempotent, so the derived counts, signals and alerts equal those of an undisturbed run, and
the signals go out in the same order. The pipeline runs as one process, or with the sweeper
and the detector each in a process of its own (all killed together).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from services.api.index import AlertQuery, TantivyAlertIndex
from services.ingest import accept, validate
from services.pipeline import EmbeddedSystem, Pipeline
from services.pipeline.embedded import lag as pipeline_lag
from services.settings import Settings
from services.store import AlertRow, EventRow, SeriesCount, SignalRow, Store
from streams import topics
from streams.sqlite_log import SqliteLog
from tests.conftest import valid

pytestmark = pytest.mark.slow
AREAS = ["E08000025", "E08000029", "E08000028", "E08000012", "E06000023", "E08000035"]
NAMES = ["heroin", "cocaine", "MDMA", "ketamine", "diazepam", "spice", "pregabalin"]


def _records(n: int, seed: int = 11) -> list[tuple[str, dict]]:
    """Reports over 120 days, roughly in time order (some late), with deaths of a dangerous
    substance clustered in three neighbouring areas in the last weeks (windowed signals)."""
    rng = random.Random(seed)
    out: list[tuple[str, dict]] = []
    for i in range(n):
        area = rng.choice(AREAS)
        days_ago = max(1, round(120 * (1 - i / n)) + rng.randint(-2, 10))
        if rng.random() < 0.04:
            dangerous = days_ago <= 25 and rng.random() < 0.6
            out.append(("death", valid(
                "death", f"d-{i}", area=rng.choice(AREAS[:3]) if dangerous else area,
                days_ago=max(days_ago, 6),  # notified five days after: never in the future
                substances=[{"name": "protonitazene" if dangerous else "heroin"}])))
        elif rng.random() < 0.7:
            names = rng.sample(NAMES, rng.randint(1, 2))
            out.append(("ridr", valid("ridr", f"r-{i}", area=area, days_ago=days_ago,
                                      substances=[{"name": name} for name in names])))
        else:
            comps = [{"name": "heroin", "purity_percent": 30}, {"name": "caffeine"}]
            if rng.random() < 0.05:
                comps.append({"name": "xylazine"})
            out.append(("forensic", valid("forensic", f"f-{i}", area=area, days_ago=days_ago,
                                          components=comps)))
    return out


def _feed(log: SqliteLog, store: Store, records: list[tuple[str, dict]]) -> None:
    for source in ("ridr", "forensic", "death"):
        batch = [(i, validate(s, r)) for i, (s, r) in enumerate(records) if s == source]
        accept(store, log, source, "crash-test", batch, via="test")


def _start(settings: Settings, stages: tuple[str, ...]) -> subprocess.Popen:
    env = {**os.environ, "EWS_DATA_DIR": str(settings.data_dir)}
    return subprocess.Popen([sys.executable, "-m", "services.cli", "pipeline",
                             *(arg for stage in stages for arg in ("--stage", stage))],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _signal_order(log: SqliteLog) -> list[str]:
    """Signal ids in the order first sent (a crash may send one again, later)."""
    sent = (message.value["signal_id"] for message in log.read_all(topics.SIGNALS))
    return list(dict.fromkeys(sent))


def _derived(store: Store) -> dict[str, object]:
    with store.session() as session:
        return {
            "events": sorted(session.execute(select(EventRow.event_id)).scalars()),
            "reports": len(set(session.execute(select(EventRow.report_key)).scalars())),
            "counts": sorted(session.execute(select(
                SeriesCount.dimension, SeriesCount.value, SeriesCount.area_code, SeriesCount.source,
                SeriesCount.freq, SeriesCount.period, SeriesCount.count)).all()),
            "signals": sorted(session.execute(select(
                SignalRow.signal_id, SignalRow.disposition, SignalRow.alert_id)).all()),
            "alerts": sorted((a.alert_id, tuple(a.areas), tuple(a.sources), a.severity)
                             for a in session.execute(select(AlertRow)).scalars()),
        }


def _progress(log: SqliteLog) -> int:
    """Committed offsets of every stage, summed: it grows whenever any stage finishes a batch."""
    return (sum(log.committed("normaliser", topic) for topic in topics.RAW_TOPICS)
            + log.committed("sweeper", topics.EVENTS) + log.committed("detector", topics.EVENTS)
            + log.committed("alert-builder", topics.SIGNALS))


def _caught_up(log: SqliteLog, store: Store) -> bool:
    if pipeline_lag(log):
        return False
    with store.session() as session:
        pending = session.execute(select(SignalRow.signal_id).where(
            (SignalRow.published.is_(False)) | (SignalRow.disposition == "pending")).limit(1)).first()
        stale = session.execute(select(AlertRow.alert_id).where(
            AlertRow.indexed_version != AlertRow.version).limit(1)).first()
    return pending is None and stale is None


@pytest.mark.parametrize("processes", [
    [()],  # every stage in one process
    [("normaliser", "alert-builder", "notifier"), ("sweeper",), ("detector",)],
], ids=["one-process", "sweeper-apart"])
def test_sigkill_mid_stream_loses_nothing_and_counts_nothing_twice(
        tmp_path: Path, processes: list[tuple[str, ...]]) -> None:
    records = _records(3000)
    expected_reports = len(records)

    chunks = [records[i:i + 600] for i in range(0, len(records), 600)]
    reference = EmbeddedSystem(Settings(data_dir=tmp_path / "reference"))
    for chunk in chunks:  # the same append order as the disturbed run below
        _feed(reference.transport, reference.store, chunk)
    Pipeline(reference).drain()
    want = _derived(reference.store)
    want_order = _signal_order(reference.transport)
    reference.close()

    settings = Settings(data_dir=tmp_path / "crashed")
    settings.data_dir.mkdir(parents=True)
    log, store = SqliteLog(settings.transport_path()), Store(settings.store_url())
    rng = random.Random(5)
    running = [_start(settings, stages) for stages in processes]
    kills = kills_mid_work = 0
    for chunk in chunks:
        before = _progress(log)
        _feed(log, store, chunk)
        # Wait until the pipeline is visibly working on this chunk, then kill it at a random moment.
        deadline = time.monotonic() + 60
        while _progress(log) == before and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.3))
        if pipeline_lag(log):
            kills_mid_work += 1
        for process in running:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
        kills += 1
        running = [_start(settings, stages) for stages in processes]
    deadline = time.monotonic() + 180
    while not _caught_up(log, store):
        for process in running:
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        assert time.monotonic() < deadline, "pipeline did not catch up within 3 minutes"
        time.sleep(0.5)
    for process in running:
        process.send_signal(signal.SIGTERM)
    for process in running:
        process.wait(timeout=30)

    got = _derived(store)
    print(f"\n{expected_reports} reports, {kills} SIGKILLs ({kills_mid_work} with work in flight); "
          f"events {len(got['events'])} (reference {len(want['events'])}), "
          f"signals {len(got['signals'])} (reference {len(want['signals'])}), "
          f"alerts {len(got['alerts'])} (reference {len(want['alerts'])})")
    assert kills == len(chunks) and kills_mid_work >= 3, (kills, kills_mid_work)
    assert got["reports"] == want["reports"] == expected_reports
    assert got["counts"] == want["counts"]
    assert got["events"] == want["events"]
    assert got["signals"] == want["signals"]
    assert got["alerts"] == want["alerts"]
    assert _signal_order(log) == want_order
    index = TantivyAlertIndex(settings.index_path(), writable=False)
    assert index.search(AlertQuery(limit=1)).total == len(want["alerts"])

"""The windowed detectors in a child process of the detector (`EWS_SWEEP_PROCESS`, the default)
raise exactly the signals, in exactly the order, of a detector sweeping in its own process;
a child that dies is replaced without loss; a detector killed outright takes its child with it.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from services.detector.sweep_process import SweepProcess, SweepProcessError
from services.ingest import accept, validate
from services.pipeline import EmbeddedSystem, Pipeline
from services.settings import Settings
from services.simulate import iter_stream, simulate
from streams import topics

WINDOWED = {"presentation_cluster", "death_cluster", "space_time_scan", "market"}


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory) -> list:
    sim = tmp_path_factory.mktemp("sim")
    simulate(sim, seed=7, months=6, end=dt.date(2026, 10, 31), scale=0.2)
    return list(iter_stream(sim))


@pytest.fixture(scope="module")
def inline(stream: list, tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """The signals of the detector sweeping in its own process (EWS_SWEEP_PROCESS=0)."""
    return _run(tmp_path_factory.mktemp("inline"), stream, separate=False)[0]


def _run(data_dir: Path, stream: list, *, separate: bool, kill_child_on_days: set[int] = frozenset()
         ) -> tuple[list[dict], int]:
    """Accept the stream day by day, draining as it goes; the signals topic, and how many
    batches failed because the sweeps process had been killed."""
    system = EmbeddedSystem(Settings(data_dir=data_dir, sweep_process=separate))
    pipeline = Pipeline(system)
    failed = 0
    try:
        for day, (_date, items) in enumerate(itertools.groupby(stream, lambda i: i.arrival.date())):
            by_source = defaultdict(list)
            for index, (_arrival, source, record) in enumerate(items):
                by_source[source].append((index, validate(source, record)))
            for source, records in by_source.items():
                accept(system.store, system.transport, source, "test", records, via="test")
            if day in kill_child_on_days:
                os.kill(_child_pid(), signal.SIGKILL)
            while True:
                try:
                    pipeline.drain()
                    break
                except SweepProcessError as exc:
                    assert "died" in str(exc) or "gone" in str(exc), exc
                    failed += 1
        return [m.value for m in system.transport.read_all(topics.SIGNALS)], failed
    finally:
        system.close()


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _child_pid() -> int:
    """The sweeps process: a child of multiprocessing's fork server, a child of this process."""
    servers = [child for child in _children(os.getpid())
               if b"forkserver" in Path(f"/proc/{child}/cmdline").read_bytes()]
    sweeps = [pid for server in servers for pid in _children(server) if _running(pid)]
    assert len(sweeps) == 1, (servers, sweeps)
    return sweeps[0]


def test_the_same_signals_in_the_same_order_as_sweeping_in_the_detector(
        stream: list, inline: list[dict], tmp_path: Path) -> None:
    separate, _ = _run(tmp_path / "separate", stream, separate=True)
    kinds = Counter(s["detector"] for s in inline)
    assert len(set(kinds) & WINDOWED) >= 3, kinds  # the windowed detectors did find things
    assert [s["signal_id"] for s in separate] == [s["signal_id"] for s in inline]
    stamps = [s["detected_at"] for s in separate]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)


def test_a_killed_sweeps_process_is_replaced_and_nothing_is_lost_or_doubled(
        stream: list, inline: list[dict], tmp_path: Path) -> None:
    days = len({item.arrival.date() for item in stream})
    kills = {days // 5, days // 2, days - 3}
    disturbed, failed = _run(tmp_path / "killed", stream, separate=True, kill_child_on_days=kills)
    assert failed == len(kills)
    assert [s["signal_id"] for s in disturbed] == [s["signal_id"] for s in inline]


def test_a_failure_in_the_child_is_reported_with_its_cause() -> None:
    process = SweepProcess()
    try:
        process.submit(["not an event"])  # type: ignore[list-item]
        with pytest.raises(SweepProcessError, match="AttributeError"):
            process.collect()
        assert not process.alive()  # left mid-batch: the detector replaces it
    finally:
        process.close()


def test_the_child_exits_when_the_detector_is_killed(tmp_path: Path) -> None:
    script = ("from services.detector.sweep_process import SweepProcess\n"
              "import time\n"
              "if __name__ == '__main__':\n"
              "    p = SweepProcess(); p.load([], None); print(p.pid, flush=True); time.sleep(120)\n")
    (tmp_path / "detector.py").write_text(script)
    parent = subprocess.Popen([sys.executable, str(tmp_path / "detector.py")],
                              stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2])
    try:
        child = int(parent.stdout.readline())
        assert _running(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 15
        while _running(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _running(child), f"the sweeps process {child} outlived its detector"
    finally:
        parent.kill()


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"

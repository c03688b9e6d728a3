"""`ews up` runs its normaliser and detectors in two child processes: SIGKILL each child
while a seeded stream flows and it is started again, with nothing lost or counted twice; SIGKILL
`ews up` and the children stop by themselves; Ctrl-C stops all. The children's stage timings
are on the API's /metrics.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.pipeline import EmbeddedSystem
from services.settings import Settings
from services.store import Store
from streams.sqlite_log import SqliteLog
from tests.faults.clients import RetryingClient
from tests.faults.processes import free_port
from tests.faults.test_embedded_kills import _accounts, _reference, _stage_lag, _submissions
from tests.pipeline.test_crash_recovery import _caught_up, _derived

pytestmark = pytest.mark.slow
RECORDS = 360


def _children(pid: int) -> list[int]:
    """Child processes of `pid`, whichever of its threads started them."""
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(child) for child in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue
    return out


def _child(pid: int, stage: str) -> int | None:
    """The child of `pid` running `stage`."""
    for child in _children(pid):
        try:
            argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        except FileNotFoundError:
            continue
        if stage.encode() in argv:
            return child
    return None


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _wait(condition, within: float, what: str, up: subprocess.Popen, out: Path) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert up.poll() is None, f"ews up exited with {up.returncode}:\n{out.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"timed out after {within:.0f} s waiting for {what}"
        time.sleep(0.1)


def _start_up(data_dir: Path, port: int, out: Path) -> subprocess.Popen:
    up = subprocess.Popen([sys.executable, "-m", "services.cli", "up", "--port", str(port)],
                          env={**os.environ, "EWS_DATA_DIR": str(data_dir)},
                          stdout=out.open("ab"), stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL)

    def answers() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False
    _wait(lambda: answers() and len(_children(up.pid)) == 2, 180, "ews up and its children", up,
          out)
    return up


def _stage_counts(port: int, token: str) -> dict[str, float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics",
                     headers={"Authorization": f"Bearer {token}"}, timeout=10).text
    typed = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]
    assert len(typed) == len(set(typed)), "a metric family named twice (the text format forbids it)"
    return {sample.labels["stage"]: sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples if sample.name == "ews_stage_batch_seconds_count"}


def test_ews_up_child_killed_is_restarted_and_nothing_is_lost_or_counted_twice(
        tmp_path: Path) -> None:
    want = _reference(tmp_path / "reference", RECORDS)
    data_dir = tmp_path / "up"
    system = EmbeddedSystem(Settings(data_dir=data_dir))
    tokens = _accounts(system)
    system.close()
    port, out = free_port(), tmp_path / "ews-up.out"
    log = SqliteLog(data_dir / "log.sqlite")
    store = Store(Settings(data_dir=data_dir).store_url())
    up = _start_up(data_dir, port, out)
    try:
        client = RetryingClient(f"http://127.0.0.1:{port}", pace=0.4)
        client.start(_submissions(tokens, RECORDS))
        # The children's stage timings on the API's /metrics, once they have handled a batch.
        stages: dict[str, float] = {}

        def timed() -> bool:
            stages.update(_stage_counts(port, tokens["clinical"]))
            return {"normaliser", "sweeper", "detector", "alert-builder"} <= stages.keys()
        _wait(timed, 60, "every stage's timings on /metrics", up, out)
        killed = []
        for stage in ("normaliser", "detector", "sweeper"):
            # SIGKILL the child running `stage` while the stage has work.
            _wait(lambda stage=stage: _stage_lag(log, stage) > 0 or client.done.is_set(), 60,
                  f"work for the {stage}", up, out)
            child = _child(up.pid, stage)
            assert child is not None, f"no child of ews up runs the {stage}"
            os.kill(child, signal.SIGKILL)
            killed.append(child)
            _wait(lambda stage=stage: _child(up.pid, stage) not in (None, *killed), 60,
                  f"the {stage} to be started again", up, out)
            time.sleep(1.5)
        _wait(client.done.is_set, 300, "every submission to be accepted", up, out)
        assert client.error is None, client.error
        _wait(lambda: _caught_up(log, store), 300, "the pipeline to catch up", up, out)
        got = _derived(store)

        # `ews up` SIGKILLed: its children notice and stop by themselves.
        children = _children(up.pid)
        up.send_signal(signal.SIGKILL)
        up.wait(timeout=10)
        deadline = time.monotonic() + 15
        while any(map(_alive, children)) and time.monotonic() < deadline:
            time.sleep(0.1)
        orphans = [child for child in children if _alive(child)]

        # Started again, then Ctrl-C: all stop, cleanly.
        up = _start_up(data_dir, port, out)
        children = _children(up.pid)
        up.send_signal(signal.SIGINT)
        code = up.wait(timeout=60)
    finally:
        if up.poll() is None:
            up.kill()
    output = out.read_text()
    print(f"\n{RECORDS} reports; children SIGKILLed {len(killed)} times; events {len(got['events'])} "
          f"(reference {len(want['events'])}), signals {len(got['signals'])}, alerts "
          f"{len(got['alerts'])}; stage batches on the API's /metrics early on {stages}")
    assert output.count("exited with -9; starting them again") == 3, output[-3000:]
    assert got["reports"] == want["reports"] == RECORDS
    assert got["counts"] == want["counts"]
    assert got["events"] == want["events"]
    assert got["signals"] == want["signals"]
    assert got["alerts"] == want["alerts"]
    assert len(children) == 2 and not orphans, "a child of a SIGKILLed `ews up` went on running"
    assert code == 0, output[-3000:]
    assert not any(map(_alive, children)), "Ctrl-C left a child running"
    log.close()
    store.close()

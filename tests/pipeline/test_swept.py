"""The sweeper process's record (services/pipeline/swept.py), through the sweeper's handler."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from services.detector.sweeps import Sweeper
from services.pipeline import EmbeddedSystem, Pipeline, handlers
from services.pipeline.swept import SweptLog
from services.settings import Settings
from streams import topics
from streams.records import Event
from streams.transport import Message
from tests.pipeline.test_crash_recovery import _feed, _records


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Message], EmbeddedSystem]:
    system = EmbeddedSystem(Settings(data_dir=tmp_path_factory.mktemp("swept") / "ews"))
    _feed(system.transport, system.store, _records(1200))
    Pipeline(system, only=("normaliser",)).drain()
    messages = list(system.transport.read_all(topics.EVENTS))
    yield messages, system
    system.close()


def test_each_event_is_recorded_once_with_the_signals_one_process_raises(
        tmp_path: Path, stream: tuple[list[Message], EmbeddedSystem]) -> None:
    messages, system = stream
    swept = SweptLog(tmp_path / "sweeps.sqlite")
    handle = handlers.sweeper(swept, system.geography)
    batches = [messages[i:i + 300] for i in range(0, len(messages), 300)]
    for n, batch in enumerate(batches):
        handle(batch)
        if n == 1:
            handle(batches[0] + batch)  # redelivered: nothing is taken or swept again
    events = [Event.model_validate(message.value) for message in messages]
    closed, missing = swept.signals_closed_by(events, within=0)
    assert closed is not None and missing == 0

    alone = Sweeper(system.geography)
    want = {event.event_id: alone.add(event) for event in events}
    assert swept.taken(want) == set(want)
    assert sum(map(len, want.values())) > 0, "the stream closes no window: nothing compared"
    assert {event_id: [signal.model_dump(exclude={"detected_at"}) for signal in signals]
            for event_id, signals in closed.items()} == \
        {event_id: [signal.model_dump(exclude={"detected_at"}) for signal in signals]
         for event_id, signals in want.items()}

    latest, recent = swept.recent(30)
    assert latest == max(event.date for event in events)
    assert [event.event_id for event in recent] == [
        event.event_id for event in events if (latest - event.date).days <= 30]
    swept.close()


def test_the_detector_waits_until_the_sweeper_took_its_events(
        tmp_path: Path, stream: tuple[list[Message], EmbeddedSystem]) -> None:
    messages, system = stream
    swept = SweptLog(tmp_path / "sweeps.sqlite")
    batch = messages[:200]
    events = [Event.model_validate(message.value) for message in batch]
    handlers.sweeper(swept, system.geography)(batch[:100])
    assert swept.signals_closed_by(events, within=0.1) == (None, 100)  # half not swept yet
    joined: dict = {}
    waiter = threading.Thread(
        target=lambda: joined.update(swept.signals_closed_by(events, within=30)[0] or {}))
    waiter.start()
    waiter.join(timeout=0.5)
    assert waiter.is_alive() and not joined
    handlers.sweeper(swept, system.geography)(batch[100:])
    waiter.join(timeout=10)
    assert not waiter.is_alive()
    assert set(joined) == {event.event_id for event in events}
    swept.close()


def test_a_detector_process_waiting_for_a_sweeper_stops_on_sigterm(
        stream: tuple[list[Message], EmbeddedSystem]) -> None:
    _messages, system = stream
    env = {**os.environ, "EWS_DATA_DIR": str(system.settings.data_dir)}
    process = subprocess.Popen([sys.executable, "-m", "services.cli", "pipeline", "--stage",
                                "detector"], env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not system.settings.swept_path().exists():  # its stages are built: it waits
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        time.sleep(2.0)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
    # It had waited: no sweeper ran, so it took nothing.
    assert system.transport.committed("detector", topics.EVENTS) == 0


def test_a_batch_is_recorded_all_or_nothing(
        tmp_path: Path, stream: tuple[list[Message], EmbeddedSystem]) -> None:
    messages, _system = stream
    swept = SweptLog(tmp_path / "sweeps.sqlite")
    first, second = (Event.model_validate(message.value) for message in messages[:2])
    with pytest.raises(sqlite3.IntegrityError):
        swept.record([(first, []), (second, []), (first, [])])
    assert swept.taken([first.event_id, second.event_id]) == set()
    swept.record([(first, []), (second, [])])
    assert swept.taken([first.event_id, second.event_id]) == {first.event_id, second.event_id}
    swept.close()

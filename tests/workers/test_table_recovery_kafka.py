"""A detector worker's table lives on in its changelog: kill -9 the only worker, start another,
and the counts go on from where they were, redelivered events counting nothing.

Events go straight into the `events` topic here (no normaliser), and the reference is
`DetectorState` over the store running `detect` on the same events once each.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from services.settings import Settings
from services.store import Store
from services.workers.agents import NATIONAL_TABLE, STATE_TABLE, changelog
from services.workers.table_state import EVENT, parse_key, replay_changelog, series_counts
from streams import topics
from streams.factory import transport_from_url
from streams.records import Event
from streams.transport import Transport
from tests.conftest import mention_event
from tests.workers.conftest import Workers, caught_up, wait_for
from tests.workers.test_table_state import (
    AREAS,
    START,
    SUBSTANCES,
    _store_counts,
    on_store,
    stream,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
REDELIVERED = 100


def _events() -> list[Event]:
    """The unit tests' stream, each area opening on its first day (so every partition's data
    begin on the day the system's do)."""
    pins = [mention_event(f"pin-{area}", 0, START, area, "ridr", SUBSTANCES[-1]) for area in AREAS]
    return pins + stream(700, seed=9)


def _send(transport: Transport, events: list[Event]) -> None:
    transport.produce_many(topics.EVENTS,
                           [(e.area_code, e.model_dump(mode="json")) for e in events])
    transport.flush()


def test_a_restarted_detector_recovers_its_counts_from_the_changelog(
        tmp_path: Path, kafka_settings: Settings, workers: Workers) -> None:
    events = _events()
    first, second = events[:len(events) // 2], events[len(events) // 2:]
    want_signals, want_counts = on_a_store(events, tmp_path / "all.sqlite")
    _, want_counts_halfway = on_a_store(first, tmp_path / "half.sqlite")

    transport = transport_from_url(kafka_settings.transport)
    try:
        worker = workers.start("detector")
        workers.wait_joined(worker)
        _send(transport, first)
        wait_for(lambda: caught_up(transport, None, ("detector",)), within=60,
                 what="the first half to be handled", workers=workers)
        counts_then = counts_of(transport)
        assert counts_then == want_counts_halfway
        workers.kill(worker)  # its table now exists only in the changelog

        # The end of the first half again, as a normaliser that crashed before committing would
        # send it, then the second half, to a new worker that has only the changelog to go on.
        _send(transport, first[-REDELIVERED:] + second)
        restarted = workers.start("detector")
        wait_for(lambda: caught_up(transport, None, ("detector",)), within=90,
                 what="the restarted worker to catch up", workers=workers)
        counts_now = counts_of(transport)
        sent = Counter(m.value["signal_id"] for m in transport.read_all(topics.SIGNALS))
        table = replay_changelog((m.key, m.value) for m in
                                 transport.read_all(changelog("detector", STATE_TABLE)))
        national = replay_changelog((m.key, m.value) for m in
                                    transport.read_all(changelog("detector", NATIONAL_TABLE)))
    finally:
        transport.close()

    log = restarted.log()
    assert "Restoring state from changelog topics" in log
    went_on = [key for key, count in counts_now.items() if counts_then.get(key, 0) not in (0, count)]
    print(f"\n{len(events)} events, {REDELIVERED} of them sent twice; series-periods "
          f"{len(counts_now)}, of which {len(went_on)} counted on after the restart; signals "
          f"{len(sent)} (reference {len(want_signals)}), each sent {set(sent.values())} time(s); "
          f"national sightings {len(national)}")
    assert went_on  # counts that the restarted worker continued from the changelog
    assert counts_now == want_counts
    assert {parse_key(key)[1] for key in table if parse_key(key)[0] == EVENT} == {
        event.event_id for event in events}
    assert set(sent) == want_signals
    assert set(sent.values()) == {1}  # nothing sent twice: the replayed half counted nothing


def counts_of(transport: Transport) -> dict[tuple[str, ...], int]:
    return series_counts(replay_changelog(
        (m.key, m.value) for m in transport.read_all(changelog("detector", STATE_TABLE))))


def on_a_store(events: list[Event], path: Path) -> tuple[set[str], dict[tuple[str, ...], int]]:
    """Signal ids and counts of `DetectorState` over a new store, after `events`."""
    store = Store(f"sqlite:///{path}")
    try:
        return {signal.signal_id for signal in on_store(store, events)}, _store_counts(store)
    finally:
        store.close()

"""The garbage collector's thresholds for long-running processes: set, and cycles still freed."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from services.ops.collector import THRESHOLDS, tune_collector


@pytest.fixture
def restored_collector() -> Iterator[None]:
    before, enabled = gc.get_threshold(), gc.isenabled()
    yield
    gc.set_threshold(*before)
    (gc.enable if enabled else gc.disable)()


def test_tuning_sets_the_thresholds_and_returns_those_before(restored_collector: None) -> None:
    gc.set_threshold(700, 10, 10)
    assert tune_collector() == (700, 10, 10)
    assert gc.get_threshold() == THRESHOLDS


def test_unreachable_cycles_are_still_collected_as_they_pile_up(restored_collector: None) -> None:
    """A process making reference cycles all day holds at most a few collections' worth."""
    gc.enable()
    tune_collector()
    gc.collect()
    baseline = len(gc.get_objects())
    most = 0
    for n in range(1_000_000):
        cycle: list = []
        cycle.append(cycle)  # unreachable once the next replaces it: only the collector frees it
        if n % 50_000 == 49_999:
            most = max(most, len(gc.get_objects()) - baseline)
    # A young collection every THRESHOLDS[0] allocations frees them (without it: a million).
    assert most < 3 * THRESHOLDS[0]
    gc.collect()
    assert len(gc.get_objects()) - baseline < THRESHOLDS[0]

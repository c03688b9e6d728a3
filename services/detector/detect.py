"""The detectors' handler: each new event through every detector, in one transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from services.detector.aberration import exceedances, history_to_prefetch
from services.detector.adulteration import mis_sold
from services.detector.novelty import first_sightings
from services.detector.state import DetectorState
from streams.records import Event, Signal


@dataclass(frozen=True)
class DetectorConfig:
    ears_min_count: int = 3
    ears_min_sigma: float = 1.0


def detect(events: Sequence[Event], state: DetectorState, config: DetectorConfig,
           windowed: Callable[[Event], Sequence[Signal]] | None = None) -> list[Signal]:
    """Signals raised by a batch of events; a redelivered event raises nothing again.

    `windowed` gives the windowed detectors' signals for the days a new event closes (a
    `Sweeper`'s `add`, or what a sweeper process recorded), raised before the event's own.
    """
    if not events:
        return []
    stored_start = state.first_event_date()
    data_start = min(filter(None, [stored_start, *(event.date for event in events)]))
    state.history = history_to_prefetch(data_start, max(event.date for event in events))
    state.prefetch(events)
    data_start = stored_start
    signals: list[Signal] = []
    for event in events:
        if not state.add_event(event):
            continue
        if data_start is None or event.date < data_start:
            data_start = event.date
        if windowed is not None:
            signals += windowed(event)
        signals += first_sightings(event, state)
        signals += mis_sold(event)
        signals += exceedances(event, state, data_start, min_count=config.ears_min_count,
                               min_sigma=config.ears_min_sigma)
    state.flush()
    return signals

"""The detectors' handler: each new event through every detector, in one transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from services.detector.aberration import exceedances, history_to_prefetch
from services.detector.adulteration import mis_sold
from services.detector.novelty import first_sightings
from services.detector.state import DetectorState
from services.detector.sweeps import Sweeps
from streams.records import Event, Signal


@dataclass(frozen=True)
class DetectorConfig:
    ears_min_count: int = 3
    ears_min_sigma: float = 1.0


def detect(events: Sequence[Event], state: DetectorState, config: DetectorConfig,
           sweeps: Sweeps | None = None) -> list[Signal]:
    """Signals raised by a batch of events; a redelivered event raises nothing again.

    With `sweeps`, the windowed detectors also run for each day of data the batch closes: the
    new events are handed to them first, so that where they run in a process of their own they
    sweep while the per-event detectors work here. The signals come in the same order either
    way: each new event's sweeps, then its own.
    """
    if not events:
        return []
    stored_start = state.first_event_date()
    data_start = min(filter(None, [stored_start, *(event.date for event in events)]))
    state.history = history_to_prefetch(data_start, max(event.date for event in events))
    state.prefetch(events)
    if sweeps is not None:
        sweeps.submit(state.unseen(events))
    data_start = stored_start
    per_event: list[list[Signal]] = []
    for event in events:
        if not state.add_event(event):
            continue
        if data_start is None or event.date < data_start:
            data_start = event.date
        per_event.append([
            *first_sightings(event, state), *mis_sold(event),
            *exceedances(event, state, data_start, min_count=config.ears_min_count,
                         min_sigma=config.ears_min_sigma)])
    state.flush()
    if sweeps is None:
        return [signal for found in per_event for signal in found]
    swept = sweeps.collect()
    if len(swept) != len(per_event):
        raise RuntimeError(f"the sweeps answered for {len(swept)} events, {len(per_event)} were new")
    return _in_detection_order([signal for before, found in zip(swept, per_event, strict=True)
                                for signal in (*before, *found)])


def _in_detection_order(signals: list[Signal]) -> list[Signal]:
    """The signals, each stamped later than the one before it (by a microsecond if need be).

    The outbox publishes by `detected_at`, and the alert builder's decisions depend on the order
    signals reach it; sweeps made in another process are stamped by its clock, between this
    batch's other signals. Without this, their order in the signals topic would follow the two
    processes' timing, and the same stream could build different alerts.
    """
    out: list[Signal] = []
    for signal in signals:
        if out and signal.detected_at <= out[-1].detected_at:
            signal = signal.model_copy(
                update={"detected_at": out[-1].detected_at + dt.timedelta(microseconds=1)})
        out.append(signal)
    return out

"""Windowed detectors on the stream: once per day of data, look back over recent events.

Per-event detectors judge one report as it arrives; these judge a window: clusters of similar
clinical presentations, clusters of deaths and space-time clusters across neighbouring areas
(once a week of data), market purity and price (every day with market reports). A day is swept
when the stream first shows an event dated after it,
at that point of the event sequence, over the events seen before it; so a replay of the same
stream (after a crash) sweeps the same days over the same events and raises the same signals.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from services.detector.deaths import death_clusters, death_signals, deaths_from_events
from services.detector.market import market_anomalies, market_signals, observation_from_event
from services.detector.presentation import presentation_clusters, presentation_signals, reports_from_events
from services.detector.scan import Zones, scan_events, scan_signals, zones_from_geography
from services.detector.state import UNCOUNTED_CLASSES
from services.geography import Geography
from streams.records import Event, Signal

LOOKBACK_DAYS = 365  # the longest baseline of any windowed detector (deaths)
MAX_CATCH_UP_DAYS = 7  # a jump in the data's date sweeps at most the last week it skipped
# Clusters are looked for once a week of data, over windows of 14 days and more, so that a
# year replayed in the demo's half-minute stays affordable; market findings every day.
CLUSTER_EVERY_DAYS = 7
SCAN_REPLICATES = 99  # weekly scans: p >= 0.01 still means a recurrence beyond 1.9 years
SCAN_SOURCES = ("ridr",)
SCAN_MIN_RECENT = 5
SCAN_RISE = 1.5
SCAN_RECENT_DAYS = 14
SCAN_BASELINE_DAYS = 168


@dataclass
class Sweeper:
    """The recent events of the stream, in memory, and the last day swept (per process)."""

    geography: Geography
    events: dict[str, Event] = field(default_factory=dict)
    last_swept: dt.date | None = None
    _zones: Zones | None = None

    @property
    def zones(self) -> Zones:
        if self._zones is None:
            self._zones = zones_from_geography(self.geography)
        return self._zones

    def load(self, events: Iterable[Event], latest: dt.date | None) -> None:
        """Start from the stored events (after a restart): the latest day counts as swept."""
        self.events = {event.event_id: event for event in events}
        self.last_swept = latest - dt.timedelta(days=1) if latest else None

    def add(self, event: Event) -> list[Signal]:
        """Take one new event; the signals of the days it closes, swept before it counts."""
        signals: list[Signal] = []
        day = event.date
        if self.last_swept is None:
            self.last_swept = day - dt.timedelta(days=1)
        elif day - dt.timedelta(days=1) > self.last_swept:
            first = max(self.last_swept + dt.timedelta(days=1), day - dt.timedelta(days=MAX_CATCH_UP_DAYS))
            for offset in range((day - first).days):
                signals += self.sweep(first + dt.timedelta(days=offset))
            self.last_swept = day - dt.timedelta(days=1)
        self.events[event.event_id] = event
        return signals

    def sweep(self, as_of: dt.date) -> list[Signal]:
        """Every windowed detector over the events seen so far, as of the end of `as_of`."""
        oldest = as_of - dt.timedelta(days=LOOKBACK_DAYS)
        for event_id in [i for i, e in self.events.items() if e.date < oldest]:
            del self.events[event_id]
        window = [event for event in self.events.values() if event.date <= as_of]
        by_source: dict[str, list[Event]] = defaultdict(list)
        for event in window:
            by_source[event.source].append(event)
        neighbours = self.geography.neighbours
        signals: list[Signal] = []
        if as_of.toordinal() % CLUSTER_EVERY_DAYS == 0:
            signals += presentation_signals(
                presentation_clusters(reports_from_events(by_source["ridr"]), neighbours,
                                      as_of=as_of),
                by_source["ridr"])
            signals += death_signals(
                death_clusters(deaths_from_events(by_source["death"]), neighbours, as_of=as_of),
                by_source["death"])
            signals += self._scans(by_source, as_of)
        today = [event for event in by_source["market"] if event.date == as_of]
        if today:
            observations = [observation_from_event(e, price_gbp=e.price_gbp, quantity=e.quantity,
                                                   unit=e.unit) for e in by_source["market"]]
            signals += market_signals(
                market_anomalies(observations, as_of=as_of, neighbours=neighbours,
                                 areas={e.area_code for e in today}),
                by_source["market"])
        return signals

    def _scans(self, by_source: dict[str, list[Event]], as_of: dt.date) -> list[Signal]:
        """A space-time scan per class whose recent harm reports are up nationally."""
        signals: list[Signal] = []
        for source in SCAN_SOURCES:
            by_class: dict[str, list[Event]] = defaultdict(list)
            for event in by_source[source]:
                if event.substance_class and event.substance_class not in UNCOUNTED_CLASSES:
                    by_class[event.substance_class].append(event)
            for klass, events in sorted(by_class.items()):
                if not _rising(events, as_of):
                    continue
                result = scan_events(events, self.zones, as_of=as_of, replicates=SCAN_REPLICATES,
                                     scans_per_year=365.25 / CLUSTER_EVERY_DAYS)
                signals += scan_signals(result, events, subject="class", value=klass, source=source)
        return signals


def _rising(events: list[Event], as_of: dt.date) -> bool:
    """Worth a scan: at least SCAN_MIN_RECENT reports in the last 14 days, half again as many as
    a usual fortnight of the half-year before. A cluster big enough to matter lifts the
    national count; a scan of every class every week would cost the stream more than it finds."""
    recent_start = as_of - dt.timedelta(days=SCAN_RECENT_DAYS)
    baseline_start = recent_start - dt.timedelta(days=SCAN_BASELINE_DAYS)
    recent = {e.report_key for e in events if recent_start < e.date <= as_of}
    before = {e.report_key for e in events if baseline_start < e.date <= recent_start}
    usual = len(before) * SCAN_RECENT_DAYS / SCAN_BASELINE_DAYS
    return len(recent) >= max(SCAN_MIN_RECENT, SCAN_RISE * usual)

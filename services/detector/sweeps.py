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

from services.detector.deaths import (
    DeathRecord,
    death_clusters,
    death_signals,
    deaths_from_events,
)
from services.detector.market import (
    MarketObservation,
    market_anomalies,
    market_signals,
    observation_from_event,
)
from services.detector.presentation import (
    ClinicalReport,
    presentation_clusters,
    presentation_signals,
    reports_from_events,
)
from services.detector.scan import (
    DAYS_PER_YEAR,
    REPORT_RECURRENCE_DAYS,
    Zones,
    scan_events,
    scan_signals,
    zones_from_geography,
)
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
SCAN_STUDY_DAYS = SCAN_RECENT_DAYS + SCAN_BASELINE_DAYS  # what a scan and `_rising` look at
MARKET_WINDOW_DAYS = 7
MARKET_BASELINE_WEEKS = 26
SCANS_PER_YEAR = DAYS_PER_YEAR / CLUSTER_EVERY_DAYS
# The largest p-value whose recurrence interval still makes a signal: replicates stop as soon
# as no cluster of the scan can reach it (its signals are the same as with every replicate).
SCAN_SIGNAL_P = DAYS_PER_YEAR / (REPORT_RECURRENCE_DAYS * SCANS_PER_YEAR)


@dataclass
class Sweeper:
    """The recent events of the stream, in memory, and the last day swept (per process).

    Besides ``events`` (in arrival order), it keeps them by source and by day, and what the
    detectors derive from each event (a clinical report, a market observation), so that a
    sweep costs what its detectors do rather than a pass over the whole year every day.
    """

    geography: Geography
    events: dict[str, Event] = field(default_factory=dict)
    last_swept: dt.date | None = None
    _zones: Zones | None = None
    _by_source: dict[str, dict[str, Event]] = field(default_factory=lambda: defaultdict(dict))
    _by_day: dict[dt.date, list[str]] = field(default_factory=lambda: defaultdict(list))
    _clinical: dict[str, ClinicalReport] = field(default_factory=dict)  # ridr event id ->
    _observations: dict[str, MarketObservation] = field(default_factory=dict)  # market event id ->
    # death notification (report key) -> (its mentions, its record); dropped when one changes
    _deaths: dict[str, tuple[int, DeathRecord]] = field(default_factory=dict)

    @property
    def zones(self) -> Zones:
        if self._zones is None:
            self._zones = zones_from_geography(self.geography)
        return self._zones

    def load(self, events: Iterable[Event], latest: dt.date | None) -> None:
        """Start from the stored events (after a restart): the latest day counts as swept."""
        self.events = {}
        self._by_source, self._by_day = defaultdict(dict), defaultdict(list)
        self._clinical, self._observations, self._deaths = {}, {}, {}
        for event in events:
            self._keep(event)
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
        self._keep(event)
        return signals

    def _keep(self, event: Event) -> None:
        event = _compact(event)
        known = self.events.get(event.event_id)
        if known is not None:
            self._forget(known)  # a replaced event keeps its place, as in a dict
        self.events[event.event_id] = event
        self._by_source[event.source][event.event_id] = event
        self._by_day[event.date].append(event.event_id)
        if event.source == "ridr":
            self._clinical[event.event_id] = reports_from_events([event])[0]
        elif event.source == "death":
            self._deaths.pop(event.report_key, None)
        elif event.source == "market":
            self._observations[event.event_id] = observation_from_event(
                event, price_gbp=event.price_gbp, quantity=event.quantity, unit=event.unit)

    def _forget(self, event: Event) -> None:
        """Drop what was derived from an event (its place in `events` is the caller's)."""
        day = self._by_day.get(event.date)
        if day is not None and event.event_id in day:
            day.remove(event.event_id)
        self._clinical.pop(event.event_id, None)
        self._observations.pop(event.event_id, None)
        self._deaths.pop(event.report_key, None)

    def _evict(self, oldest: dt.date) -> None:
        """Forget every event dated before `oldest`."""
        for day in sorted(d for d in self._by_day if d < oldest):
            for event_id in self._by_day.pop(day):
                event = self.events.pop(event_id)
                self._by_source[event.source].pop(event_id, None)
                self._clinical.pop(event_id, None)
                self._observations.pop(event_id, None)
                self._deaths.pop(event.report_key, None)

    def _window(self, as_of: dt.date) -> dict[str, list[Event]]:
        """The events dated up to `as_of`, by source, each in arrival order."""
        later = any(day > as_of and ids for day, ids in self._by_day.items())
        by_source: dict[str, list[Event]] = defaultdict(list)
        for source, events in self._by_source.items():
            if events:
                by_source[source] = ([e for e in events.values() if e.date <= as_of] if later
                                     else list(events.values()))
        return by_source

    def sweep(self, as_of: dt.date) -> list[Signal]:
        """Every windowed detector over the events seen so far, as of the end of `as_of`."""
        self._evict(as_of - dt.timedelta(days=LOOKBACK_DAYS))
        by_source = self._window(as_of)
        neighbours = self.geography.neighbours
        signals: list[Signal] = []
        if as_of.toordinal() % CLUSTER_EVERY_DAYS == 0:
            signals += presentation_signals(
                presentation_clusters(self._clinical_reports(by_source["ridr"]), neighbours,
                                      as_of=as_of),
                by_source["ridr"])
            signals += death_signals(
                death_clusters(self._death_records(by_source["death"]), neighbours, as_of=as_of),
                by_source["death"])
            signals += self._scans(by_source, as_of)
        today = {self.events[i].area_code for i in self._by_day.get(as_of, ())
                 if self.events[i].source == "market"}
        if today:
            # Only the market detector's window and baseline matter, of the year kept here, and
            # only for the drugs reported in today's areas within the window: the detector
            # judges no other drug, so it never looks at another drug's baseline.
            first = as_of - dt.timedelta(days=MARKET_WINDOW_DAYS - 1)
            since = first - dt.timedelta(weeks=MARKET_BASELINE_WEEKS)
            observations = [o for o in map(self._observations.__getitem__,
                                           self._by_source["market"])
                            if since <= o.date <= as_of]
            judged = {o.drug for o in observations if o.date >= first and o.area_code in today}
            observations = [o for o in observations if o.drug in judged]
            signals += market_signals(
                market_anomalies(observations, as_of=as_of, neighbours=neighbours, areas=today,
                                 window_days=MARKET_WINDOW_DAYS,
                                 baseline_weeks=MARKET_BASELINE_WEEKS),
                by_source["market"])
        return signals

    def _clinical_reports(self, events: list[Event]) -> list[ClinicalReport]:
        """`reports_from_events(events)`, from the reports derived as the events came."""
        seen: dict[str, ClinicalReport] = {}
        for event in events:
            if event.report_key not in seen:
                seen[event.report_key] = self._clinical[event.event_id]
        return list(seen.values())

    def _death_records(self, events: list[Event]) -> list[DeathRecord]:
        """`deaths_from_events(events)`, each notification's record made once while it lasts."""
        grouped: dict[str, list[Event]] = {}
        for event in events:
            grouped.setdefault(event.report_key, []).append(event)
        records = []
        for key, mentions in grouped.items():
            known = self._deaths.get(key)
            if known is None or known[0] != len(mentions):
                known = self._deaths[key] = (len(mentions), deaths_from_events(mentions)[0])
            records.append(known[1])
        return records

    def _scans(self, by_source: dict[str, list[Event]], as_of: dt.date) -> list[Signal]:
        """A space-time scan per class whose recent harm reports are up nationally."""
        signals: list[Signal] = []
        since = as_of - dt.timedelta(days=SCAN_STUDY_DAYS)
        for source in SCAN_SOURCES:
            by_class: dict[str, list[Event]] = defaultdict(list)
            for event in by_source[source]:
                if (event.date > since and event.substance_class
                        and event.substance_class not in UNCOUNTED_CLASSES):
                    by_class[event.substance_class].append(event)
            for klass, events in sorted(by_class.items()):
                if not _rising(events, as_of):
                    continue
                result = scan_events(events, self.zones, as_of=as_of, study_days=SCAN_STUDY_DAYS,
                                     replicates=SCAN_REPLICATES,
                                     scans_per_year=SCANS_PER_YEAR, stop_above_p=SCAN_SIGNAL_P)
                signals += scan_signals(result, events, subject="class", value=klass, source=source)
        return signals


# pydantic gives every model instance its own set of the fields given (35 names, 2 KB): more than
# half of what a year of events costs the sweeper. Its events share one set per distinct set.
_FIELDS_SETS: dict[frozenset[str], set[str]] = {}


def _compact(event: Event) -> Event:
    """The event, sharing its set of given fields (equal to its own) with the sweeper's other
    events; events are never changed after validation, so the set is never written to."""
    given = event.__pydantic_fields_set__
    shared = _FIELDS_SETS.setdefault(frozenset(given), set(given))
    if given is not shared:
        object.__setattr__(event, "__pydantic_fields_set__", shared)
    return event


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

"""The stage handlers of the flow, bound to a transport and the store (any deployment)."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from services.api.alerts.documents import sync_index
from services.api.index import AlertIndex
from services.detector.common import now
from services.detector.detect import DetectorConfig, detect
from services.detector.fusion import build_alerts, signal_row
from services.detector.state import DetectorState, KeptCounts
from services.detector.sweeps import LOOKBACK_DAYS, MAX_CATCH_UP_DAYS, Sweeper
from services.geography import Geography
from services.ingest.accept import dead_letter
from services.normaliser import Resolver, normalise
from services.pipeline.swept import SweptLog
from services.store import EventRow, SignalRow, Store, insert_rows
from streams import topics
from streams.records import Accepted, Event, Signal
from streams.stage import BatchHandler, NotYet
from streams.transport import Message, Transport


def normaliser(transport: Transport, resolve: Resolver, geography: Geography) -> BatchHandler:
    """raw.<source> -> events; a record that cannot be normalised goes to the dead-letter topic."""

    def handle(batch: Sequence[Message]) -> None:
        out: list[tuple[str | None, dict]] = []
        for message in batch:
            try:
                accepted = Accepted.model_validate(message.value)
                events = normalise(accepted, resolve, geography)
            except Exception as exc:  # noqa: BLE001 - one bad record must not stop the stream
                value = message.value if isinstance(message.value, dict) else {}
                dead_letter(transport, str(value.get("source", message.topic)),
                            str(value.get("submitter", "unknown")), "normaliser",
                            f"{message.topic}@{message.offset}",
                            f"could not normalise: {type(exc).__name__}: {exc}", payload=value)
                continue
            out.extend((event.area_code, event.model_dump(mode="json")) for event in events)
        transport.produce_many(topics.EVENTS, out)
        transport.flush()

    return handle


log = logging.getLogger(__name__)
SWEEPER_WAIT_S = 1.0  # how long the detector waits for the sweeper within one step
SWEEPER_WARN_AFTER_S = 30.0

Recent = Callable[[int], tuple[dt.date | None, list[Event]]]


class _SweeperMemory:
    """The windowed detectors' memory: rebuilt from the recorded events when first needed, and
    again after a batch that was rolled back (the memory had run ahead of the record)."""

    def __init__(self, geography: Geography) -> None:
        self.geography = geography
        self._sweeper: Sweeper | None = None

    def get(self, recent: Recent) -> Sweeper:
        """`recent(days)`: the latest recorded event date, and the events up to `days` before it."""
        if self._sweeper is None:
            # A day more than any sweep can look back to, so that the first sweep after a
            # restart sees exactly what it would have seen without one.
            latest, stored = recent(LOOKBACK_DAYS + MAX_CATCH_UP_DAYS + 1)
            self._sweeper = Sweeper(self.geography)
            self._sweeper.load(stored, latest)
        return self._sweeper

    def forget(self) -> None:
        self._sweeper = None


def _recent_in_store(session: Session) -> Recent:
    def recent(days: int) -> tuple[dt.date | None, list[Event]]:
        latest = session.execute(select(func.max(EventRow.date))).scalar_one_or_none()
        if latest is None:
            return None, []
        return latest, [Event.model_validate(payload) for payload in session.execute(
            select(EventRow.payload).where(EventRow.date >= latest - dt.timedelta(days=days))
        ).scalars()]
    return recent


def detector(transport: Transport, store: Store, config: DetectorConfig, geography: Geography,
             *, swept: SweptLog | None = None) -> BatchHandler:
    """events -> signals, through detector state and a transactional outbox in the store.

    The windowed detectors run here too, unless `swept` is given: then a sweeper process runs
    them (`sweeper`), and each event's windowed signals are joined from its record.
    """
    kept = KeptCounts()  # this stage is the one writer of the counts: see KeptCounts
    if swept is None:
        return _through_outbox(transport, store, geography, lambda events, session, sweeper: detect(
            events, DetectorState(session, kept=kept), config, sweeper.add))

    waiting_since: float | None = None  # while the sweeper has not taken the batch

    def handle(batch: Sequence[Message]) -> None:
        nonlocal waiting_since
        events = [Event.model_validate(message.value) for message in batch]
        # Before the store's write lock is taken; a second at a time, so that the process can
        # stop while it waits.
        closed, missing = swept.signals_closed_by(events, within=SWEEPER_WAIT_S)
        if closed is None:
            now_s = time.monotonic()
            if waiting_since is None:
                waiting_since = now_s
            elif now_s - waiting_since >= SWEEPER_WARN_AFTER_S:
                log.warning("detector waiting %.0f s for the sweeper stage: %d of %d events of "
                            "this batch not swept yet (is `ews pipeline --stage sweeper` "
                            "running?)", now_s - waiting_since, missing, len(events))
                waiting_since = now_s
            raise NotYet("the sweeper has not taken this batch yet")
        waiting_since = None

        def windowed(event: Event) -> list[Signal]:
            # Raised here and now, among this batch's own signals: the outbox publishes in
            # order of detection, so the signals go out in the order one process raises them.
            return [signal.model_copy(update={"detected_at": now()})
                    for signal in closed[event.event_id]]

        with store.session() as session:
            _store_signals(session, detect(events, DetectorState(session, kept=kept), config,
                                           windowed))
        publish_signals(transport, store)

    return handle


def sweeper(swept: SweptLog, geography: Geography) -> BatchHandler:
    """events -> the windowed detectors' signals, recorded per event for the detector to join
    (the embedded deployment's sweeper process; see services/pipeline/swept.py)."""
    memory = _SweeperMemory(geography)

    def handle(batch: Sequence[Message]) -> None:
        events = [Event.model_validate(message.value) for message in batch]
        try:
            taken = swept.taken(event.event_id for event in events)
            windows = memory.get(swept.recent)
            closed: list[tuple[Event, list[Signal]]] = []
            for event in events:
                if event.event_id not in taken:  # a redelivery closes nothing again
                    taken.add(event.event_id)
                    closed.append((event, windows.add(event)))
            swept.record(closed)
        except Exception:
            memory.forget()
            raise

    return handle


def sweeps(transport: Transport, store: Store, geography: Geography) -> BatchHandler:
    """events -> the windowed detectors' signals alone, where the per-event detectors run
    elsewhere (the scaled deployment's sweeper worker).

    Each event is recorded in the store as `detector` records it (a redelivered one is skipped,
    and a restart rebuilds the memory from them), in one transaction with the signals' outbox.
    """
    def windowed(events: list[Event], session: Session, sweeper: Sweeper) -> list[Signal]:
        state = DetectorState(session)
        state.prefetch(events)
        signals = [signal for event in events if state.add_event(event)
                   for signal in sweeper.add(event)]
        state.flush()
        return signals

    return _through_outbox(transport, store, geography, windowed)


def _through_outbox(transport: Transport, store: Store, geography: Geography,
                    find: Callable[[list[Event], Session, Sweeper], Sequence[Signal]]
                    ) -> BatchHandler:
    """A batch of events -> `find`'s signals, stored with the outbox in one transaction, then
    published; the windowed detectors' memory is dropped when the transaction is not."""
    memory = _SweeperMemory(geography)

    def handle(batch: Sequence[Message]) -> None:
        events = [Event.model_validate(message.value) for message in batch]
        try:
            with store.session() as session:
                windows = memory.get(_recent_in_store(session))
                _store_signals(session, find(events, session, windows))
        except Exception:
            memory.forget()
            raise
        publish_signals(transport, store)

    return handle


def _store_signals(session: Session, signals: Sequence[Signal]) -> None:
    """Write signals to the outbox, in the detector's transaction."""
    if not signals:
        return
    columns = [column.key for column in SignalRow.__table__.columns]
    insert_rows(session, SignalRow.__table__,
                [{name: getattr(row, name) for name in columns} for row in map(signal_row, signals)])


def publish_signals(transport: Transport, store: Store, *, batch: int = 1000) -> int:
    """Send stored signals not yet published to `signals`; safe to repeat after a crash."""
    sent = 0
    while True:
        with store.session() as session:
            rows = session.execute(
                select(SignalRow.signal_id, SignalRow.area_code, SignalRow.payload)
                .where(SignalRow.published.is_(False)).order_by(SignalRow.detected_at).limit(batch)
            ).all()
        if not rows:
            return sent
        transport.produce_many(topics.SIGNALS, [(area, payload) for _, area, payload in rows])
        transport.flush()
        with store.session() as session:
            session.execute(update(SignalRow).where(SignalRow.signal_id.in_([r[0] for r in rows]))
                            .values(published=True))
        sent += len(rows)


def alert_builder(store: Store, index: AlertIndex, geography: Geography) -> BatchHandler:
    """signals -> alerts in the store, then the alert index brought up to date."""

    def handle(batch: Sequence[Message]) -> None:
        signals = [Signal.model_validate(message.value) for message in batch]
        with store.session() as session:
            build_alerts(session, signals, geography)
        sync_index(store, index, geography)

    return handle

"""The embedded pipeline: every stage in one process on the SQLite log, store and tantivy index."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection

from services.api.alerts.documents import sync_index
from services.api.index import index_from_url
from services.detector.detect import DetectorConfig
from services.geography import load_geography
from services.pipeline import handlers
from services.pipeline.swept import SweptLog
from services.settings import Settings
from services.store import Store
from streams import topics
from streams.factory import transport_from_url
from streams.stage import Stage, run_stages
from streams.transport import Transport

log = logging.getLogger(__name__)
STAGES = ("normaliser", "sweeper", "detector", "alert-builder", "notifier")
REVIEW_SYNC_S = 0.5  # how soon a review made in another process is in the search index


def lag(transport: Transport) -> int:
    """Records some stage of the pipeline has not handled yet, wherever the stages run."""
    return (transport.lag("normaliser", topics.RAW_TOPICS)
            + transport.lag("detector", [topics.EVENTS])
            + transport.lag("alert-builder", [topics.SIGNALS]))


class EmbeddedSystem:
    """The transport, store and index of the embedded deployment, opened once per process."""

    def __init__(self, settings: Settings, *, index_writable: bool = True) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.transport = transport_from_url(
            settings.transport or f"sqlite:///{settings.transport_path().resolve()}")
        self.store = Store(settings.store_url())
        self.index = index_from_url(settings.index or f"tantivy://{settings.index_path().resolve()}",
                                    writable=index_writable)
        # Whether this process may bring the index up to date itself (the API does so after a
        # review change; otherwise the pipeline's next sync does).
        self.index_writable = index_writable
        self.geography = load_geography()
        self._swept: SweptLog | None = None

    def swept(self) -> SweptLog:
        """The sweeper process's record, opened when a stage first needs it."""
        if self._swept is None:
            self._swept = SweptLog(self.settings.swept_path())
        return self._swept

    def close(self) -> None:
        if self._swept is not None:
            self._swept.close()
        self.index.close()
        self.store.close()
        self.transport.close()


class Pipeline:
    """normaliser -> detectors -> alert builder -> index, run round-robin in one thread.

    `only` runs a subset of `STAGES`, so that each stage can be a process of its own (`ews
    pipeline --stage NAME`): they share the log and the store, and only the process running the
    alert builder may write the index. The detectors are two stages: `sweeper` (the windowed
    detectors) and `detector` (the per-event ones, which raise the sweeper's signals with their
    own, in event order). In one process the two run as one; apart, the detector waits for
    what the sweeper recorded (services/pipeline/swept.py).
    """

    def __init__(self, system: EmbeddedSystem, *, only: Collection[str] = STAGES) -> None:
        unknown = set(only) - set(STAGES)
        if unknown:
            raise ValueError(f"unknown stage(s) {', '.join(sorted(unknown))}; "
                             f"expected {', '.join(STAGES)}")
        from chemistry import resolve  # RDKit loads here, not when the CLI starts

        self.system = system
        config = DetectorConfig(ears_min_count=system.settings.ears_min_count)
        transport, store = system.transport, system.store
        apart = ("sweeper" in only) != ("detector" in only)
        self.stages = [
            Stage(transport, "normaliser", topics.RAW_TOPICS,
                  handlers.normaliser(transport, resolve, system.geography)),
            *([Stage(transport, "sweeper", [topics.EVENTS],
                     handlers.sweeper(system.swept(), system.geography))] if apart else []),
            Stage(transport, "detector", [topics.EVENTS],
                  handlers.detector(transport, store, config, system.geography,
                                    swept=system.swept() if apart else None)),
            Stage(transport, "alert-builder", [topics.SIGNALS],
                  handlers.alert_builder(store, system.index, system.geography)),
        ]
        self.stages = [stage for stage in self.stages if stage.name in only]
        self.only = frozenset(only)
        self._reviews_indexed = 0.0

    def recover(self) -> None:
        """Finish what a crash interrupted: unpublished signals, alerts not yet indexed."""
        if "detector" in self.only:
            handlers.publish_signals(self.system.transport, self.system.store)
        if "alert-builder" in self.only:
            sync_index(self.system.store, self.system.index, self.system.geography)

    def drain(self, max_idle_rounds: int = 2) -> None:
        """Run until every stage has caught up (for tests, benchmarks and the demo loader)."""
        self.recover()
        idle = 0
        while idle < max_idle_rounds:
            handled = sum(stage.step() for stage in self.stages)
            idle = idle + 1 if handled == 0 else 0

    def lag(self) -> int:
        return lag(self.system.transport)

    def run(self, stop: threading.Event) -> None:
        """Run the stages until `stop`; between rounds, the notifier sends what is due and the
        alert builder indexes what reviewers changed."""
        from services.notify import Notifier

        self.recover()
        ticks = []
        if "notifier" in self.only:
            ticks.append(Notifier(self.system).tick)
        if "alert-builder" in self.only:
            ticks.append(self._index_reviews)

        def between_rounds() -> None:
            for tick in ticks:
                tick()
        run_stages(self.stages, stop, on_idle=between_rounds)

    def _index_reviews(self) -> None:
        """An API that may not write the index (tantivy: one writer, this process) changes an
        alert's status in the store only; its next version is indexed here, whether or not a
        signal comes (a cheap look-up: the store indexes the alerts whose index lags)."""
        if time.monotonic() - self._reviews_indexed < REVIEW_SYNC_S:
            return
        self._reviews_indexed = time.monotonic()
        try:
            sync_index(self.system.store, self.system.index, self.system.geography)
        except Exception:
            log.exception("indexing reviewed alerts failed; tried again in %.1f s", REVIEW_SYNC_S)

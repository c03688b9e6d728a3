"""`ews worker ROLE`: one worker of the scaled deployment, until SIGINT or SIGTERM.

Start as many of the normaliser, detector and alert builder as the load needs: the workers of
one role form one consumer group and share the partitions of its topics (the detector's tables
move with their partitions). Run one sweeper (its windows span every area) and one notifier.
"""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass

import faust

from services.geography import Geography
from services.settings import Settings
from services.store import Store
from services.workers.agents import (
    Cluster,
    bind_alert_builder,
    bind_detector,
    bind_normaliser,
    bind_sweeper,
    worker_app,
)
from services.workers.settings import ROLES, Role, WorkerSettings
from streams.factory import transport_from_url
from streams.transport import TransportError

log = logging.getLogger(__name__)


class WorkerError(Exception):
    """A worker cannot start; the message says what to configure."""


def run_worker(settings: Settings, role: Role, options: WorkerSettings) -> int:
    """Run one worker of `role` until it is stopped; its exit status."""
    if role not in ROLES:
        raise WorkerError(f"unknown worker role {role!r}; expected one of {', '.join(ROLES)}")
    if not settings.transport.startswith("kafka://"):
        raise WorkerError("stream workers run on Kafka: set EWS_TRANSPORT=kafka://HOST:9092 "
                          "(the embedded deployment runs its stages with `ews pipeline`)")
    if role == "notifier":
        return run_notifier(settings)
    from services.pipeline import EmbeddedSystem, handlers
    from streams.kafka import KafkaTransport

    # The flow's topics are created by the same transport the API appends with, so their
    # partition counts agree; faust then creates its own (changelogs, re-keyed events) alike.
    system = EmbeddedSystem(settings) if role == "alert-builder" else None
    transport = system.transport if system is not None else transport_from_url(settings.transport)
    store = Store(settings.store_url()) if role == "sweeper" else None
    try:
        if not isinstance(transport, KafkaTransport):
            raise WorkerError(f"EWS_TRANSPORT={settings.transport!r} is not a Kafka transport")
        cluster = Cluster(tuple(transport.bootstrap.split(",")), transport.partitions,
                          transport.replication)
        datadir = (settings.data_dir / "workers" / role).resolve()  # faust's; memory tables
        datadir.mkdir(parents=True, exist_ok=True)
        app = worker_app(role, cluster, options, datadir=str(datadir))
        if role == "normaliser":
            from chemistry import resolve
            from services.geography import load_geography

            bind_normaliser(app, resolve, load_geography(), options)
        elif role == "detector":
            from services.detector.detect import DetectorConfig

            bind_detector(app, DetectorConfig(ears_min_count=settings.ears_min_count), cluster)
        elif role == "sweeper":
            from services.geography import load_geography

            assert store is not None
            # Signals a killed sweeper stored but had not sent yet go out first.
            handlers.publish_signals(transport, store)
            bind_sweeper(app, transport, store, load_geography(), options)
        else:
            assert system is not None
            bind_alert_builder(app, system.store, system.index, system.geography, options)
        worker = faust.Worker(app, loglevel=options.log_level, redirect_stdouts=False,
                              override_logging=False)
        try:
            worker.execute_from_commandline()
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else 0
        return 0
    except TransportError as exc:
        raise WorkerError(str(exc)) from exc
    finally:
        if store is not None:
            store.close()
        if system is not None:
            system.close()
        else:
            transport.close()


@dataclass(frozen=True)
class MailContext:
    """What the notifier reads: the settings, the store and the districts (for email text)."""

    settings: Settings
    store: Store
    geography: Geography


def run_notifier(settings: Settings, stop: threading.Event | None = None) -> int:
    """Send the alert emails and digests that are due, every `notify_interval_s`, until stopped.

    The embedded pipeline's notifier, on its own: each email is claimed in the store before it
    is handed to the mail server, so it goes at most once, across crashes and restarts.
    """
    from services.geography import load_geography
    from services.notify import Notifier

    if stop is None:
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
    store = Store(settings.store_url())
    try:
        notifier = Notifier(MailContext(settings, store, load_geography()))
        log.info("notifier running: alert emails every %.1f s through %s",
                 settings.notify_interval_s, notifier.mailer.describe())
        while not stop.is_set():
            notifier.tick()  # never raises; sends nothing before notify_interval_s has passed
            stop.wait(min(settings.notify_interval_s, 1.0))
    finally:
        store.close()
    log.info("notifier stopped")
    return 0

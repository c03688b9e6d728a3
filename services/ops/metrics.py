"""Prometheus metrics: what the system has done, read from where it is recorded, at scrape time.

Why a custom collector rather than counters bumped in the code: the API, the pipeline stages
and the Kafka workers are separate processes in the scaled deployment (`ews api`, `ews
pipeline`, `ews worker ...`) and one process in `ews up`. A counter lives in the process that
bumps it, so the API could not report what a worker did, and every restart would reset it. The
durable record is already there: accepted reports are rows of `submission`, dead letters are
messages of the `deadletter` topic, consumer lag is the transport's committed offsets, alerts
are rows of `alert`. So the API computes those at each scrape, from the transport and the store,
and reports the same numbers whichever process did the work and however often it restarted.

What only exists in the process doing it (how long a stage took to handle a batch, how long
the API took to answer) is measured there: stage timings by `streams.stage` (served by `ews
pipeline` on EWS_METRICS_PORT), HTTP timings by the API's middleware below. `ews up` runs the
normaliser and the detectors in child processes (services/pipeline/split.py): its API reads the
children's stage timings at each scrape and serves them with its own, as one process would.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import httpx
from prometheus_client import REGISTRY, CollectorRegistry, Histogram, generate_latest
from prometheus_client import Counter as PromCounter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from services.store import AlertRow, SignalRow, Submission
from streams import topics

log = logging.getLogger(__name__)

# The embedded pipeline's consumer groups and their inputs (services/pipeline/embedded.py).
STAGE_INPUTS: dict[str, tuple[str, ...]] = {
    "normaliser": topics.RAW_TOPICS,
    "detector": (topics.EVENTS,),
    "alert-builder": (topics.SIGNALS,),
}

HTTP_REQUESTS = PromCounter("ews_http_requests", "HTTP requests answered by the API",
                            ["method", "route", "status"])
HTTP_SECONDS = Histogram("ews_http_request_seconds", "Time the API took to answer",
                         ["method", "route"],
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))


def _stage_inputs(transport: Any) -> dict[str, tuple[str, ...]]:
    if type(transport).__name__ == "KafkaTransport":
        from services.workers.agents import STAGE_INPUTS as kafka_inputs  # faust loads only here

        return dict(kafka_inputs)
    if transport.committed("sweeper", topics.EVENTS):  # a sweeper process of its own has run
        return {**STAGE_INPUTS, "sweeper": (topics.EVENTS,)}
    return STAGE_INPUTS


class _DeadLetterTally:
    """Dead letters by (source, stage), read incrementally: only new messages at each scrape."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self.last_offset = -1

    def update(self, transport: Any) -> Counter[tuple[str, str]]:
        # The embedded log can be read from an offset; other transports are read whole and
        # the messages already counted skipped (one partition each for the dead-letter topic).
        reader = getattr(transport, "_read", None)
        if reader is not None:
            while batch := reader(topics.DEADLETTER, max(self.last_offset, 0), 5000):
                self._add(batch)
        else:
            self._add([m for m in transport.read_all(topics.DEADLETTER)
                       if m.offset > self.last_offset])
        return self.counts

    def _add(self, messages: Any) -> None:
        for message in messages:
            value = message.value if isinstance(message.value, dict) else {}
            self.counts[(str(value.get("source", "unknown")), str(value.get("stage", "unknown")))] += 1
            self.last_offset = max(self.last_offset, message.offset)


class SystemCollector(Collector):
    """Reports accepted, dead-lettered, consumer lag, signals and alerts of one system."""

    def __init__(self, system: Any) -> None:
        self.system = system
        self._dead = _DeadLetterTally()

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        yield from self._from_store()
        yield from self._from_transport()
        scrape = GaugeMetricFamily("ews_metrics_scrape_seconds",
                                   "Time taken to read these metrics from the store and transport")
        scrape.add_metric([], time.perf_counter() - started)
        yield scrape

    def _from_store(self) -> Iterator[Metric]:
        accepted = CounterMetricFamily("ews_reports_accepted", "Reports accepted (unique by "
                                       "source, submitter and report id)", labels=["source"])
        signals = CounterMetricFamily("ews_signals", "Detector hits stored", labels=["detector"])
        raised = CounterMetricFamily("ews_alerts_raised", "Alerts raised (never deleted)")
        alerts = GaugeMetricFamily("ews_alerts", "Alerts by review status", labels=["status"])
        try:
            with self.system.store.session() as session:
                for source, count in session.execute(
                        select(Submission.source, func.count()).group_by(Submission.source)):
                    accepted.add_metric([source], count)
                for detector, count in session.execute(
                        select(SignalRow.detector, func.count()).group_by(SignalRow.detector)):
                    signals.add_metric([detector], count)
                total = 0
                for status, count in session.execute(
                        select(AlertRow.status, func.count()).group_by(AlertRow.status)):
                    alerts.add_metric([status], count)
                    total += count
                raised.add_metric([], total)
        except Exception:
            log.exception("metrics: the store could not be read")
            return
        yield from (accepted, signals, raised, alerts)

    def _from_transport(self) -> Iterator[Metric]:
        transport = self.system.transport
        lag = GaugeMetricFamily("ews_consumer_lag", "Messages a stage has not committed yet",
                                labels=["stage"])
        dead = CounterMetricFamily("ews_dead_lettered", "Records that could not go on",
                                   labels=["source", "stage"])
        try:
            for stage, inputs in _stage_inputs(transport).items():
                lag.add_metric([stage], transport.lag(stage, inputs))
            for (source, stage), count in sorted(self._dead.update(transport).items()):
                dead.add_metric([source, stage], count)
        except Exception:
            log.exception("metrics: the transport could not be read")
            return
        yield from (lag, dead)


def exposition(registry: CollectorRegistry,
               stage_metrics: Callable[[], Sequence[str]] | None = None) -> bytes:
    """This process's own metrics (HTTP, stage timings) and the system's, in the text format;
    with `stage_metrics`, the stage timings also of the processes at those URLs."""
    own: Any = REGISTRY if stage_metrics is None else _WithStages(stage_metrics())
    return generate_latest(own) + generate_latest(registry)


class _WithStages:
    """This process's metrics, with other processes' `ews_stage_*` samples added to its own
    families of those names (one family per name, as the text format requires)."""

    def __init__(self, urls: Sequence[str]) -> None:
        self.urls = urls

    def collect(self) -> Iterator[Metric]:
        families = {family.name: family for family in REGISTRY.collect()}
        for url in self.urls:
            for family in self._read(url):
                mine = families.get(family.name)
                if mine is None:
                    families[family.name] = family
                    continue
                merged = Metric(mine.name, mine.documentation, mine.type, mine.unit)
                merged.samples = [*mine.samples, *family.samples]
                families[family.name] = merged
        yield from families.values()

    @staticmethod
    def _read(url: str) -> list[Metric]:
        try:
            text = httpx.get(url, timeout=2.0).text
        except httpx.HTTPError as exc:
            log.warning("metrics: stage timings at %s could not be read: %s", url, exc)
            return []
        # `_created` series are left out: the text format gives them families of their own,
        # which would then be named twice.
        return [family for family in text_string_to_metric_families(text)
                if family.name.startswith("ews_stage") and not family.name.endswith("_created")]


def system_registry(system: Any) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SystemCollector(system))
    return registry


class HttpMetrics:
    """ASGI middleware: counts and times every HTTP request by its route template."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            # The template, not the path: /v1/alerts/{alert_id}, so that ids make no new series.
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope.get("method", "")
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_SECONDS.labels(method, route).observe(time.perf_counter() - started)


def serve_metrics(port: int, host: str = "0.0.0.0") -> None:
    """Serve this process's own metrics (stage timings) on `port` (for `ews pipeline`)."""
    from prometheus_client import start_http_server

    start_http_server(port, addr=host)

"""The flow's handlers as faust agents: one app (one consumer group) per stage.

Each agent only moves records between topics and the handlers of the embedded pipeline; no
stage logic lives here:

| app (group)     | consumes                    | calls                                          |
|-----------------|-----------------------------|------------------------------------------------|
| `normaliser`    | raw.<source>                | `handlers.normaliser` (`normalise`, dead letters) |
| `detector`      | events (keyed by area)      | `detect` over a `TableState` (table `state`)   |
|                 | `detector-events.by-substance` | `first_sightings` over a `TableState` (table |
|                 | (events re-keyed by structure) | `national`): national first sightings       |
| `alert-builder` | signals                     | `handlers.alert_builder` (`build_alerts`, `sync_index`) |
| `sweeper`       | events (all partitions)     | `handlers.sweeps` (the `Sweeper`'s windowed detectors) |

The sweeper is one member of its own group, so that its windows see every area's events, as
the embedded detector's do. What differs from the embedded pipeline is the order: there, one
log holds all events in the order they were appended; here each partition (area) keeps its
order, but partitions interleave as the brokers deliver them. A day is swept when the first
event dated after it arrives, so an event of another partition dated that day that arrives
later is left out of that day's sweep (it counts from the next: clusters are looked for weekly
over windows of 14 days and more, and a later sweep sees it). Its signals go through the
store's transactional outbox, as the embedded detector's do; the events it records there are
also what a restarted sweeper rebuilds its memory from (and what the trends API counts).

The area agent re-keys each event by structure itself, after handling it, rather than through
faust's `group_by`: with `group_by`, a second stream on `events` forwards in the background,
and on Tansu a rebalance then waited forever for an event that stream never acknowledged.

Delivery is at least once. faust acks an event when the loop body around it ends, even by an
exception, so the bodies never raise: a failing batch is retried until it goes through (as
`streams.stage.run_stages` does) and a worker that dies meanwhile commits nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import faust
from faust.types import TP, EventT

from services.api.index import AlertIndex
from services.detector.detect import DetectorConfig, detect
from services.detector.novelty import first_sightings
from services.geography import Geography
from services.normaliser import Resolver
from services.pipeline import handlers
from services.store import Store
from services.workers.kafka_ends import WorkerApp
from services.workers.settings import Role, WorkerSettings
from services.workers.table_state import Scope, TableState
from streams import topics
from streams.records import Event, Signal
from streams.transport import Message, Transport, TransportError

log = logging.getLogger(__name__)

STATE_TABLE = "state"
NATIONAL_TABLE = "national"
# Events re-keyed by structure, for national first sightings (faust names it after its app).
BY_SUBSTANCE = "detector-events.by-substance"
# What each stage's consumer group reads (for lag, as `KafkaTransport.lag` counts it).
STAGE_INPUTS: dict[Role, tuple[str, ...]] = {
    "normaliser": topics.RAW_TOPICS,
    "detector": (topics.EVENTS, BY_SUBSTANCE),
    "alert-builder": (topics.SIGNALS,),
    "sweeper": (topics.EVENTS,),
}


def changelog(role: Role, table: str) -> str:
    """The changelog topic of a table of a stage's app."""
    return f"{role}-{table}-changelog"


def stage_lags(transport: Transport, roles: Iterable[Role] = tuple(STAGE_INPUTS)) -> dict[str, int]:
    """Input each stage's consumer group has not committed yet (0 everywhere: caught up)."""
    return {role: transport.lag(role, STAGE_INPUTS[role]) for role in roles}
_RETRY_MAX_S = 30.0


@dataclass(frozen=True)
class Cluster:
    """Where the brokers are and how the flow's topics are laid out (from `KafkaTransport`)."""

    bootstrap: tuple[str, ...]
    partitions: int
    replication: int


def worker_app(role: Role, cluster: Cluster, options: WorkerSettings, *,
               datadir: str | None = None) -> WorkerApp:
    """An empty faust app for one stage; its id is the stage's consumer group."""
    app = WorkerApp(
        role,
        broker=[f"kafka://{host}" for host in cluster.bootstrap],
        broker_client_id=f"ews-{role}",
        store="memory://",
        datadir=datadir or f"{role}-data",
        autodiscover=False,
        web_enabled=False,
        topic_partitions=cluster.partitions,
        topic_replication_factor=cluster.replication,
        table_standby_replicas=options.standby_replicas,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        broker_session_timeout=options.session_timeout,
        broker_heartbeat_interval=options.heartbeat_interval,
        broker_rebalance_timeout=options.rebalance_timeout,
        broker_commit_interval=options.commit_interval,
        stream_recovery_delay=options.recovery_delay,
    )

    async def log_assignment(_app: faust.App, assigned: set[TP], **_: Any) -> None:
        # One line per rebalance, e.g. "assignment events=[0,2,4] signals=[]": what this member
        # of the group now handles (Tansu's DescribeGroups does not say).
        by_topic: dict[str, list[int]] = {}
        for tp in assigned:
            if not tp.topic.endswith(("-changelog", "__leader")):
                by_topic.setdefault(tp.topic, []).append(tp.partition)
        log.info("assignment %s", " ".join(f"{topic}=[{','.join(map(str, sorted(parts)))}]"
                                           for topic, parts in sorted(by_topic.items())))

    app.on_partitions_assigned.connect(log_assignment)
    return app


def flow_topic(app: faust.App, *names: str, **options: Any) -> faust.TopicT:
    """Topics of the flow as `streams.kafka` writes them: text keys, JSON object values."""
    return app.topic(*names, key_serializer="raw", value_serializer="json", **options)


def as_message(event: EventT) -> Message:
    """The transport's message for a faust event, for the batch handlers."""
    raw = event.message
    key = raw.key.decode("utf-8") if isinstance(raw.key, bytes) else raw.key
    return Message(raw.topic, raw.partition, raw.offset, key, event.value, raw.timestamp)


async def until_done(what: str, attempt: Callable[..., Awaitable[None]], *args: Any) -> None:
    """Run `attempt(*args)` until it succeeds, backing off; the input stays unacknowledged."""
    delay = 0.5
    while True:
        try:
            await attempt(*args)
            return
        except Exception:
            log.exception("%s failed; retrying in %.1f s", what, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RETRY_MAX_S)


class Outbox:
    """A `Transport` that keeps what a handler produces, for the agent to send after it returns.

    The handlers write through a transport; in a worker, faust's producer must send instead,
    from the event loop, so that faust flushes it before committing the input offsets.
    """

    def __init__(self) -> None:
        self.items: list[tuple[str, str | None, dict[str, Any]]] = []

    def produce(self, topic: str, value: dict[str, Any], key: str | None = None) -> None:
        self.items.append((topic, key, value))

    def produce_many(self, topic: str, items: Iterable[tuple[str | None, dict[str, Any]]]) -> None:
        self.items.extend((topic, key, value) for key, value in items)

    def flush(self) -> None:
        """Nothing to do: the agent sends `items` once the handler returned."""

    def consumer(self, group: str, topics: Sequence[str]) -> Any:
        raise TransportError("a worker's handlers only produce; faust consumes for them")

    def lag(self, group: str, topics: Sequence[str]) -> int:
        raise TransportError("a worker's handlers only produce; ask the Kafka transport")

    def read_all(self, topic: str) -> Any:
        raise TransportError("a worker's handlers only produce; ask the Kafka transport")

    def close(self) -> None:
        self.items.clear()

    async def send(self, app: faust.App, known: dict[str, faust.TopicT]) -> None:
        """Send every item, in order, and wait until the brokers hold them all; a keyless one
        goes to partition 0, as `streams.kafka` sends it. `known` caches the topics by name."""
        sent = []
        for topic, key, value in self.items:
            if topic not in known:
                known[topic] = flow_topic(app, topic)
            sent.append(await known[topic].send(key=key, value=value,
                                                partition=0 if key is None else None))
        await acknowledged(app, sent)
        self.items.clear()


def bind_normaliser(app: faust.App, resolve: Resolver, geography: Geography,
                    options: WorkerSettings) -> None:
    """raw.<source> -> events (keyed by area) and dead letters, through `handlers.normaliser`."""
    outputs = {name: flow_topic(app, name) for name in (topics.EVENTS, topics.DEADLETTER)}

    async def attempt(messages: list[Message]) -> None:
        outbox = Outbox()
        await asyncio.to_thread(handlers.normaliser(outbox, resolve, geography), messages)
        await outbox.send(app, outputs)

    @app.agent(flow_topic(app, *topics.RAW_TOPICS), name="normalise")
    async def normalise(stream: faust.StreamT) -> None:
        async for batch in stream.take_events(options.batch, within=options.batch_wait):
            messages = [as_message(event) for event in batch]
            await until_done(f"normalising {len(messages)} records", attempt, messages)


async def acknowledged(app: faust.App, sent: Sequence[Awaitable[Any]]) -> None:
    """Wait until the brokers hold every message sent; raise if any was not stored.

    A producer flush alone does not say whether the sends succeeded: each send's own result
    does, and a failed one must fail the batch (so it is retried), not be skipped.
    """
    if sent:
        await app.producer.flush()
        await asyncio.gather(*sent)


async def publish(app: faust.App, signals_topic: faust.TopicT, signals: Sequence[Signal]) -> None:
    """Send signals keyed by area and wait until the brokers hold them."""
    await acknowledged(app, [
        await signals_topic.send(key=signal.area_code, value=signal.model_dump(mode="json"))
        for signal in signals])


def bind_detector(app: faust.App, config: DetectorConfig, cluster: Cluster) -> None:
    """events -> signals: the detectors per area, and first sightings nationally."""
    state = app.Table(STATE_TABLE, default=None, partitions=cluster.partitions,
                      help="detector state: events seen, series counts, area sightings")
    national = app.Table(NATIONAL_TABLE, default=None, partitions=cluster.partitions,
                         help="national first sightings, keyed by structure")
    events = flow_topic(app, topics.EVENTS)
    signals_topic = flow_topic(app, topics.SIGNALS)
    by_substance = flow_topic(app, BY_SUBSTANCE, internal=True, partitions=cluster.partitions)

    async def handle(event: EventT, table: faust.Table,
                     run: Callable[[Event, TableState], list[Signal]], scope: Scope) -> None:
        async def attempt() -> None:
            record = Event.model_validate(event.value)
            table_state = TableState(table, partition=event.message.partition, scope=scope)
            signals = run(record, table_state)
            table_state.flush()
            await publish(app, signals_topic, signals)  # signals first: see TableState.commit
            table_state.commit()

        await until_done(f"detecting on {event.message.topic}@{event.message.offset}", attempt)

    async def forward(key: str, value: dict[str, Any]) -> None:
        await acknowledged(app, [await by_substance.send(key=key, value=value)])

    @app.agent(events, name="detect-by-area")
    async def detect_by_area(stream: faust.StreamT) -> None:
        async for event in stream.events():
            await handle(event, state, lambda record, st: detect([record], st, config), "area")
            key = event.value.get("substance_key")
            if key:  # re-keyed by structure for the national agent (again after a redelivery)
                await until_done("re-keying an event by structure", forward, key, event.value)

    @app.agent(by_substance, name="first-sightings-nationally")
    async def first_sightings_nationally(stream: faust.StreamT) -> None:
        async for event in stream.events():
            await handle(event, national, first_sightings, "national")


def bind_alert_builder(app: faust.App, store: Store, index: AlertIndex, geography: Geography,
                       options: WorkerSettings) -> None:
    """signals -> alerts in the store and the alert index, through `handlers.alert_builder`."""
    signals_topic = flow_topic(app, topics.SIGNALS)
    handle = handlers.alert_builder(store, index, geography)

    async def attempt(messages: list[Message]) -> None:
        await asyncio.to_thread(handle, messages)

    @app.agent(signals_topic, name="build-alerts")
    async def build_alerts(stream: faust.StreamT) -> None:
        async for batch in stream.take_events(options.batch, within=options.batch_wait):
            messages = [as_message(event) for event in batch]
            await until_done(f"building alerts from {len(messages)} signals", attempt, messages)


def bind_sweeper(app: faust.App, transport: Transport, store: Store, geography: Geography,
                 options: WorkerSettings) -> None:
    """events -> the windowed detectors' signals, through `handlers.sweeps` and the store's
    outbox (published with `transport`); run it as one member (see the module docstring)."""
    handle = handlers.sweeps(transport, store, geography)

    async def attempt(messages: list[Message]) -> None:
        await asyncio.to_thread(handle, messages)

    @app.agent(flow_topic(app, topics.EVENTS), name="sweep")
    async def sweep(stream: faust.StreamT) -> None:
        async for batch in stream.take_events(options.batch, within=options.batch_wait):
            messages = [as_message(event) for event in batch]
            await until_done(f"sweeping {len(messages)} events", attempt, messages)

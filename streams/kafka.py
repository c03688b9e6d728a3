"""Scaled transport: Apache Kafka through kafka-python, keyed by area so each area stays in order.

Topics are created explicitly with a partition count (every topic of the flow at start-up, any
other topic on first use), because a broker's auto-created topics get whatever default it has.
Producers wait for every in-sync replica (`acks="all"`) and are idempotent where the broker
supports it. Consumers commit by hand, after their handler succeeded: delivery is at least once.

Two things here exist for Kafka-protocol brokers that are not Apache Kafka (the tests run on
Tansu, see DESIGN.md "Testing against real servers"):

- The end of a partition is read from a Fetch response's high watermark as well as from
  ListOffsets, and the larger one wins: Tansu answers ListOffsets(latest) with the base offset of
  the partition's last record batch plus one, which undercounts whenever that batch holds more
  than one record. On Apache Kafka both agree and the extra fetch reads one record.
- Idempotence is switched on only when the broker offers InitProducerId; otherwise the producer
  falls back to one request in flight per connection (order is kept, a retried send may be
  stored twice) and says so in the log.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka import errors as kafka_errors
from kafka.consumer.fetcher import ConsumerRecord
from kafka.partitioner import DefaultPartitioner
from kafka.protocol.api_key import ApiKey
from kafka.serializer import Deserializer, Serializer

from streams.topics import ALL_TOPICS
from streams.transport import Message, TransportError

log = logging.getLogger(__name__)

# After the first records of a poll arrive, keep collecting for this long while more arrive, so
# that one poll returns what the broker holds for all assigned partitions, not just one fetch.
_DRAIN_MS = 20
_JOIN_CHECK_MS = 100
# How long a reader waits for an empty fetch: it only needs the broker's high watermarks.
_READER_FETCH_WAIT_MS = 20
_READ_BATCH = 1000

PRODUCER_DEFAULTS: Mapping[str, Any] = {
    "acks": "all",
    "enable_idempotence": True,
    "retries": 2**31 - 1,  # bounded by delivery_timeout_ms, as in the Java client (KIP-91)
    "linger_ms": 5,
    "delivery_timeout_ms": 120_000,
}
CONSUMER_DEFAULTS: Mapping[str, Any] = {
    "max_poll_records": 500,
}


class _JsonValue(Serializer, Deserializer):
    """Values are JSON objects, UTF-8 on the wire."""

    def serialize(self, topic: str, headers: Any, data: Any) -> bytes:
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    def deserialize(self, topic: str, headers: Any, data: bytes | None) -> Any:
        return None if data is None else json.loads(data.decode("utf-8"))


class _TextKey(Serializer, Deserializer):
    """Keys are area codes (text) or absent."""

    def serialize(self, topic: str, headers: Any, data: str | None) -> bytes | None:
        return None if data is None else data.encode("utf-8")

    def deserialize(self, topic: str, headers: Any, data: bytes | None) -> str | None:
        return None if data is None else data.decode("utf-8")


class KeylessFirstPartitioner(DefaultPartitioner):
    """Keyed records by murmur2 of the key, as in every Kafka client; keyless ones to partition 0.

    Kafka clients scatter keyless records over partitions; putting them all in one keeps their
    append order, as on the embedded log, so a consumer of keyless messages sees them in order.
    """

    def partition(self, topic: str, key: Any, serialized_key: bytes | None, value: Any,
                  serialized_value: bytes | None, cluster: Any) -> int:
        if serialized_key is None:
            partitions = cluster.partitions_for_topic(topic)
            if not partitions:
                raise ValueError(f"Topic {topic} not found in ClusterMetadata")
            return min(partitions)
        return super().partition(topic, key, serialized_key, value, serialized_value, cluster)


def _message(record: ConsumerRecord) -> Message:
    return Message(record.topic, record.partition, record.offset, record.key, record.value,
                   record.timestamp / 1000.0)


class KafkaTransport:
    """The `Transport` of the scaled deployment."""

    def __init__(self, bootstrap: str, *, client_id: str = "ews", partitions: int = 6,
                 replication: int = 1, topic_config: Mapping[str, str] | None = None,
                 producer_config: Mapping[str, Any] | None = None,
                 consumer_config: Mapping[str, Any] | None = None,
                 join_timeout: float = 30.0) -> None:
        """Connect to the brokers and create the flow's topics (existing ones are left as they are).

        Args:
            bootstrap: comma-separated `host:port` of one or more brokers.
            partitions, replication, topic_config: how topics this transport creates are made.
            producer_config, consumer_config: extra kafka-python settings, over the defaults
                (tests shorten the group timings, e.g. `max_poll_interval_ms`).
            join_timeout: how long a consumer's first `poll` waits for its group to assign it
                partitions (a group's first join takes a few seconds on any broker).
        """
        if partitions < 1 or replication < 1:
            raise TransportError(f"partitions ({partitions}) and replication ({replication}) "
                                 "must be at least 1")
        self.bootstrap = bootstrap
        self.client_id = client_id
        self.partitions = partitions
        self.replication = replication
        self.topic_config = dict(topic_config or {})
        self._consumer_config = {**CONSUMER_DEFAULTS, **(consumer_config or {})}
        self._join_timeout = join_timeout
        self._known_topics: set[str] = set()
        self._topics_lock = threading.Lock()
        # Failed sends by the thread that sent them: an API serves requests on several threads,
        # and one request's flush must report its own records' failures, not another's.
        self._failures: dict[int, list[tuple[str, BaseException]]] = {}
        self._failures_lock = threading.Lock()
        self._consumers: set[KafkaGroupConsumer] = set()
        self._consumers_lock = threading.Lock()
        self._closed = False
        try:
            self._admin = KafkaAdminClient(bootstrap_servers=bootstrap,
                                           client_id=f"{client_id}-admin")
        except kafka_errors.KafkaError as exc:
            raise TransportError(f"cannot reach Kafka at {bootstrap} ({exc}): check "
                                 "EWS_TRANSPORT and that the brokers are up") from exc
        try:
            self._producer, self.idempotent = self._open_producer(producer_config or {})
        except BaseException:
            self._admin.close()
            raise
        self._flush_timeout = self._producer.config["delivery_timeout_ms"] / 1000 + 10
        try:
            self.ensure_topics(ALL_TOPICS)
        except BaseException:
            self._producer.close(timeout=1)
            self._admin.close()
            raise

    # -- producing -----------------------------------------------------------------------------

    def _open_producer(self, overrides: Mapping[str, Any]) -> tuple[KafkaProducer, bool]:
        config: dict[str, Any] = {
            **PRODUCER_DEFAULTS,
            "bootstrap_servers": self.bootstrap,
            "client_id": self.client_id,
            "key_serializer": _TextKey(),
            "value_serializer": _JsonValue(),
            "partitioner": KeylessFirstPartitioner(),
            **overrides,
        }
        if config["enable_idempotence"] and ApiKey.InitProducerId not in self._admin.api_versions():
            log.warning("the brokers at %s do not offer idempotent producers (no InitProducerId "
                        "API): producing without idempotence, one request in flight, so a retried "
                        "send may be stored twice (consumers are idempotent)", self.bootstrap)
            config["enable_idempotence"] = False
        if not config["enable_idempotence"]:
            config["max_in_flight_requests_per_connection"] = 1  # retries must not reorder a key
        try:
            return KafkaProducer(**config), bool(config["enable_idempotence"])
        except kafka_errors.KafkaConfigurationError as exc:
            if not config["enable_idempotence"]:
                raise TransportError(f"bad Kafka producer settings: {exc}") from exc
            log.warning("the brokers at %s refused an idempotent producer (%s): producing "
                        "without idempotence, one request in flight", self.bootstrap, exc)
            config.update(enable_idempotence=False, max_in_flight_requests_per_connection=1)
            return KafkaProducer(**config), False
        except kafka_errors.KafkaError as exc:
            raise TransportError(f"cannot open a Kafka producer on {self.bootstrap} ({exc}): "
                                 "check that the brokers are up") from exc

    def produce(self, topic: str, value: dict[str, Any], key: str | None = None) -> None:
        self.produce_many(topic, [(key, value)])

    def produce_many(self, topic: str, items: Iterable[tuple[str | None, dict[str, Any]]]) -> None:
        """Queue messages in order; one key's messages land in one partition, in this order."""
        self.ensure_topics([topic])
        for key, value in items:
            try:
                future = self._producer.send(topic, value=value, key=key)
            except kafka_errors.KafkaError as exc:
                raise TransportError(f"could not send to topic {topic!r} ({exc}): check that the "
                                     f"brokers at {self.bootstrap} are up") from exc
            future.add_errback(self._record_failure, threading.get_ident(), topic)

    def _record_failure(self, sender: int, topic: str, exc: BaseException) -> None:
        with self._failures_lock:
            self._failures.setdefault(sender, []).append((topic, exc))

    def flush(self) -> None:
        """Wait for every queued message; a `TransportError` names the topics of any that this
        thread sent and that failed."""
        try:
            self._producer.flush(timeout=self._flush_timeout)
        except kafka_errors.KafkaError as exc:
            raise TransportError(f"messages were not acknowledged by {self.bootstrap} in "
                                 f"{self._flush_timeout:.0f} s ({exc})") from exc
        with self._failures_lock:
            failures = self._failures.pop(threading.get_ident(), [])
        if failures:
            topics = ", ".join(sorted({topic for topic, _ in failures}))
            raise TransportError(
                f"{len(failures)} message(s) to topic(s) {topics} were not stored by Kafka "
                f"({failures[0][1]!r}); they are lost unless sent again: check the brokers at "
                f"{self.bootstrap}"
            ) from failures[0][1]

    # -- topics ----------------------------------------------------------------------------------

    def ensure_topics(self, topics: Iterable[str]) -> None:
        """Create the topics that do not exist yet, with this transport's partition count."""
        missing = [topic for topic in dict.fromkeys(topics) if topic not in self._known_topics]
        if not missing:
            return
        with self._topics_lock:
            missing = [topic for topic in missing if topic not in self._known_topics]
            if not missing:
                return
            spec = {"num_partitions": self.partitions, "replication_factor": self.replication,
                    "configs": dict(self.topic_config)}
            try:
                response = self._admin.create_topics({topic: dict(spec) for topic in missing},
                                                     raise_errors=False)
            except kafka_errors.KafkaError as exc:
                raise TransportError(f"could not create topics {', '.join(missing)} on "
                                     f"{self.bootstrap} ({exc})") from exc
            for result in response["topics"]:
                code = result["error_code"]
                if code not in (0, kafka_errors.TopicAlreadyExistsError.errno):
                    error = kafka_errors.for_code(code)
                    raise TransportError(f"could not create topic {result['name']!r}: "
                                         f"{result['error_message'] or error.__name__}")
            try:
                self._admin.wait_for_topics(missing, timeout_ms=30_000)
            except kafka_errors.KafkaError as exc:
                raise TransportError(f"topics {', '.join(missing)} were created but have no "
                                     f"leader yet ({exc})") from exc
            self._known_topics.update(missing)

    def _partitions_of(self, topics: Sequence[str]) -> list[TopicPartition]:
        self.ensure_topics(topics)
        try:
            described = self._admin.describe_topics(list(topics))
        except kafka_errors.KafkaError as exc:
            raise TransportError(f"could not describe topics {', '.join(topics)} ({exc})") from exc
        return [TopicPartition(topic["name"], partition["partition_index"])
                for topic in described for partition in topic["partitions"]]

    # -- consuming -------------------------------------------------------------------------------

    def consumer(self, group: str, topics: Sequence[str]) -> KafkaGroupConsumer:
        topics = tuple(topics)
        if not topics:
            raise TransportError(f"consumer {group!r} subscribes to no topic")
        self.ensure_topics(topics)
        try:
            consumer = KafkaConsumer(
                *topics,
                bootstrap_servers=self.bootstrap,
                client_id=self.client_id,
                group_id=group,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                key_deserializer=_TextKey(),
                value_deserializer=_JsonValue(),
                **self._consumer_config,
            )
        except kafka_errors.KafkaError as exc:
            raise TransportError(f"cannot open a consumer of group {group!r} on {self.bootstrap} "
                                 f"({exc})") from exc
        member = KafkaGroupConsumer(consumer, group, topics, join_timeout=self._join_timeout,
                                    on_close=self._forget)
        with self._consumers_lock:
            self._consumers.add(member)
        return member

    def _forget(self, member: KafkaGroupConsumer) -> None:
        with self._consumers_lock:
            self._consumers.discard(member)

    def _reader(self) -> KafkaConsumer:
        """A consumer outside any group, for reading positions and whole topics."""
        try:
            return KafkaConsumer(
                bootstrap_servers=self.bootstrap,
                client_id=f"{self.client_id}-reader",
                group_id=None,
                enable_auto_commit=False,
                key_deserializer=_TextKey(),
                value_deserializer=_JsonValue(),
                fetch_max_wait_ms=_READER_FETCH_WAIT_MS,
            )
        except kafka_errors.KafkaError as exc:
            raise TransportError(f"cannot open a reader on {self.bootstrap} ({exc})") from exc

    def _offsets(self, partitions: list[TopicPartition]) -> tuple[dict[TopicPartition, int],
                                                                    dict[TopicPartition, int]]:
        """(beginning, end) offsets of each partition; see the module docstring for the end."""
        reader = self._reader()
        try:
            beginning = reader.beginning_offsets(partitions)
            listed = reader.end_offsets(partitions)
            reader.assign(partitions)
            for partition in partitions:
                reader.seek(partition, max(listed[partition] - 1, beginning[partition]))
            deadline = time.monotonic() + reader.config["request_timeout_ms"] / 1000
            while any(reader.highwater(partition) is None for partition in partitions):
                if time.monotonic() > deadline:
                    raise TransportError(f"no high watermark from {self.bootstrap} for "
                                         f"{', '.join(sorted({p.topic for p in partitions}))}")
                reader.poll(timeout_ms=100)
            end = {partition: max(listed[partition], reader.highwater(partition))
                   for partition in partitions}
            return beginning, end
        except kafka_errors.KafkaError as exc:
            raise TransportError(f"cannot read offsets from {self.bootstrap} ({exc})") from exc
        finally:
            reader.close()

    def lag(self, group: str, topics: Sequence[str]) -> int:
        """Messages in `topics` after the group's committed offsets (from the start where none)."""
        partitions = self._partitions_of(topics)
        if not partitions:
            return 0
        try:
            committed = self._admin.list_group_offsets({group: partitions}).get(group, {})
        except kafka_errors.KafkaError as exc:
            raise TransportError(f"cannot read the offsets of group {group!r} ({exc})") from exc
        beginning, end = self._offsets(partitions)
        total = 0
        for partition in partitions:
            done = committed.get(partition)
            start = done.offset if done is not None and done.offset >= 0 else beginning[partition]
            total += max(0, end[partition] - max(start, beginning[partition]))
        return total

    def read_all(self, topic: str) -> Iterator[Message]:
        """Every message of `topic` up to its end when called; each partition in order."""
        partitions = self._partitions_of([topic])
        beginning, end = self._offsets(partitions)
        pending = {p for p in partitions if end[p] > beginning[p]}
        if not pending:
            return
        reader = self._reader()
        try:
            reader.assign(sorted(pending))
            for partition in pending:
                reader.seek(partition, beginning[partition])
            deadline = time.monotonic() + reader.config["request_timeout_ms"] / 1000
            while pending:
                batch = reader.poll(timeout_ms=200, max_records=_READ_BATCH)
                for partition, records in batch.items():
                    for record in records:
                        if record.offset < end[partition]:
                            yield _message(record)
                if batch:
                    deadline = time.monotonic() + reader.config["request_timeout_ms"] / 1000
                for partition in list(pending):
                    if reader.position(partition) >= end[partition]:
                        pending.discard(partition)
                        reader.pause(partition)
                if pending and time.monotonic() > deadline:
                    raise TransportError(f"reading topic {topic!r} from {self.bootstrap} stalled "
                                         f"before its end offsets")
        except kafka_errors.KafkaError as exc:
            raise TransportError(f"cannot read topic {topic!r} from {self.bootstrap} "
                                 f"({exc})") from exc
        finally:
            reader.close()

    def close(self) -> None:
        """Close every consumer opened here, send what is queued (up to 10 s), disconnect."""
        if self._closed:
            return
        self._closed = True
        with self._consumers_lock:
            consumers = list(self._consumers)
        for consumer in consumers:
            consumer.close()
        try:
            self._producer.close(timeout=10)
        finally:
            self._admin.close()
        with self._failures_lock:
            failures = [failure for sent in self._failures.values() for failure in sent]
        if failures:
            log.warning("%d message(s) to %s were not stored before close",
                        len(failures), sorted({t for t, _ in failures}))


class KafkaGroupConsumer:
    """One member of a consumer group; `commit` stores the positions of what it polled."""

    def __init__(self, consumer: KafkaConsumer, group: str, topics: tuple[str, ...], *,
                 join_timeout: float, on_close: Any = None) -> None:
        self._consumer = consumer
        self.group = group
        self.topics = topics
        self._join_timeout = join_timeout
        self._joined = False
        self._uncommitted = False
        self._closed = False
        self._on_close = on_close

    def assignment(self) -> frozenset[tuple[str, int]]:
        """The (topic, partition) pairs the group gave this member (empty before it joined)."""
        return frozenset((p.topic, p.partition) for p in self._consumer.assignment())

    def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[Message]:
        """Next messages of the assigned partitions, each partition in order.

        The first poll of a member first waits (up to the transport's join timeout) for the
        group to assign it partitions, then up to `timeout` for messages.
        """
        if self._closed:
            raise TransportError(f"consumer of group {self.group!r} is closed")
        deadline = time.monotonic() + (timeout if self._joined
                                       else max(timeout, self._join_timeout))
        messages: list[Message] = []
        try:
            while len(messages) < max_records:
                if messages:
                    wait = _DRAIN_MS
                else:  # before the join, wake up often to notice it and restart the clock
                    remaining = max(0, int((deadline - time.monotonic()) * 1000))
                    wait = remaining if self._joined else min(remaining, _JOIN_CHECK_MS)
                batch = self._consumer.poll(timeout_ms=wait,
                                            max_records=max_records - len(messages))
                if not self._joined and self._consumer.assignment():
                    self._joined = True
                    deadline = time.monotonic() + timeout  # the join did not eat the wait
                got = [_message(record) for records in batch.values() for record in records]
                messages.extend(got)
                if (messages and not got) or (not messages and time.monotonic() >= deadline):
                    break
        except kafka_errors.KafkaError as exc:
            raise TransportError(f"consumer of group {self.group!r} failed to poll "
                                 f"{', '.join(self.topics)} ({exc})") from exc
        self._joined = True  # only a member's first poll waits for the join (e.g. idle members)
        if messages:
            self._uncommitted = True
        return messages

    def commit(self) -> None:
        """Store the positions of everything polled so far for the group (synchronously)."""
        if not self._uncommitted:
            return
        try:
            self._consumer.commit()
        except kafka_errors.CommitFailedError as exc:
            raise TransportError(f"group {self.group!r} rebalanced before the commit; what this "
                                 "member polled since its last commit will be delivered "
                                 "again") from exc
        except kafka_errors.KafkaError as exc:
            raise TransportError(f"could not commit the offsets of group {self.group!r} "
                                 f"({exc})") from exc
        self._uncommitted = False

    def close(self) -> None:
        """Leave the group without committing: what was not committed goes to the next member."""
        if self._closed:
            return
        self._closed = True
        try:
            self._consumer.close(autocommit=False)
        finally:
            if self._on_close is not None:
                self._on_close(self)

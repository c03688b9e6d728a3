"""What the Kafka transport adds to the contract: partitions, groups of several members, failures.

Runs against a real Tansu broker (tests/streams/conftest.py); names are unique per test.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import pytest

from streams.topics import ALL_TOPICS
from streams.transport import Message, TransportError

pytestmark = pytest.mark.kafka

MakeTransport = Callable[..., Any]
AREAS = [f"E0800{n:04d}" for n in range(12)]


def _poll_until(consumer: Any, count: int, *, within: float = 10.0) -> list[Message]:
    got: list[Message] = []
    deadline = time.monotonic() + within
    while len(got) < count and time.monotonic() < deadline:
        got.extend(consumer.poll(500, timeout=0.5))
    return got


def _partition_counts(bootstrap: str, topics: list[str]) -> dict[str, int]:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        return {t["name"]: len(t["partitions"]) for t in admin.describe_topics(topics)}
    finally:
        admin.close()


def test_each_area_stays_in_one_partition_in_order(make_kafka_transport: MakeTransport,
                                                   unique: Callable[[str], str]) -> None:
    transport, topic = make_kafka_transport(), unique("events")
    transport.produce_many(topic, [(AREAS[n % len(AREAS)], {"n": n}) for n in range(240)])
    transport.flush()

    got = _poll_until(transport.consumer(unique("g"), [topic]), 240)

    assert sorted(m.value["n"] for m in got) == list(range(240))
    by_area: dict[str, list[Message]] = defaultdict(list)
    for message in got:
        by_area[message.key].append(message)
    for area, messages in by_area.items():
        assert len({m.partition for m in messages}) == 1, area
        assert [m.value["n"] for m in messages] == sorted(m.value["n"] for m in messages), area
    assert len({messages[0].partition for messages in by_area.values()}) > 1
    again = defaultdict(list)
    for message in transport.read_all(topic):
        again[message.key].append(message.value["n"])
    assert again == {area: [m.value["n"] for m in ms] for area, ms in by_area.items()}


def test_topics_are_created_with_the_configured_partition_count(
        tansu_factory: Callable[[], Any], make_kafka_transport: MakeTransport) -> None:
    broker = tansu_factory()
    transport = make_kafka_transport(broker.bootstrap, partitions=4)
    transport.produce("first.use", {"n": 1})
    transport.flush()
    transport.consumer("g", ["subscribed.first"]).close()

    counts = _partition_counts(broker.bootstrap, [*ALL_TOPICS, "first.use", "subscribed.first"])

    assert counts == dict.fromkeys([*ALL_TOPICS, "first.use", "subscribed.first"], 4)
    second = make_kafka_transport(broker.bootstrap, partitions=4)  # the topics exist: fine
    second.produce("first.use", {"n": 2})
    second.flush()
    assert [m.value["n"] for m in transport.read_all("first.use")] == [1, 2]


def test_a_new_group_reads_from_the_beginning(make_kafka_transport: MakeTransport,
                                              unique: Callable[[str], str]) -> None:
    transport, topic = make_kafka_transport(), unique("raw.ridr")
    transport.produce_many(topic, [(AREAS[n % 3], {"n": n}) for n in range(9)])
    transport.flush()
    time.sleep(0.2)  # the group is born well after the messages

    got = _poll_until(transport.consumer(unique("late"), [topic]), 9)

    assert sorted(m.value["n"] for m in got) == list(range(9))
    first_offsets: dict[int, int] = {}
    for message in got:
        first_offsets.setdefault(message.partition, message.offset)
    assert set(first_offsets.values()) == {0}


def test_two_members_of_a_group_share_the_partitions(make_kafka_transport: MakeTransport,
                                                     unique: Callable[[str], str]) -> None:
    transport, topic, group = make_kafka_transport(), unique("events"), unique("detector")
    transport.ensure_topics([topic])
    members = [transport.consumer(group, [topic]) for _ in range(2)]
    received: list[list[Message]] = [[], []]
    assigned: list[frozenset[tuple[str, int]]] = [frozenset(), frozenset()]
    stop = threading.Event()

    def run(i: int) -> None:  # each member polls in its own thread, as in separate processes
        while not stop.is_set():
            batch = members[i].poll(100, timeout=0.2)
            received[i].extend(batch)
            members[i].commit()
            assigned[i] = members[i].assignment()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(2)]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 15
        while not (all(assigned) and not assigned[0] & assigned[1]
                   and len(assigned[0] | assigned[1]) == transport.partitions):
            assert time.monotonic() < deadline, f"the group never settled: {assigned}"
            time.sleep(0.05)
        transport.produce_many(topic, [(AREAS[n % len(AREAS)], {"n": n}) for n in range(120)])
        transport.flush()
        deadline = time.monotonic() + 10
        while len(received[0]) + len(received[1]) < 120 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)

    values = [{m.value["n"] for m in got} for got in received]
    assert values[0] and values[1], "both members got messages"
    assert not values[0] & values[1], "no message went to both"
    assert values[0] | values[1] == set(range(120))
    for i in (0, 1):
        assert {(topic, m.partition) for m in received[i]} <= assigned[i]
    assert transport.lag(group, [topic]) == 0


def test_a_new_member_resumes_after_the_committed_offsets(make_kafka_transport: MakeTransport,
                                                          unique: Callable[[str], str]) -> None:
    transport, topic, group = make_kafka_transport(), unique("signals"), unique("alerts")
    transport.produce_many(topic, [(AREAS[n % 4], {"n": n}) for n in range(40)])
    transport.flush()
    assert transport.lag(group, [topic]) == 40

    first = transport.consumer(group, [topic])
    done = first.poll(15, timeout=2)
    first.commit()
    first.close()
    assert len(done) == 15 and transport.lag(group, [topic]) == 25

    rest = _poll_until(transport.consumer(group, [topic]), 25)
    assert sorted(m.value["n"] for m in done + rest) == list(range(40))  # none twice, none lost


def test_a_member_that_dies_before_commit_leaves_its_messages_to_the_group(
        make_kafka_transport: MakeTransport, unique: Callable[[str], str]) -> None:
    transport, topic, group = make_kafka_transport(), unique("raw.forensic"), unique("norm")
    transport.produce_many(topic, [(AREAS[n % 5], {"n": n}) for n in range(30)])
    transport.flush()

    dying = transport.consumer(group, [topic])
    handled = dying.poll(10, timeout=2)
    dying.commit()
    lost = _poll_until(dying, 20)
    dying.close()  # no commit: the last 20 were never handled
    assert len(handled) == 10 and len(lost) == 20

    again = _poll_until(transport.consumer(group, [topic]), 20)
    assert sorted(m.value["n"] for m in again) == sorted(m.value["n"] for m in lost)
    assert transport.lag(group, [topic]) == 20


def test_lag_and_read_all_count_every_message_of_a_batch(make_kafka_transport: MakeTransport,
                                                        unique: Callable[[str], str]) -> None:
    # Regression: Tansu's ListOffsets(latest) is the last batch's base offset + 1, so 50 keyless
    # messages sent as one batch looked like 1 message to lag() and read_all().
    transport, topic = make_kafka_transport(), unique("deadletter")
    transport.produce_many(topic, [(None, {"n": n}) for n in range(50)])
    transport.flush()

    assert [m.value["n"] for m in transport.read_all(topic)] == list(range(50))
    assert transport.lag(unique("nobody"), [topic]) == 50


def test_flush_names_the_topic_when_the_broker_is_gone(tansu_factory: Callable[[], Any],
                                                       make_kafka_transport: MakeTransport) -> None:
    broker = tansu_factory()
    transport = make_kafka_transport(
        broker.bootstrap,
        producer_config={"delivery_timeout_ms": 3000, "request_timeout_ms": 1000,
                         "max_block_ms": 2000, "reconnect_backoff_max_ms": 200},
    )
    transport.produce("raw.market", {"n": 1}, key="E08000025")
    transport.flush()
    broker.kill()

    transport.produce("raw.market", {"n": 2}, key="E08000025")
    with pytest.raises(TransportError, match=r"raw\.market"):
        transport.flush()


def test_producer_falls_back_without_idempotence_when_the_broker_lacks_it(
        make_kafka_transport: MakeTransport, unique: Callable[[str], str],
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from kafka import KafkaAdminClient
    from kafka.protocol.api_key import ApiKey

    assert make_kafka_transport().idempotent  # Tansu offers InitProducerId
    real = KafkaAdminClient.api_versions

    def without_init_producer_id(self: KafkaAdminClient) -> dict[Any, Any]:
        return {key: v for key, v in real(self).items() if key != ApiKey.InitProducerId}

    monkeypatch.setattr(KafkaAdminClient, "api_versions", without_init_producer_id)
    with caplog.at_level(logging.WARNING, logger="streams.kafka"):
        transport = make_kafka_transport()
    assert not transport.idempotent
    assert "idempoten" in caplog.text
    topic = unique("raw.death")
    transport.produce_many(topic, [("E08000025", {"n": n}) for n in range(5)])
    transport.flush()
    assert [m.value["n"] for m in transport.read_all(topic)] == list(range(5))

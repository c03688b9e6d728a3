"""The transport contract: every implementation passes the same tests (embedded now, Kafka later)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.sqlite_log import SqliteLog
from streams.transport import Transport


@pytest.fixture(params=["sqlite", pytest.param("kafka", marks=pytest.mark.kafka)])
def transport(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Transport]:
    if request.param == "kafka":  # a real broker; names namespaced per test (conftest.py)
        yield request.getfixturevalue("kafka_transport")
        return
    log = SqliteLog(tmp_path / "log.sqlite")
    yield log
    log.close()


def _values(messages) -> list[int]:  # noqa: ANN001
    return [m.value["n"] for m in messages]


def test_messages_come_back_in_order_per_key(transport: Transport) -> None:
    transport.produce_many("t", [(f"area{n % 3}", {"n": n}) for n in range(30)])
    consumer = transport.consumer("g", ["t"])
    got = consumer.poll(100, timeout=1)
    for key in ("area0", "area1", "area2"):
        ns = [m.value["n"] for m in got if m.key == key]
        assert ns == sorted(ns) and len(ns) == 10


def test_committed_offsets_survive_a_new_consumer(transport: Transport) -> None:
    transport.produce_many("t", [(None, {"n": n}) for n in range(10)])
    first = transport.consumer("g", ["t"])
    assert _values(first.poll(4, timeout=1)) == [0, 1, 2, 3]
    first.commit()
    first.close()
    second = transport.consumer("g", ["t"])
    assert _values(second.poll(100, timeout=1)) == list(range(4, 10))


def test_uncommitted_messages_are_delivered_again(transport: Transport) -> None:
    transport.produce_many("t", [(None, {"n": n}) for n in range(5)])
    first = transport.consumer("g", ["t"])
    assert _values(first.poll(100, timeout=1)) == list(range(5))
    first.close()  # died before commit
    again = transport.consumer("g", ["t"])
    assert _values(again.poll(100, timeout=1)) == list(range(5))


def test_groups_have_their_own_offsets(transport: Transport) -> None:
    transport.produce_many("t", [(None, {"n": n}) for n in range(3)])
    a = transport.consumer("a", ["t"])
    a.poll(100, timeout=1)
    a.commit()
    b = transport.consumer("b", ["t"])
    assert _values(b.poll(100, timeout=1)) == [0, 1, 2]
    assert transport.lag("a", ["t"]) == 0
    assert transport.lag("b", ["t"]) == 3


def test_poll_waits_then_returns_nothing_when_idle(transport: Transport) -> None:
    consumer = transport.consumer("g", ["empty"])
    assert consumer.poll(10, timeout=0.1) == []


def test_topics_are_separate(transport: Transport) -> None:
    transport.produce("x", {"n": 1}, key="k")
    transport.produce("y", {"n": 2}, key="k")
    consumer = transport.consumer("g", ["y"])
    assert _values(consumer.poll(10, timeout=1)) == [2]
    assert [m.value["n"] for m in transport.read_all("x")] == [1]


def test_values_round_trip_as_json(transport: Transport) -> None:
    value = {"s": "é ☃", "n": 1.5, "l": [1, None, True], "d": {"a": {"b": []}}}
    transport.produce("t", value, key="E08000025")
    message = transport.consumer("g", ["t"]).poll(1, timeout=1)[0]
    assert message.value == value and message.key == "E08000025" and message.topic == "t"


def test_embedded_log_merges_topics_in_append_order(transport: Transport) -> None:
    if not hasattr(transport, "path"):
        pytest.skip("only the embedded log has one global order")
    for n in range(12):
        transport.produce("a" if n % 3 else "b", {"n": n})
    consumer = transport.consumer("g", ["a", "b"])
    assert _values(consumer.poll(5, timeout=1)) == [0, 1, 2, 3, 4]
    assert _values(consumer.poll(100, timeout=1)) == list(range(5, 12))

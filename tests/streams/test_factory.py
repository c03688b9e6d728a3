"""`EWS_TRANSPORT` URLs select the transport."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from streams.factory import transport_from_url
from streams.sqlite_log import SqliteLog
from streams.transport import TransportError


def test_a_sqlite_url_opens_the_embedded_log(tmp_path: Path) -> None:
    log = transport_from_url(f"sqlite:///{tmp_path}/log.sqlite")
    try:
        assert isinstance(log, SqliteLog) and log.path == tmp_path / "log.sqlite"
    finally:
        log.close()


@pytest.mark.parametrize("url", ["", "kafka:host", "sqlite://", "postgres://x/y",
                                 "kafka://host?partitions=many", "kafka://host?color=red",
                                 "kafka://host?delivery_timeout_s=soon"])
def test_a_bad_url_says_what_is_expected(url: str) -> None:
    with pytest.raises(TransportError, match=r"expected sqlite:///PATH|whole number"):
        transport_from_url(url)


@pytest.mark.kafka
def test_a_kafka_url_opens_the_brokers(tansu_factory: Callable[[], Any]) -> None:
    from streams.kafka import KafkaTransport

    kafka_broker = tansu_factory().bootstrap  # a private one: its topics get 3 partitions
    transport = transport_from_url(f"kafka://{kafka_broker}?partitions=3&client_id=ews-test")
    try:
        assert isinstance(transport, KafkaTransport)
        assert (transport.bootstrap, transport.partitions, transport.client_id) == (
            kafka_broker, 3, "ews-test")
    finally:
        transport.close()


def test_a_kafka_url_without_a_port_gets_9092() -> None:
    from streams.factory import _bootstrap

    assert _bootstrap("kafka://a,b:9093,[::1]") == "a:9092,b:9093,[::1]:9092"

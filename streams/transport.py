"""The transport interface: an append-only, keyed, durable log with per-consumer offsets.

Two implementations share it: `streams.sqlite_log` (embedded default) and the Kafka transport of
the scaled deployment. Delivery is at least once: a consumer that dies before `commit` sees the
same messages again, so every handler downstream is idempotent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class TransportError(Exception):
    """Root of transport failures; the message says what the operator should do."""


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    partition: int
    offset: int
    key: str | None
    value: dict[str, Any]
    timestamp: float


class Consumer(Protocol):
    """One member of a consumer group, reading from its committed offsets on."""

    def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[Message]:
        """Next messages after the last polled ones; waits up to `timeout` seconds for any."""
        ...

    def commit(self) -> None:
        """Make every message polled so far count as processed for the group."""
        ...

    def close(self) -> None: ...


class Transport(Protocol):
    def produce(self, topic: str, value: dict[str, Any], key: str | None = None) -> None:
        """Append one message; durable once `flush` returns."""
        ...

    def produce_many(self, topic: str, items: Iterable[tuple[str | None, dict[str, Any]]]) -> None:
        """Append many (key, value) messages, in order."""
        ...

    def flush(self) -> None: ...

    def consumer(self, group: str, topics: Sequence[str]) -> Consumer: ...

    def lag(self, group: str, topics: Sequence[str]) -> int:
        """Messages appended to `topics` that `group` has not committed yet."""
        ...

    def read_all(self, topic: str) -> Iterable[Message]:
        """Every message of a topic from the start, without touching any group's offsets."""
        ...

    def close(self) -> None: ...

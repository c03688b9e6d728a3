"""Topics, record schemas and transports (embedded SQLite log, Kafka) behind one interface."""

from streams.factory import transport_from_url
from streams.transport import Consumer, Message, Transport, TransportError

__all__ = ["Consumer", "Message", "Transport", "TransportError", "transport_from_url"]

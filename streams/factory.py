"""Pick the transport from a URL, as `EWS_TRANSPORT` gives it (DESIGN.md "Two deployments")."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from streams.transport import Transport, TransportError

_KAFKA_PORT = 9092
_USAGE = ("expected sqlite:///PATH (embedded log) or "
          "kafka://HOST[:PORT][,HOST[:PORT]...][?partitions=N&replication=N&client_id=NAME"
          "&delivery_timeout_s=S]")


def transport_from_url(url: str) -> Transport:
    """Open the transport a URL names.

    `sqlite:///PATH` is the embedded log (`sqlite:///log.sqlite` is relative,
    `sqlite:////var/ews/log.sqlite` absolute, as in SQLAlchemy URLs); `kafka://HOST:PORT` is the
    scaled deployment's brokers, comma-separated, port 9092 by default, with optional query
    settings `partitions`, `replication` and `client_id` for the topics and clients it creates,
    and `delivery_timeout_s`: how long a produce waits for unreachable brokers before it fails
    (default 120; an API that should refuse reports with 503 sooner sets it lower).
    """
    scheme, sep, _ = url.partition("://")
    if scheme == "sqlite" and sep:
        from streams.sqlite_log import SqliteLog

        path = url.removeprefix("sqlite:///")
        if not url.startswith("sqlite:///") or not path:
            raise TransportError(f"transport URL {url!r}: {_USAGE}")
        return SqliteLog(path)
    if scheme == "kafka" and sep:
        from streams.kafka import KafkaTransport  # kafka-python is needed only here

        return KafkaTransport(_bootstrap(url), **_kafka_options(url))
    raise TransportError(f"transport URL {url!r}: {_USAGE}")


def _bootstrap(url: str) -> str:
    hosts = [host.strip() for host in urlsplit(url).netloc.split(",") if host.strip()]
    if not hosts:
        raise TransportError(f"transport URL {url!r} names no broker: {_USAGE}")
    return ",".join(host if _has_port(host) else f"{host}:{_KAFKA_PORT}" for host in hosts)


def _has_port(host: str) -> bool:
    if host.startswith("["):  # [::1]:9092
        return "]:" in host
    return ":" in host


def _kafka_options(url: str) -> dict[str, object]:
    query = {name: values[-1] for name, values in parse_qs(urlsplit(url).query).items()}
    unknown = set(query) - {"partitions", "replication", "client_id", "delivery_timeout_s"}
    if unknown:
        raise TransportError(f"transport URL {url!r}: unknown setting(s) "
                             f"{', '.join(sorted(unknown))}; {_USAGE}")
    options: dict[str, object] = {}
    for name in ("partitions", "replication"):
        if name in query:
            try:
                options[name] = int(query[name])
            except ValueError:
                raise TransportError(f"transport URL {url!r}: {name} must be a whole number, "
                                     f"not {query[name]!r}") from None
    if "client_id" in query:
        options["client_id"] = query["client_id"]
    if "delivery_timeout_s" in query:
        try:
            delivery_ms = int(float(query["delivery_timeout_s"]) * 1000)
        except ValueError:
            delivery_ms = 0
        if delivery_ms <= 0:
            raise TransportError(f"transport URL {url!r}: delivery_timeout_s must be a positive "
                                 f"number of seconds, not {query['delivery_timeout_s']!r}; "
                                 f"{_USAGE}")
        # Each request to a broker must time out within the delivery timeout, retries included.
        options["producer_config"] = {"delivery_timeout_ms": delivery_ms,
                                      "request_timeout_ms": min(30_000, max(delivery_ms // 2, 500))}
    return options

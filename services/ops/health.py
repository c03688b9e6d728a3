"""Liveness and readiness of a process over the system's transport, store and index."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from services.ops.logs import redact
from streams import topics

CHECK_TIMEOUT_S = 3.0
# A check that hangs (a broker that does not answer) must not hold a scrape or a probe.
_checks = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="readyz")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _store(system: Any) -> str:
    with system.store.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    return system.store.dialect


def _transport(system: Any) -> str:
    # A real read of the log (or the brokers' offsets), not only a connection.
    return f"normaliser lag {system.transport.lag('normaliser', topics.RAW_TOPICS)}"


def _index(system: Any) -> str:
    return f"{system.index.count()} alerts indexed"


CHECKS: dict[str, Callable[[Any], str]] = {"store": _store, "transport": _transport,
                                           "index": _index}


def readiness(system: Any, timeout: float = CHECK_TIMEOUT_S) -> list[Check]:
    """Whether the store answers, the transport can be read and the alert index searched."""
    futures = {name: _checks.submit(check, system) for name, check in CHECKS.items()}
    out = []
    for name, future in futures.items():
        try:
            out.append(Check(name, True, future.result(timeout=timeout)))
        except concurrent.futures.TimeoutError:
            out.append(Check(name, False, f"no answer within {timeout:.0f} s"))
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready", said how
            out.append(Check(name, False, redact(f"{type(exc).__name__}: {exc}")[:500]))
    return out

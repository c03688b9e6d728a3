"""`ews pipeline`: the embedded pipeline alone, until SIGINT or SIGTERM."""

from __future__ import annotations

import signal
import threading
from collections.abc import Sequence

from services.pipeline.embedded import STAGES, EmbeddedSystem, Pipeline
from services.settings import Settings


def run_forever(settings: Settings, stages: Sequence[str] | None = None) -> int:
    """Run `stages` (default: all) until SIGINT or SIGTERM."""
    only = tuple(stages or STAGES)
    # One process writes a tantivy folder: the one building alerts.
    system = EmbeddedSystem(settings, index_writable="alert-builder" in only)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        Pipeline(system, only=only).run(stop)
    finally:
        system.close()
    return 0

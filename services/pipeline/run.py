"""`ews pipeline`: the embedded pipeline alone, until SIGINT or SIGTERM."""

from __future__ import annotations

import signal
import threading

from services.pipeline.embedded import EmbeddedSystem, Pipeline
from services.settings import Settings


def run_forever(settings: Settings) -> int:
    system = EmbeddedSystem(settings)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        Pipeline(system).run(stop)
    finally:
        system.close()
    return 0

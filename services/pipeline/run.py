"""`ews pipeline`: the embedded pipeline alone, until SIGINT or SIGTERM."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Sequence

from services.pipeline.embedded import STAGES, EmbeddedSystem, Pipeline
from services.settings import Settings

log = logging.getLogger(__name__)


def run_forever(settings: Settings, stages: Sequence[str] | None = None, *,
                parent_pid: int | None = None) -> int:
    """Run `stages` (default: all) until SIGINT or SIGTERM, or until `parent_pid` is gone."""
    only = tuple(stages or STAGES)
    # One process writes a tantivy folder: the one building alerts.
    system = EmbeddedSystem(settings, index_writable="alert-builder" in only)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    if parent_pid is not None:
        threading.Thread(target=_stop_with_parent, args=(parent_pid, stop), daemon=True).start()
    try:
        Pipeline(system, only=only).run(stop)
    finally:
        system.close()
    return 0


def _stop_with_parent(parent_pid: int, stop: threading.Event) -> None:
    """`ews up` SIGKILLed leaves its child to init: the child stops rather than run unwatched."""
    while not stop.wait(1.0):
        if os.getppid() != parent_pid:
            log.warning("process %d, which started these stages, is gone: stopping", parent_pid)
            stop.set()

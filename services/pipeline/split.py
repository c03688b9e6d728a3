"""`ews up`'s pipeline over three processes: two children (`ews pipeline`, each restarted if
it dies), one with the normaliser and the windowed detectors (the sweeper), one with the
per-report detectors; the alert builder and the notifier stay in the API's process.

Why: one Python process runs one thread at a time, and accepting, normalising and detecting
in one needed more than a core's worth to reach 1,000 reports/s on this 2-core machine
(bench/targets.py shows each layout). The sweeper and the detector are the heaviest stages
(about 8 and 7 CPU seconds of the demo's year, against 3 for the normaliser, 4 for accepting
and 2 for the alert builder), so each has a process; apart, the detector raises the sweeper's
signals with its own in the order one process would (services/pipeline/swept.py). The alert
builder writes the tantivy index, which one process at a time may write: kept beside the API,
an alert a reviewer changes is in the index as soon as the API answers, as in one process.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from services.pipeline.embedded import EmbeddedSystem, Pipeline
from services.settings import Settings

log = logging.getLogger(__name__)
CHILD_GROUPS = (("normaliser", "sweeper"), ("detector",))  # a process each
HERE_STAGES = ("alert-builder", "notifier")
RESTART_DELAY_S = 1.0  # doubled after each start that did not last, up to RESTART_DELAY_MAX_S
RESTART_DELAY_MAX_S = 30.0
LASTED_S = 60.0
STOP_GRACE_S = 20.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class StageProcess:
    """`ews pipeline --stage ...` as a child of this process: started again whenever it exits
    while wanted, stopped with SIGTERM, and stopping by itself if this process dies."""

    def __init__(self, settings: Settings, stages: tuple[str, ...]) -> None:
        self.settings = settings
        self.stages = stages
        self.starts = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._metrics_port = 0
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._watcher: threading.Thread | None = None

    def start(self) -> None:
        self._spawn()
        self._watcher = threading.Thread(target=self._watch, name="stage-process", daemon=True)
        self._watcher.start()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def metrics_urls(self) -> list[str]:
        """Where the child serves its stage timings (for the API's /metrics)."""
        return [f"http://127.0.0.1:{self._metrics_port}/metrics"] if self._process else []

    def _spawn(self) -> None:
        with self._lock:
            if self._stopping.is_set():
                return
            self._metrics_port = _free_port()
            env = {**os.environ, **self.settings.environment(),
                   # Its metrics for the API to read, on loopback whatever the API listens on.
                   "EWS_METRICS_PORT": str(self._metrics_port), "EWS_HOST": "127.0.0.1"}
            argv = [sys.executable, "-m", "services.cli", "pipeline",
                    *(arg for stage in self.stages for arg in ("--stage", stage)),
                    "--parent-pid", str(os.getpid())]
            # A session of its own: a Ctrl-C at the terminal reaches this process only, which
            # then stops the child (rather than the child stopping first and being restarted).
            self._process = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                             start_new_session=True)
            self.starts += 1
            log.info("pipeline stages %s started as process %d", ", ".join(self.stages),
                     self._process.pid)

    def _watch(self) -> None:
        quick_exits = 0
        while not self._stopping.is_set():
            process = self._process
            assert process is not None
            started = time.monotonic()
            code = process.wait()
            if self._stopping.is_set():
                return
            # One that keeps failing at start (a bad setting, a full disk) is not spun on.
            quick_exits = 0 if time.monotonic() - started > LASTED_S else quick_exits + 1
            delay = min(RESTART_DELAY_S * 2 ** max(quick_exits - 1, 0), RESTART_DELAY_MAX_S)
            log.error("pipeline stages %s (process %d) exited with %s; starting them again in "
                      "%.0f s (nothing is lost: they go on from their committed offsets)",
                      ", ".join(self.stages), process.pid, code, delay)
            if self._stopping.wait(delay):
                return
            self._spawn()

    def stop(self) -> None:
        with self._lock:
            self._stopping.set()
            process = self._process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            log.error("pipeline process %d did not stop within %.0f s: killed", process.pid,
                      STOP_GRACE_S)
            process.kill()
            process.wait()
        if self._watcher is not None:
            self._watcher.join(timeout=5)


class SplitPipeline:
    """The embedded pipeline with its heavy stages in child processes and the rest in a thread."""

    def __init__(self, system: EmbeddedSystem) -> None:
        self.system = system
        self.children = [StageProcess(system.settings, group) for group in CHILD_GROUPS]
        self.here = Pipeline(system, only=HERE_STAGES)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.here.run, args=(self._stop,),
                                        name="pipeline", daemon=True)

    def metrics_urls(self) -> list[str]:
        """Where the children serve their stage timings (for the API's /metrics)."""
        return [url for child in self.children for url in child.metrics_urls()]

    def start(self) -> None:
        for child in self.children:
            child.start()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        for child in self.children:
            child.stop()
        self._thread.join(timeout=10)

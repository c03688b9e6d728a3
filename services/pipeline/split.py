"""`ews up`'s pipeline over two processes: the normaliser and the detectors in a child
(`ews pipeline`, restarted if it dies), the alert builder and the notifier in the API's.

Why two: one Python process runs one thread at a time, and accepting reports, normalising and
detecting together needed more than one core's worth to reach 1,000 reports/s (bench/targets.py
shows each layout). Why this cut: the detectors and the normaliser are most of the work (about
60% of a report's cost against 13% for accepting it), while the alert builder is light and
writes the tantivy index, which one process at a time may write: kept beside the API, an alert
a reviewer changes is in the index as soon as the API answers, as in one process.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading

from services.pipeline.embedded import EmbeddedSystem, Pipeline
from services.settings import Settings

log = logging.getLogger(__name__)
CHILD_STAGES = ("normaliser", "sweeper", "detector")
HERE_STAGES = ("alert-builder", "notifier")
RESTART_DELAY_S = 1.0
STOP_GRACE_S = 20.0


def _free_port() -> int:
    import socket

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
        while not self._stopping.is_set():
            process = self._process
            assert process is not None
            code = process.wait()
            if self._stopping.is_set():
                return
            log.error("pipeline stages %s (process %d) exited with %s; starting them again in "
                      "%.0f s (nothing is lost: they go on from their committed offsets)",
                      ", ".join(self.stages), process.pid, code, RESTART_DELAY_S)
            if self._stopping.wait(RESTART_DELAY_S):
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
    """The embedded pipeline with its heavy stages in a child process and the rest in a thread."""

    def __init__(self, system: EmbeddedSystem) -> None:
        self.system = system
        self.child = StageProcess(system.settings, CHILD_STAGES)
        self.here = Pipeline(system, only=HERE_STAGES)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.here.run, args=(self._stop,),
                                        name="pipeline", daemon=True)

    def start(self) -> None:
        self.child.start()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.child.stop()
        self._thread.join(timeout=10)

"""The loop that binds a batch handler to a consumer: poll, handle, commit, repeat."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from prometheus_client import Histogram

from streams.transport import Message, Transport

log = logging.getLogger(__name__)
# Time a stage's handler took over one batch (stage="detector": the detectors' run time).
# Measured in the process running the stage; services/ops/metrics.py says where it is served.
BATCH_SECONDS = Histogram("ews_stage_batch_seconds", "Time a pipeline stage took to handle a batch",
                          ["stage"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
                                              5, 10, 30, 60))

BatchHandler = Callable[[Sequence[Message]], None]


class NotYet(Exception):
    """A handler cannot take this batch yet (it waits on another process): the batch is
    delivered again on a later step, and the loop around it may stop meanwhile."""


class Stage:
    """One consumer group running one handler; commits only after the handler succeeded."""

    def __init__(self, transport: Transport, group: str, topics: Sequence[str],
                 handle: BatchHandler, *, max_records: int = 500) -> None:
        self.name = group
        self._transport = transport
        self._topics = tuple(topics)
        self._consumer = transport.consumer(group, topics)
        self._handle = handle
        self._max_records = max_records

    def step(self, timeout: float = 0.0) -> int:
        """Handle one batch; the number of messages handled (0 when there was nothing).

        If the handler fails, the consumer goes back to the group's committed offsets, so the
        same batch is delivered again on the next step.
        """
        batch = self._consumer.poll(self._max_records, timeout=timeout)
        if batch:
            started = time.perf_counter()
            try:
                self._handle(batch)
            except NotYet:
                self._redeliver()
                return 0
            except Exception:
                self._redeliver()
                raise
            BATCH_SECONDS.labels(self.name).observe(time.perf_counter() - started)
            self._consumer.commit()
        return len(batch)

    def _redeliver(self) -> None:
        self._consumer.close()
        self._consumer = self._transport.consumer(self.name, self._topics)

    def close(self) -> None:
        self._consumer.close()


def run_stages(stages: Sequence[Stage], stop: threading.Event, *, idle_wait: float = 0.05,
               on_idle: Callable[[], None] | None = None) -> None:
    """Run stages round-robin until `stop` is set; each failure is logged and retried."""
    while not stop.is_set():
        handled = 0
        for stage in stages:
            try:
                handled += stage.step()
            except Exception:
                log.exception("stage %s failed; its batch will be redelivered", stage.name)
                stop.wait(1.0)
        if on_idle is not None:
            on_idle()
        if handled == 0:
            stop.wait(idle_wait)

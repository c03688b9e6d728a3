"""The windowed detectors (a `Sweeper`) in a child process of the detector.

The sweeps are half of the embedded detector's work and depend on nothing the per-event
detectors do, so the detector hands each batch's new events to this process first and
collects its signals after its own work: on two cores the two run side by side. The child
holds the sweeper's memory (a year of events); the detector still decides everything else:
which events are new, the transaction the signals are stored in, and when the memory must be
rebuilt (`load`), exactly as with a `Sweeper` of its own.

The child is forked from multiprocessing's fork server (started once per process, with the
detectors imported), so a new one costs milliseconds, not the seconds of a fresh interpreter.
It exits when the detector goes away, even by SIGKILL: its end of the pipe then reads EOF.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import traceback
import weakref
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

from streams.records import Event, Signal

_REPLY_POLL_S = 1.0


class SweepProcessError(RuntimeError):
    """The child failed or died; the batch is retried with a new one."""


def _context() -> Any:
    context = multiprocessing.get_context(__import__("os").environ.get("EWS_MP", "forkserver"))
    # Only heeded before the fork server starts (the first child); harmless afterwards.
    if context.get_start_method() == "forkserver": context.set_forkserver_preload(["services.detector.sweep_process", "services.detector.sweeps"])
    return context


class SweepProcess:
    """A `Sweeper` in a child process, driven through a pipe (`Sweeps`, plus `load`)."""

    def __init__(self) -> None:
        context = _context()
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child,), name="ews-sweeps",
                                        daemon=True)
        self._process.start()
        child.close()
        self._awaiting = False
        # A pipeline dropped without closing (tests, benchmarks) takes its child with it.
        self._finalizer = weakref.finalize(self, _stop, self._conn, self._process)

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def alive(self) -> bool:
        return self._process.is_alive() and not self._awaiting

    def load(self, payloads: Sequence[dict[str, Any]], latest: dt.date | None) -> None:
        """Start the child's memory afresh from stored event payloads (`Sweeper.load`)."""
        self._send(("load", list(payloads), latest))
        self._reply()

    def submit(self, events: Sequence[Event]) -> None:
        self._send(("add", list(events)))
        self._awaiting = True

    def collect(self) -> list[list[Signal]]:
        reply = self._reply()
        self._awaiting = False
        return reply

    def close(self) -> None:
        self._finalizer()

    def _send(self, message: tuple) -> None:
        try:
            self._conn.send(message)
        except (OSError, ValueError) as exc:
            raise SweepProcessError(f"the sweeps process is gone ({exc}); "
                                    f"exit code {self._process.exitcode}") from exc

    def _reply(self) -> Any:
        try:
            while not self._conn.poll(_REPLY_POLL_S):
                if not self._process.is_alive():
                    raise SweepProcessError(
                        f"the sweeps process died (exit code {self._process.exitcode})")
            status, value = self._conn.recv()
        except (EOFError, OSError) as exc:
            raise SweepProcessError(f"the sweeps process is gone ({type(exc).__name__}); "
                                    f"exit code {self._process.exitcode}") from exc
        if status != "ok":
            raise SweepProcessError(f"the sweeps process failed: {value}")
        return value


def _stop(conn: Connection, process: multiprocessing.process.BaseProcess) -> None:
    try:
        conn.close()  # the child reads EOF and returns
    except OSError:
        pass
    process.join(timeout=5)
    if process.is_alive():
        process.kill()
        process.join(timeout=5)


def _serve(conn: Connection) -> None:
    """The child: one request at a time until the detector closes its end (or dies)."""
    from services.detector.sweeps import Sweeper
    from services.geography import load_geography

    geography = load_geography()
    sweeper = Sweeper(geography)
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        try:
            if request[0] == "load":
                _, payloads, latest = request
                sweeper = Sweeper(geography)
                sweeper.load([Event.model_validate(payload) for payload in payloads], latest)
                reply: Any = None
            elif request[0] == "add":
                reply = [sweeper.add(event) for event in request[1]]
            else:
                raise ValueError(f"unknown request {request[0]!r}")
        except Exception as exc:  # noqa: BLE001 - the detector decides what a failure means
            conn.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
            continue
        conn.send(("ok", reply))

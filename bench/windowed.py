"""The windowed detectors alone, over the same months at two densities: ms per report of each.

A windowed detector looks back over a window: presentation clusters and death clusters weekly,
market purity and price daily. If it compared each report with every other in its window, its
cost per report would grow with the density of reports (reports per area and per window), and
a national stream ten times as dense would cost ten times as much per report. This measures it:

1. two streams simulated over the same months (``ews simulate`` seed 7), at ``--low`` and
   ``--high`` times the national background;
2. each accepted and normalised by the embedded pipeline (its normaliser stage only), so that
   the events are those the sweeper takes in a real run;
3. the events given to a ``Sweeper`` in their order, as the sweeper stage does; the time of
   each detector is summed, and ms per report is taken over the reports dated in the last
   ``--measure-months`` (the windows are full by then).

Printed: ms per report of each detector and in all, at each density, and their ratio (1.0 is
a cost per report that does not depend on density). The machine is shared: compare the figures
of one run.

Usage: python bench/windowed.py [--months 17] [--measure-months 4] [--low 0.5] [--high 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from services.detector import sweeps
from services.geography import load_geography
from services.pipeline import EmbeddedSystem, Pipeline
from services.settings import Settings
from services.simulate import iter_stream, simulate
from streams import topics
from streams.records import Event
from targets import END, accept_day, by_arrival_day

DETECTORS = ("presentation_clusters", "death_clusters", "market_anomalies",
             "presentation_signals", "death_signals", "market_signals")


def events_of(sim: Path, root: Path) -> list[Event]:
    """The stream accepted day by day and normalised: the events, in the log's order."""
    system = EmbeddedSystem(Settings(data_dir=root / "ews"))
    try:
        pipeline = Pipeline(system, only=["normaliser"])
        for _day, items in by_arrival_day(iter_stream(sim)):
            accept_day(system, list(items))
            pipeline.drain()
        return [Event.model_validate(m.value) for m in system.transport.read_all(topics.EVENTS)]
    finally:
        system.close()


def sweep_costs(events: list[Event], since: dt.date) -> dict[str, float]:
    """Seconds per detector (and in all) over the events dated from `since`; 'reports' their
    number."""
    spent: dict[str, float] = defaultdict(float)
    originals = {name: getattr(sweeps, name) for name in DETECTORS}

    def timed(name, fn):
        def run(*args, **kwargs):
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                if measuring:
                    spent[name] += time.perf_counter() - started
        return run

    for name, fn in originals.items():
        setattr(sweeps, name, timed(name, fn))
    scans = sweeps.Sweeper._scans
    sweeps.Sweeper._scans = timed("scans", scans)
    try:
        sweeper = sweeps.Sweeper(load_geography())
        measuring, reports, started = False, set(), 0.0
        gc.collect()
        for event in events:
            if not measuring and event.date >= since:
                measuring, started = True, time.perf_counter()
            if measuring:
                reports.add(event.report_key)
            sweeper.add(event)
        spent["all"] = time.perf_counter() - started
    finally:
        for name, fn in originals.items():
            setattr(sweeps, name, fn)
        sweeps.Sweeper._scans = scans
    spent["reports"] = len(reports)
    return dict(spent)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--months", type=int, default=17)
    parser.add_argument("--measure-months", type=int, default=4)
    parser.add_argument("--low", type=float, default=0.5)
    parser.add_argument("--high", type=float, default=5.0)
    args = parser.parse_args()
    months_back = END.year * 12 + END.month - 1 - (args.measure_months - 1)
    since = dt.date(months_back // 12, months_back % 12 + 1, 1)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for density in (args.low, args.high):
            root = Path(tmp) / f"d{density:g}"
            simulate(root / "sim", seed=7, scale=density, months=args.months, end=END)
            started = time.perf_counter()
            events = events_of(root / "sim", root)
            print(f"density {density:g}: {len(events):,} events normalised in "
                  f"{time.perf_counter() - started:.0f} s", flush=True)
            rows[density] = sweep_costs(events, since)
            del events
    low, high = rows[args.low], rows[args.high]
    print(f"\nms per report over the reports dated from {since} ({low['reports']:,.0f} at "
          f"density {args.low:g}, {high['reports']:,.0f} at {args.high:g}):")
    print(f"{'detector':24} {args.low:>10g} {args.high:>10g} {'ratio':>7}")
    for name in (*DETECTORS, "scans", "all"):
        a = 1000 * low.get(name, 0.0) / low["reports"]
        b = 1000 * high.get(name, 0.0) / high["reports"]
        print(f"{name:24} {a:10.3f} {b:10.3f} {b / a if a else float('nan'):7.2f}")


if __name__ == "__main__":
    main()

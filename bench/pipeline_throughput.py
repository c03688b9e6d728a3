"""Reports/s through the embedded pipeline, end to end (ingest -> normaliser -> detectors ->
alert builder -> index), on the demo's simulated stream; and how the demo's threats were found.

Usage: python bench/pipeline_throughput.py [--scale 1.0] [--seed 7]
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

from services.demo import at_background_festival, score
from services.ingest import accept, validate
from services.pipeline import EmbeddedSystem, Pipeline
from services.settings import Settings
from services.simulate import iter_stream, simulate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        simulate(root / "sim", seed=args.seed, scale=args.scale, end=dt.date(2026, 10, 31))
        stream = list(iter_stream(root / "sim"))
        t_sim = time.perf_counter() - t0
        system = EmbeddedSystem(Settings(data_dir=root / "ews"))
        pipeline = Pipeline(system)
        by_source: dict[str, list] = defaultdict(list)
        for index, (_arrival, source, record) in enumerate(stream):
            by_source[source].append((index, validate(source, record)))
        t1 = time.perf_counter()
        for source, records in by_source.items():
            for start in range(0, len(records), 1000):
                accept(system.store, system.transport, source, "bench", records[start:start + 1000], via="bench")
        t_ingest = time.perf_counter() - t1
        t2 = time.perf_counter()
        pipeline.drain()
        t_pipe = time.perf_counter() - t2
        results, false_alerts = score(system.store, root / "sim" / "ground_truth.json", system.geography)
        n = len(stream)
        print(f"reports: {n} ({dict(Counter(s for _, s, _ in stream))}); simulated in {t_sim:.1f} s")
        print(f"ingest (validate excluded): {t_ingest:.1f} s = {n / t_ingest:,.0f} reports/s")
        print(f"pipeline drain: {t_pipe:.1f} s = {n / t_pipe:,.0f} reports/s")
        print(f"end to end: {n / (t_ingest + t_pipe):,.0f} reports/s")
        print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
        print(f"planted threats alerted: {sum(r.detected for r in results)} of {len(results)}")
        for r in results:
            print(f"  {r.threat_id}: detected={r.detected} delay_days={r.delay_days} alerts={len(r.alert_ids)}")
        truth = root / "sim" / "ground_truth.json"
        festival = [a for a in false_alerts if at_background_festival(a, truth, system.geography)]
        print(f"alerts matching no planted threat: {len(false_alerts)} ({len(false_alerts) / 12:.1f} "
              f"per simulated month), of which {len(festival)} at the background's festival weekends")
        for alert in false_alerts:
            where = "festival" if alert in festival else "other"
            print(f"  [{where}] {alert.severity} {alert.title} [{alert.first_seen}..{alert.last_seen}]")
        system.close()


if __name__ == "__main__":
    main()

"""Time the space-time permutation scan over all UK districts; prints seconds per scan.

Each case: daily counts in every district (Poisson, proportional to population) over a study
period, one cluster planted in Birmingham and its two nearest neighbours over the last 5 days
(max(10, 0.4% of the cases) extra cases in each), then
one prospective scan with 999 replicates (zones of up to 15 districts, windows up to 14 or 28
days, at most 50% of the cases in a zone). The most likely cluster is printed with its p-value.

Run: python bench/scan_all_areas.py [--replicates N] [--repeat N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from services.detector.scan import space_time_scan, zones_from_geography
from services.geography import load_geography

BIRMINGHAM = "E08000025"
CASES = (  # label, cases in the study period, study days, longest window (days)
    ("a rare class (300 cases, 91 days)", 300, 91, 14),
    ("one substance, one source (1,500 cases, 182 days)", 1_500, 182, 14),
    ("a common class (5,000 cases, 182 days)", 5_000, 182, 14),
    ("all opioid harms (20,000 cases, 365 days)", 20_000, 365, 28),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replicates", type=int, default=999)
    parser.add_argument("--repeat", type=int, default=3, help="runs per case; the best is shown")
    parser.add_argument("--max-areas", type=int, default=15)
    args = parser.parse_args()

    geography = load_geography()
    began = time.perf_counter()
    zones = zones_from_geography(geography, max_areas=args.max_areas)
    print(f"zones: {len(zones.area_codes)} districts x up to {zones.max_areas} areas each, "
          f"built in {time.perf_counter() - began:.3f} s")
    population = np.array(
        [geography.areas[code].population or 100_000 for code in zones.area_codes], dtype=float
    )
    index = zones.index()
    planted = zones.order[index[BIRMINGHAM], :3]
    rng = np.random.default_rng(2025)
    print(f"{'case':52s} {'cases':>6s} {'days':>4s} {'window':>6s} {'seconds':>8s}  "
          "most likely cluster")
    for label, cases, days, window in CASES:
        counts = rng.poisson(np.outer(population / population.sum() * cases / days, np.ones(days)))
        extra = max(10, round(0.004 * cases))
        counts[planted, -5:] += rng.multinomial(extra, np.ones(5) / 5, size=planted.size)
        timings = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            result = space_time_scan(counts, zones, max_window=window, replicates=args.replicates)
            timings.append(time.perf_counter() - start)
        best = result.clusters[0]
        print(f"{label:52s} {int(counts.sum()):6d} {days:4d} {window:6d} {min(timings):8.2f}  "
              f"{len(best.areas)} areas from {best.centre}, {best.observed} obs / "
              f"{best.expected:.1f} exp, p={best.p_value:.3f}, RI {best.recurrence_days:.0f} d")
    print(f"({args.replicates} replicates; planted: max(10, 0.4% of the cases) extra cases in "
          f"each of {', '.join(zones.area_codes[i] for i in planted)} over the last 5 days)")


if __name__ == "__main__":
    main()

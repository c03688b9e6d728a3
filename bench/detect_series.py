"""Time `ews detect series` on synthetic inputs; prints rows, seconds and rows per second.

Run: python bench/detect_series.py [--quick]
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from services.detector.series import detect_series_command


def synthetic(n_series: int, weeks: int, seed: int = 7) -> pd.DataFrame:
    """Seasonal overdispersed weekly counts for ``n_series`` series of ``weeks`` periods."""
    rng = np.random.default_rng(seed)
    t = np.arange(weeks)
    frames = []
    for i in range(n_series):
        level = rng.uniform(-1.0, 2.5)
        mu = np.exp(level + 0.5 * np.sin(2 * np.pi * (t + rng.integers(52)) / 52))
        counts = rng.negative_binomial(5, 5 / (5 + mu))
        frames.append(pd.DataFrame({"series_id": f"s{i}", "period": t, "count": counts}))
    return pd.concat(frames, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller inputs")
    args = parser.parse_args()
    scale = 4 if args.quick else 1
    cases = [
        ("short histories (EARS)", 2000 // scale, 20),
        ("3-6 years (auto: Farrington b=3..5)", 100 // scale, 300),
        ("7 years (auto: Farrington b=5)", 40 // scale, 364),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for label, n_series, weeks in cases:
            path = Path(tmp) / "in.csv"
            synthetic(n_series, weeks).to_csv(path, index=False)
            for method in (None, "ears_c2", "farrington"):
                out = io.StringIO()
                began = time.perf_counter()
                status = detect_series_command(path, method, None, "week", out)
                seconds = time.perf_counter() - began
                rows = n_series * weeks
                print(
                    f"{label:38s} method={method or 'default':10s} rows={rows:6d} "
                    f"seconds={seconds:6.2f} rows/s={rows / seconds:9.0f} status={status}"
                )


if __name__ == "__main__":
    main()

"""`ews simulate`: write a demo stream with planted threats and say what was written."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import TextIO

from services.simulate.simulator import simulate
from services.simulate.world import SimulationError


def simulate_command(
    out: Path, seed: int, months: int, end: str | None, scale: float, stdout: TextIO
) -> int:
    """Run `simulate` and print a short summary; 0 on success, 2 when an argument is wrong."""
    try:
        last = dt.date.fromisoformat(end) if end else None
    except ValueError:
        print(f"error: --end {end!r} is not a date (YYYY-MM-DD)", file=stdout)
        return 2
    began = time.perf_counter()
    try:
        summary = simulate(Path(out), seed=seed, months=months, end=last, scale=scale)
    except SimulationError as error:
        print(f"error: {error}", file=stdout)
        return 2
    except OSError as error:
        print(f"error: cannot write the simulation to {out}: {error}", file=stdout)
        return 2
    seconds = time.perf_counter() - began
    print(
        f"simulated {summary.start} to {summary.end} ({summary.months} months), seed {seed}, "
        f"scale {scale:g}, in {seconds:.1f} s",
        file=stdout,
    )
    for source, count in summary.records.items():
        print(f"  {source:<9} {count:>7,}", file=stdout)
    print(f"  {'total':<9} {summary.total:>7,}", file=stdout)
    print(f"planted threats ({len(summary.threats)}):", file=stdout)
    for threat, per_source in summary.threats.items():
        planted = ", ".join(f"{source} {n}" for source, n in per_source.items())
        print(f"  {threat:<38} {planted}", file=stdout)
    print(f"written to {summary.out_dir} (ground truth: ground_truth.json)", file=stdout)
    return 0

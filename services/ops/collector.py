"""The garbage collector's settings for the system's long-running processes.

A pipeline process keeps a large, long-lived heap (the sweeper's year of events, the detector's
kept counts) and allocates many short-lived objects per event (decoded messages, validated
records), almost none of them in reference cycles: reference counting frees them. With
CPython's default thresholds (700, 10, 10) the collector runs a young collection every 700 net
allocations and a full one, over the whole heap, every 70,000 or so, and in all they found a
few hundred objects. In three paired runs of bench/targets.py's throughput (one process, CPython's
thresholds then these): 818 -> 920, 710 -> 862 and 907 -> 934 reports/s end to end.
Collections that rarely find anything are made rarer. Memory held by unreachable cycles
between them stays small: bench/targets.py's 1M-report scaling point peaked at 950 MiB when its
events reached a million, against 932 MiB with CPython's thresholds (RSS 924 against 904).
"""

from __future__ import annotations

import gc

# A young collection every 50,000 net allocations, an older one every 20 of those, a full one
# every 50 older ones (and, as CPython does, only once the long-lived heap grew by a quarter).
THRESHOLDS = (50_000, 20, 50)


def tune_collector() -> tuple[int, int, int]:
    """Set the collector's thresholds for a long-running process; the thresholds before."""
    before = gc.get_threshold()
    gc.set_threshold(*THRESHOLDS)
    return before

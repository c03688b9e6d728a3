"""Detectors: one module per method, the batch handler that runs them, and the alert builder."""

import scipy.stats  # noqa: F401 - loads every BLAS the detectors use, so the limit below holds
import sklearn.cluster  # noqa: F401
from threadpoolctl import threadpool_limits

# The detectors multiply matrices of a few hundred rows at most. OpenBLAS's default of a thread
# per core then buys nothing: its extra thread spins on the other core, which is another
# pipeline stage's. One thread: the demo year's sweeps took 7.6-8.8 s of CPU, against 12.5-14.2 s.
threadpool_limits(limits=1, user_api="blas")

from services.detector.detect import DetectorConfig, detect
from services.detector.fusion import build_alerts, decide

__all__ = ["DetectorConfig", "build_alerts", "decide", "detect"]

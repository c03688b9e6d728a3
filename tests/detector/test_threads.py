"""The detectors' processes keep to one BLAS thread (their matrices are small; a second thread
spins on the core another pipeline stage needs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_importing_the_detectors_limits_every_blas_to_one_thread() -> None:
    # A fresh interpreter: this one's limits depend on what other tests imported first.
    code = ("import services.detector.sweeps\n"
            "from threadpoolctl import threadpool_info\n"
            "print(sorted({i['num_threads'] for i in threadpool_info()"
            " if i['user_api'] == 'blas'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={"OPENBLAS_NUM_THREADS": "4", "PATH": ""}, cwd=ROOT)
    assert out.stdout.strip() == "[1]"

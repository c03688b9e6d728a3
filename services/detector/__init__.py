"""Detectors: one module per method, the batch handler that runs them (`detect`), and the alert
builder (`fusion`). Nothing is imported here, so that a process needing one of them (the
detector's sweeps process) does not load them all."""

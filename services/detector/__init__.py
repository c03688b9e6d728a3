"""Detectors: one module per method, the batch handler that runs them, and the alert builder."""

from services.detector.detect import DetectorConfig, detect
from services.detector.fusion import build_alerts, decide

__all__ = ["DetectorConfig", "build_alerts", "decide", "detect"]

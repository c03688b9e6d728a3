"""Operations: logging, health and readiness, Prometheus metrics, backup and restore."""

from services.ops.backup import BackupError, backup, restore
from services.ops.health import Check, readiness
from services.ops.logs import JsonLines, RedactSecrets, configure_logging, log_startup, redact
from services.ops.metrics import HttpMetrics, SystemCollector, serve_metrics, system_registry

__all__ = ["BackupError", "Check", "HttpMetrics", "JsonLines", "RedactSecrets", "SystemCollector",
           "backup", "configure_logging", "log_startup", "readiness", "redact", "restore",
           "serve_metrics", "system_registry"]

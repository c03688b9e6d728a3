"""The system of record (SQLAlchemy): models, the store that opens them, and its migrations."""

from services.store.db import (
    AuditIsAppendOnly,
    ConcurrentUpdateError,
    Store,
    StoreError,
    engine_insert,
    retry_on_conflict,
)
from services.store.models import (
    AlertRow,
    AuditEntry,
    Base,
    EventRow,
    SeriesCount,
    SeriesReport,
    Sighting,
    SignalRow,
    Submission,
)

__all__ = [
    "AlertRow", "AuditEntry", "AuditIsAppendOnly", "Base", "ConcurrentUpdateError", "EventRow",
    "SeriesCount", "SeriesReport", "Sighting", "SignalRow", "Store", "StoreError", "Submission",
    "engine_insert", "retry_on_conflict",
]

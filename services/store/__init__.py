"""The system of record (SQLAlchemy): models and the store that opens them."""

from services.store.db import Store, engine_insert
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
    "AlertRow", "AuditEntry", "Base", "EventRow", "SeriesCount", "SeriesReport", "Sighting",
    "SignalRow", "Store", "Submission", "engine_insert",
]

"""Ingest: validate records against the v1 schemas, accept them idempotently, dead-letter the rest."""

from services.ingest.accept import (
    IngestUnavailable,
    Outcome,
    accept,
    content_hash,
    dead_letter,
    ingest_rows,
)
from services.ingest.files import (
    FileFormatError,
    Row,
    detect_format,
    parse_csv,
    parse_file,
    parse_ndjson,
)
from services.ingest.validate import (
    IngestError,
    RecordInvalid,
    UnknownSource,
    submitter_for,
    validate,
)

__all__ = [
    "FileFormatError", "IngestError", "IngestUnavailable", "Outcome", "RecordInvalid", "Row",
    "UnknownSource", "accept",
    "content_hash", "dead_letter", "detect_format", "ingest_rows", "parse_csv", "parse_file",
    "parse_ndjson", "submitter_for", "validate",
]

"""The alert index interface: full-text search with filters and facet counts.

The embedded default implements it with tantivy; the scaled deployment with Elasticsearch.
Documents are flat: keyword fields filter and facet, `text` is searched, `doc` is returned.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

FACET_FIELDS: tuple[str, ...] = ("class", "area", "status", "severity", "source", "substance")


class IndexError_(Exception):
    """Root of alert-index failures."""


@dataclass(frozen=True)
class AlertDocument:
    alert_id: str
    text: str
    status: str
    severity: str
    klass: str | None
    substance: str | None
    substance_key: str | None
    areas: tuple[str, ...]
    regions: tuple[str, ...]
    sources: tuple[str, ...]
    first_seen: dt.date
    last_seen: dt.date
    updated_at: dt.datetime
    doc: dict[str, Any]


@dataclass(frozen=True)
class AlertQuery:
    q: str | None = None
    area: str | None = None
    klass: str | None = None
    substance: str | None = None
    status: str | None = None
    severity: str | None = None
    source: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    limit: int = 20
    offset: int = 0
    # What the caller may see at all, applied before everything else (facets included): an
    # alert whose status is one of `visible_statuses`, or that touches one of `visible_areas`.
    # None: no restriction.
    visible_statuses: tuple[str, ...] | None = None
    visible_areas: tuple[str, ...] = ()


@dataclass(frozen=True)
class SearchPage:
    total: int
    hits: list[dict[str, Any]]
    facets: dict[str, dict[str, int]] = field(default_factory=dict)


class AlertIndex(Protocol):
    def upsert(self, documents: Sequence[AlertDocument]) -> None:
        """Add or replace documents by alert_id; searchable when this returns."""
        ...

    def search(self, query: AlertQuery) -> SearchPage: ...

    def count(self) -> int: ...

    def close(self) -> None: ...

"""How an alert of the store becomes a document of the alert index, and is kept in step."""

from __future__ import annotations

import threading
import weakref

from sqlalchemy import select, update

from services.api.index import AlertDocument, AlertIndex
from services.geography import Geography
from services.store import AlertRow, Store


def alert_summary(row: AlertRow, geography: Geography) -> dict:
    """The listing fields of an alert (what a search hit shows)."""
    return {
        "alert_id": row.alert_id,
        "title": row.title,
        "summary": row.summary,
        "status": row.status,
        "severity": row.severity,
        "confidence": row.confidence,
        "substance_key": row.substance_key,
        "substance_name": row.substance_name,
        "class": row.substance_class,
        "novel": row.novel,
        "scope": row.scope,
        "areas": [{"code": code, "name": geography.areas[code].name if code in geography.areas else code}
                  for code in row.areas],
        "sources": list(row.sources),
        "detectors": list(row.detectors),
        "first_seen": row.first_seen.isoformat(),
        "last_seen": row.last_seen.isoformat(),
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


def alert_document(row: AlertRow, geography: Geography) -> AlertDocument:
    areas = [geography.areas[code] for code in row.areas if code in geography.areas]
    words = [row.title, row.summary, row.substance_name or "", row.substance_class or "",
             (row.substance_class or "").replace("_", " "),
             *(area.name for area in areas), *(area.region_name for area in areas),
             *row.sources, *row.detectors, "novel new substance" if row.novel else "",
             # every substance and class the alert's signals named (not the InChIKeys)
             *(term.split(":", 1)[1].replace("_", " ") for term in row.terms
               if term.startswith(("name:", "class:")))]
    return AlertDocument(
        alert_id=row.alert_id,
        text=" ".join(word for word in words if word),
        status=row.status,
        severity=row.severity,
        klass=row.substance_class,
        substance=row.substance_name,
        substance_key=row.substance_key,
        areas=tuple(row.areas),
        regions=tuple(sorted({area.region_code for area in areas})),
        sources=tuple(row.sources),
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        updated_at=row.updated_at,
        doc=alert_summary(row, geography),
    )


# One sync at a time per index object: the pipeline and the API (after a review change) both
# sync, and two interleaved syncs could write an older document over a newer one.
_sync_locks: weakref.WeakKeyDictionary[object, threading.Lock] = weakref.WeakKeyDictionary()
_sync_locks_lock = threading.Lock()
_any_index_lock = threading.Lock()


def _sync_lock(index: AlertIndex) -> threading.Lock:
    with _sync_locks_lock:
        try:
            return _sync_locks.setdefault(index, threading.Lock())
        except TypeError:  # not weak-referenceable: one lock for all such indexes
            return _any_index_lock


def sync_index(store: Store, index: AlertIndex, geography: Geography, *, batch: int = 500) -> int:
    """Index every alert whose indexed version lags its version; the number indexed."""
    with _sync_lock(index):
        return _sync(store, index, geography, batch)


def _sync(store: Store, index: AlertIndex, geography: Geography, batch: int) -> int:
    done = 0
    while True:
        with store.session() as session:
            rows = list(session.execute(
                select(AlertRow).where(AlertRow.indexed_version != AlertRow.version).limit(batch)
            ).scalars())
            versions = {row.alert_id: row.version for row in rows}
            documents = [alert_document(row, geography) for row in rows]
        if not documents:
            return done
        index.upsert(documents)
        with store.session() as session:
            for alert_id, version in versions.items():
                # A plain UPDATE: the ORM's version counter must not move for bookkeeping.
                session.execute(
                    update(AlertRow)
                    .where(AlertRow.alert_id == alert_id, AlertRow.version == version)
                    .values(indexed_version=version)
                    .execution_options(synchronize_session=False)
                )
        done += len(documents)

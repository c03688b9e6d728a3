"""Embedded alert index on tantivy (Lucene-like, in-process; see DESIGN.md for why not FTS5)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import tantivy

from services.api.index.base import FACET_FIELDS, AlertDocument, AlertQuery, SearchPage

_KEYWORDS = ("alert_id", "status", "severity", "class", "substance", "substance_key", "area",
             "region", "source")
_RELOAD_EVERY_S = 0.2
# Fields a query may name (`class:nitazene`), as on Elasticsearch. Not `doc`: the stored JSON is
# one raw term, and its ranges (`doc:>"{..."`) would spell out, a character at a time, fields
# of a hit that the caller is shown restricted. A field name outside this set is dropped.
_QUERYABLE = frozenset(_KEYWORDS) | {"text"}
_FIELD_PREFIX = re.compile(r"(?<![\w\\])([^\W\d][\w.\\-]*)\s*:")


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    for name in _KEYWORDS:
        builder.add_text_field(name, stored=False, fast=True, tokenizer_name="raw")
    builder.add_text_field("text", stored=False, tokenizer_name="en_stem")
    builder.add_date_field("first_seen", indexed=True, fast=True)
    builder.add_date_field("last_seen", indexed=True, fast=True)
    builder.add_date_field("updated_at", indexed=True, fast=True)
    builder.add_text_field("doc", stored=True, index_option="basic", tokenizer_name="raw")
    return builder.build()


# tantivy stores dates as nanoseconds since 1970 in 64 bits: query bounds outside are clamped.
_EARLIEST = dt.date(1678, 1, 1)
_LATEST = dt.date(2262, 1, 1)


def _midnight(day: dt.date) -> dt.datetime:
    day = min(max(day, _EARLIEST), _LATEST)
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


class TantivyAlertIndex:
    """One writer per index directory: the pipeline writes, the API only reads."""

    def __init__(self, path: Path, *, writable: bool = True) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self._schema = _schema()
        self._index = tantivy.Index(self._schema, path=str(path), reuse=True)
        self._writer = self._index.writer(heap_size=50_000_000, num_threads=1) if writable else None
        if self._writer is not None:
            # A writer killed mid-commit leaves files its meta.json never named. The next commit
            # can pick the same name (a delete file is named by opstamp) and fail on it, so the
            # leftovers go before anything is written.
            self._writer.garbage_collect_files()
        self._lock = threading.Lock()
        self._reloaded = 0.0

    def upsert(self, documents: Sequence[AlertDocument]) -> None:
        if self._writer is None:
            raise RuntimeError("this alert index was opened read-only")
        if not documents:
            return
        with self._lock:
            for document in documents:
                self._writer.delete_documents_by_term("alert_id", document.alert_id)
                self._writer.add_document(self._to_tantivy(document))
            self._writer.commit()
            self._index.reload()
            self._reloaded = time.monotonic()

    @staticmethod
    def _to_tantivy(document: AlertDocument) -> tantivy.Document:
        fields: dict[str, Any] = {
            "alert_id": document.alert_id,
            "status": document.status,
            "severity": document.severity,
            "text": document.text,
            "area": list(document.areas),
            "region": list(document.regions),
            "source": list(document.sources),
            "first_seen": _midnight(document.first_seen),
            "last_seen": _midnight(document.last_seen),
            "updated_at": document.updated_at,
            "doc": json.dumps(document.doc, default=str),
        }
        for name, value in (("class", document.klass), ("substance", document.substance),
                            ("substance_key", document.substance_key)):
            if value:
                fields[name] = value
        return tantivy.Document(**fields)

    def _query(self, query: AlertQuery) -> tantivy.Query:
        clauses: list[tuple[tantivy.Occur, tantivy.Query]] = []
        if query.q and query.q.strip():
            parsed, _errors = self._index.parse_query_lenient(_queryable(query.q), ["text"])
            clauses.append((tantivy.Occur.Must, parsed))
        for name, value in (("area", query.area), ("class", query.klass),
                            ("substance", query.substance), ("status", query.status),
                            ("severity", query.severity), ("source", query.source)):
            if value:
                clauses.append((tantivy.Occur.Must,
                                tantivy.Query.term_query(self._schema, name, value)))
        if query.date_from or query.date_to:
            # An alert matches a period when it was active at any time within it.
            if query.date_to:
                clauses.append((tantivy.Occur.Must, tantivy.Query.range_query(
                    self._schema, "first_seen", tantivy.FieldType.Date, None,
                    _midnight(query.date_to))))
            if query.date_from:
                clauses.append((tantivy.Occur.Must, tantivy.Query.range_query(
                    self._schema, "last_seen", tantivy.FieldType.Date,
                    _midnight(query.date_from), None)))
        if query.visible_statuses is not None:
            either = [(tantivy.Occur.Should, tantivy.Query.term_query(self._schema, name, value))
                      for name, values in (("status", query.visible_statuses),
                                           ("area", query.visible_areas))
                      for value in values]
            clauses.append((tantivy.Occur.Must, tantivy.Query.boolean_query(either) if either
                            else tantivy.Query.term_query(self._schema, "status", "\x00none")))
        if not clauses:
            return tantivy.Query.all_query()
        return tantivy.Query.boolean_query(clauses)

    def _searcher(self) -> tantivy.Searcher:
        if time.monotonic() - self._reloaded > _RELOAD_EVERY_S:
            self._index.reload()
            self._reloaded = time.monotonic()
        return self._index.searcher()

    def search(self, query: AlertQuery) -> SearchPage:
        searcher = self._searcher()
        try:
            return self._search(searcher, query)
        except ValueError:
            # The lenient parser accepts a few queries that cannot run (`text:*`: an existence
            # query on a field that is not a fast field); such a query is searched as its words.
            return self._search(searcher, dataclasses.replace(query, q=_words(query.q or "")))

    def _search(self, searcher: tantivy.Searcher, query: AlertQuery) -> SearchPage:
        tq = self._query(query)
        limit = max(query.limit, 1)  # tantivy panics on a limit of 0; such a page is empty anyway
        ranked = bool(query.q and query.q.strip())
        if ranked:
            result = searcher.search(tq, limit=limit, offset=query.offset, count=True)
        else:
            result = searcher.search(tq, limit=limit, offset=query.offset, count=True,
                                     order_by_field="updated_at")
        hits = [json.loads(searcher.doc(address)["doc"][0])
                for _score, address in result.hits[:query.limit]]
        aggs = {name: {"terms": {"field": name, "size": 100}} for name in FACET_FIELDS}
        raw = searcher.aggregate(tq, aggs)
        facets = {
            name: {str(bucket["key"]): int(bucket["doc_count"])
                   for bucket in raw.get(name, {}).get("buckets", [])}
            for name in FACET_FIELDS
        }
        return SearchPage(total=result.count or 0, hits=hits, facets=facets)

    def count(self) -> int:
        return self._searcher().num_docs

    def close(self) -> None:
        if self._writer is not None:
            with self._lock:
                self._writer.wait_merging_threads()
            self._writer = None


def _queryable(q: str) -> str:
    """The query without the `field:` prefixes of fields a query may not name."""
    return _FIELD_PREFIX.sub(lambda m: m[0] if m[1] in _QUERYABLE else " ", q)


def _words(q: str) -> str:
    """The query as plain words (lower case: `AND`, `OR`, `NOT` are words again)."""
    return " ".join(re.findall(r"[^\W_]+", q)).lower()

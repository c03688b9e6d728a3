"""Scaled alert index on Elasticsearch: the same contract as the tantivy index.

A versioned physical index (`ews-alerts-v1`) sits behind an alias (`ews-alerts`); readers and
writers only ever name the alias, so `reindex()` can build a new version and switch the alias in
one atomic step without downtime.

The user's query text is translated here (`text_query`) into match_phrase/bool clauses with the
same operators as tantivy's query parser (words OR'ed, `"phrases"`, `+must`, `-must_not`, `AND`,
`OR`, `NOT`, parentheses, `field:value`, `word^2`). Nothing the user types reaches a server-side
query parser, so no input can make a search fail.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from elasticsearch import ApiError, Elasticsearch, NotFoundError, TransportError, helpers

from services.api.index.base import FACET_FIELDS, AlertDocument, AlertQuery, IndexError_, SearchPage

log = logging.getLogger(__name__)

MAPPING_VERSION = 1
"""Version of the mappings below; a change to them needs `reindex(MAPPING_VERSION)`."""

_KEYWORDS = ("alert_id", "status", "severity", "class", "substance", "substance_key", "area",
             "region", "source")
_FACET_SIZE = 100  # as the tantivy index: the top 100 values of each facet
_BULK_CHUNK = 1000
_REINDEX_TIMEOUT_S = 600.0
# The API pages up to offset 100,000; Elasticsearch refuses from+size past this window.
_MAX_RESULT_WINDOW = 101_000

# tantivy's `en_stem`: split on anything not a letter or digit, drop tokens of 40+ characters,
# lower-case, Snowball English (Porter2) stemming, no stop words.
_SETTINGS: dict[str, Any] = {
    "number_of_shards": 1,  # one shard: BM25 statistics over all alerts, so ranking is stable
    "auto_expand_replicas": "0-1",  # no unassigned replica on a single-node cluster
    "max_result_window": _MAX_RESULT_WINDOW,
    "analysis": {
        "tokenizer": {
            # The matches are the tokens (group 0), rather than the default of splitting on the
            # pattern: osmem-server indexes with the pattern as a token matcher whatever `group`
            # says, so this is the one form that tokenises alike on both.
            "alert_words": {"type": "pattern", "pattern": r"[\p{L}\p{N}]+", "group": 0},
        },
        "filter": {
            "alert_long": {"type": "length", "max": 39},
            "alert_stem": {"type": "snowball", "language": "English"},
        },
        "analyzer": {
            "alert_text": {
                "type": "custom",
                "tokenizer": "alert_words",
                "filter": ["lowercase", "alert_long", "alert_stem"],
            },
        },
    },
}

MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        **{name: {"type": "keyword"} for name in _KEYWORDS},
        "text": {"type": "text", "analyzer": "alert_text"},
        "first_seen": {"type": "date", "format": "strict_date"},
        "last_seen": {"type": "date", "format": "strict_date"},
        "updated_at": {"type": "date", "format": "strict_date_optional_time"},
        # Returned as the hit, never searched: stored in _source only.
        "doc": {"type": "object", "enabled": False},
    },
}


def client_from_url(url: str) -> Elasticsearch:
    """An Elasticsearch client for `elasticsearch://host:9200` or `http(s)://[user:pw@]host:port`."""
    parts = urlsplit(url)
    scheme = {"elasticsearch": "http", "http": "http", "https": "https"}.get(parts.scheme)
    if scheme is None or not parts.hostname:
        raise ValueError(f"{url!r} is not an Elasticsearch URL: use elasticsearch://HOST:9200 "
                         "or http(s)://HOST:PORT")
    return Elasticsearch(urlunsplit((scheme, parts.netloc, parts.path, "", "")))


class ElasticsearchAlertIndex:
    """The alert index on an Elasticsearch cluster, behind the alias `index_prefix`.

    Args:
        client_or_url: a client (the caller keeps ownership) or a URL for `client_from_url`.
        index_prefix: the alias; physical indices are `{index_prefix}-v{N}`.
        writable: a writer creates the index when it is missing; a reader never writes and
            sees an empty index until a writer has created it.
    """

    def __init__(self, client_or_url: Elasticsearch | str, *, index_prefix: str = "ews-alerts",
                 writable: bool = True) -> None:
        if isinstance(client_or_url, str):
            self._client = client_from_url(client_or_url)
            self._owns_client = True
        else:
            self._client = client_or_url
            self._owns_client = False
        self.alias = index_prefix
        self._writable = writable
        self._write_lock = threading.Lock()
        if writable:
            self._ensure_index()

    # -- index lifecycle -----------------------------------------------------------------------

    def physical_index(self) -> str | None:
        """The versioned index the alias points at, or None before it is created."""
        with _errors("resolve the alias"):
            try:
                found = self._client.indices.get_alias(name=self.alias)
            except NotFoundError:
                return None
        names = sorted(found)
        if len(names) != 1:
            raise IndexError_(f"alias {self.alias!r} points at {names}; expected one index")
        return names[0]

    def _ensure_index(self) -> None:
        current = self.physical_index()
        if current is not None:
            version = current.rpartition("-v")[2]
            if version.isdigit() and int(version) < MAPPING_VERSION:
                log.warning("alert index %s predates mapping version %d: run reindex(%d)",
                            current, MAPPING_VERSION, MAPPING_VERSION)
            return
        with _errors("check the alert index"):
            if self._client.indices.exists(index=self.alias):
                raise IndexError_(
                    f"{self.alias!r} is a concrete index, not an alias: reindex it into "
                    f"{self._versioned(MAPPING_VERSION)!r} and delete it, then start again")
        self._create(self._versioned(MAPPING_VERSION), with_alias=True)

    def _versioned(self, version: int) -> str:
        return f"{self.alias}-v{version}"

    def _create(self, name: str, *, with_alias: bool, exist_ok: bool = True) -> None:
        with _errors(f"create index {name}"):
            try:
                self._client.indices.create(
                    index=name, settings=_SETTINGS, mappings=MAPPINGS,
                    aliases={self.alias: {}} if with_alias else None)
            except ApiError as error:
                # Another writer created it first: that is the outcome we wanted.
                if not (exist_ok and error.error == "resource_already_exists_exception"):
                    raise

    def reindex(self, new_version: int) -> str:
        """Copy into `{prefix}-v{new_version}` with the current mappings, switch the alias, drop the old.

        Searches keep working throughout: the alias points at one complete index at every moment.
        Upserts through this object wait for the switch; writes through another process while the
        copy runs would stay behind in the old index, so stop the pipeline's writer first.

        Returns:
            the name of the new physical index.
        """
        self._require_writable()
        with self._write_lock:
            old = self.physical_index()
            new = self._versioned(new_version)
            if old == new:
                raise ValueError(f"the alias {self.alias!r} already points at {new!r}")
            if old is None:
                self._create(new, with_alias=True)
                return new
            self._create(new, with_alias=False, exist_ok=False)
            try:
                with _errors(f"copy {old} into {new}"):
                    copied = self._client.options(request_timeout=_REINDEX_TIMEOUT_S).reindex(
                        source={"index": old}, dest={"index": new}, refresh=True,
                        wait_for_completion=True)
                if copied.get("failures"):
                    raise IndexError_(f"copying {old} into {new} failed; first failure: "
                                      f"{copied['failures'][0]}")
            except BaseException:
                with suppress(ApiError, TransportError):
                    self._client.indices.delete(index=new)
                raise
            with _errors(f"switch the alias {self.alias} to {new}"):
                # One request, so atomic: no search finds the alias missing or doubled.
                self._client.indices.update_aliases(actions=[
                    {"remove": {"index": old, "alias": self.alias}},
                    {"add": {"index": new, "alias": self.alias}},
                ])
                self._client.indices.delete(index=old)
            return new

    # -- the AlertIndex contract ---------------------------------------------------------------

    def upsert(self, documents: Sequence[AlertDocument]) -> None:
        """Add or replace documents by alert_id; searchable when this returns."""
        self._require_writable()
        if not documents:
            return
        actions = ({"_index": self.alias, "_id": document.alert_id, "_source": _source(document)}
                   for document in documents)
        with self._write_lock, _errors("index alerts"):
            try:
                helpers.bulk(self._client, actions, chunk_size=_BULK_CHUNK)
            except helpers.BulkIndexError as error:
                first = error.errors[0] if error.errors else {}
                raise IndexError_(f"{len(error.errors)} alert(s) not indexed; first: {first}") from error
            # One explicit refresh rather than refresh=wait_for per chunk, which would wait up to
            # a refresh interval (1 s) for each of them.
            self._client.indices.refresh(index=self.alias)

    def search(self, query: AlertQuery) -> SearchPage:
        ranked = bool(query.q and query.q.strip())
        sort: list[Any] = [{"updated_at": "desc"}, {"alert_id": "asc"}]
        if ranked:
            sort.insert(0, {"_score": "desc"})
        offset = max(query.offset, 0)
        size = max(0, min(query.limit, _MAX_RESULT_WINDOW - offset))
        with _errors("search alerts"):
            try:
                response = self._client.search(
                    index=self.alias,
                    query=_search_query(query),
                    sort=sort,
                    from_=min(offset, _MAX_RESULT_WINDOW),
                    size=size,
                    source=["doc"],
                    track_total_hits=True,
                    aggregations={name: {"terms": {"field": name, "size": _FACET_SIZE}}
                                  for name in FACET_FIELDS},
                )
            except NotFoundError:
                return SearchPage(total=0, hits=[], facets={name: {} for name in FACET_FIELDS})
        aggregations = response.get("aggregations", {})
        facets = {
            name: {str(bucket["key"]): int(bucket["doc_count"])
                   for bucket in aggregations.get(name, {}).get("buckets", [])}
            for name in FACET_FIELDS
        }
        hits = [hit["_source"].get("doc", {}) for hit in response["hits"]["hits"]]
        return SearchPage(total=int(response["hits"]["total"]["value"]), hits=hits, facets=facets)

    def count(self) -> int:
        with _errors("count alerts"):
            try:
                return int(self._client.count(index=self.alias)["count"])
            except NotFoundError:
                return 0

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def _require_writable(self) -> None:
        if not self._writable:
            raise RuntimeError("this alert index was opened read-only")


@contextmanager
def _errors(action: str) -> Iterator[None]:
    """Turn client failures into the package's error, saying what failed and what to check."""
    try:
        yield
    except ApiError as error:
        raise IndexError_(f"Elasticsearch refused to {action}: {error}") from error
    except TransportError as error:
        raise IndexError_(f"could not reach Elasticsearch to {action} ({error}): check that it "
                          "is running and that EWS_INDEX names it") from error


def _source(document: AlertDocument) -> dict[str, Any]:
    source: dict[str, Any] = {
        "alert_id": document.alert_id,
        "status": document.status,
        "severity": document.severity,
        "text": document.text,
        "area": list(document.areas),
        "region": list(document.regions),
        "source": list(document.sources),
        "first_seen": document.first_seen.isoformat(),
        "last_seen": document.last_seen.isoformat(),
        "updated_at": document.updated_at.isoformat(),
        # The same JSON round trip as the tantivy index, so hits are identical on both.
        "doc": json.loads(json.dumps(document.doc, default=str)),
    }
    for name, value in (("class", document.klass), ("substance", document.substance),
                        ("substance_key", document.substance_key)):
        if value:
            source[name] = value
    return source


def _search_query(query: AlertQuery) -> dict[str, Any]:
    must: list[dict[str, Any]] = []
    if query.q and query.q.strip():
        must.append(text_query(query.q) or {"match_none": {}})
    filters: list[dict[str, Any]] = [
        {"term": {name: value}}
        for name, value in (("area", query.area), ("class", query.klass),
                            ("substance", query.substance), ("status", query.status),
                            ("severity", query.severity), ("source", query.source))
        if value
    ]
    # An alert matches a period when it was active at any time within it.
    if query.date_to:
        filters.append({"range": {"first_seen": {"lte": _day(query.date_to)}}})
    if query.date_from:
        filters.append({"range": {"last_seen": {"gte": _day(query.date_from)}}})
    if query.visible_statuses is not None:
        either = [{"term": {name: value}}
                  for name, values in (("status", query.visible_statuses),
                                       ("area", query.visible_areas)) for value in values]
        filters.append({"bool": {"should": either, "minimum_should_match": 1}} if either
                       else {"match_none": {}})
    if not must and not filters:
        return {"match_all": {}}
    return {"bool": {"must": must, "filter": filters}}


def _day(day: dt.date) -> str:
    return day.isoformat() if not isinstance(day, dt.datetime) else day.date().isoformat()


# -- the user's query text ---------------------------------------------------------------------

_TOKEN = re.compile(r'[+-]?"[^"]*"?(?:\^[\d.]+)?|[+-]?\(|\)|[^\s()"]+')
_MAX_TOKENS = 256  # bounds the size of the request, whatever the user pastes
_MAX_DEPTH = 8
_BOOST = re.compile(r"^(?P<body>.+?)\^(?P<boost>\d+(?:\.\d+)?)$")
_FIELDS = frozenset(_KEYWORDS) | {"text"}
_WORD = re.compile(r"[^\W_]")  # a letter or digit: what the analyzer keeps


def text_query(q: str) -> dict[str, Any] | None:
    """The user's query in tantivy's syntax as an Elasticsearch query; None when it has no terms.

    Words are OR'ed and ranked by BM25; `"a b"` is a phrase; `+word` must and `-word` must not
    match; `a AND b` binds tighter than `a OR b`; `NOT word`; parentheses group; `field:value`
    targets a keyword field (unknown fields are dropped, as tantivy's lenient parser does);
    `word^2` boosts. Anything else is text for the analyzer, so no input raises.
    """
    tokens = _TOKEN.findall(q)[:_MAX_TOKENS]
    clauses, _ = _group(tokens, 0)
    return _combine(clauses)


def _group(tokens: list[str], at: int,
           depth: int = 0) -> tuple[list[tuple[str, dict[str, Any]]], int]:
    """Parse until `)` or the end: a list of (occur, query) clauses and the next position."""
    chains: list[list[tuple[str, dict[str, Any]]]] = []
    joined_by_and = False
    negate_next = False
    while at < len(tokens):
        token = tokens[at]
        at += 1
        if token == ")":
            if depth:
                break
            continue  # an unopened `)`: ignored
        if token in ("AND", "&&"):
            joined_by_and = bool(chains)
            continue
        if token in ("OR", "||"):
            joined_by_and = False
            continue
        if token == "NOT":
            negate_next = True
            continue
        occur = "should"
        if token[0] in "+-" and len(token) > 1:
            occur, token = ("must" if token[0] == "+" else "must_not"), token[1:]
        if negate_next:
            occur, negate_next = "must_not", False
        if token == "(":
            if depth >= _MAX_DEPTH:
                continue  # deeper nesting is flattened into this group
            inner, at = _group(tokens, at, depth + 1)
            clause = _combine(inner)
        else:
            clause = _leaf(token)
        if clause is None:
            continue
        if joined_by_and and chains:
            chains[-1].append((occur, clause))
        else:
            chains.append([(occur, clause)])
        joined_by_and = False
    clauses: list[tuple[str, dict[str, Any]]] = []
    for chain in chains:
        if len(chain) == 1:
            clauses.append(chain[0])
            continue
        # `a AND b`: both must match, and the pair is one optional clause of the group.
        anded = [("must" if occur == "should" else occur, clause) for occur, clause in chain]
        combined = _combine(anded)
        if combined is not None:
            clauses.append(("should", combined))
    return clauses, at


def _combine(clauses: list[tuple[str, dict[str, Any]]]) -> dict[str, Any] | None:
    if not clauses:
        return None
    if len(clauses) == 1 and clauses[0][0] in ("should", "must"):
        return clauses[0][1]
    boolean: dict[str, list[dict[str, Any]]] = {}
    for occur, clause in clauses:
        boolean.setdefault(occur, []).append(clause)
    if set(boolean) == {"must_not"}:
        # Only exclusions: everything else matches (tantivy does the same).
        boolean["should"] = [{"match_all": {}}]
    return {"bool": boolean}


def _leaf(token: str) -> dict[str, Any] | None:
    boost = 1.0
    if match := _BOOST.match(token):
        token, boost = match["body"], min(float(match["boost"]), 1e6)  # no inf in JSON
    if token == "*":
        return {"match_all": {"boost": boost}}  # tantivy's "everything"
    if token.startswith('"'):
        return _phrase(token.strip('"'), boost)
    field, colon, value = token.partition(":")
    if colon and field and not field.isdigit():
        # `field:value` as in tantivy; an unknown field drops the clause, `field:` alone too.
        if field not in _FIELDS or not value.strip('"'):
            return None
        if field != "text":
            return {"term": {field: {"value": value.strip('"'), "boost": boost}}}
        token = value
    return _phrase(token.strip('"'), boost)


def _phrase(text: str, boost: float) -> dict[str, Any] | None:
    if not _WORD.search(text):
        return None  # punctuation only: the analyzer would make no term of it
    # A word the analyzer splits (5F-MDMB-PICA) is a phrase of its parts, as in tantivy.
    return {"match_phrase": {"text": {"query": text, "boost": boost}}}

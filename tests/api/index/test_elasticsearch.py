"""What only the Elasticsearch index has: explicit mappings, a versioned index behind an alias,
reindexing with no downtime, bulk loads. On osmem-server, and on a real cluster when
EWS_ELASTICSEARCH_URL is set."""

from __future__ import annotations

import threading
import time

import pytest

from services.api.index import AlertQuery, ElasticsearchAlertIndex
from services.api.index.base import IndexError_
from services.api.index.elasticsearch_index import MAPPINGS, text_query
from tests.api.index.conftest import Cluster, alert


def test_the_mappings_are_the_declared_ones(cluster: Cluster) -> None:
    index = cluster.open()
    physical = index.physical_index()
    mapping = cluster.client.indices.get_mapping(index=cluster.alias)[physical]["mappings"]
    assert mapping["dynamic"] == "strict"
    properties = mapping["properties"]
    assert set(properties) == set(MAPPINGS["properties"])
    for name in ("alert_id", "status", "severity", "class", "substance", "substance_key", "area",
                 "region", "source"):
        assert properties[name]["type"] == "keyword", name
    assert properties["text"] == {"type": "text", "analyzer": "alert_text"}
    for name in ("first_seen", "last_seen", "updated_at"):
        assert properties[name]["type"] == "date", name
    assert properties["doc"]["enabled"] is False
    # `doc` is kept in _source but never indexed: no field of it is searchable.
    index.upsert([alert("a", "heroin", marker="findme")])
    assert cluster.client.search(index=cluster.alias,
                                 query={"term": {"doc.marker": "findme"}})["hits"]["total"]["value"] == 0
    assert index.search(AlertQuery(q="findme")).total == 0


def test_the_alias_points_at_the_versioned_index(cluster: Cluster) -> None:
    index = cluster.open()
    assert index.physical_index() == f"{cluster.alias}-v1"
    aliases = cluster.client.indices.get_alias(name=cluster.alias)
    assert {name: set(body["aliases"]) for name, body in aliases.items()} == {
        f"{cluster.alias}-v1": {cluster.alias}}


def test_a_second_writer_keeps_the_existing_index(cluster: Cluster) -> None:
    cluster.open().upsert([alert("a"), alert("b")])
    again = cluster.open()
    assert again.physical_index() == f"{cluster.alias}-v1"
    assert again.count() == 2


def test_a_reader_before_any_writer_sees_an_empty_index_and_creates_nothing(cluster: Cluster) -> None:
    reader = cluster.open(writable=False)
    assert reader.count() == 0
    page = reader.search(AlertQuery(q="heroin"))
    assert (page.total, page.hits, page.facets["area"]) == (0, [], {})
    assert reader.physical_index() is None
    assert not cluster.client.indices.exists(index=f"{cluster.alias}-v1")


def test_reindex_switches_the_alias_while_searches_keep_answering(cluster: Cluster) -> None:
    index = cluster.open()
    index.upsert([alert(f"r{n:04d}", f"heroin alert number {n}", areas=(f"E0800{n % 50:04d}",))
                  for n in range(1000)])
    failures: list[BaseException] = []
    totals: set[int] = set()
    searches = 0
    stop = threading.Event()

    def search_until_stopped() -> None:
        nonlocal searches
        while not stop.is_set():
            try:
                page = index.search(AlertQuery(q="heroin", limit=5))
                totals.add(page.total)
                totals.add(sum(page.facets["area"].values()))
                searches += 1
            except BaseException as error:  # noqa: BLE001 - any failure is what we look for
                failures.append(error)

    searcher = threading.Thread(target=search_until_stopped)
    searcher.start()
    try:
        time.sleep(0.05)
        before = searches
        assert index.reindex(2) == f"{cluster.alias}-v2"
        during = searches - before
        time.sleep(0.05)
    finally:
        stop.set()
        searcher.join()

    assert failures == []
    assert during > 0, "no search ran while the index was being rebuilt"
    assert totals == {1000}  # never an empty or half-copied index
    assert index.physical_index() == f"{cluster.alias}-v2"
    assert not cluster.client.indices.exists(index=f"{cluster.alias}-v1")
    assert index.count() == 1000
    index.upsert([alert("r0000", "replaced after the reindex")])
    assert index.count() == 1000
    assert index.search(AlertQuery(q="replaced")).hits[0]["alert_id"] == "r0000"


def test_reindex_to_the_current_version_is_refused(cluster: Cluster) -> None:
    index = cluster.open()
    with pytest.raises(ValueError, match="already points"):
        index.reindex(1)


def test_reindex_into_a_leftover_index_is_refused_and_changes_nothing(cluster: Cluster) -> None:
    index = cluster.open()
    index.upsert([alert("a")])
    cluster.client.indices.create(index=f"{cluster.alias}-v2")
    with pytest.raises(IndexError_, match="v2"):
        index.reindex(2)
    assert index.physical_index() == f"{cluster.alias}-v1"
    assert index.count() == 1


def test_a_reader_cannot_reindex(cluster: Cluster) -> None:
    cluster.open()
    with pytest.raises(RuntimeError, match="read-only"):
        cluster.open(writable=False).reindex(2)


def test_bulk_of_5000_alerts(cluster: Cluster) -> None:
    index = cluster.open()
    documents = [alert(f"b{n:05d}", f"alert {n} {'fentanyl' if n % 10 == 0 else 'cocaine'}",
                       severity=("low", "moderate", "high")[n % 3], updated=n)
                 for n in range(5000)]
    started = time.monotonic()
    index.upsert(documents)
    elapsed = time.monotonic() - started
    assert index.count() == 5000
    page = index.search(AlertQuery(q="fentanyl", limit=3))
    assert page.total == 500
    assert page.facets["severity"] == {"low": 167, "moderate": 167, "high": 166}
    assert [hit["alert_id"] for hit in index.search(AlertQuery(limit=2)).hits] == ["b04999", "b04998"]
    assert elapsed < 20, f"bulk of 5,000 took {elapsed:.1f} s"


def test_a_failed_bulk_says_which_alert_failed(cluster: Cluster) -> None:
    index = cluster.open()
    bad = alert("bad", "x")
    object.__setattr__(bad, "areas", ({"not": "a keyword"},))
    with pytest.raises(IndexError_, match="not indexed"):
        index.upsert([bad])


def test_an_unreachable_cluster_is_an_index_error_naming_the_next_step() -> None:
    with pytest.raises(IndexError_, match="is running"):
        ElasticsearchAlertIndex("http://127.0.0.1:9", writable=True)


@pytest.mark.parametrize(("q", "expected"), [
    ("heroin", {"match_phrase": {"text": {"query": "heroin", "boost": 1.0}}}),
    ("heroin^2", {"match_phrase": {"text": {"query": "heroin", "boost": 2.0}}}),
    ("-heroin", {"bool": {"must_not": [{"match_phrase": {"text": {"query": "heroin", "boost": 1.0}}}],
                          "should": [{"match_all": {}}]}}),
    ("status:new", {"term": {"status": {"value": "new", "boost": 1.0}}}),
    ("nosuchfield:x", None),
    ("' OR --", None),
])
def test_query_text_becomes_match_clauses(q: str, expected: dict | None) -> None:
    assert text_query(q) == expected

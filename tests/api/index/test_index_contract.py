"""The alert-index contract: tantivy and Elasticsearch pass the same tests.

The Elasticsearch cases run on osmem-server always, and on a real cluster too when
EWS_ELASTICSEARCH_URL is set (see conftest.py).
"""

from __future__ import annotations

import datetime as dt

import pytest

from services.api.index import FACET_FIELDS, AlertIndex, AlertQuery, SearchPage
from tests.api.index.conftest import DAY0, Backend, alert


def ids(page: SearchPage) -> list[str]:
    return [hit["alert_id"] for hit in page.hits]


def day(offset: int) -> dt.date:
    return DAY0 + dt.timedelta(days=offset)


CORPUS = [
    alert("a1", "heroin adulterated with xylazine in Birmingham", substance="heroin",
          klass="other_opioid", areas=("E08000025",), sources=("forensic", "ridr"), updated=4),
    alert("a2", "heroin purity rise in Leeds", substance="heroin", klass="other_opioid",
          areas=("E08000035",), sources=("market",), severity="low", updated=3),
    alert("a3", "xylazine found in cocaine samples in Leeds", substance="xylazine",
          klass="xylazine_like", areas=("E08000035", "E08000036"), sources=("forensic",),
          status="confirmed", severity="high", updated=2),
    alert("a4", "5F-MDMB-PICA synthetic cannabinoid seizures in prisons", substance="5F-MDMB-PICA",
          klass="synthetic_cannabinoid", areas=("E06000001",), sources=("ridr", "death"),
          status="published", severity="high", updated=1),
]


@pytest.fixture
def corpus(alert_index: AlertIndex) -> AlertIndex:
    alert_index.upsert(CORPUS)
    return alert_index


def test_upserted_alerts_are_found_by_their_text(alert_index: AlertIndex) -> None:
    alert_index.upsert(CORPUS)
    page = alert_index.search(AlertQuery(q="cannabinoid"))
    assert page.total == 1
    assert page.hits == [{"alert_id": "a4", "title": CORPUS[3].doc["title"]}]


def test_hits_are_the_documents_as_json(alert_index: AlertIndex) -> None:
    alert_index.upsert([alert("x", "nested doc", evidence={"reports": ["r-1", "r-2"], "n": 2},
                              seen=dt.date(2025, 1, 2), score=1.5, novel=True, note=None)])
    (hit,) = alert_index.search(AlertQuery(q="nested")).hits
    assert hit == {"alert_id": "x", "title": "nested doc", "evidence": {"reports": ["r-1", "r-2"], "n": 2},
                   "seen": "2025-01-02", "score": 1.5, "novel": True, "note": None}


def test_the_better_text_match_ranks_first(alert_index: AlertIndex) -> None:
    alert_index.upsert([
        alert("one-word", "protonitazene seen in a single sample", updated=9),
        alert("both-words", "protonitazene cluster of overdoses in Birmingham", updated=1),
        alert("neither", "cocaine purity rise", updated=5),
    ])
    page = alert_index.search(AlertQuery(q="protonitazene birmingham"))
    assert ids(page) == ["both-words", "one-word"]
    assert page.total == 2


def test_without_a_query_the_newest_update_comes_first(corpus: AlertIndex) -> None:
    assert ids(corpus.search(AlertQuery())) == ["a1", "a2", "a3", "a4"]
    assert ids(corpus.search(AlertQuery(q="   "))) == ["a1", "a2", "a3", "a4"]


@pytest.mark.parametrize(("q", "expected"), [
    ("heroin", {"a1", "a2"}),
    ("HEROIN", {"a1", "a2"}),
    ("prison", {"a4"}),  # stemmed: "prisons"
    ("seizure", {"a4"}),
    ("heroin xylazine", {"a1", "a2", "a3"}),  # words are OR'ed
    ("heroin -xylazine", {"a2"}),
    ("heroin AND xylazine", {"a1"}),
    ("heroin NOT xylazine", {"a2"}),
    ("NOT heroin", {"a3", "a4"}),
    ("+heroin leeds", {"a1", "a2"}),
    ("(heroin OR cocaine) AND leeds", {"a2", "a3"}),
    ('"purity rise"', {"a2"}),
    ('"rise purity"', set()),
    ("5F-MDMB", {"a4"}),  # a word the analyzer splits is a phrase of its parts
    ("text:leeds", {"a2", "a3"}),
    ("status:confirmed", {"a3"}),
    ("nosuchword", set()),
    ("*", {"a1", "a2", "a3", "a4"}),
])
def test_query_syntax_means_the_same_on_every_backend(corpus: AlertIndex, q: str,
                                                      expected: set[str]) -> None:
    page = corpus.search(AlertQuery(q=q))
    assert set(ids(page)) == expected
    assert page.total == len(expected)


@pytest.mark.parametrize(("filters", "expected"), [
    ({"area": "E08000035"}, {"a2", "a3"}),
    ({"area": "E08000036"}, {"a3"}),  # second of several areas
    ({"klass": "other_opioid"}, {"a1", "a2"}),
    ({"substance": "5F-MDMB-PICA"}, {"a4"}),  # exact, not analysed
    ({"substance": "5f-mdmb-pica"}, set()),
    ({"status": "confirmed"}, {"a3"}),
    ({"severity": "high"}, {"a3", "a4"}),
    ({"source": "forensic"}, {"a1", "a3"}),
    ({"source": "death"}, {"a4"}),  # second of several sources
    ({"source": "forensic", "area": "E08000035"}, {"a3"}),
    ({"severity": "high", "q": "leeds"}, {"a3"}),
    ({"area": "W06000015"}, set()),
])
def test_every_filter_is_an_exact_term(corpus: AlertIndex, filters: dict, expected: set[str]) -> None:
    page = corpus.search(AlertQuery(**filters))
    assert set(ids(page)) == expected
    assert page.total == len(expected)


def test_a_date_range_selects_alerts_active_at_any_time_within_it(alert_index: AlertIndex) -> None:
    alert_index.upsert([
        alert("early", first=0, last=5),
        alert("middle", first=10, last=12),
        alert("late", first=20, last=30),
        alert("long", first=0, last=30),
    ])

    def active(date_from: int | None, date_to: int | None) -> set[str]:
        query = AlertQuery(date_from=None if date_from is None else day(date_from),
                           date_to=None if date_to is None else day(date_to))
        return set(ids(alert_index.search(query)))

    assert active(6, 9) == {"long"}
    assert active(5, 5) == {"early", "long"}  # the last day counts
    assert active(12, 20) == {"middle", "late", "long"}  # both ends count
    assert active(None, 4) == {"early", "long"}
    assert active(21, None) == {"late", "long"}
    assert active(31, None) == set()
    assert active(None, -1) == set()


def test_facets_count_the_whole_filtered_result_not_the_page(corpus: AlertIndex) -> None:
    page = corpus.search(AlertQuery(area="E08000035", limit=1))
    assert page.total == 2 and len(page.hits) == 1
    assert set(page.facets) == set(FACET_FIELDS)
    assert page.facets["area"] == {"E08000035": 2, "E08000036": 1}
    assert page.facets["class"] == {"other_opioid": 1, "xylazine_like": 1}
    assert page.facets["source"] == {"market": 1, "forensic": 1}
    assert page.facets["severity"] == {"low": 1, "high": 1}
    assert page.facets["status"] == {"new": 1, "confirmed": 1}
    assert page.facets["substance"] == {"heroin": 1, "xylazine": 1}


def test_facets_follow_the_text_query(corpus: AlertIndex) -> None:
    page = corpus.search(AlertQuery(q="heroin", limit=1))
    assert page.total == 2 and len(page.hits) == 1
    assert page.facets["source"] == {"forensic": 1, "ridr": 1, "market": 1}


def test_an_empty_index_has_no_hits_and_empty_facets(alert_index: AlertIndex) -> None:
    page = alert_index.search(AlertQuery(q="heroin"))
    assert (page.total, page.hits) == (0, [])
    assert page.facets == {name: {} for name in FACET_FIELDS}
    assert alert_index.search(AlertQuery()).total == 0


def test_pages_cover_the_result_once_in_order(alert_index: AlertIndex) -> None:
    alert_index.upsert([alert(f"p{n:02d}", "weekly heroin alert", updated=n) for n in range(25)])
    pages = [alert_index.search(AlertQuery(limit=10, offset=offset)) for offset in (0, 10, 20, 30)]
    assert [len(page.hits) for page in pages] == [10, 10, 5, 0]
    assert all(page.total == 25 for page in pages)
    seen = [alert_id for page in pages for alert_id in ids(page)]
    assert seen == [f"p{n:02d}" for n in range(24, -1, -1)]  # newest first, each once
    ranked = [alert_index.search(AlertQuery(q="heroin", limit=10, offset=o)) for o in (0, 10, 20)]
    assert sorted(alert_id for page in ranked for alert_id in ids(page)) == sorted(seen)


def test_upsert_replaces_an_alert_by_its_id(alert_index: AlertIndex) -> None:
    alert_index.upsert([alert("a", "heroin alert", status="new"),
                        alert("b", "other", status="dismissed")])
    alert_index.upsert([alert("a", "fentanyl alert", status="confirmed")])
    assert alert_index.count() == 2
    assert alert_index.search(AlertQuery(q="heroin")).total == 0
    page = alert_index.search(AlertQuery(q="fentanyl"))
    assert ids(page) == ["a"] and page.hits[0]["title"] == "fentanyl alert"
    assert alert_index.search(AlertQuery(status="new")).total == 0
    assert alert_index.search(AlertQuery()).facets["status"] == {"confirmed": 1, "dismissed": 1}


def test_an_alert_repeated_in_one_batch_is_indexed_once(alert_index: AlertIndex) -> None:
    alert_index.upsert([alert("a", "first"), alert("a", "second")])
    assert alert_index.count() == 1
    assert ids(alert_index.search(AlertQuery(q="second"))) == ["a"]


def test_upserting_nothing_is_a_no_op(alert_index: AlertIndex) -> None:
    alert_index.upsert([])
    assert alert_index.count() == 0


HOSTILE = ["AND (", '"', '"heroin', "*", "*:*", "field:", "text:", ":", "a:b:c", "' OR 1=1 --",
           "heroin' OR '1'='1", "; DROP TABLE alerts; --", "(((", ")))", "heroin)", "\\", "/", "//",
           "[a TO b]", "{a TO b}", "heroin~", "heroin~2", "heroin^", "heroin^x", "^2", "!", "&&", "||",
           "NOT", "AND", "OR", "-", "+", "--", "-heroin", "_exists_:doc", "status:", "<script>",
           "é ☃ 😀", "\u0000", "x" * 500, "heroin " * 60, "(" * 300 + "heroin", "-(heroin",
           '+"', "NOT NOT heroin", "heroin^" + "9" * 400, '"purity rise"^2', "heroin AND OR NOT"]


@pytest.mark.parametrize("q", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_query_text_never_raises(corpus: AlertIndex, q: str) -> None:
    page = corpus.search(AlertQuery(q=q))
    assert 0 <= page.total <= len(CORPUS) and len(page.hits) == min(page.total, 20)
    assert corpus.search(AlertQuery(q=q, status="new", date_from=day(0))).total <= page.total


def test_count_is_the_number_of_distinct_alerts(alert_index: AlertIndex) -> None:
    assert alert_index.count() == 0
    alert_index.upsert(CORPUS)
    assert alert_index.count() == 4
    alert_index.upsert(CORPUS[:2])
    assert alert_index.count() == 4


def test_a_reader_sees_the_writers_alerts_and_cannot_write(index_backend: Backend,
                                                           alert_index: AlertIndex) -> None:
    alert_index.upsert(CORPUS)
    reader = index_backend.open(writable=False)
    try:
        assert reader.count() == 4
        assert set(ids(reader.search(AlertQuery(q="leeds")))) == {"a2", "a3"}
        with pytest.raises(RuntimeError, match="read-only"):
            reader.upsert(CORPUS[:1])
    finally:
        reader.close()


@pytest.mark.parametrize(("statuses", "areas", "expected"), [
    (("confirmed", "published"), (), {"a3", "a4"}),  # intelligence: confirmed/published only
    (("published",), ("E08000025",), {"a1", "a4"}),  # public health: published, or in their area
    (("published",), ("E08000036",), {"a3", "a4"}),  # an area that is one of several of an alert
    ((), (), set()),  # nothing visible
])
def test_visibility_scope_limits_hits_and_facets(corpus: AlertIndex, statuses: tuple[str, ...],
                                                 areas: tuple[str, ...], expected: set[str]) -> None:
    page = corpus.search(AlertQuery(visible_statuses=statuses, visible_areas=areas))
    assert set(ids(page)) == expected and page.total == len(expected)
    assert sum(page.facets["status"].values()) == len(expected)
    # The caller's own filters narrow within what is visible, never beyond it.
    narrowed = corpus.search(AlertQuery(q="xylazine", visible_statuses=statuses,
                                        visible_areas=areas))
    assert set(ids(narrowed)) == expected & {"a1", "a3"}

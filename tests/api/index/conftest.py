"""Alert-index backends for the contract suite: tantivy, osmem-server, and a real Elasticsearch.

`osmem-server` (an in-memory OpenSearch-compatible server) starts once per session; each test
gets its own copy-on-write clone. The real Elasticsearch runs only when EWS_ELASTICSEARCH_URL is
set, each test under its own alias, deleted afterwards.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from elastic_transport import HttpHeaders, Urllib3HttpNode
from elasticsearch import Elasticsearch
from osmem_server import OsmemServer

from services.api.index import AlertDocument, AlertIndex, ElasticsearchAlertIndex, TantivyAlertIndex

REAL_ES_VARIABLE = "EWS_ELASTICSEARCH_URL"

_VENDOR_MEDIA_TYPE = re.compile(r"application/vnd\.elasticsearch\+([\w-]+)(\s*;\s*compatible-with=\d+)?")


class PlainJsonNode(Urllib3HttpNode):
    """Test-only node speaking plain JSON, for osmem-server (an OpenSearch lookalike).

    The elasticsearch client sends `application/vnd.elasticsearch+json; compatible-with=9`, which
    OpenSearch (and so osmem) refuses, and insists on `X-Elastic-Product: Elasticsearch` in every
    answer, which OpenSearch does not send. This node rewrites the first and adds the second.
    """

    def perform_request(self, method: str, target: str, body: bytes | None = None,
                        headers: HttpHeaders | None = None, **kwargs: Any) -> Any:
        if headers:
            headers = HttpHeaders({name: _VENDOR_MEDIA_TYPE.sub(r"application/\1", value)
                                   for name, value in headers.items()})
        response = super().perform_request(method, target, body=body, headers=headers, **kwargs)
        answer_headers = HttpHeaders(response.meta.headers)
        answer_headers["x-elastic-product"] = "Elasticsearch"
        return response._replace(meta=dataclasses.replace(response.meta, headers=answer_headers))


def osmem_client(url: str) -> Elasticsearch:
    return Elasticsearch(url, node_class=PlainJsonNode)


@pytest.fixture(scope="session")
def osmem_server() -> Iterator[OsmemServer]:
    """Overrides the osmem plugin's fixture: no seed, no Japanese analysis (faster start)."""
    with OsmemServer.start(japanese=False) as server:
        yield server


@dataclass
class Cluster:
    """An Elasticsearch-like cluster a test may write to, and the alias it owns there."""

    name: str
    client: Elasticsearch
    alias: str

    def open(self, *, writable: bool = True) -> ElasticsearchAlertIndex:
        return ElasticsearchAlertIndex(self.client, index_prefix=self.alias, writable=writable)


@contextmanager
def open_cluster(kind: str, request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """osmem-server (a fresh clone), or the real Elasticsearch when EWS_ELASTICSEARCH_URL is set."""
    if kind == "osmem":
        client = osmem_client(request.getfixturevalue("osmem_clone").url)
        yield Cluster("osmem", client, "ews-alerts")
        client.close()
        return
    url = os.environ.get(REAL_ES_VARIABLE)
    if not url:
        pytest.skip(f"{REAL_ES_VARIABLE} is not set: no real Elasticsearch to test against")
    client = Elasticsearch(url.replace("elasticsearch://", "http://", 1))
    alias = f"ews-test-{uuid.uuid4().hex[:12]}"
    try:
        yield Cluster("real", client, alias)
    finally:
        # Delete by name: real clusters refuse wildcard deletes by default.
        for name in client.indices.get(index=f"{alias}-v*", allow_no_indices=True):
            client.indices.delete(index=name)
        client.close()


@pytest.fixture(params=["osmem", "real"], ids=["osmem", "real-elasticsearch"])
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    with open_cluster(request.param, request) as opened:
        yield opened


@dataclass
class Backend:
    """One implementation of the alert index, opened as many times as a test needs."""

    name: str
    open: Callable[..., AlertIndex]


@pytest.fixture(params=["tantivy", "osmem", "real"],
                ids=["tantivy", "elasticsearch", "elasticsearch-real"])
def index_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "tantivy":
        yield Backend("tantivy", lambda *, writable=True: TantivyAlertIndex(
            tmp_path / "index", writable=writable))
        return
    with open_cluster(request.param, request) as opened:
        yield Backend(f"elasticsearch-{opened.name}", opened.open)


@pytest.fixture
def alert_index(index_backend: Backend) -> Iterator[AlertIndex]:
    index = index_backend.open(writable=True)
    yield index
    index.close()


DAY0 = dt.date(2025, 3, 3)


def alert(alert_id: str, text: str = "", *, status: str = "new", severity: str = "moderate",
          klass: str | None = "nitazene", substance: str | None = "protonitazene",
          areas: tuple[str, ...] = ("E08000025",), sources: tuple[str, ...] = ("ridr",),
          first: int = 0, last: int = 6, updated: int = 0, **doc: Any) -> AlertDocument:
    """An alert document active from DAY0+first to DAY0+last, updated `updated` hours after DAY0."""
    return AlertDocument(
        alert_id=alert_id,
        text=text or f"{substance or klass or 'unknown'} alert",
        status=status,
        severity=severity,
        klass=klass,
        substance=substance,
        substance_key=f"KEY-{substance}" if substance else None,
        areas=areas,
        regions=("E12000005",) if areas else (),
        sources=sources,
        first_seen=DAY0 + dt.timedelta(days=first),
        last_seen=DAY0 + dt.timedelta(days=last),
        updated_at=dt.datetime(DAY0.year, DAY0.month, DAY0.day, tzinfo=dt.UTC)
        + dt.timedelta(hours=updated),
        doc={"alert_id": alert_id, "title": text, **doc},
    )

"""`index_from_url`: the deployment's EWS_INDEX names the backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.api.index import ElasticsearchAlertIndex, TantivyAlertIndex, index_from_url


def test_a_tantivy_url_opens_the_embedded_index(tmp_path: Path) -> None:
    index = index_from_url(f"tantivy://{tmp_path / 'index'}")
    try:
        assert isinstance(index, TantivyAlertIndex)
        assert (tmp_path / "index").is_dir()
    finally:
        index.close()


@pytest.mark.parametrize(("url", "node", "alias"), [
    ("elasticsearch://search:9200", "http://search:9200", "ews-alerts"),
    ("http://localhost:9200", "http://localhost:9200", "ews-alerts"),
    ("https://es.example:443/?index=alerts-test", "https://es.example:443", "alerts-test"),
])
def test_an_elasticsearch_url_opens_the_cluster(url: str, node: str, alias: str) -> None:
    # A reader sends nothing until it searches, so no server is needed here.
    index = index_from_url(url, writable=False)
    try:
        assert isinstance(index, ElasticsearchAlertIndex)
        assert index.alias == alias
        (configured,) = index._client.transport.node_pool.all()
        assert configured.base_url == node
    finally:
        index.close()


@pytest.mark.parametrize("url", ["sqlite:///x", "tantivy://", "/var/ews/index", "elasticsearch://"])
def test_an_unknown_url_names_the_accepted_forms(url: str) -> None:
    with pytest.raises(ValueError, match="tantivy:///PATH"):
        index_from_url(url)

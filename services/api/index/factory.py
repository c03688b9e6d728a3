"""Open the alert index a URL names: the embedded tantivy index or an Elasticsearch cluster."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from services.api.index.base import AlertIndex
from services.api.index.elasticsearch_index import ElasticsearchAlertIndex
from services.api.index.tantivy_index import TantivyAlertIndex


def index_from_url(url: str, *, writable: bool = True) -> AlertIndex:
    """The alert index at `url`.

    Args:
        url: `tantivy:///PATH` (embedded); `elasticsearch://HOST:9200` or `http(s)://HOST:PORT`,
            optionally with `?index=ALIAS` (default `ews-alerts`).
        writable: False opens it for searching only (the API); one writer (the pipeline) upserts.
    """
    parts = urlsplit(url)
    scheme = parts.scheme
    if scheme == "tantivy":
        path = url.removeprefix("tantivy://")
        if not path:
            raise ValueError(f"{url!r}: the tantivy index needs a folder, as tantivy:///PATH")
        return TantivyAlertIndex(Path(path), writable=writable)
    if scheme in ("elasticsearch", "http", "https") and parts.hostname:
        alias = parse_qs(parts.query).get("index", ["ews-alerts"])[-1]
        return ElasticsearchAlertIndex(parts._replace(query="").geturl(), index_prefix=alias,
                                       writable=writable)
    raise ValueError(f"EWS_INDEX={url!r}: use tantivy:///PATH, elasticsearch://HOST:9200 "
                     "or http(s)://HOST:PORT")

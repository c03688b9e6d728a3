"""Alert index: the interface, its embedded (tantivy) and scaled (Elasticsearch) implementations."""

from services.api.index.base import FACET_FIELDS, AlertDocument, AlertIndex, AlertQuery, SearchPage
from services.api.index.elasticsearch_index import ElasticsearchAlertIndex
from services.api.index.factory import index_from_url
from services.api.index.tantivy_index import TantivyAlertIndex

__all__ = ["FACET_FIELDS", "AlertDocument", "AlertIndex", "AlertQuery", "ElasticsearchAlertIndex",
           "SearchPage", "TantivyAlertIndex", "index_from_url"]

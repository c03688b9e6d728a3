"""Alert index: the interface and its embedded (tantivy) implementation."""

from services.api.index.base import FACET_FIELDS, AlertDocument, AlertIndex, AlertQuery, SearchPage
from services.api.index.tantivy_index import TantivyAlertIndex

__all__ = ["FACET_FIELDS", "AlertDocument", "AlertIndex", "AlertQuery", "SearchPage", "TantivyAlertIndex"]

"""Area boundaries for the dashboard's maps: the affected areas and their neighbours."""

from services.api.areas.service import ATTRIBUTION, boundaries

__all__ = ["ATTRIBUTION", "boundaries"]

"""UK local authority districts, their neighbours and prisons (reference data, see data/SOURCE.md)."""

from services.geography.areas import Area, Geography, Prison, load_geography

__all__ = ["Area", "Geography", "Prison", "load_geography"]

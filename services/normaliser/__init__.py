"""The normaliser: each substance mention of a report becomes an event with a substance identity."""

from services.normaliser.normalise import Resolver, normalise

__all__ = ["Resolver", "normalise"]

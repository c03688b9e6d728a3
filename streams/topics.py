"""Topic names of the flow (DESIGN.md "The flow"), shared by every transport."""

from streams.schemas import SOURCES

EVENTS = "events"
SIGNALS = "signals"
DEADLETTER = "deadletter"


def raw(source: str) -> str:
    """The topic a validated record of `source` is appended to."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")
    return f"raw.{source}"


RAW_TOPICS: tuple[str, ...] = tuple(raw(source) for source in SOURCES)
ALL_TOPICS: tuple[str, ...] = (*RAW_TOPICS, EVENTS, SIGNALS, DEADLETTER)

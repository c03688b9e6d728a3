"""RDKit log handling: every call that may log runs inside :func:`quiet`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from rdkit import rdBase

_TIMESTAMP = re.compile(r"^\[\d\d:\d\d:\d\d\]\s*")


class LogCapture:
    """Messages RDKit logged while :func:`quiet` was active."""

    def __init__(self, capture: rdBase.CaptureErrorLog) -> None:
        self._capture = capture

    def lines(self) -> list[str]:
        """Logged lines without timestamps, empty lines dropped."""
        return [
            _TIMESTAMP.sub("", line).strip()
            for line in self._capture.messages.splitlines()
            if _TIMESTAMP.sub("", line).strip()
        ]


@contextmanager
def quiet() -> Iterator[LogCapture]:
    """Silence RDKit's logs for the duration of a call and capture its error messages.

    The capture is per call (RDKit restores its loggers on exit), never global.
    """
    with rdBase.BlockLogs(), rdBase.CaptureErrorLog() as capture:
        yield LogCapture(capture)

"""Query parameters of the trends table."""

from __future__ import annotations

from typing import Literal

Dimension = Literal["area", "region", "substance", "class", "source", "setting", "custody", "week"]

"""``ews chem resolve TEXT... [--json]``: the command body, wired into the ews CLI elsewhere."""

from __future__ import annotations

import json
from typing import TextIO

from chemistry.resolve import Resolution, resolve_many

_TABLE_COLUMNS = ("input", "kind", "name", "class", "key", "novel", "analogue", "error")
_MAX_CELL = 60


def resolve_command(texts: list[str], as_json: bool, out: TextIO) -> int:
    """Resolve each text and print JSON Lines (``as_json``) or a table, in input order.

    Returns:
        0 once every input was processed, whatever errors the inputs had.
    """
    resolutions = resolve_many(texts)
    if as_json:
        for resolution in resolutions:
            out.write(json.dumps(resolution.to_dict(), ensure_ascii=False) + "\n")
    else:
        out.write(format_table(resolutions))
    return 0


def format_table(resolutions: list[Resolution]) -> str:
    """A plain-text table, one row per resolution, columns padded to fit."""
    rows = [list(_TABLE_COLUMNS)] + [_row(r) for r in resolutions]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_TABLE_COLUMNS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines) + "\n"


def _row(resolution: Resolution) -> list[str]:
    name = resolution.name or ""
    if not name and resolution.candidates:
        name = "one of: " + ", ".join(resolution.candidates)
    if not name and resolution.components:
        name = " + ".join(c.name or c.smiles or "?" for c in resolution.components)
    if resolution.confidence < 1.0:
        name += f" (confidence {resolution.confidence:.2f})"
    analogue = ""
    if resolution.analogue is not None:
        analogue = f"{resolution.analogue.name} ({resolution.analogue.similarity:.2f})"
    cells = [
        resolution.input,
        resolution.kind,
        name,
        resolution.klass or "",
        resolution.key or "",
        "yes" if resolution.novel else "no",
        analogue,
        resolution.error or "",
    ]
    return [_clip(" ".join(cell.split())) for cell in cells]


def _clip(cell: str) -> str:
    return cell if len(cell) <= _MAX_CELL else cell[: _MAX_CELL - 3] + "..."

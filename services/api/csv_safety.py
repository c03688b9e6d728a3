"""Exported CSV cells that a spreadsheet shows as text and never runs as a formula.

Excel, LibreOffice and Google Sheets evaluate a cell that begins with `=`, `+`, `-` or `@`
(and, through some import paths, a leading tab or carriage return), so a substance or area
label reaching a CSV could become `=HYPERLINK(...)` on an analyst's machine (OWASP "CSV
injection"). Such a cell gets a leading apostrophe: shown as text, its characters unchanged.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def formula_safe(value: object) -> str:
    """The cell's text, with a leading apostrophe if a spreadsheet would read it as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text

"""Reading submitted JSON (request bodies, NDJSON lines, JSON cells of a CSV) within bounds.

A v1 record is a few levels deep (a ridr report > substances > one substance). Much deeper input
is broken or hostile, and Python's recursive parser and serialisers would meet it with a
RecursionError at some later step, so it is refused here, where the error can still name it.
NaN and Infinity are not JSON (RFC 8259) although Python's parser accepts them: refused too.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 32


class JsonRefused(ValueError):
    """Text that is not standard JSON, or JSON nested deeper than MAX_DEPTH; says which."""


def _no_constant(name: str) -> Any:
    raise JsonRefused(f"{name} is not a JSON value")


def loads(text: str | bytes) -> Any:
    """The JSON value of `text`, or JsonRefused saying what is wrong."""
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise JsonRefused(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise JsonRefused(f"nested deeper than {MAX_DEPTH} levels") from None
    if depth(value) > MAX_DEPTH:
        raise JsonRefused(f"nested deeper than {MAX_DEPTH} levels")
    return value


def depth(value: Any) -> int:
    """How many arrays/objects deep `value` is, counted without recursion (stops past MAX_DEPTH)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            break
        stack.extend((child, level + 1) for child in children)
    return deepest

"""Small-count suppression of a count table with its totals, primary and secondary.

Primary: a count of 1-4 is shown as "<5"; a total of 1-4 is hidden as "*" (saying "under 5"
of a total would pin its cells: four "<5" cells in a line whose total is "<5" are all 1).
Secondary: more cells are hidden ("*") so that no small count can be worked out from the
published cells and totals.

Why the rule below is enough. Write the table with its margins as one (rows+1) x (cols+1)
array; each line of it (a row with its row total, a column with its column total, the total
row and column) is an equation. Flipping the sign of the margin cells turns every equation
into "the line's cells sum to a constant", so the table is a bipartite graph (a vertex per
line, an edge per cell) whose hidden cells can move together only along cycles of hidden
edges, alternately up and down, while every equation still holds. A hidden cell is therefore
pinned down exactly when its edge is on no cycle of hidden edges; and because an attacker
also knows that a "<5" cell is 1-4, a cycle through other primary cells may still pin it
(1 and 1 summing to a known 2). So: every primary cell must lie on a cycle whose other edges
are "*" cells (secondary cells of 5 or more, or small totals, which an attacker knows only as
0 or more); those can move by 1 in either direction, so the primary cell can take at least two
values. For each primary cell not yet on such a cycle, the
cheapest path (least suppressed count) of secondary-eligible cells between its two lines is
added (Dijkstra over cells of 5 or more; cells already hidden cost nothing).

A one-way table (no columns) has no row equations: its rows are free, and the only equation
is "the cells sum to the total"; a primary cell there needs one more hidden cell of 5 or more
(or the total).

Zero cells are shown: a zero hides nobody, and the attacker model (interval bounds over the
published equations, as in tau-ARGUS's audit) is checked by a property test
(tests/api/test_trends.py).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

THRESHOLD = 5
Status = Literal["shown", "primary", "secondary"]

_GROUND = ("ground", -1)


@dataclass
class Cell:
    value: int
    status: Status = "shown"
    margin: bool = False  # a row, column or grand total

    @property
    def hidden(self) -> bool:
        return self.status != "shown"

    def display(self) -> str:
        if self.status == "primary" and not self.margin:
            return "<5"
        return "*" if self.hidden else str(self.value)


@dataclass
class Protected:
    """A table with its totals, each cell marked shown, primary or secondary."""

    cells: list[list[Cell]]
    row_totals: list[Cell] | None  # None for a one-way table
    col_totals: list[Cell]
    total: Cell


def _primary(value: int, threshold: int) -> Status:
    return "primary" if 0 < value < threshold else "shown"


def _total(value: int, threshold: int) -> Cell:
    return Cell(value, _primary(value, threshold), margin=True)


class _Union:
    def __init__(self) -> None:
        self.parent: dict[tuple[str, int], tuple[str, int]] = {}

    def find(self, x: tuple[str, int]) -> tuple[str, int]:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: tuple[str, int], b: tuple[str, int]) -> None:
        self.parent[self.find(a)] = self.find(b)


def protect(counts: Sequence[Sequence[int]], *, one_way: bool = False,
            threshold: int = THRESHOLD) -> Protected:
    """Suppress a table of counts (rows x cols) and its totals.

    Args:
        counts: non-negative counts; for a one-way table, one column.
        one_way: the table has no row totals (one dimension only).
    """
    m = len(counts)
    n = len(counts[0]) if m else (1 if one_way else 0)
    cells = [[Cell(int(v), _primary(int(v), threshold)) for v in row] for row in counts]
    col_sums = [sum(int(counts[i][j]) for i in range(m)) for j in range(n)]
    col_totals = [_total(v, threshold) for v in col_sums]
    grand = sum(col_sums)
    # In a one-way table the column total is the grand total: one cell, hidden or shown once.
    total = col_totals[0] if one_way and col_totals else _total(grand, threshold)
    row_totals = None if one_way else [_total(sum(int(v) for v in row), threshold) for row in counts]

    # The graph: a vertex per line, an edge per cell. Row vertices ("r", i), column vertices
    # ("c", j); the total row is ("r", m), the total column ("c", n). In a one-way table the
    # rows (and the total row) have no equation: they are one free "ground" vertex.
    def row_vertex(i: int) -> tuple[str, int]:
        return _GROUND if one_way else ("r", i)

    edges: list[tuple[tuple[str, int], tuple[str, int], Cell]] = []
    for i in range(m):
        for j in range(n):
            edges.append((row_vertex(i), ("c", j), cells[i][j]))
    for j in range(n):
        edges.append((row_vertex(m), ("c", j), col_totals[j]))
    if row_totals is not None:
        for i in range(m):
            edges.append((("r", i), ("c", n), row_totals[i]))
        edges.append((("r", m), ("c", n), total))
    elif n != 1:
        raise ValueError("a one-way table has exactly one column")

    adjacency: dict[tuple[str, int], list[int]] = {}
    for k, (u, v, _cell) in enumerate(edges):
        adjacency.setdefault(u, []).append(k)
        adjacency.setdefault(v, []).append(k)

    def free(cell: Cell) -> bool:
        """Hidden, and known to an attacker only as "0 or more": a secondary cell, a small total."""
        return cell.status == "secondary" or (cell.status == "primary" and cell.margin)

    def eligible(cell: Cell) -> bool:
        return free(cell) or (cell.status == "shown" and cell.value >= threshold)

    def protected_union() -> _Union:
        union = _Union()
        for u, v, cell in edges:
            if free(cell):
                union.union(u, v)
        return union

    union = protected_union()
    primaries = sorted((k for k, (_u, _v, cell) in enumerate(edges) if cell.status == "primary"),
                       key=lambda k: edges[k][2].value)
    for k in primaries:
        u, v, cell = edges[k]
        # A small total is itself one of the free edges: its cycle must not be itself.
        if not cell.margin and union.find(u) == union.find(v):
            continue
        path = _cheapest_path(edges, adjacency, u, v, skip=k, usable=eligible)
        if path is None:  # no cells of 5 or more to pair with: hide the others of its lines
            path = [e for e in adjacency[u] + adjacency[v]
                    if e != k and edges[e][2].status == "shown" and edges[e][2].value > 0]
        for e in path:
            if edges[e][2].status == "shown":
                edges[e][2].status = "secondary"
                union.union(edges[e][0], edges[e][1])
    return Protected(cells, row_totals, col_totals, total)


def _cheapest_path(edges: list[tuple[tuple[str, int], tuple[str, int], Cell]],
                   adjacency: dict[tuple[str, int], list[int]], start: tuple[str, int],
                   goal: tuple[str, int], *, skip: int, usable) -> list[int] | None:
    """Edges of the path of least newly suppressed count from `start` to `goal`, or None."""
    best: dict[tuple[str, int], int] = {start: 0}
    back: dict[tuple[str, int], int] = {}
    heap: list[tuple[int, int, tuple[str, int]]] = [(0, 0, start)]
    tie = 0
    while heap:
        cost, _t, vertex = heapq.heappop(heap)
        if vertex == goal:
            path = []
            while vertex != start:
                e = back[vertex]
                path.append(e)
                u, v, _ = edges[e]
                vertex = u if v == vertex else v
            return path
        if cost > best.get(vertex, 1 << 62):
            continue
        for e in adjacency.get(vertex, []):
            if e == skip:
                continue
            u, v, cell = edges[e]
            if not usable(cell):
                continue
            other = v if u == vertex else u
            step = 0 if cell.hidden else cell.value
            if cost + step < best.get(other, 1 << 62):
                best[other] = cost + step
                back[other] = e
                tie += 1
                heapq.heappush(heap, (cost + step, tie, other))
    return None

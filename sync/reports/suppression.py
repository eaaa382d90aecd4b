"""Small-cell suppression for published tables of counts.

A count from fewer than ``threshold`` respondents (default 5, never below 3) is
shown as "<5". Hiding one cell is not enough when its row or column total is
published: the total minus the visible cells gives it back. So suppression is
repeated on every line (row or column) until each line with a published total
hides either nothing, or at least two cells whose hidden sum is itself at least
the threshold, and totals below the threshold are hidden too.

The tables here are small (centres by items), so the simple greedy rule is
enough: in a line that needs more hiding, hide the smallest visible non-zero
cell next. Zero cells are never used for complementary hiding: a published zero
reveals nothing about anyone, and hiding it would protect nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_THRESHOLD = 5
MINIMUM_THRESHOLD = 3


class SuppressionError(ValueError):
    pass


def check_threshold(threshold: int) -> int:
    if threshold < MINIMUM_THRESHOLD:
        raise SuppressionError(f"the small-cell threshold must be at least {MINIMUM_THRESHOLD}, not {threshold}")
    return threshold


@dataclass(frozen=True)
class Cell:
    value: int
    hidden: bool

    def shown(self, threshold: int) -> str:
        return f"<{threshold}" if self.hidden else str(self.value)


@dataclass(frozen=True)
class SuppressedTable:
    """Counts with row and column totals, each cell and total either shown or hidden."""

    cells: tuple[tuple[Cell, ...], ...]
    row_totals: tuple[Cell, ...]
    column_totals: tuple[Cell, ...]
    grand_total: Cell
    threshold: int


def _small(value: int, threshold: int) -> bool:
    return 0 < value < threshold


def suppress(counts: Sequence[Sequence[int]], threshold: int = DEFAULT_THRESHOLD) -> SuppressedTable:
    """Hide small cells and totals, then enough others that no published figure gives one back."""
    check_threshold(threshold)
    rows = [list(row) for row in counts]
    if any(value < 0 for row in rows for value in row):
        raise SuppressionError("counts cannot be negative")
    height, width = len(rows), len(rows[0]) if rows else 0
    if any(len(row) != width for row in rows):
        raise SuppressionError("every row needs the same number of columns")

    # Every published figure is an entry; every total is an equation over entries.
    values: dict[tuple, int] = {("cell", r, c): rows[r][c] for r in range(height) for c in range(width)}
    values.update({("row", r): sum(rows[r]) for r in range(height)})
    values.update({("column", c): sum(row[c] for row in rows) for c in range(width)})
    values[("grand",)] = sum(map(sum, rows))
    equations = [[("cell", r, c) for c in range(width)] + [("row", r)] for r in range(height)]
    equations += [[("cell", r, c) for r in range(height)] + [("column", c)] for c in range(width)]
    equations.append([("row", r) for r in range(height)] + [("grand",)])
    equations.append([("column", c) for c in range(width)] + [("grand",)])
    hidden = {entry for entry, value in values.items() if _small(value, threshold)}

    def protected(equation: list[tuple]) -> bool:
        secret = [entry for entry in equation if entry in hidden]
        if not secret:
            return True
        if len(secret) < 2:
            return False
        # Hidden parts: the attacker learns only their sum; it must not itself be small.
        total = equation[-1]
        hidden_sum = sum(values[e] for e in secret if e != total) - (values[total] if total in hidden else 0)
        return total in hidden or abs(hidden_sum) >= threshold

    changed = True
    while changed:
        changed = False
        for equation in equations:
            if protected(equation):
                continue
            parts = [e for e in equation[:-1] if e not in hidden]
            candidates = sorted(parts, key=lambda e: (values[e] == 0, values[e]))
            entry = candidates[0] if candidates else equation[-1]
            if entry in hidden:
                raise SuppressionError("cannot protect this table; publish it without totals")
            hidden.add(entry)
            changed = True
            break

    def cell(entry: tuple) -> Cell:
        return Cell(values[entry], entry in hidden)

    return SuppressedTable(
        cells=tuple(tuple(cell(("cell", r, c)) for c in range(width)) for r in range(height)),
        row_totals=tuple(cell(("row", r)) for r in range(height)),
        column_totals=tuple(cell(("column", c)) for c in range(width)),
        grand_total=cell(("grand",)),
        threshold=threshold,
    )


def suppress_count(value: int, threshold: int = DEFAULT_THRESHOLD) -> Cell:
    """A single published count with no totals beside it."""
    check_threshold(threshold)
    return Cell(value, _small(value, threshold))

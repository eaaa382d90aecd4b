"""Small-cell suppression for published tables of counts.

A count from fewer than ``threshold`` respondents (default 5, never below 3) is
shown as "<5". Hiding one cell is not enough when its row or column total is
published: the total minus the visible cells gives it back. So suppression is
repeated on every line (row or column) until each line with a published total
hides either nothing, or at least two cells whose hidden sum is itself at least
the threshold, and totals below the threshold are hidden too.

The tables here are small (centres by items), so the simple greedy rule is
enough: in a line that needs more hiding, hide next the visible non-zero entry
that leaves the fewest of its own lines unprotected, the smallest among equals.
Zero cells are never used for complementary hiding: a published zero reveals
nothing about anyone, and hiding it would protect nothing.

Two extensions serve the rights red flags:

- ``hidden_rows``: rows whose every cell and total is hidden from the start,
  whatever the values (a centre with too few interviews to publish anything of
  theirs). They are then protected like small cells.
- ``zeros_public``: beside the table, the report says for every cell whether it
  is zero or not (a red flag is marked "reported" even when its count is hidden).
  A reader then knows every zero, hidden or not, so a zero neither needs hiding
  nor helps to hide anything: it is left out of the protection sums and never
  chosen as a complement.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
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


def suppress(
    counts: Sequence[Sequence[int]],
    threshold: int = DEFAULT_THRESHOLD,
    *,
    hidden_rows: Collection[int] = (),
    zeros_public: bool = False,
) -> SuppressedTable:
    """Hide small cells and totals, then enough others that no published figure gives one back.

    ``hidden_rows`` and ``zeros_public`` are described in the module docstring.
    """
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
    equations: list[list[tuple]] = [[("cell", r, c) for c in range(width)] + [("row", r)] for r in range(height)]
    equations += [[("cell", r, c) for r in range(height)] + [("column", c)] for c in range(width)]
    equations.append([("row", r) for r in range(height)] + [("grand",)])
    equations.append([("column", c) for c in range(width)] + [("grand",)])
    if any(not 0 <= row < height for row in hidden_rows):
        raise SuppressionError("a hidden row is outside the table")
    hidden = {entry for entry, value in values.items() if _small(value, threshold)}
    for row in hidden_rows:
        hidden.update(("cell", row, c) for c in range(width))
        hidden.add(("row", row))

    # What a reader knows of each hidden entry without any total: with zeros_public, a
    # non-zero cell is at least 1, and a total at least the number of its non-zero cells.
    floor: dict[tuple, int] = dict.fromkeys(values, 0)
    if zeros_public:
        for equation in equations:
            floor[equation[-1]] = sum(1 for part in equation[:-1] if values[part] > 0 and part[0] == "cell")
        floor.update({entry: 1 for entry in values if entry[0] == "cell" and values[entry] > 0})
        rows_floor = sum(floor[("row", r)] for r in range(height))
        floor[("grand",)] = rows_floor

    def known(entry: tuple) -> bool:
        # With zeros_public, a zero (a total of zeros too) is known whether shown or not.
        return entry not in hidden or (zeros_public and values[entry] == 0)

    def protected(equation: list[tuple]) -> bool:
        secret = [entry for entry in equation if not known(entry)]
        if not secret:
            return True
        if len(secret) < 2:
            return False
        # A hidden total leaves at least two unknowns in this line. Otherwise the attacker
        # learns the sum of the hidden parts; it must not itself be small.
        if equation[-1] in secret:
            return True
        hidden_sum = sum(values[e] for e in secret)
        # Each hidden part must keep more than one possible value: the sum must exceed what
        # the reader already knows the parts hold at least.
        return hidden_sum >= threshold and hidden_sum > sum(floor[e] for e in secret)

    lines_of: dict[tuple, list[list[tuple]]] = {entry: [] for entry in values}
    for equation in equations:
        for entry in equation:
            lines_of[entry].append(equation)

    def lines_left_open(entry: tuple) -> int:
        # Prefer a partner whose other lines stay protected: fewer hidden cells in the end.
        hidden.add(entry)
        open_lines = sum(1 for equation in lines_of[entry] if not protected(equation))
        hidden.discard(entry)
        return open_lines

    changed = True
    while changed:
        changed = False
        for equation in equations:
            if protected(equation):
                continue
            parts = [e for e in equation[:-1] if e not in hidden and not (zeros_public and values[e] == 0)]
            candidates = sorted(parts, key=lambda e: (lines_left_open(e), values[e] == 0, values[e]))
            entry = candidates[0] if candidates else equation[-1]
            if entry in hidden or (zeros_public and values[entry] == 0):
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

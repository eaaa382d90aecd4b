"""Small-cell suppression for published tables of counts, decided on whole tables.

A count from fewer than ``threshold`` respondents (default 5, never below 3) is
*primary* suppressed and shown as "<5" (the threshold). Hiding one cell is not
enough when its row or column total is published: the total minus the visible
cells gives it back. So suppression is repeated on every line (row or column)
until each line with a published total hides either nothing, or at least two
cells whose hidden sum is itself at least the threshold, and totals below the
threshold are hidden too. Cells hidden only to protect another one are
*secondary* suppressed and carry another mark (:data:`SECONDARY_MARK`, explained
in the report's legend): "<5" is then always true.

The two marks tell a reader something: "<5" is below the threshold and the other
mark is at least the threshold (a complement is never a small cell or a zero). The
protection test takes this into account: in each line, every hidden entry must
keep at least two values that fit the published total and what the marks say.

The tables here are small (centres by items), so the simple greedy rule is
enough: in a line that needs more hiding, hide next the visible non-zero entry
that leaves the fewest of its own lines unprotected, the smallest among equals.
Zero cells are never used for complementary hiding: a published zero reveals
nothing about anyone, and hiding it would protect nothing.

Two extensions serve the rights red flags:

- ``hidden_rows``: rows whose every cell and total is hidden from the start,
  whatever the values (a centre with too few interviews to publish anything of
  theirs). They are then protected like small cells.
- ``hide_zeros``: a zero is hidden like a small count (a red flag at a centre must
  not say whether one person or nobody reported it). Every count below the
  threshold, zero included, is then "<5".
- ``column_totals_only``: only the column totals are published (per red-flag
  question, for the region); row totals and the grand total are left out of the
  table, so they neither need protecting nor help anyone work a cell out.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

DEFAULT_THRESHOLD = 5
MINIMUM_THRESHOLD = 3

SHOWN, PRIMARY, SECONDARY = "shown", "primary", "secondary"
UNPUBLISHED = "unpublished"  # a total left out of the table altogether
# A cell hidden only so that a total cannot give another one back (not a small count).
SECONDARY_MARK = "‡"


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
    # PRIMARY: below the threshold ("<5"); SECONDARY: hidden to protect another cell.
    mark: str = SHOWN

    def __post_init__(self) -> None:
        if self.hidden and self.mark == SHOWN:
            object.__setattr__(self, "mark", PRIMARY)

    def shown(self, threshold: int) -> str:
        if not self.hidden:
            return str(self.value)
        if self.mark == UNPUBLISHED:
            return ""
        return SECONDARY_MARK if self.mark == SECONDARY else f"<{threshold}"


@dataclass(frozen=True)
class SuppressedTable:
    """Counts with row and column totals, each cell and total either shown or hidden."""

    cells: tuple[tuple[Cell, ...], ...]
    row_totals: tuple[Cell, ...]
    column_totals: tuple[Cell, ...]
    grand_total: Cell
    threshold: int


def _small(value: int, threshold: int, hide_zeros: bool = False) -> bool:
    return (0 if hide_zeros else 1) <= value < threshold


class _NoCover(SuppressionError):
    """No choice of totals to hide keeps every small count unknown."""


def suppress(
    counts: Sequence[Sequence[int]],
    threshold: int = DEFAULT_THRESHOLD,
    *,
    hidden_rows: Collection[int] = (),
    hide_zeros: bool = False,
    column_totals_only: bool = False,
) -> SuppressedTable:
    """Hide small cells and totals, then enough others that no published figure gives one back.

    ``hidden_rows``, ``hide_zeros`` and ``column_totals_only`` are described in the module docstring.
    A table that cannot be protected with its row totals and grand total published (every
    count small, say: the "other" mark on a total, "at least the threshold", can then pin
    the cells down) is published without them, as ``column_totals_only`` does.
    """
    try:
        return _suppress(counts, threshold, hidden_rows, hide_zeros, column_totals_only)
    except _NoCover:
        if column_totals_only:
            raise SuppressionError("cannot protect this table, even without its row totals") from None
        return _suppress(counts, threshold, hidden_rows, hide_zeros, True)


def _suppress(
    counts: Sequence[Sequence[int]],
    threshold: int,
    hidden_rows: Collection[int],
    hide_zeros: bool,
    column_totals_only: bool,
) -> SuppressedTable:
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
    primary = {entry for entry, value in values.items() if _small(value, threshold, hide_zeros)}
    for row in hidden_rows:
        # A group smaller than the threshold: each of its counts is below it too.
        primary.update(("cell", row, c) for c in range(width))
        if _small(values[("row", row)], threshold, True):
            primary.add(("row", row))
    # Totals that are not published at all: unknown to the reader, never shown.
    unpublished = {("row", r) for r in range(height)} | {("grand",)} if column_totals_only else set()
    primary -= unpublished
    hidden = set(primary) | unpublished
    hidden.update(("row", row) for row in hidden_rows)

    def known(entry: tuple) -> bool:
        return entry not in hidden

    unbounded = sum(map(sum, rows)) + 1  # no count is larger than the whole table

    def bounds(entry: tuple) -> tuple[int, int]:
        # What the reader knows of an entry from its mark alone: shown, "<5" or the other mark.
        if known(entry):
            return values[entry], values[entry]
        if entry in primary:
            return 0, threshold - 1
        if entry in unpublished:
            return 0, unbounded
        # The other mark: never a zero or a small count, so at least the threshold.
        return threshold, unbounded

    group_totals = {("row", row) for row in hidden_rows} - unpublished

    def guarded(entry: tuple) -> bool:
        # The figures about people: every cell, and the total of a group too small to publish.
        # Other totals hide only to protect cells; one a reader can narrow down gives no cell away.
        return entry[0] == "cell" or entry in group_totals

    def reach() -> dict[tuple, tuple[int, int]]:
        """What a reader can narrow every entry down to: the marks, then every line, repeated."""
        found = {entry: bounds(entry) for entry in values}
        for _round in range(4 * len(equations) + 4):  # bounds only shrink; this is ample
            changed = False
            for equation in equations:
                total, parts = equation[-1], equation[:-1]
                parts_low = sum(found[e][0] for e in parts)
                parts_high = sum(found[e][1] for e in parts)
                narrowed = {total: (parts_low, parts_high)}
                for e in parts:
                    low_e, high_e = found[e]
                    narrowed[e] = (found[total][0] - (parts_high - high_e), found[total][1] - (parts_low - low_e))
                for e, (least, most) in narrowed.items():
                    low, high = found[e]
                    new = (max(low, least), min(high, most))
                    if new != found[e]:
                        found[e] = new
                        changed = True
            if not changed:
                break
        return found

    def protected(equation: list[tuple], known_bounds: dict[tuple, tuple[int, int]] | None = None) -> bool:
        secret = [entry for entry in equation if not known(entry)]
        if not secret:
            return True
        if len(secret) < 2:
            return False
        total, parts = equation[-1], equation[:-1]
        if total not in secret:
            # The reader learns the sum of the hidden parts; it must not itself be small.
            hidden_sum = sum(values[e] for e in secret)
            if hidden_sum < threshold:
                return False
        if known_bounds is None:
            # This line alone (to choose partners quickly): the marks, then the line's total.
            low = {entry: bounds(entry)[0] for entry in equation}
            high = {entry: bounds(entry)[1] for entry in equation}
            parts_low, parts_high = sum(low[e] for e in parts), sum(high[e] for e in parts)
            for entry in secret:
                if not guarded(entry):
                    continue
                if entry == total:
                    least, most = max(low[entry], parts_low), min(high[entry], parts_high)
                else:
                    least = max(low[entry], low[total] - (parts_high - high[entry]))
                    most = min(high[entry], high[total] - (parts_low - low[entry]))
                if most - least < 1:
                    return False
            return True
        # Each hidden entry must keep at least two values that fit every line and the marks.
        return all(known_bounds[e][1] - known_bounds[e][0] >= 1 for e in secret if guarded(e))

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

    def determined() -> int:
        narrowed = reach()
        return sum(1 for e in values if e in hidden and guarded(e) and narrowed[e][1] - narrowed[e][0] < 1)

    def _widest_cover() -> tuple:
        # Several lines together give a cell away and none can be fixed on its own: hide the
        # shown figure that leaves the fewest cells given away (rare, and the tables are small).
        shown = [entry for entry in values if entry not in hidden and values[entry] > 0]
        if not shown:
            raise _NoCover("cannot protect this table; publish it without totals")
        scores = {}
        for entry in shown:
            hidden.add(entry)
            scores[entry] = determined()
            hidden.discard(entry)
        return min(shown, key=lambda entry: (scores[entry], entry[0] == "cell", values[entry]))

    while True:
        # Lines open on their own first (the cheap test), then what all lines together give away.
        open_lines = [equation for equation in equations if not protected(equation)]
        if not open_lines:
            narrowed = reach()
            open_lines = [equation for equation in equations if not protected(equation, narrowed)]
            open_lines.sort(key=lambda equation: sum(1 for entry in equation if not known(entry)))
        if not open_lines:
            break
        for equation in open_lines:
            # Zeros never serve as complements: hiding one protects nothing, and the other
            # mark must keep meaning "at least the threshold".
            parts = [e for e in equation[:-1] if e not in hidden and values[e] > 0]
            candidates = sorted(parts, key=lambda e: (lines_left_open(e), values[e]))
            entry = candidates[0] if candidates else equation[-1]
            if entry not in hidden and values[entry] > 0:
                hidden.add(entry)
                break
        else:
            hidden.add(_widest_cover())

    def cell(entry: tuple) -> Cell:
        if entry not in hidden:
            return Cell(values[entry], False, SHOWN)
        if entry in unpublished:
            return Cell(values[entry], True, UNPUBLISHED)
        return Cell(values[entry], True, PRIMARY if entry in primary else SECONDARY)

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
    small = _small(value, threshold)
    return Cell(value, small, PRIMARY if small else SHOWN)

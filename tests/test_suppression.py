"""Small-cell suppression: no published figure lets anyone work a hidden cell back out."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.reports.suppression import SuppressionError, suppress, suppress_count

MAX_VALUE = 6  # largest count in generated tables
SEARCH_LIMIT = 2 * MAX_VALUE  # what an attacker may guess a hidden count to be


def _published(table):
    cells = [[None if c.hidden else c.value for c in row] for row in table.cells]
    rows = [None if t.hidden else t.value for t in table.row_totals]
    columns = [None if t.hidden else t.value for t in table.column_totals]
    grand = None if table.grand_total.hidden else table.grand_total.value
    return cells, rows, columns, grand


def _consistent_tables(cells, rows, columns, grand):
    """Every table of non-negative counts (up to SEARCH_LIMIT) matching what was published.

    Cells are filled one at a time; a row or column whose published total can no
    longer be met is abandoned at once, which keeps the search small.
    """
    height, width = len(cells), len(cells[0])
    unknown = [(r, c) for r in range(height) for c in range(width) if cells[r][c] is None]
    table = [list(row) for row in cells]
    last_in_row = {r: max((c for rr, c in unknown if rr == r), default=-1) for r in range(height)}
    last_in_column = {c: max((r for r, cc in unknown if cc == c), default=-1) for c in range(width)}

    def within(known: list[int], total: int | None, last: bool) -> bool:
        return total is None or (sum(known) <= total and (not last or sum(known) == total))

    def fits(r, c):
        row_known = [v for v in table[r] if v is not None]
        column_known = [table[i][c] for i in range(height) if table[i][c] is not None]
        return within(row_known, rows[r], c == last_in_row[r]) and within(
            column_known, columns[c], r == last_in_column[c]
        )

    def fill(index):
        if index == len(unknown):
            complete = [list(row) for row in table]
            rows_match = all(t is None or sum(complete[r]) == t for r, t in enumerate(rows))
            columns_match = all(t is None or sum(row[c] for row in complete) == t for c, t in enumerate(columns))
            if rows_match and columns_match and (grand is None or sum(map(sum, complete)) == grand):
                yield complete
            return
        r, c = unknown[index]
        for value in range(SEARCH_LIMIT + 1):
            table[r][c] = value
            if fits(r, c):
                yield from fill(index + 1)
        table[r][c] = None

    yield from fill(0)


tables = st.integers(1, 3).flatmap(
    lambda height: st.integers(1, 3).flatmap(
        lambda width: st.lists(
            st.lists(st.integers(0, MAX_VALUE), min_size=width, max_size=width), min_size=height, max_size=height
        )
    )
).filter(lambda rows: len(rows) * len(rows[0]) <= 6)


@settings(max_examples=150, deadline=None)
@given(tables, st.sampled_from([3, 4, 5]))
def test_no_hidden_cell_can_be_worked_out(counts, threshold) -> None:
    table = suppress(counts, threshold)
    for r, row in enumerate(counts):
        for c, value in enumerate(row):
            if 0 < value < threshold:
                assert table.cells[r][c].hidden, "every small cell is hidden"
    published = _published(table)
    possible: dict[tuple[int, int], set[int]] = {}
    for candidate in _consistent_tables(*published):
        for r, row in enumerate(candidate):
            for c, value in enumerate(row):
                if table.cells[r][c].hidden:
                    possible.setdefault((r, c), set()).add(value)
    for (r, c), values in possible.items():
        if 0 < counts[r][c] < threshold:
            assert len(values) > 1, f"cell {(r, c)}={counts[r][c]} is determined by {published}"
    for total in (*table.row_totals, *table.column_totals, table.grand_total):
        if 0 < total.value < threshold:
            assert total.hidden


def test_a_lone_small_cell_takes_a_partner_with_it() -> None:
    table = suppress([[2, 10, 7]], threshold=5)
    assert [cell.hidden for cell in table.cells[0]] == [True, False, True]
    assert [cell.shown(5) for cell in table.cells[0]] == ["<5", "10", "<5"]
    assert table.row_totals[0].shown(5) == "19"


def test_threshold_below_three_is_refused() -> None:
    with pytest.raises(SuppressionError, match="at least 3"):
        suppress([[1]], threshold=2)
    assert suppress_count(4).shown(5) == "<5"
    assert suppress_count(0).shown(5) == "0"
    assert suppress_count(5).shown(5) == "5"

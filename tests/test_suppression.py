"""Small-cell suppression: no published figure lets anyone work a hidden cell back out."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.hub.reports.suppression import SuppressionError, suppress, suppress_count
from tests.hypothesis_profiles import examples

MAX_VALUE = 6  # largest count in generated tables
SEARCH_LIMIT = 2 * MAX_VALUE  # what an attacker may guess a hidden count to be


def _published(table):
    cells = [[None if c.hidden else c.value for c in row] for row in table.cells]
    rows = [None if t.hidden else t.value for t in table.row_totals]
    columns = [None if t.hidden else t.value for t in table.column_totals]
    grand = None if table.grand_total.hidden else table.grand_total.value
    return cells, rows, columns, grand


def _consistent_tables(cells, rows, columns, grand, nonzero=None):
    """Every table of non-negative counts (up to SEARCH_LIMIT) matching what was published.

    ``nonzero``, when given, is also published: for every cell, whether it is zero (the
    red-flag "reported" marks), so a hidden cell is 0 or at least 1 as it says.
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
        if nonzero is None:
            guesses = range(SEARCH_LIMIT + 1)
        else:
            guesses = range(1, SEARCH_LIMIT + 1) if nonzero[r][c] else range(1)
        for value in guesses:
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


@settings(max_examples=examples(150), deadline=None)
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


@st.composite
def tables_with_hidden_rows(draw):
    counts = draw(tables)
    hidden = draw(st.sets(st.integers(0, len(counts) - 1), max_size=len(counts)))
    return counts, hidden


@settings(max_examples=examples(150), deadline=None)
@given(tables_with_hidden_rows(), st.sampled_from([3, 4, 5]))
def test_red_flag_tables_keep_hidden_rows_and_small_cells_secret(case, threshold) -> None:
    """Zero or not is public (the "reported" marks); rows of small groups are hidden whole."""
    counts, hidden_rows = case
    table = suppress(counts, threshold, hidden_rows=hidden_rows, zeros_public=True)
    for r in hidden_rows:
        assert all(cell.hidden for cell in table.cells[r]) and table.row_totals[r].hidden
    nonzero = [[value > 0 for value in row] for row in counts]
    published = _published(table)
    possible: dict[tuple, set[int]] = {}
    for candidate in _consistent_tables(*published, nonzero=nonzero):
        for r, row in enumerate(candidate):
            for c, value in enumerate(row):
                if table.cells[r][c].hidden:
                    possible.setdefault(("cell", r, c), set()).add(value)
            if table.row_totals[r].hidden:
                possible.setdefault(("row", r), set()).add(sum(row))
    for r, row in enumerate(counts):
        for c, value in enumerate(row):
            if 0 < value < threshold or (r in hidden_rows and value > 0):
                assert len(possible[("cell", r, c)]) > 1, f"cell {(r, c)}={value} is determined by {published}"
        if r in hidden_rows and sum(row) > 0:
            assert len(possible[("row", r)]) > 1, f"row total {r}={sum(row)} is determined by {published}"
    for total in (*table.row_totals, *table.column_totals, table.grand_total):
        if 0 < total.value < threshold:
            assert total.hidden


def test_a_centre_below_the_threshold_is_hidden_whole_and_protected() -> None:
    # Centre 0 had three interviews: one reported the first flag. Nobody reported the second.
    table = suppress([[1, 0, 0], [6, 0, 2], [5, 0, 7]], threshold=5, hidden_rows={0}, zeros_public=True)
    assert [cell.shown(5) for cell in table.cells[0]] == ["<5", "<5", "<5"]
    assert table.row_totals[0].hidden
    # The first column's total would give the hidden 1 back, so a partner is hidden with it.
    assert sum(row[0].hidden for row in table.cells) >= 2 and not table.column_totals[0].hidden
    # Zeros are public beside a red-flag table: the hidden zero at centre 0 needs no partner.
    assert [row[1].shown(5) for row in table.cells[1:]] == ["0", "0"]
    assert table.column_totals[1].shown(5) == "0"

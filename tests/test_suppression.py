"""Small-cell suppression: no published figure lets anyone work a hidden cell back out."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sync.hub.reports.suppression import (
    PRIMARY,
    SECONDARY,
    SECONDARY_MARK,
    UNPUBLISHED,
    SuppressionError,
    suppress,
    suppress_count,
)
from tests.hypothesis_profiles import examples

MAX_VALUE = 6  # largest count in generated tables
SEARCH_LIMIT = 2 * MAX_VALUE  # what an attacker may guess a hidden count to be


def _published(table):
    cells = [[None if c.hidden else c.value for c in row] for row in table.cells]
    rows = [None if t.hidden else t.value for t in table.row_totals]
    columns = [None if t.hidden else t.value for t in table.column_totals]
    grand = None if table.grand_total.hidden else table.grand_total.value
    return cells, rows, columns, grand


def _marks(table):
    return [[c.mark for c in row] for row in table.cells]


def _consistent_tables(cells, rows, columns, grand, nonzero=None, marks=None, threshold=None):
    """Every table of non-negative counts (up to SEARCH_LIMIT) matching what was published.

    ``nonzero``, when given, is also published: for every cell, whether it is zero (the
    red-flag "reported" marks), so a hidden cell is 0 or at least 1 as it says.
    ``marks``, when given with ``threshold``, are the published marks of hidden cells:
    "<5" (primary) is below the threshold, the other mark (secondary) at least the threshold.
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
        if marks is not None:
            below = marks[r][c] == PRIMARY
            guesses = [g for g in guesses if (g < threshold) == below]
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
    _assert_marks_are_true(table, threshold)
    published = _published(table)
    possible: dict[tuple[int, int], set[int]] = {}
    for candidate in _consistent_tables(*published, marks=_marks(table), threshold=threshold):
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


def _assert_marks_are_true(table, threshold) -> None:
    """The marks are true: "<5" is below the threshold; the other mark is at least the threshold; shown is the count."""
    entries = [c for row in table.cells for c in row]
    entries += [*table.row_totals, *table.column_totals, table.grand_total]
    for cell in entries:
        if cell.mark == UNPUBLISHED:
            assert cell.hidden and cell.shown(threshold) == ""
        elif not cell.hidden:
            assert cell.shown(threshold) == str(cell.value)
        elif cell.mark == PRIMARY:
            assert cell.value < threshold and cell.shown(threshold) == f"<{threshold}"
        else:
            assert cell.mark == SECONDARY and cell.value >= threshold and cell.shown(threshold) == SECONDARY_MARK


def _assert_totals_fit_what_is_shown(table, threshold) -> None:
    """Every shown total can be the sum of what its line shows: no "<5" hides more than 4."""
    lines = [(row, total) for row, total in zip(table.cells, table.row_totals, strict=True)]
    lines += [([row[c] for row in table.cells], total) for c, total in enumerate(table.column_totals)]
    lines += [(table.row_totals, table.grand_total), (table.column_totals, table.grand_total)]
    for parts, total in lines:
        if total.hidden:
            continue
        shown = sum(p.value for p in parts if not p.hidden)
        small = sum(1 for p in parts if p.hidden and p.mark == PRIMARY)
        other = sum(1 for p in parts if p.hidden and p.mark == SECONDARY)
        assert total.value >= shown + other * threshold
        if not other:
            assert total.value <= shown + small * (threshold - 1)


def test_a_lone_small_cell_takes_a_partner_with_it_and_the_partner_has_its_own_mark() -> None:
    table = suppress([[2, 10, 7]], threshold=5)
    assert [cell.hidden for cell in table.cells[0]] == [True, False, True]
    # 7 is not below 5: it is hidden only to protect the 2, and says so.
    assert [cell.shown(5) for cell in table.cells[0]] == ["<5", "10", SECONDARY_MARK]
    assert [cell.mark for cell in table.cells[0]] == [PRIMARY, "shown", SECONDARY]
    assert table.row_totals[0].shown(5) == "19"
    _assert_totals_fit_what_is_shown(table, 5)


def test_a_partner_that_the_marks_would_give_away_is_not_enough() -> None:
    # 0 hidden as "<5" beside 5 hidden as the other mark, with the row total 5 shown: a
    # reader who knows the other mark means "at least 5" reads 0 and 5 back. So the total goes.
    table = suppress([[0, 5], [9, 9]], threshold=5, hide_zeros=True)
    assert [cell.shown(5) for cell in table.cells[0]] == ["<5", SECONDARY_MARK]
    assert table.row_totals[0].hidden
    _assert_marks_are_true(table, 5)
    _assert_marks_are_true(table, 5)


@settings(max_examples=examples(150), deadline=None)
@given(tables, st.sampled_from([3, 4, 5]), st.booleans())
# Every count small: the other mark on a row total ("at least 4") pins each cell, so this
# table is published without its row totals (found by Hypothesis).
@example([[3, 1], [3, 1], [3, 1]], 4, False)
def test_with_zeros_hidden_no_count_below_the_threshold_can_be_told_from_another(counts, threshold, columns) -> None:
    """Red flags at a centre: 0 and 4 look the same, and neither can be worked out."""
    table = suppress(counts, threshold, hide_zeros=True, column_totals_only=columns)
    if columns:
        assert all(t.mark == UNPUBLISHED for t in (*table.row_totals, table.grand_total))
    _assert_marks_are_true(table, threshold)
    _assert_totals_fit_what_is_shown(table, threshold)
    for r, row in enumerate(counts):
        for c, value in enumerate(row):
            assert table.cells[r][c].hidden == (value < threshold) or table.cells[r][c].mark == SECONDARY
    published = _published(table)
    possible: dict[tuple[int, int], set[int]] = {}
    for candidate in _consistent_tables(*published, marks=_marks(table), threshold=threshold):
        for r, row in enumerate(candidate):
            for c, value in enumerate(row):
                if table.cells[r][c].hidden:
                    possible.setdefault((r, c), set()).add(value)
    for r, row in enumerate(counts):
        for c, value in enumerate(row):
            if table.cells[r][c].hidden:
                assert len(possible[(r, c)]) > 1, f"cell {(r, c)}={value} is determined by {published}"


def test_threshold_below_three_is_refused() -> None:
    with pytest.raises(SuppressionError, match="at least 3"):
        suppress([[1]], threshold=2)
    assert suppress_count(4).shown(5) == "<5"
    assert suppress_count(0).shown(5) == "0"
    assert suppress_count(5).shown(5) == "5"


@st.composite
def tables_with_hidden_rows(draw, threshold=3):
    counts = draw(tables)
    hidden = draw(st.sets(st.integers(0, len(counts) - 1), max_size=len(counts)))
    # A hidden row is a centre with fewer interviews than the threshold: each count is below it.
    return [[min(v, threshold - 1) if r in hidden else v for v in row] for r, row in enumerate(counts)], hidden


@settings(max_examples=examples(150), deadline=None)
@given(tables_with_hidden_rows(), st.sampled_from([3, 4, 5]), st.booleans())
def test_red_flag_tables_keep_hidden_rows_and_small_cells_secret(case, threshold, columns) -> None:
    """Rows of small groups are hidden whole, zeros are hidden like small counts, nothing comes back."""
    counts, hidden_rows = case
    counts = [[min(v, threshold - 1) if r in hidden_rows else v for v in row] for r, row in enumerate(counts)]
    table = suppress(counts, threshold, hidden_rows=hidden_rows, hide_zeros=True, column_totals_only=columns)
    for r in hidden_rows:
        assert all(cell.hidden for cell in table.cells[r]) and table.row_totals[r].hidden
    _assert_marks_are_true(table, threshold)
    _assert_totals_fit_what_is_shown(table, threshold)
    published = _published(table)
    possible: dict[tuple, set[int]] = {}
    for candidate in _consistent_tables(*published, marks=_marks(table), threshold=threshold):
        for r, row in enumerate(candidate):
            for c, value in enumerate(row):
                if table.cells[r][c].hidden:
                    possible.setdefault(("cell", r, c), set()).add(value)
            if table.row_totals[r].hidden:
                possible.setdefault(("row", r), set()).add(sum(row))
    for r, row in enumerate(counts):
        for c, value in enumerate(row):
            if table.cells[r][c].hidden:
                assert len(possible[("cell", r, c)]) > 1, f"cell {(r, c)}={value} is determined by {published}"
        if r in hidden_rows and sum(row) > 0 and not columns:
            assert len(possible[("row", r)]) > 1, f"row total {r}={sum(row)} is determined by {published}"
    for total in (*table.row_totals, *table.column_totals, table.grand_total):
        if 0 < total.value < threshold:
            assert total.hidden


def test_a_centre_below_the_threshold_is_hidden_whole_and_protected() -> None:
    # Centre 0 had three interviews: one reported the first flag. Nobody reported the second.
    table = suppress([[1, 0, 0], [6, 0, 2], [5, 0, 7]], threshold=5, hidden_rows={0}, hide_zeros=True)
    _assert_marks_are_true(table, 5)
    assert [cell.shown(5) for cell in table.cells[0]] == ["<5", "<5", "<5"]
    assert table.row_totals[0].hidden
    # Zeros and the 2 look like the 1: nobody can tell who reported something and who did not.
    assert [row[1].shown(5) for row in table.cells] == ["<5", "<5", "<5"]
    assert table.cells[1][2].shown(5) == "<5"
    # The first column's total would give the hidden 1 back, so a partner is hidden with it.
    assert sum(row[0].hidden for row in table.cells) >= 2

"""Writing the files: values as CSV and JSON cells (text guarded against spreadsheet
formulas in CSV), and new private files (0600, fsynced) in the export folder."""

from __future__ import annotations

import contextlib
import csv
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from sync.hub.export.errors import ExportError

__all__ = [
    "FORMULA_GUARD",
    "FORMULA_TRIGGERS",
    "WRITERS",
    "csv_cell",
    "json_cell",
    "neutralise_formula",
    "private_file",
]

# A spreadsheet runs a cell that starts with one of these as a formula. A text cell
# that starts with one (or with the apostrophe itself, so that the rule can be
# undone exactly) gets a leading apostrophe in CSV files. The fullwidth forms are
# there because some spreadsheets (and their East Asian input methods) read them as
# the ASCII signs.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
FORMULA_GUARD = "'"

_PRIVATE_FILE = 0o600


def neutralise_formula(text: str) -> str:
    """``text`` made safe to open in a spreadsheet: never read as a formula."""
    if text.startswith((*FORMULA_TRIGGERS, FORMULA_GUARD)):
        return FORMULA_GUARD + text
    return text


def _text_of(value: Any) -> str:
    """A non-number value as the text both formats write: lists joined with ';'."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ";".join(_text_of(v) for v in value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def csv_cell(value: Any) -> str:
    """A value as a CSV cell: numbers as numbers, every text guarded against formulas."""
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value)
    if isinstance(value, bool):
        return _text_of(value)
    return neutralise_formula(_text_of(value))


def json_cell(value: Any) -> Any:
    """A value as a JSON table cell: numbers, booleans and null as such, the rest as text."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return _text_of(value)


def _open_private(path: Path, *, newline: str | None = None) -> IO[str]:
    """A new text file only its owner can read (never an existing file or a link)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, _PRIVATE_FILE)
        os.fchmod(fd, _PRIVATE_FILE)
    except OSError as error:
        raise _write_error(path, error) from None
    return open(fd, "w", encoding="utf-8", newline=newline)  # the caller closes it


def _write_error(path: Path, error: OSError) -> ExportError:
    return ExportError(
        f"could not write {path.name}: {error.strerror or error}; nothing was exported "
        "(free some space or choose another --out folder, then try again)"
    )


@contextlib.contextmanager
def private_file(path: Path, *, newline: str | None = None) -> Iterator[IO[str]]:
    """A new 0600 text file at ``path``, fsynced when the block ends; a failure is an ExportError."""
    handle = _open_private(path, newline=newline)
    try:
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:
        raise _write_error(path, error) from None


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[list[Any]]) -> None:
    with private_file(path, newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow([csv_cell(value) for value in row])


def _write_json(path: Path, header: Sequence[str], rows: Iterable[list[Any]]) -> None:
    # One object per line, written as the rows come, so a table is never whole in memory.
    with private_file(path) as handle:
        handle.write("[")
        separator = "\n"
        for row in rows:
            record = {name: json_cell(value) for name, value in zip(header, row, strict=True)}
            handle.write(separator + json.dumps(record, ensure_ascii=False))
            separator = ",\n"
        handle.write("\n]\n")


Writer = Callable[[Path, Sequence[str], Iterable[list[Any]]], None]

# By table format: write a header and rows to a new private file.
WRITERS: dict[str, Writer] = {
    "csv": _write_csv,
    "json": _write_json,
}

"""Hub export: the merged records, decrypted into one table per form version, a codebook
and a Frictionless Data Package descriptor (``docs/export.md`` describes the files).

Plaintext exists in memory one record at a time, and on disk only in the export
folder. That folder is built under a hidden sibling name (mode 0700, files 0600) and
renamed into place when complete, so a refusal or a crash never leaves a half export
under the name asked for; whatever happens short of a kill, the hidden folder is
removed. Each decrypted record goes straight to a per-table staging file inside it,
because a table's columns (for a form version the hub has no definition of) are known
only once every record has been read; the staging files are removed before the rename.

A record that cannot be opened or read is reported with its id and a one-line
reason that never quotes its content; the others are exported regardless.
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import hashlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from fieldkit.core import paths
from fieldkit.core.crypto import age
from fieldkit.core.errors import FieldkitError
from fieldkit.core.formengine.catalogue import load_directory
from fieldkit.core.formengine.labels import BUILT_IN_LABELS, LIKERT_LABELS
from fieldkit.core.formengine.model import DONT_KNOW, LEVELS, LIKERT_VALUES, PREFER_NOT, Form, Item
from fieldkit.core.formengine.wording import BUILT_IN_CHOICE_TYPES, choice_context, item_context
from fieldkit.core.i18n.catalogues import SOURCE_LANGUAGE, load_catalogue
from fieldkit.core.storage.atomic import ensure_private_dir, fsync_dir
from sync.hub.opening import UnreadableRecord, open_record
from sync.hub.store import HubStore, StoredRecord

__all__ = [
    "EXPORT_FORMAT",
    "FORMATS",
    "METADATA_COLUMNS",
    "ExportError",
    "ExportPlan",
    "ExportReport",
    "RecordProblem",
    "TableReport",
    "Wording",
    "neutralise_formula",
    "plan_export",
    "run_export",
]

EXPORT_FORMAT = "fieldkit-export/1"
FORMATS = ("csv", "json")
DESCRIPTOR = "datapackage.json"
CODEBOOK = "codebook"

METADATA_COLUMNS = (
    "record_id",
    "kit_id",
    "form_version",
    "language",
    "translation_complete",
    "started",
    "finished",
    "interviewer",
    "form_hash",
)
SPECIAL_CODES = (PREFER_NOT, DONT_KNOW)
MISSING_VALUES = ["", *SPECIAL_CODES]

# A spreadsheet runs a cell that starts with one of these as a formula. A text cell
# that starts with one (or with the apostrophe itself, so that the rule can be
# undone exactly) gets a leading apostrophe in CSV files.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
FORMULA_GUARD = "'"

HOUR_FORMAT = "%Y-%m-%dT%H:%MZ"
_HOUR = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}Z")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TABLE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:[_-][A-Za-z0-9]{2,8})*")
_CHOICE_TYPES = ("select_one", *BUILT_IN_CHOICE_TYPES)

_PRIVATE_FILE = 0o600
_PRIVATE_DIR = 0o700


class ExportError(FieldkitError):
    """The export cannot start or could not be written; ``str()`` says what to do."""


def neutralise_formula(text: str) -> str:
    """``text`` made safe to open in a spreadsheet: never read as a formula."""
    if text.startswith((*FORMULA_TRIGGERS, FORMULA_GUARD)):
        return FORMULA_GUARD + text
    return text


# --- Labels in the chosen language ------------------------------------------------------


@dataclass(frozen=True)
class Label:
    text: str
    language: str
    fallback: bool  # True: English, because the chosen language has no reviewed translation


def interface_source_labels() -> tuple[dict[str, tuple[str, ...]], dict[str, str]]:
    """The English likert scale and built-in answer labels, as the kit's pages show them.

    They live in ``fieldkit.core.formengine.labels``; the messages catalogue translates them.
    """
    return dict(LIKERT_LABELS), dict(BUILT_IN_LABELS)


class Wording:
    """Form and interface labels in one language, English where a string is untranslated.

    Reads the ``forms`` and ``messages`` catalogues of ``translations_dir/LANG/LC_MESSAGES``;
    only reviewed translations count (fuzzy ones are drafts).
    """

    def __init__(self, language: str, translations_dir: Path) -> None:
        if not _LANGUAGE.fullmatch(language):
            raise ExportError(f"--lang {language!r} is not a language code (such as fr or pt_BR)")
        self.language = language
        self._forms: dict[tuple[str | None, str], str] = {}
        self._interface: dict[tuple[str | None, str], str] = {}
        if language != SOURCE_LANGUAGE:
            folder = translations_dir / language / "LC_MESSAGES"
            if not folder.is_dir():
                known = sorted(
                    p.name for p in translations_dir.iterdir() if (p / "LC_MESSAGES").is_dir()
                ) if translations_dir.is_dir() else []  # fmt: skip
                raise ExportError(
                    f"no translations for {language!r} in {translations_dir} "
                    f"(available: {', '.join([SOURCE_LANGUAGE, *known])})"
                )
            self._forms = load_catalogue(translations_dir, language, "forms").translated
            self._interface = load_catalogue(translations_dir, language, "messages").translated
        self.likert, self.built_in = interface_source_labels()

    def _pick(self, table: Mapping[tuple[str | None, str], str], key: tuple[str | None, str]) -> Label:
        english = key[1]
        if self.language == SOURCE_LANGUAGE or not english:
            return Label(english, SOURCE_LANGUAGE, False)
        found = table.get(key)
        if found:
            return Label(found, self.language, False)
        return Label(english, SOURCE_LANGUAGE, True)

    def form(self, context: str, english: str) -> Label:
        return self._pick(self._forms, (context, english))

    def interface(self, english: str) -> Label:
        return self._pick(self._interface, (None, english))

    def english(self, text: str) -> Label:
        """A fixed English text (the export's own descriptions), flagged like a fallback."""
        return Label(text, SOURCE_LANGUAGE, self.language != SOURCE_LANGUAGE)


# --- Records left out ------------------------------------------------------------------


@dataclass(frozen=True)
class RecordProblem:
    """A record left out of the export, and why (never its content)."""

    record_id: str
    reason: str

    def line(self) -> str:
        return f"record {self.record_id}: not exported: {self.reason}"


# --- Columns and values -----------------------------------------------------------------


def _kind(value: Any) -> str:
    """The kind of a value, for choosing a column's type without keeping the value."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        if value in SPECIAL_CODES:
            return "code"
        if _DATE.fullmatch(value):
            return "date"
        if _HOUR.fullmatch(value):
            return "hour"
        return "str"
    if isinstance(value, list):
        return "list"
    return "other"


# Which value kinds each Frictionless type reads back unchanged ("code" is a missing value).
_TYPE_ACCEPTS = {
    "integer": {"int", "code"},
    "number": {"int", "float", "code"},
    "date": {"date", "code"},
    "datetime": {"hour"},
    "boolean": {"bool"},
}


def _infer_type(kinds: set[str]) -> str:
    kinds = kinds - {"code"}
    if not kinds:
        return "string"
    if kinds <= {"int"}:
        return "integer"
    if kinds <= {"int", "float"}:
        return "number"
    if kinds <= {"date"}:
        return "date"
    return "string"


def _within(item: Item, value: Any) -> bool:
    """Whether an answer is one the form's item defines (special codes always are)."""
    if isinstance(value, str) and value in SPECIAL_CODES:
        return True
    if item.type == "likert":
        return type(value) is int and value in LIKERT_VALUES
    if item.type in _CHOICE_TYPES:
        return isinstance(value, str) and value in item.choice_ids()
    if item.type == "select_multiple":
        choices = item.choice_ids()
        return isinstance(value, list) and all(isinstance(v, str) and v in choices for v in value)
    return True


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


@dataclass
class _Stats:
    kinds: set[str] = field(default_factory=set)
    outside: bool = False  # some value is not one the form's item defines


@dataclass(frozen=True)
class Column:
    """One column of a table and how the descriptor and codebook describe it."""

    name: str
    key: str  # the metadata name or the answer's item id
    kind: str  # "metadata", "item" (of the shipped form) or "answer" (no definition at hand)
    field_type: str
    item: Item | None = None
    field_format: str | None = None
    enum: tuple[Any, ...] | None = None
    pattern: str | None = None
    notes: tuple[str, ...] = ()


_METADATA_FIELDS: dict[str, tuple[str, str | None, str]] = {
    "record_id": ("string", "uuid", "The record's id, a random UUID."),
    "kit_id": ("string", None, "The kit that sealed the record."),
    "form_version": ("integer", None, "The version of the form the interview used."),
    "language": ("string", None, "The language the interview was shown in."),
    "translation_complete": (
        "boolean", None, "false when the interview was shown in an incomplete (pilot) translation.",
    ),
    "started": ("datetime", HOUR_FORMAT, "When the interview started: UTC, rounded down to the hour."),
    "finished": ("datetime", HOUR_FORMAT, "When the record was sealed: UTC, rounded down to the hour."),
    "interviewer": ("string", None, "The interviewer code chosen when pairing (never a name)."),
    "form_hash": (
        "string", None,
        "Empty when the record was made with the shipped definition of this form version; "
        "otherwise the content hash of the definition it was made with, whose items or "
        "wording may differ from this codebook.",
    ),
}  # fmt: skip


def _item_field(item: Item) -> tuple[str, str | None, tuple[Any, ...] | None, str | None]:
    """(type, format, enum, pattern) that a shipped item's answers have."""
    if item.type == "integer":
        return "integer", None, None, None
    if item.type == "likert":
        return "integer", None, LIKERT_VALUES, None
    if item.type == "decimal":
        return "number", None, None, None
    if item.type == "date":
        return "date", None, None, None
    if item.type in _CHOICE_TYPES:
        return "string", None, item.choice_ids(), None
    if item.type == "select_multiple":
        one = "(" + "|".join(re.escape(choice) for choice in item.choice_ids()) + ")"
        return "string", None, None, f"{one}(;{one})*"
    return "string", None, None, None


def _fits(field_type: str, stats: _Stats | None) -> bool:
    accepts = _TYPE_ACCEPTS.get(field_type)
    return accepts is None or stats is None or stats.kinds <= accepts


def _unique_name(wanted: str, taken: set[str]) -> str:
    wanted = wanted or "answer"
    name, number = wanted, 1
    while name in taken:
        number += 1
        name = f"{wanted}_{number}"
    taken.add(name)
    return name


# --- Tables -----------------------------------------------------------------------------


def table_name(form_id: str, version: int) -> str:
    """A file and resource name for a form version, safe whatever the record says."""
    base = form_id if _TABLE_NAME.fullmatch(form_id) else "form-" + hashlib.sha256(form_id.encode()).hexdigest()[:12]
    return f"{base}-v{version}"


class _Table:
    """One form version: its shipped definition if any, row count, value kinds, staging file."""

    def __init__(self, form_id: str, version: int, form: Form | None, shipped: Form | None, staging: Path) -> None:
        self.form_id = form_id
        self.version = version
        self.form = form  # the shipped definition of exactly this version
        self.shipped_version = shipped.version if shipped is not None else None
        self.name = table_name(form_id, version)
        self.rows = 0
        self.hash_differs = 0
        self.stats: dict[str, _Stats] = {}  # by answer key
        self.metadata_stats: dict[str, _Stats] = {}
        self.items = {item.id: item for item in form.items if item.takes_answer} if form else {}
        self.staging_path = staging / f"{self.name}.jsonl"
        self._staging: IO[str] | None = None
        self.columns: list[Column] = []
        self.path: Path | None = None

    def add(self, stored: StoredRecord, payload: dict[str, Any]) -> None:
        form_hash = payload["form"]["hash"]
        if self.form is not None and form_hash == self.form.content_hash:
            form_hash = None
        else:
            self.hash_differs += 1
        translation = payload.get("translation")
        metadata = {
            "record_id": stored.record_id,
            "kit_id": payload.get("kit_id", stored.kit_id),
            "form_version": self.version,
            "language": payload.get("language"),
            "translation_complete": translation.get("complete") if isinstance(translation, dict) else None,
            "started": payload.get("started"),
            "finished": payload.get("finished"),
            "interviewer": payload.get("interviewer"),
            "form_hash": form_hash,
        }
        answers = payload["answers"]
        for key, value in metadata.items():
            if value is not None:
                self.metadata_stats.setdefault(key, _Stats()).kinds.add(_kind(value))
        for key, value in answers.items():
            if value is None:
                continue
            stats = self.stats.setdefault(key, _Stats())
            stats.kinds.add(_kind(value))
            item = self.items.get(key)
            if item is not None and not _within(item, value):
                stats.outside = True
        if self._staging is None:
            self._staging = _open_private(self.staging_path)
        self._staging.write(json.dumps([metadata, answers], ensure_ascii=False) + "\n")
        self.rows += 1

    def close_staging(self) -> None:
        if self._staging is not None:
            self._staging.close()
            self._staging = None

    def staged_rows(self) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        if not self.staging_path.exists():
            return
        with self.staging_path.open(encoding="utf-8") as handle:
            for line in handle:
                metadata, answers = json.loads(line)
                yield metadata, answers

    def plan_columns(self) -> list[Column]:
        """The columns, once every record is in: metadata, the form's items, then other answers."""
        taken = set(METADATA_COLUMNS)
        columns = []
        for name in METADATA_COLUMNS:
            field_type, field_format, _description = _METADATA_FIELDS[name]
            stats = self.metadata_stats.get(name)
            notes: tuple[str, ...] = ()
            if not _fits(field_type, stats):
                field_type, field_format = "string", None
                notes = ("some values are not in the usual format, so the column is text",)
            columns.append(Column(name, name, "metadata", field_type, field_format=field_format, notes=notes))
        for item_id, item in self.items.items():
            field_type, field_format, enum, pattern = _item_field(item)
            stats = self.stats.get(item_id)
            notes = ()
            if not _fits(field_type, stats):
                field_type, field_format, enum, pattern = "string", None, None, None
                notes = ("some records give answers of another kind than this item takes; the column is text",)
            elif stats is not None and stats.outside:
                enum = pattern = None
                notes = ("some records give answers this item does not define (see form_hash)",)
            name = _unique_name(item_id, taken)
            if name != item_id:
                notes += (f"the item {item_id} is named {name} here, as {item_id} is a metadata column",)
            columns.append(
                Column(name, item_id, "item", field_type, item, field_format, enum, pattern, notes)
            )
        others = sorted(key for key in self.stats if key not in self.items)
        for key in others:
            name = _unique_name(key, taken)
            notes = (self.unavailable_note(),) if self.form is None else (
                f"not an item of the shipped form {self.form.key}; some records (see form_hash) "
                "were made with another definition",
            )  # fmt: skip
            if name != key:
                notes += (f"the answer {key} is named {name} here, as {key} is taken",)
            columns.append(Column(name, key, "answer", _infer_type(self.stats[key].kinds), notes=notes))
        self.columns = columns
        return columns

    def unavailable_note(self) -> str:
        if self.shipped_version is None:
            where = f"no shipped form has the id {self.form_id}"
        else:
            where = (
                f"version {self.version} of {self.form_id} is not among the shipped forms "
                f"(shipped: version {self.shipped_version})"
            )
        return f"labels unavailable: {where}; columns come from the answers in the records"


# --- Writing files ----------------------------------------------------------------------


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
def _private_file(path: Path, *, newline: str | None = None) -> Iterator[IO[str]]:
    handle = _open_private(path, newline=newline)
    try:
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:
        raise _write_error(path, error) from None


def _write_csv(path: Path, header: Sequence[str], rows: Iterator[list[Any]]) -> None:
    with _private_file(path, newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow([csv_cell(value) for value in row])


def _write_json(path: Path, header: Sequence[str], rows: Iterator[list[Any]]) -> None:
    with _private_file(path) as handle:
        handle.write("[")
        separator = "\n"
        for row in rows:
            record = {name: json_cell(value) for name, value in zip(header, row, strict=True)}
            handle.write(separator + json.dumps(record, ensure_ascii=False))
            separator = ",\n"
        handle.write("\n]\n")


_WRITERS: dict[str, Callable[[Path, Sequence[str], Iterator[list[Any]]], None]] = {
    "csv": _write_csv,
    "json": _write_json,
}


def _table_rows(table: _Table) -> Iterator[list[Any]]:
    for metadata, answers in table.staged_rows():
        yield [
            metadata.get(column.key) if column.kind == "metadata" else answers.get(column.key)
            for column in table.columns
        ]


# --- Codebook ---------------------------------------------------------------------------

CODEBOOK_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("table", "string", "The table (resource name) the column belongs to."),
    ("form_id", "string", "The form's id."),
    ("form_version", "integer", "The form's version."),
    ("column", "string", "The column's name in the table."),
    ("value", "string", "Empty on the row describing the column; otherwise one value it may hold."),
    ("kind", "string", "metadata, item (of the shipped form), answer (no form definition at hand) or value."),
    ("item_type", "string", "The form item's type (select_one, likert, text...); empty when unknown."),
    ("field_type", "string", "The column's data type in datapackage.json."),
    ("label", "string", "The question, or the value's label, in label_language."),
    ("label_language", "string", "The language of the label; empty when no label is available."),
    ("label_fallback", "boolean", "true when the label is English because the chosen language lacks it."),
    ("tags", "string", "The Standards tags of the item, separated by ';'."),
    ("sensitive", "boolean", "true for questions about human-rights red flags."),
    ("scoring", "string", "Which answers count as which QualityRights level."),
    ("note", "string", "Anything else to know about the column or value."),
)
CODEBOOK_COLUMNS = tuple(name for name, _type, _description in CODEBOOK_FIELDS)


def scoring_summary(item: Item) -> str:
    rules = sorted(item.scoring, key=lambda rule: LEVELS.index(rule.level))
    parts = []
    for rule in rules:
        if rule.condition is not None:
            parts.append(f"{rule.level}: {rule.condition.source}")
        else:
            parts.append(f"{rule.level}: " + ", ".join(sorted(str(value) for value in rule.values)))
    return "; ".join(parts)


def _value_labels(form: Form, item: Item, wording: Wording) -> list[tuple[str, Label, str]]:
    """(value, label, note) for each answer value an item defines, special codes last."""
    values: list[tuple[str, Label, str]] = []
    if item.type == "likert":
        scale = item.scale or "agreement"
        for number, english in zip(LIKERT_VALUES, wording.likert[scale], strict=True):
            values.append((str(number), wording.interface(english), f"{scale} scale"))
    elif item.type in BUILT_IN_CHOICE_TYPES:
        for choice in item.choices:
            values.append((choice.id, wording.interface(wording.built_in[choice.id]), ""))
    else:
        for choice in item.choices:
            values.append((choice.id, wording.form(choice_context(form, item, choice.id), choice.label), ""))
    for offer in item.offer:
        values.append((offer, wording.interface(wording.built_in[offer]), "special answer, kept as this code"))
    return values


def _codebook_rows(table: _Table, wording: Wording) -> Iterator[dict[str, Any]]:
    base = {"table": table.name, "form_id": table.form_id, "form_version": table.version}
    empty = {name: "" for name in CODEBOOK_COLUMNS} | {"label_fallback": False, "sensitive": False}
    for column in table.columns:
        row = empty | base | {"column": column.name, "kind": column.kind, "field_type": column.field_type}
        notes = list(column.notes)
        label: Label | None = None
        if column.kind == "metadata":
            label = wording.english(_METADATA_FIELDS[column.key][2])
        elif column.item is not None and table.form is not None:
            item = column.item
            label = wording.form(item_context(table.form, item), item.label)
            row |= {
                "item_type": item.type,
                "tags": ";".join(item.tags),
                "sensitive": item.sensitive,
                "scoring": scoring_summary(item),
            }
            if item.type == "select_multiple":
                notes.append("ticked choice ids joined with ';' in the order the form lists them")
        if label is not None:
            row |= {"label": label.text, "label_language": label.language, "label_fallback": label.fallback}
        row["note"] = "; ".join(notes)
        yield row
        if column.item is not None and table.form is not None:
            for value, value_label, note in _value_labels(table.form, column.item, wording):
                yield empty | base | {
                    "column": column.name, "value": value, "kind": "value",
                    "item_type": column.item.type, "label": value_label.text,
                    "label_language": value_label.language,
                    "label_fallback": value_label.fallback, "note": note,
                }  # fmt: skip


# --- The descriptor ---------------------------------------------------------------------


def _field_descriptor(table: _Table, column: Column, wording: Wording) -> dict[str, Any]:
    descriptor: dict[str, Any] = {"name": column.name, "type": column.field_type}
    parts: list[str] = []
    if column.kind == "metadata":
        descriptor["title"] = column.name
        parts.append(_METADATA_FIELDS[column.key][2])
    elif column.item is not None and table.form is not None:
        item = column.item
        descriptor["title"] = wording.form(item_context(table.form, item), item.label).text
        parts.append(f"Item {item.id} ({item.type})")
        if item.tags:
            parts.append("Standards: " + ", ".join(item.tags))
        if item.sensitive:
            parts.append("sensitive question")
        if item.type == "select_multiple":
            parts.append("ticked choice ids joined with ';'")
        if item.offer:
            parts.append("special answers kept as codes: " + ", ".join(item.offer))
    else:
        descriptor["title"] = column.name
    parts.extend(column.notes)
    descriptor["description"] = "; ".join(parts)
    if column.field_format:
        descriptor["format"] = column.field_format
    constraints: dict[str, Any] = {}
    if column.name == "record_id":
        constraints |= {"required": True, "unique": True}
    if column.enum is not None:
        constraints["enum"] = list(column.enum)
    if column.pattern is not None:
        constraints["pattern"] = column.pattern
    if constraints:
        descriptor["constraints"] = constraints
    return descriptor


def _file_facts(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return {"bytes": path.stat().st_size, "hash": "sha256:" + digest.hexdigest()}


def _format_facts(table_format: str) -> dict[str, Any]:
    if table_format == "csv":
        return {
            "profile": "tabular-data-resource",
            "format": "csv",
            "mediatype": "text/csv",
            "encoding": "utf-8",
            "dialect": {"delimiter": ",", "doubleQuote": True, "lineTerminator": "\r\n", "header": True},
        }
    return {"profile": "data-resource", "format": "json", "mediatype": "application/json", "encoding": "utf-8"}


# --- The export -------------------------------------------------------------------------


@dataclass(frozen=True)
class TableReport:
    name: str
    path: Path
    rows: int
    hash_differs: int
    labels_available: bool


@dataclass(frozen=True)
class ExportReport:
    out_dir: Path
    tables: tuple[TableReport, ...]
    exported: int
    problems: tuple[RecordProblem, ...]
    warnings: tuple[str, ...]
    quarantined: int

    @property
    def failed(self) -> int:
        return len(self.problems)


@dataclass(frozen=True)
class ExportPlan:
    """An export checked and ready to run: where it goes, in what form, and how many records."""

    hub_dir: Path
    hub_id: str
    recipient: str
    out_dir: Path
    table_format: str
    wording: Wording
    forms: Mapping[str, Form]
    force: bool
    total: int
    quarantined: int


def _is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _is_earlier_export(folder: Path) -> bool:
    try:
        descriptor = json.loads((folder / DESCRIPTOR).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(descriptor, dict) and isinstance(descriptor.get("fieldkit"), dict) and (
        descriptor["fieldkit"].get("format") == EXPORT_FORMAT
    )


def _check_out_dir(out_dir: Path, hub_dir: Path, force: bool) -> None:
    out_real, hub_real = out_dir.resolve(), hub_dir.resolve()
    if _is_within(out_real, hub_real) or _is_within(hub_real, out_real):
        raise ExportError(
            f"--out {out_dir} overlaps the hub folder; the hub keeps ciphertext only, so "
            "export to a folder outside it"
        )
    if out_dir.is_symlink():
        raise ExportError(f"--out {out_dir} is a symbolic link; give the folder itself")
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise ExportError(f"--out {out_dir} exists and is not a folder")
    if not any(out_dir.iterdir()):
        return
    if not force:
        raise ExportError(
            f"--out {out_dir} is not empty; choose a new folder, or give --force to replace an earlier export"
        )
    if not _is_earlier_export(out_dir):
        raise ExportError(
            f"--out {out_dir} holds files that are not a fieldkit export; --force replaces only "
            "an earlier export, so choose a new folder"
        )


def plan_export(
    hub_dir: Path,
    out_dir: Path,
    *,
    table_format: str = "csv",
    language: str = SOURCE_LANGUAGE,
    forms: Mapping[str, Form] | None = None,
    translations_dir: Path | None = None,
    force: bool = False,
) -> ExportPlan:
    """Check everything an export needs before any record is decrypted."""
    if table_format not in FORMATS:
        raise ExportError(f"unknown format {table_format!r}; use one of {', '.join(FORMATS)}")
    hub_dir, out_dir = Path(hub_dir), Path(out_dir)
    _check_out_dir(out_dir, hub_dir, force)
    wording = Wording(language, Path(translations_dir) if translations_dir else paths.translations_dir())
    if forms is None:
        forms = load_directory(paths.forms_dir())
    with HubStore(hub_dir) as store:
        total = store.record_count()
        quarantined = len(store.quarantine())
        config = store.config
    return ExportPlan(
        hub_dir, config.hub_id, config.recipient, out_dir, table_format, wording, dict(forms),
        force, total, quarantined,
    )  # fmt: skip


class _Staging:
    """The hidden sibling folder the export is built in, renamed into place at the end."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        parent = out_dir.parent
        if not parent.exists():
            ensure_private_dir(parent)
        self.path = parent / f".{out_dir.name}.partial-{secrets.token_hex(6)}"
        try:
            self.path.mkdir(mode=_PRIVATE_DIR)
            os.chmod(self.path, _PRIVATE_DIR)
            self.rows_dir = self.path / ".rows"
            self.rows_dir.mkdir(mode=_PRIVATE_DIR)
        except OSError as error:
            self.discard()
            raise ExportError(f"cannot create a folder beside {out_dir}: {error.strerror or error}") from None

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def commit(self) -> None:
        """Put the finished export under its name; an earlier export there is replaced."""
        shutil.rmtree(self.rows_dir)
        fsync_dir(self.path)
        parent = self.out_dir.parent
        old: Path | None = None
        if self.out_dir.exists() and any(self.out_dir.iterdir()):
            old = parent / f".{self.out_dir.name}.old-{secrets.token_hex(6)}"
            os.rename(self.out_dir, old)
        try:
            # rename() replaces an empty folder in one step.
            os.rename(self.path, self.out_dir)
        except OSError:
            if old is not None:
                os.rename(old, self.out_dir)
            raise
        fsync_dir(parent)
        if old is not None:
            shutil.rmtree(old)
            fsync_dir(parent)


def _new_table(key: tuple[str, int], plan: ExportPlan, staging: _Staging) -> _Table:
    form_id, version = key
    shipped = plan.forms.get(form_id)
    exact = shipped if shipped is not None and shipped.version == version else None
    return _Table(form_id, version, exact, shipped, staging.rows_dir)


def run_export(
    plan: ExportPlan,
    identities: Sequence[age.Identity],
    *,
    advance: Callable[[int], None] | None = None,
) -> ExportReport:
    """Decrypt every accepted record, record by record, and write the export folder."""
    staging = _Staging(plan.out_dir)
    try:
        report = _build(plan, identities, staging, advance)
        staging.commit()
    except OSError as error:
        raise ExportError(f"could not finish the export in {plan.out_dir}: {error.strerror or error}") from None
    finally:
        if staging.path.exists():
            staging.discard()
    return report


def _build(
    plan: ExportPlan,
    identities: Sequence[age.Identity],
    staging: _Staging,
    advance: Callable[[int], None] | None,
) -> ExportReport:
    tables: dict[tuple[str, int], _Table] = {}
    for form in sorted(plan.forms.values(), key=lambda f: f.id):
        tables[(form.id, form.version)] = _new_table((form.id, form.version), plan, staging)
    problems: list[RecordProblem] = []
    warnings: list[str] = []
    try:
        exported = _decrypt_into(plan, identities, tables, staging, problems, warnings, advance)
    finally:
        for table in tables.values():
            table.close_staging()
    return _write_outputs(plan, staging, sorted(tables.values(), key=lambda t: t.name), problems, warnings, exported)


def _decrypt_into(
    plan: ExportPlan,
    identities: Sequence[age.Identity],
    tables: dict[tuple[str, int], _Table],
    staging: _Staging,
    problems: list[RecordProblem],
    warnings: list[str],
    advance: Callable[[int], None] | None,
) -> int:
    """Open each accepted record in turn and stage its row; return how many were exported."""
    exported = 0
    with HubStore(plan.hub_dir) as store, contextlib.closing(store.iter_records()) as records:
        for stored in records:
            try:
                payload = open_record(stored, identities)
            except UnreadableRecord as error:
                problems.append(RecordProblem(stored.record_id, error.reason))
            else:
                form = payload["form"]
                key = (form["id"], form["version"])
                if key != (stored.form_id, stored.form_version):
                    warnings.append(
                        f"record {stored.record_id}: its kit listed it as {stored.form_id} version "
                        f"{stored.form_version} but sealed it with another form or version; "
                        f"exported in table {table_name(*key)}"
                    )
                if payload.get("kit_id", stored.kit_id) != stored.kit_id:
                    warnings.append(
                        f"record {stored.record_id}: sealed by another kit than the one that "
                        f"sent it ({stored.kit_id}); exported with the sealed kit id"
                    )
                if key not in tables:
                    tables[key] = _new_table(key, plan, staging)
                tables[key].add(stored, payload)
                del payload
                exported += 1
            if advance is not None:
                advance(1)
    return exported


def _write_outputs(
    plan: ExportPlan,
    staging: _Staging,
    tables: list[_Table],
    problems: list[RecordProblem],
    warnings: list[str],
    exported: int,
) -> ExportReport:
    fmt = plan.table_format
    write = _WRITERS[fmt]
    resources = []
    for table in tables:
        columns = table.plan_columns()
        table.path = staging.path / f"{table.name}.{fmt}"
        write(table.path, [column.name for column in columns], _table_rows(table))
        table.staging_path.unlink(missing_ok=True)
        resources.append(_table_resource(plan, table))
    codebook_path = staging.path / f"{CODEBOOK}.{fmt}"
    codebook_rows = (
        [row[name] for name in CODEBOOK_COLUMNS] for table in tables for row in _codebook_rows(table, plan.wording)
    )
    write(codebook_path, CODEBOOK_COLUMNS, codebook_rows)
    resources.append(_codebook_resource(plan, codebook_path))
    descriptor = _package_descriptor(plan, resources, exported, len(problems))
    with _private_file(staging.path / DESCRIPTOR) as handle:
        handle.write(json.dumps(descriptor, ensure_ascii=False, indent=2) + "\n")
    return ExportReport(
        out_dir=plan.out_dir,
        tables=tuple(
            TableReport(t.name, plan.out_dir / f"{t.name}.{fmt}", t.rows, t.hash_differs, t.form is not None)
            for t in tables
        ),
        exported=exported,
        problems=tuple(problems),
        warnings=tuple(warnings),
        quarantined=plan.quarantined,
    )


def _table_resource(plan: ExportPlan, table: _Table) -> dict[str, Any]:
    assert table.path is not None
    if table.form is not None:
        title = plan.wording.form(f"{table.form.id}/:title", table.form.title).text
        title = f"{title} (version {table.version})"
        description = f"One row per record made with form {table.form_id} version {table.version}."
    else:
        title = f"{table.form_id} version {table.version}"
        description = (
            f"One row per record made with form {table.form_id} version {table.version}; "
            f"{table.unavailable_note()}."
        )
    if table.hash_differs and table.form is not None:
        description += (
            f" {table.hash_differs} records were made with another definition of this version (see form_hash)."
        )
    return {
        "name": table.name,
        "path": table.path.name,
        "title": title,
        "description": description,
        **_format_facts(plan.table_format),
        **_file_facts(table.path),
        "schema": {
            "fields": [_field_descriptor(table, column, plan.wording) for column in table.columns],
            "primaryKey": "record_id",
            "missingValues": list(MISSING_VALUES),
        },
    }


def _codebook_resource(plan: ExportPlan, path: Path) -> dict[str, Any]:
    return {
        "name": CODEBOOK,
        "path": path.name,
        "title": "Codebook",
        "description": (
            "One row per column of every table, then one row per value a column may hold, "
            f"with labels in {plan.wording.language} where translated."
        ),
        **_format_facts(plan.table_format),
        **_file_facts(path),
        "schema": {
            "fields": [
                {"name": name, "type": field_type, "title": name, "description": description}
                for name, field_type, description in CODEBOOK_FIELDS
            ],
            "missingValues": [""],
        },
    }


def _package_descriptor(
    plan: ExportPlan, resources: list[dict[str, Any]], exported: int, failed: int
) -> dict[str, Any]:
    name = re.sub(r"[^a-z0-9._-]+", "-", f"fieldkit-export-{plan.hub_id}".lower())
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    return {
        "profile": "tabular-data-package" if plan.table_format == "csv" else "data-package",
        "name": name,
        "title": f"fieldkit export from hub {plan.hub_id}",
        "description": (
            "Answers of peer assessments of drug treatment centres, in plaintext: keep these "
            "files on an encrypted disk, share them only with people allowed to see them, and "
            "delete them when the analysis is done."
        ),
        "created": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "fieldkit": {
            "format": EXPORT_FORMAT,
            "hub_id": plan.hub_id,
            "label_language": plan.wording.language,
            "records_exported": exported,
            "records_not_exported": failed,
            "record_ids_in_quarantine": plan.quarantined,
            "formula_guard": FORMULA_GUARD if plan.table_format == "csv" else None,
        },
        "resources": resources,
    }

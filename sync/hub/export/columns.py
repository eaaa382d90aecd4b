"""Columns and their types: the metadata columns, a shipped item's type, and a type
inferred from the kinds of value seen where no definition is at hand."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fieldkit.core.formengine.model import DONT_KNOW, LIKERT_VALUES, PREFER_NOT, Form, Item
from fieldkit.core.formengine.wording import BUILT_IN_CHOICE_TYPES
from sync.hub.export.writers import FORMULA_GUARD, neutralise_formula

__all__ = [
    "HOUR_FORMAT",
    "METADATA_COLUMNS",
    "METADATA_FIELDS",
    "MISSING_VALUES",
    "SPECIAL_CODES",
    "Column",
    "ValueStats",
    "plan_columns",
    "value_kind",
    "within",
]

METADATA_COLUMNS = (
    "record_id",
    "kit_id",
    "form_version",
    "language",
    "languages",
    "translation_complete",
    "started",
    "finished",
    "interviewer",
    "centre",
    "region",
    "cycle",
    "pack",
    "form_hash",
)
SPECIAL_CODES = (PREFER_NOT, DONT_KNOW)
MISSING_VALUES = ["", *SPECIAL_CODES]

HOUR_FORMAT = "%Y-%m-%dT%H:%MZ"
_HOUR = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}Z")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
CHOICE_TYPES = ("select_one", *BUILT_IN_CHOICE_TYPES)


def value_kind(value: Any) -> str:
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


def within(item: Item, value: Any) -> bool:
    """Whether an answer is one the form's item defines (special codes always are)."""
    if isinstance(value, str) and value in SPECIAL_CODES:
        return True
    if item.type == "likert":
        return type(value) is int and value in LIKERT_VALUES
    if item.type in CHOICE_TYPES:
        return isinstance(value, str) and value in item.choice_ids()
    if item.type == "select_multiple":
        choices = item.choice_ids()
        return isinstance(value, list) and all(isinstance(v, str) and v in choices for v in value)
    return True


@dataclass
class ValueStats:
    """What the records hold in one column, without the values themselves."""

    kinds: set[str] = field(default_factory=set)
    outside: bool = False  # some value is not one the form's item defines


@dataclass(frozen=True)
class Column:
    """One column of a table and how the descriptor and codebook describe it."""

    name: str
    key: str  # the metadata name or the answer's item id
    kind: str  # "metadata", "item" (of a known version of the form) or "answer" (no definition at hand)
    field_type: str
    item: Item | None = None
    field_format: str | None = None
    enum: tuple[Any, ...] | None = None
    pattern: str | None = None
    notes: tuple[str, ...] = ()


METADATA_FIELDS: dict[str, tuple[str, str | None, str]] = {
    "record_id": ("string", "uuid", "The record's id, a random UUID."),
    "kit_id": ("string", None, "The kit that sealed the record."),
    "form_version": (
        "integer", None,
        "The version of the form the interview used; items that version did not ask are empty "
        "(the versions resource lists which version asked which item).",
    ),
    "language": ("string", None, "The language the interview was shown in last (when it was sealed)."),
    "languages": (
        "string", None,
        "Every language the interview was shown in, in the order first used, separated by ';' "
        "(the interviewer can switch mid-interview); records from kits before this field: the one language.",
    ),
    "translation_complete": (
        "boolean", None, "false when the interview was shown in an incomplete (pilot) translation.",
    ),
    "started": ("datetime", HOUR_FORMAT, "When the interview started: UTC, rounded down to the hour."),
    "finished": ("datetime", HOUR_FORMAT, "When the record was sealed: UTC, rounded down to the hour."),
    "interviewer": ("string", None, "The interviewer code chosen when pairing (never a name)."),
    "centre": (
        "string", None,
        "The code of the centre the interview is about, picked from the kit's centre list (the form "
        "pack's). Empty when the kit had no list, when the person preferred not to say, and in records "
        "made before the list: older form versions have the typed code as their item centre_code.",
    ),
    "region": (
        "string", None,
        "The region of that centre, as the centre list gave it when the interview started; empty "
        "when centre is empty (older centre assessments: their item region_code).",
    ),
    "cycle": (
        "string", None,
        "The assessment cycle the interview started in (the form pack's current cycle); empty "
        "without one, and in records made before cycles.",
    ),
    "pack": (
        "integer", None,
        "The version of the hub's form pack the kit served when the interview started; empty "
        "with the forms installed with fieldkit.",
    ),
    "form_hash": (
        "string", None,
        "Empty when the record was made with the definition of its form version this hub knows "
        "(shipped, archived or packed); otherwise the content hash of the definition it was made "
        "with, whose items or wording may differ from this codebook.",
    ),
}  # fmt: skip


def _item_field(item: Item) -> tuple[str, str | None, tuple[Any, ...] | None, str | None]:
    """(type, format, enum, pattern) that a shipped item's answers have."""
    if item.type == "calculate":  # as its calculation gives it: a number, a date, true/false or text
        kind = item.value_type.value if item.value_type is not None else ""
        return {"number": "number", "date": "date", "true/false": "boolean"}.get(kind, "string"), None, None, None
    if item.type == "integer":
        return "integer", None, None, None
    if item.type == "likert":
        return "integer", None, LIKERT_VALUES, None
    if item.type == "decimal":
        return "number", None, None, None
    if item.type == "date":
        return "date", None, None, None
    if item.type in CHOICE_TYPES:
        return "string", None, item.choice_ids(), None
    if item.type == "select_multiple":
        one = "(" + "|".join(re.escape(choice) for choice in item.choice_ids()) + ")"
        return "string", None, None, f"{one}(;{one})*"
    return "string", None, None, None


def _fits(field_type: str, stats: ValueStats | None) -> bool:
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


def plan_columns(
    form: Form | None,
    items: Mapping[str, Item],
    stats: Mapping[str, ValueStats],
    metadata_stats: Mapping[str, ValueStats],
    unavailable_note: str,
) -> list[Column]:
    """A table's columns, once every record is in: metadata, the form's items, then other answers.

    ``form`` is the newest definition the table's records were read with (``items`` are
    the items of all its versions that take an answer or hold a calculated value, by id), or None when the hub
    knows no definition; ``stats`` are by answer key.
    """
    taken = set(METADATA_COLUMNS)
    columns = []
    for name in METADATA_COLUMNS:
        field_type, field_format, _description = METADATA_FIELDS[name]
        notes: tuple[str, ...] = ()
        if not _fits(field_type, metadata_stats.get(name)):
            field_type, field_format = "string", None
            notes = ("some values are not in the usual format, so the column is text",)
        columns.append(Column(name, name, "metadata", field_type, field_format=field_format, notes=notes))
    for item_id, item in items.items():
        field_type, field_format, enum, pattern = _item_field(item)
        item_stats = stats.get(item_id)
        notes = ()
        if not _fits(field_type, item_stats):
            field_type, field_format, enum, pattern = "string", None, None, None
            notes = ("some records give answers of another kind than this item takes; the column is text",)
        elif item_stats is not None and item_stats.outside:
            enum = pattern = None
            notes = ("some records give answers this item does not define (see form_hash)",)
        name = _unique_name(neutralise_formula(item_id), taken)
        if name != item_id:
            why = "it starts like a spreadsheet formula" if name.startswith(FORMULA_GUARD) else "a metadata column"
            notes += (f"the item {item_id} is named {name} here, as {why}",)
        columns.append(Column(name, item_id, "item", field_type, item, field_format, enum, pattern, notes))
    others = sorted(key for key in stats if key not in items)
    for key in others:
        # A hostile kit chooses these keys: a header cell must never be a formula either.
        name = _unique_name(neutralise_formula(key), taken)
        notes = (unavailable_note,) if form is None else (
            f"not an item of any version of {form.id} this hub knows; some records (see form_hash) "
            "were made with another definition",
        )  # fmt: skip
        if name != key:
            why = "it starts like a spreadsheet formula" if name.startswith(FORMULA_GUARD) else f"{key} is taken"
            notes += (f"the answer {key} is named {name} here, as {why}",)
        columns.append(Column(name, key, "answer", _infer_type(stats[key].kinds), notes=notes))
    return columns

"""The codebook: one row per column of every table, then one row per value a column may hold."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fieldkit.core.formengine.model import LEVELS, LIKERT_VALUES, Form, Item
from fieldkit.core.formengine.wording import BUILT_IN_CHOICE_TYPES, choice_context, item_context
from sync.hub.export.columns import METADATA_FIELDS
from sync.hub.export.staging import StagedTable
from sync.hub.export.wording import Label, Wording

__all__ = ["CODEBOOK", "CODEBOOK_COLUMNS", "CODEBOOK_FIELDS", "codebook_rows", "scoring_summary"]

CODEBOOK = "codebook"

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


def codebook_rows(table: StagedTable, wording: Wording) -> Iterator[dict[str, Any]]:
    """The codebook rows of one table whose columns are planned, by codebook column name."""
    base = {"table": table.name, "form_id": table.form_id, "form_version": table.version}
    empty = {name: "" for name in CODEBOOK_COLUMNS} | {"label_fallback": False, "sensitive": False}
    for column in table.columns:
        row = empty | base | {"column": column.name, "kind": column.kind, "field_type": column.field_type}
        notes = list(column.notes)
        label: Label | None = None
        if column.kind == "metadata":
            label = wording.english(METADATA_FIELDS[column.key][2])
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

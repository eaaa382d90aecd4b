"""The codebook: one row per column of every table, then one row per value a column may hold;
and its version table: per form, per version, which items that version asked."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fieldkit.core.formengine.model import LEVELS, LIKERT_VALUES, Form, Item
from fieldkit.core.formengine.wording import BUILT_IN_CHOICE_TYPES, choice_context, item_context, section_context
from sync.hub.export.columns import METADATA_FIELDS
from sync.hub.export.staging import StagedTable
from sync.hub.export.wording import Label, Wording

__all__ = [
    "CODEBOOK",
    "CODEBOOK_COLUMNS",
    "CODEBOOK_FIELDS",
    "VERSIONS",
    "VERSIONS_COLUMNS",
    "VERSIONS_FIELDS",
    "codebook_rows",
    "scoring_summary",
    "version_rows",
]

CODEBOOK = "codebook"
VERSIONS = "versions"

CODEBOOK_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("table", "string", "The table (resource name) the column belongs to."),
    ("form_id", "string", "The form's id."),
    ("form_version", "integer", "The form's version, for a table of one version; empty for a table of every version."),
    ("column", "string", "The column's name in the table."),
    ("value", "string", "Empty on the row describing the column; otherwise one value it may hold."),
    ("kind", "string", "metadata, item (of a known form version), answer (no form definition at hand) or value."),
    ("item_type", "string", "The form item's type (select_one, likert, text...); empty when unknown."),
    ("field_type", "string", "The column's data type in datapackage.json."),
    ("label", "string", "The question, or the value's label, in label_language."),
    ("label_language", "string", "The language of the label; empty when no label is available."),
    ("label_fallback", "boolean", "true when the label is English because the chosen language lacks it."),
    ("section", "string", "What the form's page holding the item is about (its topic), in label_language."),
    ("tags", "string", "The Standards tags of the item, separated by ';'."),
    ("sensitive", "boolean", "true for questions about human-rights red flags."),
    ("scoring", "string", "Which answers count as which QualityRights level."),
    ("versions", "string", "The form versions that asked the item (or offered the value), separated by ';'."),
    ("first_version", "integer", "The first form version that asked the item (or offered the value)."),
    ("last_version", "integer", "The last form version that asked the item (or offered the value)."),
    ("note", "string", "Anything else to know about the column or value."),
)
CODEBOOK_COLUMNS = tuple(name for name, _type, _description in CODEBOOK_FIELDS)

VERSIONS_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("form_id", "string", "The form's id."),
    ("form_version", "integer", "The form version."),
    ("table", "string", "The table its records are in."),
    ("kind", "string", "version (a row about the version), or item (whether the version asked an item)."),
    ("definition", "string", "Where the version's definition came from: shipped, archive, packed, or none."),
    ("records", "integer", "On a version row: how many records of the version were exported."),
    ("item", "string", "On an item row: the item id."),
    ("column", "string", "On an item row: the item's column in the table."),
    ("asked", "boolean", "On an item row: true when the version asked the item, false when its rows leave it empty."),
    ("first_version", "integer", "On an item row: the first known version that asked the item."),
    ("last_version", "integer", "On an item row: the last known version that asked the item."),
)
VERSIONS_COLUMNS = tuple(name for name, _type, _description in VERSIONS_FIELDS)


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


def _versions(numbers: tuple[int, ...]) -> dict[str, Any]:
    if not numbers:
        return {}
    return {"versions": ";".join(map(str, numbers)), "first_version": numbers[0], "last_version": numbers[-1]}


def _offered(table: StagedTable, item_id: str, value: str) -> tuple[int, ...]:
    """The versions whose item ``item_id`` has the answer ``value``."""
    found = []
    for number, form in table.definitions.items():
        try:
            item = form.item(item_id)
        except KeyError:
            continue
        own = {choice.id for choice in item.choices} | set(item.offer)
        if item.type == "likert" or value in own:
            found.append(number)
    return tuple(found)


def _section_topic(table: StagedTable, item: Item, wording: Wording) -> str:
    """What the page holding ``item`` is about, in the newest version that asked it."""
    asked = table.asked.get(item.id, ())
    if not asked:
        return ""
    form = table.definitions[asked[-1]]
    section = form.section_of(item.id)
    context = section_context(form, section.id) + (":topic" if section.topic else "")
    return wording.form(context, section.described).text


def codebook_rows(table: StagedTable, wording: Wording) -> Iterator[dict[str, Any]]:
    """The codebook rows of one table whose columns are planned, by codebook column name."""
    base = {"table": table.name, "form_id": table.form_id, "form_version": table.version}
    empty = {name: "" for name in CODEBOOK_COLUMNS} | {
        "label_fallback": False, "sensitive": False, "first_version": None, "last_version": None,
    }  # fmt: skip
    every = len(table.definitions)
    for column in table.columns:
        row = empty | base | {"column": column.name, "kind": column.kind, "field_type": column.field_type}
        notes = list(column.notes)
        label: Label | None = None
        if column.kind == "metadata":
            label = wording.english(METADATA_FIELDS[column.key][2])
        elif column.item is not None and table.form is not None:
            item = column.item
            label = wording.form(item_context(table.form, item), item.label)
            asked = table.asked.get(item.id, ())
            row |= {
                "section": _section_topic(table, item, wording),
                "item_type": item.type,
                "tags": ";".join(item.tags),
                "sensitive": item.sensitive,
                "scoring": scoring_summary(item),
                **_versions(asked),
            }
            if every > 1 and len(asked) < every:
                notes.append(f"asked in {'version' if len(asked) == 1 else 'versions'} "
                             f"{', '.join(map(str, asked))} only; empty in the rows of the others")  # fmt: skip
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
                    **_versions(_offered(table, column.item.id, value)),
                }  # fmt: skip


def version_rows(table: StagedTable) -> Iterator[dict[str, Any]]:
    """The version table's rows of one table: each version, then whether it asked each item."""
    blank: dict[str, Any] = {name: None for name in VERSIONS_COLUMNS}
    columns = {column.key: column.name for column in table.columns if column.kind == "item"}
    numbers = sorted(set(table.definitions) | set(table.version_rows))
    for number in numbers:
        definition = table.sources.get(number, "none") if number in table.definitions else "none"
        base = blank | {"form_id": table.form_id, "form_version": number, "table": table.name}
        yield base | {"kind": "version", "definition": definition, "records": table.version_rows.get(number, 0)}
        if number not in table.definitions:
            continue
        for item_id, asked in table.asked.items():
            yield base | {
                "kind": "item", "item": item_id, "column": columns.get(item_id, item_id),
                "asked": number in asked, "first_version": asked[0], "last_version": asked[-1],
            }  # fmt: skip

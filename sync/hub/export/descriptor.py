"""The Frictionless Data Package descriptor, ``datapackage.json``: each file's format,
size, hash and schema, and the export's own facts under ``fieldkit``."""

from __future__ import annotations

import datetime
import hashlib
import json
import re
from pathlib import Path
from typing import Any

from fieldkit.core.formengine.wording import item_context
from sync.hub.export.codebook import CODEBOOK, CODEBOOK_FIELDS, VERSIONS, VERSIONS_FIELDS
from sync.hub.export.columns import METADATA_FIELDS, MISSING_VALUES, Column
from sync.hub.export.staging import StagedTable
from sync.hub.export.wording import Wording
from sync.hub.export.writers import FORMULA_GUARD

__all__ = [
    "DESCRIPTOR",
    "EXPORT_FORMAT",
    "codebook_resource",
    "is_earlier_export",
    "package_descriptor",
    "table_resource",
    "versions_resource",
]

EXPORT_FORMAT = "fieldkit-export/1"
DESCRIPTOR = "datapackage.json"


def is_earlier_export(folder: Path) -> bool:
    """Whether ``folder`` holds a fieldkit export (its descriptor says so)."""
    try:
        descriptor = json.loads((folder / DESCRIPTOR).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        isinstance(descriptor, dict)
        and isinstance(descriptor.get("fieldkit"), dict)
        and (descriptor["fieldkit"].get("format") == EXPORT_FORMAT)
    )


def _field_descriptor(table: StagedTable, column: Column, wording: Wording) -> dict[str, Any]:
    descriptor: dict[str, Any] = {"name": column.name, "type": column.field_type}
    parts: list[str] = []
    if column.kind == "metadata":
        descriptor["title"] = column.name
        parts.append(METADATA_FIELDS[column.key][2])
    elif column.item is not None and table.form is not None:
        item = column.item
        descriptor["title"] = wording.form(item_context(table.form, item), item.label).text
        parts.append(f"Item {item.id} ({item.type})")
        if item.tags:
            parts.append("Standards: " + ", ".join(item.tags))
        if item.sensitive:
            parts.append("sensitive question")
        asked = table.asked.get(item.id, ())
        if len(table.definitions) > 1 and len(asked) < len(table.definitions):
            parts.append(f"asked in version{'s' if len(asked) > 1 else ''} {', '.join(map(str, asked))} only")
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
    with path.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256")
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


def table_resource(table: StagedTable, table_format: str, wording: Wording) -> dict[str, Any]:
    """The resource describing a written table (its columns planned, its file at ``table.path``)."""
    assert table.path is not None
    if table.form is not None:
        title = wording.form(f"{table.form.id}/:title", table.form.title).text
        title = f"{title} ({table.versions_text()})"
        description = (
            f"One row per record made with form {table.form_id}, {table.versions_text()} (form_version "
            "says which); columns by item id, the items of every version; an item a version did not ask "
            "is empty in its rows (the versions resource says which version asked which item)."
        )
    else:
        title = f"{table.form_id} version {table.version}"
        description = (
            f"One row per record made with form {table.form_id} version {table.version}; {table.unavailable_note()}."
        )
    if table.hash_differs and table.form is not None:
        description += (
            f" {table.hash_differs} records were made with another definition of their version (see form_hash)."
        )
    return {
        "name": table.name,
        "path": table.path.name,
        "title": title,
        "description": description,
        **_format_facts(table_format),
        **_file_facts(table.path),
        "schema": {
            "fields": [_field_descriptor(table, column, wording) for column in table.columns],
            "primaryKey": "record_id",
            "missingValues": list(MISSING_VALUES),
        },
    }


def codebook_resource(path: Path, table_format: str, wording: Wording) -> dict[str, Any]:
    """The resource describing the written codebook at ``path``."""
    return {
        "name": CODEBOOK,
        "path": path.name,
        "title": "Codebook",
        "description": (
            "One row per column of every table, then one row per value a column may hold, "
            f"with labels in {wording.language} where translated."
        ),
        **_format_facts(table_format),
        **_file_facts(path),
        "schema": {
            "fields": [
                {"name": name, "type": field_type, "title": name, "description": description}
                for name, field_type, description in CODEBOOK_FIELDS
            ],
            "missingValues": [""],
        },
    }


def versions_resource(path: Path, table_format: str) -> dict[str, Any]:
    """The resource describing the written version table at ``path``."""
    return {
        "name": VERSIONS,
        "path": path.name,
        "title": "Codebook: form versions",
        "description": (
            "For each form and each of its versions: where its definition came from and how many "
            "records it has, then one row per item of the form saying whether that version asked it, "
            "and the first and last version that did."
        ),
        **_format_facts(table_format),
        **_file_facts(path),
        "schema": {
            "fields": [
                {"name": name, "type": field_type, "title": name, "description": description}
                for name, field_type, description in VERSIONS_FIELDS
            ],
            "missingValues": [""],
        },
    }


def package_descriptor(
    *,
    hub_id: str,
    table_format: str,
    label_language: str,
    resources: list[dict[str, Any]],
    exported: int,
    failed: int,
    quarantined: int,
) -> dict[str, Any]:
    """The whole ``datapackage.json``, created now."""
    name = re.sub(r"[^a-z0-9._-]+", "-", f"fieldkit-export-{hub_id}".lower())
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    return {
        "profile": "tabular-data-package" if table_format == "csv" else "data-package",
        "name": name,
        "title": f"fieldkit export from hub {hub_id}",
        "description": (
            "Answers of peer assessments of drug treatment centres, in plaintext: keep these "
            "files on an encrypted disk, share them only with people allowed to see them, and "
            "delete them when the analysis is done."
        ),
        "created": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "fieldkit": {
            "format": EXPORT_FORMAT,
            "hub_id": hub_id,
            "label_language": label_language,
            "records_exported": exported,
            "records_not_exported": failed,
            "record_ids_in_quarantine": quarantined,
            "formula_guard": FORMULA_GUARD if table_format == "csv" else None,
        },
        "resources": resources,
    }

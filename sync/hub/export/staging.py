"""Staging: the hidden folder an export is built in, and each table's decrypted rows.

A table holds the records of every version of one form the hub has a definition of
(columns by item id: the items of every version), or of one version it has none of.
A table's columns (for a form version the hub has no definition of) are known only once
every record has been read, so each record's row goes to its table's staging file as it
is decrypted and is read back when the table is written. A staging file is an unnamed
temporary file inside the hidden folder (``tempfile.TemporaryFile``): it never shows in
a listing and its content goes when it is closed, or when the process ends.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from fieldkit.core.formengine.model import Choice, Form, Item
from fieldkit.core.storage.atomic import ensure_private_dir, fsync_dir
from sync.hub.export.columns import Column, ValueStats, plan_columns, value_kind, within
from sync.hub.export.errors import ExportError
from sync.hub.store import StoredRecord
from sync.protocol.sealed_record import record_place

__all__ = ["ExportFolder", "StagedTable", "table_name"]

_TABLE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")
_PRIVATE_DIR = 0o700


def table_name(form_id: str, version: int | None = None) -> str:
    """A file and resource name for a form (``version`` None) or one form version, safe whatever the record says."""
    base = form_id if _TABLE_NAME.fullmatch(form_id) else "form-" + hashlib.sha256(form_id.encode()).hexdigest()[:12]
    return base if version is None else f"{base}-v{version}"


def _languages(payload: dict[str, Any]) -> str | None:
    """The record's ``languages`` joined with ';'; a record from before the field: its one language.

    Interviews could not change language before kits wrote the field, so the single
    ``language`` is the whole truth for those records. Anything else is left empty.
    """
    languages = payload.get("languages")
    if languages is None and isinstance(payload.get("language"), str):
        languages = [payload["language"]]
    if not isinstance(languages, list) or not languages or not all(isinstance(x, str) for x in languages):
        return None
    return ";".join(languages)


def _place(payload: dict[str, Any]) -> dict[str, Any]:
    """The record's centre, region, cycle and pack columns, as the kit wrote them (None: absent or odd)."""
    place = record_place(payload)
    return {"centre": place.centre, "region": place.region, "cycle": place.cycle, "pack": place.pack}


def _joined_items(definitions: Mapping[int, Form]) -> tuple[dict[str, Item], dict[str, tuple[int, ...]]]:
    """The items of every version by id, and which versions asked each, newest version's order first.

    Each item is the newest version's definition of it, with the choices of every
    version that asked it (a later version may add choices, never drop one:
    ``fieldkit.core.formengine.meanings``), so the column's values are those of every version.
    """
    items: dict[str, Item] = {}
    asked: dict[str, list[int]] = {}
    choices: dict[str, dict[str, Choice]] = {}
    for version in sorted(definitions, reverse=True):
        for item in definitions[version].items:
            if not item.stores_value:  # calculated values are columns too
                continue
            asked.setdefault(item.id, []).append(version)
            if item.id not in items:
                items[item.id] = item
            known = choices.setdefault(item.id, {})
            for choice in item.choices:
                known.setdefault(choice.id, choice)
    joined = {
        item_id: item if len(choices[item_id]) == len(item.choices) else replace(
            item, choices=tuple(choices[item_id].values())
        )
        for item_id, item in items.items()
    }  # fmt: skip
    return joined, {item_id: tuple(sorted(found)) for item_id, found in asked.items()}


class StagedTable:
    """One table: every known version of a form, or one version of which no definition is known.

    ``definitions``: each version of the form the hub has a definition of (empty for a
    table of an unknown version, which then gives ``version``). Its rows are staged as
    the records are read; its columns are planned once every record is in.
    """

    def __init__(
        self,
        form_id: str,
        definitions: Mapping[int, Form],
        staging: Path,
        *,
        version: int | None = None,
        known_versions: tuple[int, ...] = (),
        sources: Mapping[int, str] | None = None,
        name: str | None = None,
    ) -> None:
        self.form_id = form_id
        self.definitions = dict(sorted(definitions.items()))
        self.version = version  # None: a table of every known version
        # The newest definition: the form's title and the wording of its items.
        self.form = self.definitions[max(self.definitions)] if self.definitions else None
        self.known_versions = tuple(sorted(self.definitions)) if self.definitions else known_versions
        self.sources = dict(sources or {})
        self.name = name or table_name(form_id, version if not self.definitions else None)
        self.rows = 0
        self.hash_differs = 0
        self.version_rows: Counter[int] = Counter()  # rows per form version
        self.stats: dict[str, ValueStats] = {}  # by answer key
        self.metadata_stats: dict[str, ValueStats] = {}
        self.items, self.asked = _joined_items(self.definitions)
        self._version_items = {
            number: {item.id: item for item in form.items if item.stores_value}
            for number, form in self.definitions.items()
        }
        self._staging_dir = staging
        self._staging: IO[str] | None = None
        self.columns: list[Column] = []
        self.path: Path | None = None

    def add(self, stored: StoredRecord, payload: dict[str, Any]) -> None:
        made_with = payload["form"]
        version = made_with["version"]
        form_hash = made_with["hash"]
        definition = self.definitions.get(version)
        if definition is not None and form_hash == definition.content_hash:
            form_hash = None
        else:
            self.hash_differs += 1
        translation = payload.get("translation")
        metadata = {
            "record_id": stored.record_id,
            "kit_id": payload.get("kit_id", stored.kit_id),
            "form_version": version,
            "language": payload.get("language"),
            "languages": _languages(payload),
            "translation_complete": translation.get("complete") if isinstance(translation, dict) else None,
            "started": payload.get("started"),
            "finished": payload.get("finished"),
            "interviewer": payload.get("interviewer"),
            **_place(payload),
            "form_hash": form_hash,
        }
        answers = payload["answers"]
        for key, value in metadata.items():
            if value is not None:
                self.metadata_stats.setdefault(key, ValueStats()).kinds.add(value_kind(value))
        own_items = self._version_items.get(version, {})
        for key, value in answers.items():
            if value is None:
                continue
            stats = self.stats.setdefault(key, ValueStats())
            stats.kinds.add(value_kind(value))
            item = own_items.get(key) or self.items.get(key)
            if item is not None and not within(item, value):
                stats.outside = True
        if self._staging is None:
            self._staging = self._open_staging()
        self._staging.write(json.dumps([metadata, answers], ensure_ascii=False) + "\n")
        self.rows += 1
        self.version_rows[version] += 1

    def _open_staging(self) -> IO[str]:
        try:
            return tempfile.TemporaryFile("w+", encoding="utf-8", dir=self._staging_dir)
        except OSError as error:
            raise ExportError(
                f"could not write the staging file of {self.name}: {error.strerror or error}; nothing was "
                "exported (free some space or choose another --out folder, then try again)"
            ) from None

    def close_staging(self) -> None:
        """Close the staging file, which removes it and the rows in it."""
        if self._staging is not None:
            self._staging.close()
            self._staging = None

    def staged_rows(self) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        if self._staging is None:
            return
        self._staging.flush()
        self._staging.seek(0)
        for line in self._staging:
            metadata, answers = json.loads(line)
            yield metadata, answers

    def plan_columns(self) -> list[Column]:
        """The columns, once every record is in: metadata, the items of every version, then other answers."""
        self.columns = plan_columns(self.form, self.items, self.stats, self.metadata_stats, self.unavailable_note())
        return self.columns

    def table_rows(self) -> Iterator[list[Any]]:
        """The staged rows as lists of values, in the order of the planned columns."""
        for metadata, answers in self.staged_rows():
            yield [
                metadata.get(column.key) if column.kind == "metadata" else answers.get(column.key)
                for column in self.columns
            ]

    def versions_text(self) -> str:
        """``versions 1, 2`` (or ``version 2``): the versions this table's definitions cover."""
        numbers = self.known_versions
        return f"version{'s' if len(numbers) > 1 else ''} {', '.join(map(str, numbers))}"

    def unavailable_note(self) -> str:
        if not self.known_versions:
            where = f"no form this hub knows has the id {self.form_id}"
        else:
            where = (
                f"version {self.version} of {self.form_id} is not among the forms this hub knows "
                f"(shipped, archived or packed: {self.versions_text()})"
            )
        return f"labels unavailable: {where}; columns come from the answers in the records"


class ExportFolder:
    """The hidden sibling folder the export is built in, renamed into place at the end."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        parent = out_dir.parent
        if not parent.exists():
            ensure_private_dir(parent)
        try:
            # mkdtemp: a new folder of a name no one else has, mode 0700.
            self.path = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=parent))
        except OSError as error:
            raise ExportError(f"cannot create a folder beside {out_dir}: {error.strerror or error}") from None
        try:
            os.chmod(self.path, _PRIVATE_DIR)  # exactly 0700, whatever the umask
        except OSError as error:
            self.discard()
            raise ExportError(f"cannot create a folder beside {out_dir}: {error.strerror or error}") from None

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def commit(self) -> None:
        """Put the finished export under its name; an earlier export there is replaced."""
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

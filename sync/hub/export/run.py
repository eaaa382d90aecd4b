"""Running an export: check the plan before anything is decrypted, then decrypt the
records one at a time into staged tables, write the tables, the codebook, its version
table and the descriptor in a hidden folder, and rename it into place.

A record goes to the table of its form when the hub knows a definition of its version
(shipped, archived or packed: ``sync.hub.definitions``), so each form's table holds
the records of every version, columns by item id; a record of a version the hub knows
no definition of goes to a table of that version alone, its columns inferred.

Plaintext exists in memory one record at a time, and on disk only in the export
folder. That folder is built under a hidden sibling name (mode 0700, files 0600) and
renamed into place when complete, so a refusal or a crash never leaves a half export
under the name asked for; whatever happens short of a kill, the hidden folder is
removed (``staging.py``).

A record that cannot be opened or read is reported with its id and a one-line
reason that never quotes its content; the others are exported regardless.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from fieldkit.core import paths
from fieldkit.core.crypto import age
from fieldkit.core.formengine.archive import load_archived_forms
from fieldkit.core.formengine.catalogue import load_directory
from fieldkit.core.formengine.model import Form
from fieldkit.core.i18n.catalogues import SOURCE_LANGUAGE
from sync.hub.definitions import Definitions, known_to_hub
from sync.hub.export.codebook import (
    CODEBOOK,
    CODEBOOK_COLUMNS,
    VERSIONS,
    VERSIONS_COLUMNS,
    codebook_rows,
    version_rows,
)
from sync.hub.export.descriptor import (
    DESCRIPTOR,
    codebook_resource,
    is_earlier_export,
    package_descriptor,
    table_resource,
    versions_resource,
)
from sync.hub.export.errors import ExportError, RecordProblem
from sync.hub.export.staging import ExportFolder, StagedTable, table_name
from sync.hub.export.wording import Wording
from sync.hub.export.writers import WRITERS, private_file
from sync.hub.opening import UnreadableRecord, open_record
from sync.hub.store import HubStore

__all__ = ["FORMATS", "ExportPlan", "ExportReport", "TableReport", "plan_export", "run_export"]

FORMATS = ("csv", "json")


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
    forms: Mapping[str, Form]  # the shipped (current) forms
    force: bool
    total: int
    quarantined: int
    definitions: Definitions  # every definition known: shipped, archived, packed
    recipients: tuple[str, ...] = ()  # every recipient the hub has had, current first (a rotation adds one)


def _check_out_dir(out_dir: Path, hub_dir: Path, force: bool) -> None:
    out_real, hub_real = out_dir.resolve(), hub_dir.resolve()
    if out_real.is_relative_to(hub_real) or hub_real.is_relative_to(out_real):
        raise ExportError(
            f"--out {out_dir} overlaps the hub folder; the hub keeps ciphertext only, so export to a folder outside it"
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
    if not is_earlier_export(out_dir):
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
    archived: Sequence[Form] | None = None,
    translations_dir: Path | None = None,
    force: bool = False,
) -> ExportPlan:
    """Check everything an export needs before any record is decrypted.

    ``forms``: the current forms (the shipped ones by default); ``archived``: older
    versions (by default those of the shipped ``forms/archive/`` when ``forms`` is the
    default too, else none). The versions the hub packed are added from its store.
    """
    if table_format not in FORMATS:
        raise ExportError(f"unknown format {table_format!r}; use one of {', '.join(FORMATS)}")
    hub_dir, out_dir = Path(hub_dir), Path(out_dir)
    _check_out_dir(out_dir, hub_dir, force)
    wording = Wording(language, Path(translations_dir) if translations_dir else paths.translations_dir())
    if forms is None:
        forms = load_directory(paths.forms_dir())
        if archived is None:
            archived = load_archived_forms(paths.forms_dir())
    with HubStore(hub_dir) as store:
        total = store.record_count()
        quarantined = len(store.quarantine())
        config = store.config
        definitions = known_to_hub(store, forms.values(), archived or ())
    return ExportPlan(
        hub_dir, config.hub_id, config.recipient, out_dir, table_format, wording, dict(forms),
        force, total, quarantined, definitions, config.recipients,
    )  # fmt: skip


class _Tables:
    """The export's tables: one per form with a known definition, one per unknown form version."""

    def __init__(self, plan: ExportPlan, folder: ExportFolder) -> None:
        self.plan = plan
        self.folder = folder
        self.tables: dict[tuple[str, int | None], StagedTable] = {}
        self.names: set[str] = set()
        for form_id in plan.definitions.form_ids():
            self._make(form_id, None)

    def _make(self, form_id: str, version: int | None) -> StagedTable:
        definitions = self.plan.definitions
        known = definitions.versions_of(form_id)
        name = table_name(form_id, version)
        while name in self.names:  # a hostile form id such as "x-v1" beside version 1 of "x"
            name += "-" + str(len(self.names))
        self.names.add(name)
        sources = {number: definitions.sources[(form_id, number)] for number in known}
        if version is None:
            table = StagedTable(form_id, known, self.folder.path, sources=sources, name=name)
        else:
            table = StagedTable(form_id, {}, self.folder.path, version=version, known_versions=tuple(known), name=name)
        self.tables[(form_id, version)] = table
        return table

    def for_record(self, form_id: str, version: int) -> StagedTable:
        """The table of the form's known versions, or the table of this version the hub knows nothing of."""
        key: tuple[str, int | None] = (form_id, None) if (form_id, version) in self.plan.definitions.forms else (
            form_id, version
        )  # fmt: skip
        return self.tables.get(key) or self._make(*key)

    def close(self) -> None:
        for table in self.tables.values():
            table.close_staging()


def run_export(
    plan: ExportPlan,
    identities: Sequence[age.Identity],
    *,
    advance: Callable[[int], None] | None = None,
) -> ExportReport:
    """Decrypt every accepted record, record by record, and write the export folder."""
    folder = ExportFolder(plan.out_dir)
    try:
        report = _build(plan, identities, folder, advance)
        folder.commit()
    except OSError as error:
        raise ExportError(f"could not finish the export in {plan.out_dir}: {error.strerror or error}") from None
    finally:
        if folder.path.exists():
            folder.discard()
    return report


def _build(
    plan: ExportPlan,
    identities: Sequence[age.Identity],
    folder: ExportFolder,
    advance: Callable[[int], None] | None,
) -> ExportReport:
    tables = _Tables(plan, folder)
    problems: list[RecordProblem] = []
    warnings: list[str] = list(plan.definitions.warnings)
    try:
        exported = _decrypt_into(plan, identities, tables, problems, warnings, advance)
        ordered = sorted(tables.tables.values(), key=lambda t: t.name)
        return _write_outputs(plan, folder, ordered, problems, warnings, exported)
    finally:
        tables.close()


def _decrypt_into(
    plan: ExportPlan,
    identities: Sequence[age.Identity],
    tables: _Tables,
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
                table = tables.for_record(form["id"], form["version"])
                if (form["id"], form["version"]) != (stored.form_id, stored.form_version):
                    warnings.append(
                        f"record {stored.record_id}: its kit listed it as {stored.form_id} version "
                        f"{stored.form_version} but sealed it with another form or version; "
                        f"exported in table {table.name}"
                    )
                table.add(stored, payload)
                del payload
                exported += 1
            if advance is not None:
                advance(1)
    return exported


def _write_outputs(
    plan: ExportPlan,
    folder: ExportFolder,
    tables: list[StagedTable],
    problems: list[RecordProblem],
    warnings: list[str],
    exported: int,
) -> ExportReport:
    fmt = plan.table_format
    write = WRITERS[fmt]
    resources = []
    for table in tables:
        columns = table.plan_columns()
        table.path = folder.path / f"{table.name}.{fmt}"
        write(table.path, [column.name for column in columns], table.table_rows())
        table.close_staging()
        resources.append(table_resource(table, fmt, plan.wording))
    codebook_path = folder.path / f"{CODEBOOK}.{fmt}"
    rows = ([row[name] for name in CODEBOOK_COLUMNS] for table in tables for row in codebook_rows(table, plan.wording))
    write(codebook_path, CODEBOOK_COLUMNS, rows)
    resources.append(codebook_resource(codebook_path, fmt, plan.wording))
    versions_path = folder.path / f"{VERSIONS}.{fmt}"
    version_table = ([row[name] for name in VERSIONS_COLUMNS] for table in tables for row in version_rows(table))
    write(versions_path, VERSIONS_COLUMNS, version_table)
    resources.append(versions_resource(versions_path, fmt))
    descriptor = package_descriptor(
        hub_id=plan.hub_id,
        table_format=fmt,
        label_language=plan.wording.language,
        resources=resources,
        exported=exported,
        failed=len(problems),
        quarantined=plan.quarantined,
    )
    with private_file(folder.path / DESCRIPTOR) as handle:
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

"""Hub export: the merged records, decrypted into one table per form (the records of
every version it knows, columns by item id), a codebook with its version table and a
Frictionless Data Package descriptor (``docs/export.md`` describes the files).

One module per job, each importing only those before it:

- ``errors``: the error that stops an export, and a record left out of it;
- ``wording``: labels in the chosen language, English where untranslated;
- ``columns``: the columns of a table and their types;
- ``writers``: CSV and JSON cells and files (formula guard, private fsynced files);
- ``staging``: the hidden folder an export is built in, and each table's staged rows;
- ``codebook``: the codebook's rows, and its version table's;
- ``descriptor``: ``datapackage.json``;
- ``run``: checking the plan, then decrypting, writing and renaming into place.

The names below are what the command and the reports use.
"""

from __future__ import annotations

from sync.hub.export.columns import METADATA_COLUMNS
from sync.hub.export.descriptor import EXPORT_FORMAT
from sync.hub.export.errors import ExportError, RecordProblem
from sync.hub.export.run import FORMATS, ExportPlan, ExportReport, TableReport, plan_export, run_export
from sync.hub.export.wording import Wording
from sync.hub.export.writers import FORMULA_TRIGGERS, csv_cell, neutralise_formula

__all__ = [
    "EXPORT_FORMAT",
    "FORMATS",
    "FORMULA_TRIGGERS",
    "METADATA_COLUMNS",
    "ExportError",
    "ExportPlan",
    "ExportReport",
    "RecordProblem",
    "TableReport",
    "Wording",
    "csv_cell",
    "neutralise_formula",
    "plan_export",
    "run_export",
]

"""Hub export: the merged records, decrypted into one table per form version, a codebook
and a Frictionless Data Package descriptor (``docs/export.md`` describes the files).

The names below are what the command and the reports use.
"""

from __future__ import annotations

from sync.hub.export.run import (
    EXPORT_FORMAT,
    FORMATS,
    FORMULA_TRIGGERS,
    METADATA_COLUMNS,
    ExportError,
    ExportPlan,
    ExportReport,
    RecordProblem,
    TableReport,
    Wording,
    csv_cell,
    neutralise_formula,
    plan_export,
    run_export,
)

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

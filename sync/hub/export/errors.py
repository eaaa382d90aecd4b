"""What can go wrong in an export: the error that stops it, and a record left out of it."""

from __future__ import annotations

from dataclasses import dataclass

from fieldkit.core.errors import FieldkitError

__all__ = ["ExportError", "RecordProblem"]


class ExportError(FieldkitError):
    """The export cannot start or could not be written; ``str()`` says what to do."""


@dataclass(frozen=True)
class RecordProblem:
    """A record left out of the export, and why (never its content)."""

    record_id: str
    reason: str

    def line(self) -> str:
        return f"record {self.record_id}: not exported: {self.reason}"

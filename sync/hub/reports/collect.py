"""Reading the hub for a report: every accepted record, opened one at a time and reduced
to :class:`~sync.hub.reports.scoring.RecordFacts` at once.

A record is scored only with the exact form definition it was made with (same id,
version and content hash), because scoring rules and items may change between
versions. Others are counted, and named with a reason when they cannot be opened.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fieldkit.core.crypto import age
from fieldkit.core.formengine.model import Form
from sync.hub.opening import UnreadableRecord, open_record
from sync.hub.reports.scoring import RecordFacts, facts_of
from sync.hub.store import HubStore

__all__ = ["OTHER_DEFINITION", "UNKNOWN_FORM", "UNREADABLE", "Collected", "collect"]

UNREADABLE = "unreadable"
UNKNOWN_FORM = "unknown_form"  # no shipped definition of that form id and version
OTHER_DEFINITION = "other_definition"  # same version, but made with another definition


@dataclass
class Collected:
    facts: list[RecordFacts] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (record id, reason), never content
    not_used: Counter[str] = field(default_factory=Counter)
    quarantined: int = 0

    def problem_lines(self) -> list[str]:
        return [f"record {record_id}: not used in the report: {reason}" for record_id, reason in self.problems]


def collect(
    hub_dir: Path,
    identities: Sequence[age.Identity],
    forms: Mapping[str, Form],
    *,
    advance: Callable[[int], None] | None = None,
) -> Collected:
    """Every accepted record of the hub, as facts for the report."""
    found = Collected()
    with HubStore(hub_dir) as store, contextlib.closing(store.iter_records()) as records:
        found.quarantined = len(store.quarantine())
        for stored in records:
            try:
                payload = open_record(stored, identities)
            except UnreadableRecord as error:
                found.problems.append((stored.record_id, error.reason))
                found.not_used[UNREADABLE] += 1
            else:
                made_with = payload["form"]
                form = forms.get(made_with["id"])
                if form is None or form.version != made_with["version"]:
                    found.not_used[UNKNOWN_FORM] += 1
                elif made_with["hash"] != form.content_hash:
                    found.not_used[OTHER_DEFINITION] += 1
                else:
                    found.facts.append(facts_of(form, payload["answers"]))
                del payload
            if advance is not None:
                advance(1)
    return found

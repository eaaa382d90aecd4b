"""What the web app needs from the kit, gathered once at start-up."""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import current_app

from fieldkit.core.formengine.model import Form
from fieldkit.core.storage.records import RecordStore
from fieldkit.kit.config import UnlockedKit
from fieldkit.kit.declined import COUNTERS_FILE, count_declined, count_stopped, declined_totals, stopped_totals
from fieldkit.kit.discarded import DiscardedDrafts
from fieldkit.kit.drafts import Draft, DraftStore, DraftUnreadable
from fieldkit.kit.programme import Programme
from fieldkit.kit.sealing import Finaliser
from fieldkit.kit.web.pairing import Pairing

if TYPE_CHECKING:
    from fieldkit.kit.web.app import WebSettings

__all__ = ["COUNTERS_FILE", "KitServices", "SyncShown", "services"]


@dataclass(frozen=True)
class SyncShown:
    """What the operator page says about sending records: counts, and the latest hub's stamps (UTC)."""

    held: int
    waiting: int
    hub_id: str | None  # None: no hub address is set, records go by USB
    last_success: str | None = None
    last_attempt: str | None = None
    last_error: str | None = None  # set while the last attempt failed
    next_attempt: str | None = None


@dataclass
class KitServices:
    kit: UnlockedKit
    # What the kit follows: every form version it serves, the centres and the cycle.
    programme: Programme
    forms: Mapping[str, Form]  # the current form of each id: what a new interview starts with
    settings: WebSettings
    pairing: Pairing
    records: RecordStore
    drafts: DraftStore
    finaliser: Finaliser
    discarded: DiscardedDrafts
    broken_forms: Mapping[str, Sequence[object]]  # form file -> the problems that keep it out

    @classmethod
    def create(
        cls,
        kit: UnlockedKit,
        programme: Programme,
        settings: WebSettings,
        broken_forms: Mapping[str, Sequence[object]],
    ) -> KitServices:
        records = RecordStore(kit.data_dir)
        records.repair()
        records.counts()  # rebuilt now if missing or damaged, not while a phone pairs
        drafts = DraftStore(kit.data_dir / "drafts", kit.draft_key)
        discarded = DiscardedDrafts(drafts, settings.discard_minutes)
        discarded.wipe_all()  # restorable only until the kit restarts
        return cls(
            kit=kit,
            programme=programme,
            forms=programme.current_forms(),
            settings=settings,
            pairing=Pairing(
                settings.interviewer_codes,
                failures_per_minute=settings.pairing_failures_per_minute,
                code_seconds=settings.pairing_code_minutes * 60.0,
                idle_seconds=settings.idle_minutes * 60,
            ),
            records=records,
            drafts=drafts,
            finaliser=Finaliser(kit, records, drafts, hub_recipient=programme.hub_recipient),
            discarded=discarded,
            broken_forms=broken_forms,
        )

    def form_of(self, draft: Draft) -> Form | None:
        """The form a draft was started with: its own id and version, not necessarily the current one."""
        return self.programme.form(draft.form_id, draft.form_version)

    def count_declined(self, form_id: str, centre: str | None = None, cycle: str | None = None) -> None:
        """Declined consent keeps nothing but this counter (per form, centre and cycle)."""
        count_declined(self.kit.data_dir, form_id, centre, cycle)

    def declined_counts(self) -> dict[str, int]:
        return declined_totals(self.kit.data_dir)

    def count_stopped(self, form_id: str, centre: str | None, cycle: str | None, item_id: str, answer: str) -> None:
        """An interview that a stop rule ended keeps nothing but this counter (as a decline)."""
        count_stopped(self.kit.data_dir, form_id, centre, cycle, item_id, answer)

    def stopped_counts(self) -> dict[str, int]:
        return stopped_totals(self.kit.data_dir)

    def record_counts(self) -> Counter[str]:
        # Kept counts: the same cost at 100 records and at 100,000 (docs/storage.md).
        return Counter(self.records.counts())

    def draft_counts(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for draft_id in self.drafts.ids():
            try:
                counts[self.drafts.load(draft_id).form_id] += 1
            except DraftUnreadable:  # a damaged draft still counts, under its own heading
                counts["(unreadable)"] += 1
        return counts

    def sync_state(self) -> SyncShown:
        """Records held and waiting for the hub, and how the last pushes went, for the operator page.

        Counts only (``Outbox.held_and_waiting``): no record is opened.
        """
        from fieldkit.kit.outbox import Outbox
        from fieldkit.kit.push import HubLinks

        held, waiting = Outbox(self.kit.data_dir).held_and_waiting()
        link = HubLinks(self.kit.data_dir).latest()
        if link is None:
            return SyncShown(held=held, waiting=waiting, hub_id=None)
        return SyncShown(
            held=held,
            waiting=waiting,
            hub_id=link.hub_id,
            last_success=link.last_success,
            last_attempt=link.last_attempt,
            last_error=link.last_error[:160] if link.last_error else None,
            next_attempt=link.next_attempt,
        )

    def free_disk_bytes(self) -> int:
        return shutil.disk_usage(self.kit.data_dir).free


def services() -> KitServices:
    return current_app.extensions["fieldkit"]

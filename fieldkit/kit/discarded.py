"""Discarded drafts stay restorable for a few minutes, then are wiped.

A tap on "Discard" can be a slip in a hurried moment. The draft moves, still
encrypted, into the draft store's discarded folder; its interviewer can restore
it from the start page until the time is up or the kit restarts. Times live only
in memory, so a restart wipes every discarded draft: nothing lingers unseen.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from fieldkit.core.storage.atomic import StorageError
from fieldkit.kit.drafts import Draft, DraftStore, DraftUnreadable

DEFAULT_MINUTES = 10
log = logging.getLogger("fieldkit.kit")


@dataclass(frozen=True)
class Restorable:
    draft: Draft
    wiped_at: float  # on the wall clock (time.time()), to show the interviewer


class DiscardedDrafts:
    def __init__(
        self,
        drafts: DraftStore,
        minutes: int = DEFAULT_MINUTES,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.drafts = drafts
        self.seconds = minutes * 60.0
        self._clock = clock
        self._wall = wall
        self._lock = threading.Lock()
        self._when: dict[str, float] = {}  # draft id -> when it was discarded (monotonic)

    def wipe_all(self) -> int:
        """At start-up: whatever an earlier run left discarded is wiped now."""
        with self._lock:
            ids = list(self.drafts.discarded_ids())
            for draft_id in ids:
                self.drafts.wipe_discarded(draft_id)
            self._when.clear()
            return len(ids)

    def discard(self, draft_id: str) -> None:
        with self._lock:
            self.drafts.discard(draft_id)
            self._when[draft_id] = self._clock()

    def restore(self, draft_id: str, owner: str) -> bool:
        """Back among the unfinished interviews; False if it is not this owner's or its time is up."""
        self.wipe_expired()
        with self._lock:
            if draft_id not in self._when or self._owner(draft_id) != owner:
                return False
            self.drafts.restore(draft_id)
            del self._when[draft_id]
            return True

    def restorable(self, owner: str) -> list[Restorable]:
        """This owner's discarded drafts that can still be restored, newest first."""
        self.wipe_expired()
        now, wall = self._clock(), self._wall()
        found = []
        with self._lock:
            for draft_id, when in sorted(self._when.items(), key=lambda pair: -pair[1]):
                try:
                    draft = self.drafts.load_discarded(draft_id)
                except DraftUnreadable:
                    continue
                if draft.owner == owner:
                    found.append(Restorable(draft, wall + (when + self.seconds - now)))
        return found

    def wipe_expired(self) -> None:
        """Wipe what has run out; a draft that cannot be removed now is tried again next time."""
        with self._lock:
            now = self._clock()
            for draft_id, when in list(self._when.items()):
                if now - when < self.seconds:
                    continue
                try:
                    self.drafts.wipe_discarded(draft_id)
                except StorageError:
                    log.warning("a discarded draft could not be wiped yet; trying again later")
                    continue
                del self._when[draft_id]

    def _owner(self, draft_id: str) -> str | None:
        try:
            return self.drafts.load_discarded(draft_id).owner
        except DraftUnreadable:
            return None

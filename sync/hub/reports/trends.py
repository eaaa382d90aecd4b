"""Trends: each centre's rating per principle in a cycle, against the cycle before it.

A report for one cycle (``hub report --cycle C``) scores C's records and, separately,
the records of the previous cycle (the one whose start is the latest before C's). Per
centre and principle the change is:

- **improved** / **same** / **worse**: both cycles rated the centre (a level, not
  "no data" or "not applicable"), and the later level is higher, equal or lower;
- **not comparable**: there is no previous cycle; the centre was not assessed in one of
  the two; or either rating is missing or rests on too few answers to publish (peer
  interviews below the threshold). The reason is said.

Only ratings are compared, never counts: a rating is already published for each cycle,
so the change tells a reader nothing the two reports do not. A count hidden in either
cycle is never set against the other (no difference of counts is published), so a
change cannot give a suppressed count back.
"""

from __future__ import annotations

from dataclasses import dataclass

from sync.hub.reports.score import AREAS, SCORES, Rating, Scored

__all__ = [
    "IMPROVED",
    "NOT_COMPARABLE",
    "SAME",
    "WORSE",
    "Change",
    "compare",
]

IMPROVED, SAME, WORSE, NOT_COMPARABLE = "improved", "same", "worse", "not_comparable"
# Why a change is not comparable.
NO_PREVIOUS = "no_previous_cycle"
NOT_ASSESSED = "not_assessed"  # the centre has no record in one of the two cycles
UNRATED = "unrated"  # no rating (no scored answers, or only "not applicable")
TOO_FEW = "too_few"  # the rating rests on too few answers to publish


@dataclass(frozen=True)
class Change:
    centre: str
    area: str
    before: str | None  # the previous cycle's level (None: not assessed then, or no previous cycle)
    after: str | None
    outcome: str  # IMPROVED, SAME, WORSE or NOT_COMPARABLE
    why: str | None = None  # for NOT_COMPARABLE: NO_PREVIOUS, NOT_ASSESSED, UNRATED or TOO_FEW


def _usable(rating: Rating) -> str | None:
    """Why a rating cannot be compared, or None when it can."""
    if rating.level in SCORES:
        return None
    return TOO_FEW if rating.interviews_unused and not rating.assessments else UNRATED


def compare(current: Scored, previous: Scored | None) -> tuple[Change, ...]:
    """Every centre of either cycle, by every principle: how its rating changed."""
    now = {centre.code: centre for centre in current.centres}
    before = {centre.code: centre for centre in previous.centres} if previous is not None else {}
    changes = []
    for code in sorted(set(now) | set(before)):
        for area in AREAS:
            later = now[code].ratings[area] if code in now else None
            earlier = before[code].ratings[area] if code in before else None
            after_level = later.level if later is not None else None
            before_level = earlier.level if earlier is not None else None
            if previous is None:
                changes.append(Change(code, area, None, after_level, NOT_COMPARABLE, NO_PREVIOUS))
                continue
            if later is None or earlier is None:
                changes.append(Change(code, area, before_level, after_level, NOT_COMPARABLE, NOT_ASSESSED))
                continue
            why = _usable(earlier) or _usable(later)
            if why is not None:
                changes.append(Change(code, area, before_level, after_level, NOT_COMPARABLE, why))
                continue
            step = SCORES[later.level] - SCORES[earlier.level]
            outcome = IMPROVED if step > 0 else WORSE if step < 0 else SAME
            changes.append(Change(code, area, before_level, after_level, outcome))
    return tuple(changes)

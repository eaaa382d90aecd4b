"""Stage 2 of the report: the rules. Ratings per centre and area, rights status, regions.

The rules, in the words ``docs/scorecards.md`` gives advocates:

- Each scored answer has a level: achieved in full = 4, achieved partially = 3,
  achievement initiated = 2, not initiated = 1 ("not applicable" is left out).
- A centre's rating in an area is the mean of the levels of every scored answer in
  that area, from its centre assessments and its peer interviews, turned back into
  a level: 3.5 or more is "in full", 2.5 or more "partially", 1.5 or more
  "initiated", below that "not initiated". Only "not applicable" answers give
  "not applicable"; no answers give "no data".
- Peer interviews are about people. They count in an area only when at least
  ``threshold`` peer interviews of the centre answered a scored question in it.
- **Red flags decide.** A red flag answered "yes" in at least ``threshold`` peer
  interviews of a centre, or in any centre assessment (the assessment team saw it,
  or staff said so), makes the centre's rights status *critical*; its human-rights
  rating is then at most "not initiated", whatever the other answers average to.
  Critical centres come first, with the flags that caused it.
- A centre's region is the region code its records give (the most frequent): the
  centre list's region in every record made with it, and in older records the typed
  region code of the centre assessments (older peer interviews carry none). With a
  region filter, a centre with no region cannot be placed: it is left out, but
  counted and named (:attr:`Scored.unplaced`).

Everything here is worked out from the tallies of :mod:`sync.hub.reports.collect`;
nothing is hidden yet (that is the next stage, :mod:`sync.hub.reports.suppress`).
"""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from fieldkit.core.formengine.model import RATED_TAGS, Form
from sync.hub.reports.collect import CentreTally, Collected
from sync.hub.reports.facts import CENTRE_FORMS, red_flag_items

__all__ = [
    "AREAS",
    "CRITICAL",
    "HARM_REDUCTION",
    "NOT_CRITICAL",
    "NO_DATA",
    "RIGHTS",
    "SCORES",
    "SOURCE_PAIRS",
    "CentreScore",
    "Disagreement",
    "Finding",
    "Rating",
    "Scored",
    "Unplaced",
    "flag_forms",
    "level_of",
    "score",
]

AREAS = RATED_TAGS
RIGHTS = "rights"
HARM_REDUCTION = "harm_reduction"
NO_DATA = "no_data"
NOT_APPLICABLE = "not_applicable"
SCORES = {"full": 4, "partial": 3, "initiated": 2, "not_initiated": 1}
CRITICAL, NOT_CRITICAL = "critical", "not_critical"
CAP = "not_initiated"  # the best human-rights rating a critical centre can have

# The same red flag asked of the assessment team and of people in treatment
# (centre-assessment item -> the peer-interview items that ask it), to show where the
# sources disagree. Peer interview version 4 split "refused a doctor or medicine" in two;
# records of earlier versions still answer the old question.
SOURCE_PAIRS: dict[str, tuple[str, ...]] = {
    "rf_detention_no_process": ("held_without_hearing",),
    "rf_no_way_to_leave": ("stopped_from_leaving",),
    "rf_forced_labour": ("forced_work",),
    "rf_beatings": ("physically_hurt",),
    "rf_restraint_isolation": ("restrained_or_isolated",),
    "rf_sexual_violence": ("sexual_violence",),
    "rf_forced_testing": ("tested_without_consent",),
    "rf_medical_care_refused": ("denied_medical_care", "refused_doctor", "refused_medicine"),
    "rf_withdrawal_no_medication": ("withdrawal_medicine_withheld",),
    "rf_public_humiliation": ("publicly_shamed",),
    "rf_documents_taken": ("documents_taken",),
    "rf_fees_extorted": ("family_pressed_to_pay",),
}


def level_of(levels: Iterable[str]) -> str:
    """The combined level of some answers' levels (the rules in the module docstring)."""
    found = list(levels)
    scores = [SCORES[level] for level in found if level in SCORES]
    if not scores:
        return NOT_APPLICABLE if found else NO_DATA
    # Compare the mean with the half steps in whole numbers: mean >= 3.5 is 2*sum >= 7*n.
    doubled, count = 2 * sum(scores), len(scores)
    if doubled >= 7 * count:
        return "full"
    if doubled >= 5 * count:
        return "partial"
    if doubled >= 3 * count:
        return "initiated"
    return "not_initiated"


@dataclass(frozen=True)
class Rating:
    """One centre's rating in one area, and what it rests on."""

    area: str
    level: str  # one of LEVELS, or NO_DATA
    averaged: str  # the level the answers average to, before the red-flag rule
    assessments: int  # centre assessments with a scored answer in the area
    interviews: int  # peer interviews used (0, or at least the threshold)
    interviews_unused: int  # peer interviews with answers in the area, too few to use
    sources: frozenset[str]  # visit sources of those centre assessments

    @property
    def respondents(self) -> int:
        return self.assessments + self.interviews

    @property
    def capped(self) -> bool:
        return self.level != self.averaged


@dataclass(frozen=True)
class Finding:
    """A red flag that makes a centre critical: who reported it, and how many."""

    form_id: str
    item_id: str
    count: int  # "yes" answers (at least the threshold for interviews, at least 1 for assessments)
    about_people: bool


@dataclass(frozen=True)
class Disagreement:
    """The assessment team answered "no" where at least ``threshold`` people answered "yes"."""

    assessment_item: str
    assessments_no: int
    interview_form: str
    interview_item: str
    interviews_yes: int


@dataclass(frozen=True)
class CentreScore:
    code: str
    region: str | None
    assessments: int
    interviews: int
    sources: frozenset[str]
    ratings: Mapping[str, Rating]
    findings: tuple[Finding, ...]  # the red flags that make it critical (empty: not critical)
    disagreements: tuple[Disagreement, ...]
    flags: Mapping[tuple[str, str], int]  # (form, item) -> "yes" answers, for the tables
    records: Mapping[str, int]  # per form id
    answered: Mapping[bool, int]  # about people -> questions answered (data quality)
    prefer_not: Mapping[bool, int]
    dont_know: Mapping[bool, int]
    services: Mapping[str, Mapping[str, int]]  # harm-reduction item -> answers of the assessments
    first_day: datetime.date | None
    last_day: datetime.date | None

    @property
    def status(self) -> str:
        return CRITICAL if self.findings else NOT_CRITICAL

    @property
    def total(self) -> int:
        return self.assessments + self.interviews


@dataclass(frozen=True)
class Unplaced:
    """A centre a region filter cannot place: no assessment gives its region."""

    code: str
    interviews: int
    flags_reported: int  # peer-interview "yes" answers to red flags there, all told


@dataclass(frozen=True)
class Scored:
    threshold: int
    region_filter: str | None
    centres: tuple[CentreScore, ...]  # critical first, then by code
    unplaced: tuple[Unplaced, ...]  # only with a region filter
    other_regions: int  # records of centres in other regions (left out by the filter)
    unlinked: Mapping[str, int]  # records of each form that name no centre
    people_forms: frozenset[str]
    versions: Mapping[tuple[str, str, str], int]
    not_used: Mapping[str, int]
    read: int

    def regions(self) -> list[str | None]:
        """The regions of the centres, sorted, with "no region recorded" last."""
        found = {centre.region for centre in self.centres}
        return sorted(r for r in found if r is not None) + ([None] if None in found else [])

    def centres_in(self, region: str | None) -> list[CentreScore]:
        return [centre for centre in self.centres if centre.region == region]

    @property
    def critical(self) -> list[CentreScore]:
        return [centre for centre in self.centres if centre.status == CRITICAL]

    @property
    def used(self) -> int:
        return sum(centre.total for centre in self.centres)

    @property
    def period(self) -> tuple[datetime.date, datetime.date] | None:
        """The first and last day an interview or visit of the report's centres was finished."""
        firsts = [centre.first_day for centre in self.centres if centre.first_day is not None]
        lasts = [centre.last_day for centre in self.centres if centre.last_day is not None]
        return (min(firsts), max(lasts)) if firsts and lasts else None


def _rate(tally: CentreTally, area: str, threshold: int, critical: bool) -> Rating:
    found = tally.areas.get(area)
    if found is None:
        averaged = level_of(())
        level = CAP if critical and area == RIGHTS else averaged
        return Rating(area, level, averaged, 0, 0, 0, frozenset())
    use_people = found.interviews >= threshold
    levels = Counter(found.assessment_levels)
    if use_people:
        levels.update(found.interview_levels)
    averaged = level_of(levels.elements())
    level = averaged
    if critical and area == RIGHTS and (averaged not in SCORES or SCORES[averaged] > SCORES[CAP]):
        level = CAP
    return Rating(
        area=area,
        level=level,
        averaged=averaged,
        assessments=found.assessments,
        interviews=found.interviews if use_people else 0,
        interviews_unused=0 if use_people else found.interviews,
        sources=frozenset(found.sources),
    )


def _region_of(tally: CentreTally) -> str | None:
    if not tally.regions:
        return None
    # The most frequent code; on a tie the first in order, so that the report is stable.
    return min(tally.regions, key=lambda region: (-tally.regions[region], region))


def _findings(tally: CentreTally, threshold: int) -> tuple[Finding, ...]:
    found = []
    for (form_id, item_id), count in sorted(tally.flags.items()):
        about_people = form_id not in CENTRE_FORMS
        if count >= (threshold if about_people else 1):
            found.append(Finding(form_id, item_id, count, about_people))
    # People's testimony first, then the assessment team's; most reported first within each.
    return tuple(sorted(found, key=lambda f: (not f.about_people, -f.count, f.form_id, f.item_id)))


def _disagreements(tally: CentreTally, threshold: int) -> tuple[Disagreement, ...]:
    found = []
    for (form_id, item_id), said_no in sorted(tally.denials.items()):
        if form_id not in CENTRE_FORMS or tally.flags.get((form_id, item_id)):
            continue  # only where no assessment answered "yes"
        partners = SOURCE_PAIRS.get(item_id, ())
        for (other_form, other_item), said_yes in sorted(tally.flags.items()):
            if other_form not in CENTRE_FORMS and other_item in partners and said_yes >= threshold:
                found.append(Disagreement(item_id, said_no, other_form, other_item, said_yes))
    return tuple(found)


def _centre(tally: CentreTally, threshold: int) -> CentreScore:
    findings = _findings(tally, threshold)
    return CentreScore(
        code=tally.code,
        region=_region_of(tally),
        assessments=tally.assessments,
        interviews=tally.interviews,
        sources=frozenset(tally.sources),
        ratings={area: _rate(tally, area, threshold, bool(findings)) for area in AREAS},
        findings=findings,
        disagreements=_disagreements(tally, threshold),
        flags=dict(tally.flags),
        records=dict(tally.records),
        answered=dict(tally.answered),
        prefer_not=dict(tally.prefer_not),
        dont_know=dict(tally.dont_know),
        services={item: dict(answers) for item, answers in tally.services.items()},
        first_day=tally.first_day,
        last_day=tally.last_day,
    )


def score(collected: Collected, *, threshold: int, region: str | None = None) -> Scored:
    """Every centre's ratings and rights status, for one region or all of them."""
    people_forms = frozenset(collected.people_forms)
    every = [_centre(tally, threshold) for tally in collected.centres.values()]
    kept, unplaced, other_regions = [], [], 0
    for centre in every:
        if region is None or centre.region == region:
            kept.append(centre)
        elif centre.region is None:
            flags = sum(count for (form_id, _item), count in centre.flags.items() if form_id not in CENTRE_FORMS)
            unplaced.append(Unplaced(centre.code, centre.interviews, flags))
        else:
            other_regions += centre.total
    kept.sort(key=lambda centre: (centre.status != CRITICAL, centre.code))
    return Scored(
        threshold=threshold,
        region_filter=region,
        centres=tuple(kept),
        unplaced=tuple(sorted(unplaced, key=lambda centre: centre.code)),
        other_regions=other_regions,
        unlinked=dict(sorted(collected.unlinked.items())),
        people_forms=people_forms,
        versions=dict(sorted(collected.versions.items())),
        not_used=dict(collected.not_used),
        read=collected.read,
    )


def flag_forms(
    forms: Mapping[str, Form], flagged: Iterable[tuple[str, str]] = ()
) -> list[tuple[Form, tuple[str, ...]]]:
    """Forms with red-flag questions, interviews with people first: theirs is the testimony.

    ``flagged``: the (form, item) red flags records reported. One that only an older
    version of the form asked (records are scored with their own version) gets a column
    after the current version's, so no report of it is left out of the tables.
    """
    found = []
    older = sorted(set(flagged))
    for form_id in sorted(forms, key=lambda form_id: (form_id in CENTRE_FORMS, form_id)):
        items = tuple(item.id for item in red_flag_items(forms[form_id]))
        items += tuple(item for form, item in older if form == form_id and item not in items)
        if items:
            found.append((forms[form_id], items))
    return found

"""Scorecards: ratings per centre and area, and the red-flag tables, from :class:`RecordFacts`.

The rules, in the words ``docs/scorecards.md`` gives advocates:

- Each scored answer has a level: achieved in full = 4, achieved partially = 3,
  achievement initiated = 2, not initiated = 1 ("not applicable" is left out).
- A centre's rating in an area is the mean of the levels of every scored answer in
  that area, from its centre assessments and its peer interviews, turned back into
  a level: 3.5 or more is "in full", 2.5 or more "partially", 1.5 or more
  "initiated", below that "not initiated". Only "not applicable" answers give
  "not applicable"; no answers give "no data".
- Peer interviews are about people. They count in an area only when at least
  ``threshold`` peer interviews of the centre answered a scored question in it;
  otherwise the report says they were not used.
- Red flags: per region, a table of centres by red-flag questions counting the
  "yes" answers, with totals. Interview tables are suppressed (a centre with fewer
  than ``threshold`` interviews is hidden whole), with secondary suppression; a
  red flag reported at all is still marked as reported.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from fieldkit.core.formengine.model import RATED_TAGS, Form
from sync.hub.reports.scoring import CENTRE_FORMS, RecordFacts, red_flag_items
from sync.hub.reports.suppression import Cell, SuppressedTable, check_threshold, suppress, suppress_count

__all__ = [
    "AREAS",
    "NO_DATA",
    "SCORES",
    "Centre",
    "Rating",
    "RedFlagTable",
    "Scorecards",
    "build_scorecards",
    "level_of",
]

AREAS = RATED_TAGS
NO_DATA = "no_data"
NOT_APPLICABLE = "not_applicable"
SCORES = {"full": 4, "partial": 3, "initiated": 2, "not_initiated": 1}


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
    assessments: int  # centre assessments with a scored answer in the area
    interviews: int  # peer interviews used (0, or at least the threshold)
    interviews_unused: int  # peer interviews with answers in the area, too few to use
    sources: frozenset[str]  # visit sources of those centre assessments

    @property
    def respondents(self) -> int:
        return self.assessments + self.interviews


@dataclass
class Centre:
    code: str
    region: str | None
    assessments: list[RecordFacts] = field(default_factory=list)
    interviews: list[RecordFacts] = field(default_factory=list)
    ratings: dict[str, Rating] = field(default_factory=dict)

    def assessment_count(self) -> Cell:
        # Centre assessments describe the centre, not people: shown as they are.
        return Cell(len(self.assessments), False)

    def interview_count(self, threshold: int) -> Cell:
        return suppress_count(len(self.interviews), threshold)

    def sources(self) -> frozenset[str]:
        return frozenset().union(*(facts.sources for facts in self.assessments))

    def red_flag_sources(self) -> frozenset[str]:
        return frozenset().union(*(facts.red_flag_sources for facts in self.assessments if facts.red_flags))


@dataclass(frozen=True)
class RedFlagTable:
    """Centres of one region by the red-flag questions of one form: counts of "yes"."""

    form: Form
    region: str | None
    centres: tuple[str, ...]
    items: tuple[str, ...]
    table: SuppressedTable
    records: tuple[int, ...]  # records of this form per centre
    about_people: bool

    def reported(self, row: int, column: int) -> bool:
        return self.table.cells[row][column].value > 0


@dataclass(frozen=True)
class Scorecards:
    threshold: int
    region_filter: str | None
    centres: tuple[Centre, ...]
    red_flags: tuple[RedFlagTable, ...]
    unlinked: Mapping[str, Cell]  # records of each form that name no centre

    def regions(self) -> list[str | None]:
        """The regions of the centres, sorted, with "no region recorded" last."""
        found = {centre.region for centre in self.centres}
        return sorted(r for r in found if r is not None) + ([None] if None in found else [])

    def centres_in(self, region: str | None) -> list[Centre]:
        return [centre for centre in self.centres if centre.region == region]


def _rate(centre: Centre, area: str, threshold: int) -> Rating:
    assessments = [facts for facts in centre.assessments if area in facts.levels]
    interviews = [facts for facts in centre.interviews if area in facts.levels]
    used = interviews if len(interviews) >= threshold else []
    levels = [level for facts in (*assessments, *used) for level in facts.levels[area]]
    return Rating(
        area=area,
        level=level_of(levels),
        assessments=len(assessments),
        interviews=len(used),
        interviews_unused=len(interviews) - len(used),
        sources=frozenset().union(*(facts.sources for facts in assessments)),
    )


def _region_of(assessments: Sequence[RecordFacts]) -> str | None:
    counted = Counter(facts.region for facts in assessments if facts.region is not None)
    if not counted:
        return None
    # The most frequent code; on a tie the first in order, so that the report is stable.
    return min(counted, key=lambda region: (-counted[region], region))


def _plain(counts: Sequence[Sequence[int]], threshold: int) -> SuppressedTable:
    """A table of counts about centres, not people: every figure shown."""
    width = len(counts[0]) if counts else 0

    def shown(value: int) -> Cell:
        return Cell(value, False)

    return SuppressedTable(
        cells=tuple(tuple(shown(value) for value in row) for row in counts),
        row_totals=tuple(shown(sum(row)) for row in counts),
        column_totals=tuple(shown(sum(row[c] for row in counts)) for c in range(width)),
        grand_total=shown(sum(map(sum, counts))),
        threshold=threshold,
    )


def _red_flag_tables(
    centres: Sequence[Centre], forms: Mapping[str, Form], region: str | None, threshold: int
) -> list[RedFlagTable]:
    tables = []
    # Interviews with people in treatment first: theirs is the testimony the report is for.
    for form_id in sorted(forms, key=lambda form_id: (form_id in CENTRE_FORMS, form_id)):
        form = forms[form_id]
        items = tuple(item.id for item in red_flag_items(form))
        if not items:
            continue
        per_centre = [
            [facts for facts in (*centre.assessments, *centre.interviews) if facts.form_id == form_id]
            for centre in centres
        ]
        if not any(per_centre):
            continue
        counts = [[sum(1 for facts in records if item in facts.red_flags) for item in items] for records in per_centre]
        about_people = any(facts.about_people for records in per_centre for facts in records)
        if about_people:
            small = {row for row, records in enumerate(per_centre) if 0 < len(records) < threshold}
            table = suppress(counts, threshold, hidden_rows=small, zeros_public=True)
        else:
            table = _plain(counts, threshold)
        tables.append(
            RedFlagTable(
                form=form,
                region=region,
                centres=tuple(centre.code for centre in centres),
                items=items,
                table=table,
                records=tuple(len(records) for records in per_centre),
                about_people=about_people,
            )
        )
    return tables


def build_scorecards(
    facts: Iterable[RecordFacts],
    forms: Mapping[str, Form],
    *,
    threshold: int,
    region: str | None = None,
) -> Scorecards:
    """Every centre's ratings and the red-flag tables, for one region or all of them."""
    check_threshold(threshold)
    by_code: dict[str, Centre] = {}
    unlinked: Counter[str] = Counter()
    people_forms: set[str] = set()
    for record in facts:
        if record.about_people:
            people_forms.add(record.form_id)
        if record.centre is None:
            unlinked[record.form_id] += 1
            continue
        centre = by_code.setdefault(record.centre, Centre(record.centre, None))
        (centre.interviews if record.about_people else centre.assessments).append(record)
    for centre in by_code.values():
        centre.region = _region_of(centre.assessments)
    centres = sorted(by_code.values(), key=lambda centre: centre.code)
    if region is not None:
        centres = [centre for centre in centres if centre.region == region]
    for centre in centres:
        centre.ratings = {area: _rate(centre, area, threshold) for area in AREAS}
    regions: list[str | None] = [*sorted({c.region for c in centres if c.region is not None})]
    if any(centre.region is None for centre in centres):
        regions.append(None)
    tables = [
        table
        for each in regions
        for table in _red_flag_tables([c for c in centres if c.region == each], forms, each, threshold)
    ]
    return Scorecards(
        threshold=threshold,
        region_filter=region,
        centres=tuple(centres),
        red_flags=tuple(tables),
        unlinked={
            form_id: suppress_count(count, threshold) if form_id in people_forms else Cell(count, False)
            for form_id, count in sorted(unlinked.items())
        },
    )

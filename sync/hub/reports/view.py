"""Stage 4 of the report: the view model. Every word and figure the report shows, decided.

Made once from :class:`~sync.hub.reports.suppress.Protected` in the report's
language, as plain frozen dataclasses; the renderers (:mod:`sync.hub.reports.render`:
HTML and CSV; :mod:`sync.hub.reports.pdf` prints that HTML) only lay it out. Every figure is a :class:`Figure`
made here once, with the text it is shown as ("<5", or the secondary mark, for a
hidden count). The page prints figures only from the view, marking each with
``data-fig`` (its key), and ``figures.csv`` is :attr:`ReportView.figures`, so the
two cannot disagree. Keys use positions (``c3`` is the third centre), not codes, so
that a code cannot break them.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fieldkit.core.formengine.model import DONT_KNOW, Form
from sync.hub.cycles import HubCycle
from sync.hub.reports.collect import (
    CURRENT,
    OLDER_VERSION,
    OTHER_CYCLE,
    OTHER_DEFINITION,
    OWN_DEFINITION,
    UNKNOWN_FORM,
    UNREADABLE,
)  # fmt: skip
from sync.hub.reports.facts import CENTRE_FORMS, KNOWN_SOURCES, harm_reduction_items
from sync.hub.reports.responses import Responses
from sync.hub.reports.score import AREAS, CRITICAL, HARM_REDUCTION, NO_DATA, RIGHTS, CentreScore, Finding
from sync.hub.reports.suppress import FlagTable, Protected
from sync.hub.reports.suppression import SECONDARY_MARK, Cell
from sync.hub.reports.text import ReportWords
from sync.hub.reports.trends import IMPROVED, NO_PREVIOUS, NOT_ASSESSED, SAME, TOO_FEW, WORSE, Change

__all__ = [
    "CENTRES_PER_CHART",
    "CENTRES_PER_TABLE",
    "CSV_COLUMNS",
    "BarSpec",
    "CentreChart",
    "CentreView",
    "Figure",
    "ReportView",
    "build_view",
]

CSV_COLUMNS = (
    "figure",
    "region",
    "centre",
    "area",
    "measure",
    "label",
    "value",
    "note",
    "respondents",
    "sources",
)
CENTRES_PER_TABLE = 10  # red-flag tables are split into column groups that fit an A4 page (fixed layout)
CENTRES_PER_CHART = 6
CENTRES_PER_SERVICE_TABLE = 10  # narrow symbol columns: ten centres fit an A4 page beside the services
TOP_FLAGS = 5  # the most frequent red flags in the executive summary
# How the harm-reduction table marks each answer; the legend names them with the form's own words.
SERVICE_MARKS = {"on_site": "●", "by_referral": "◐", "not_offered": "○", "not_legal": "⊘"}
NO_ANSWER_MARK = "–"
MISSING_SERVICE = frozenset({"not_offered", "not_legal"})


@dataclass(frozen=True)
class Figure:
    """One figure as the report shows it; one row of figures.csv."""

    key: str
    region: str
    centre: str
    area: str
    measure: str
    label: str
    value: str
    note: str = ""
    respondents: str = ""
    sources: str = ""

    def row(self) -> list[str]:
        return [getattr(self, name if name != "figure" else "key") for name in CSV_COLUMNS]


@dataclass(frozen=True)
class BarSpec:
    label: str
    level: str
    level_text: str
    key: str


@dataclass(frozen=True)
class CentreChart:
    chart_id: str
    bars: tuple[BarSpec, ...]
    title: str
    desc: str


@dataclass(frozen=True)
class RegionChart:
    chart_id: str
    areas: tuple[str, ...]
    series: tuple[tuple[str, tuple[str, ...]], ...]  # (centre code, level per area)
    title: str
    desc: str


@dataclass(frozen=True)
class FlagRow:
    question: str
    cells: tuple[Figure, ...]
    total: Figure | None


@dataclass(frozen=True)
class FlagChunk:
    """Some centres of a red-flag table, side by side (the last chunk carries the totals)."""

    centres: tuple[str, ...]
    records: tuple[Figure, ...]
    rows: tuple[FlagRow, ...]
    totals: tuple[Figure, ...]  # per centre; none for peer interviews (not published)
    grand: Figure | None
    last: bool  # the chunk with the region's totals


@dataclass(frozen=True)
class FlagTableView:
    heading: str
    about_people: bool
    chunks: tuple[FlagChunk, ...]
    region_reported: tuple[Figure, ...]  # one per question reported in the region


@dataclass(frozen=True)
class FlagLine:
    """One red flag that makes a centre critical, with who reported it."""

    question: str
    who: str
    figure: Figure


@dataclass(frozen=True)
class CentreView:
    anchor: str
    code: str
    region: str
    critical: bool
    status: Figure
    assessments: Figure
    interviews: Figure
    sources: str
    findings: tuple[FlagLine, ...]
    disagreements: tuple[Figure, ...]
    chart: CentreChart
    ratings: tuple[tuple[str, Figure], ...]  # (area name, rating figure)


@dataclass(frozen=True)
class Matrix:
    """Some centres of a region side by side: one row per area, one rating per centre."""

    centres: tuple[CentreView, ...]
    areas: tuple[tuple[str, tuple[Figure, ...]], ...]


@dataclass(frozen=True)
class RegionView:
    label: str
    flag_tables: tuple[FlagTableView, ...]
    charts: tuple[RegionChart, ...]
    centres: tuple[CentreView, ...]
    matrices: tuple[Matrix, ...]


@dataclass(frozen=True)
class TopFlag:
    """One of the most frequent red flags: a region's published total, as its table shows it."""

    question: str
    region: str
    who: str
    figure: Figure


@dataclass(frozen=True)
class ServiceRow:
    service: str
    cells: tuple[Figure, ...]  # one per centre of the chunk: the marks of its assessments' answers


@dataclass(frozen=True)
class ServiceChunk:
    centres: tuple[str, ...]
    rows: tuple[ServiceRow, ...]


@dataclass(frozen=True)
class QualityRow:
    """Data-quality figures of one centre."""

    code: str
    assessments: Figure
    interviews: Figure
    prefer_not: Figure
    dont_know: Figure
    missing_sources: Figure


@dataclass(frozen=True)
class AreaItems:
    """The questions behind a rating in one area, per form."""

    area: str
    forms: tuple[tuple[str, tuple[str, ...]], ...]  # (form title, questions)


@dataclass(frozen=True)
class VersionRow:
    form: str
    version: str
    how: str
    figure: Figure


@dataclass(frozen=True)
class ResponseLine:
    """One row of the response-rate table: a form about people, at one centre, in one cycle."""

    form: str
    centre: str
    cycle: str
    completed: Figure
    declined: Figure
    rate: Figure
    stopped: tuple[tuple[str, Figure], ...] = ()  # (what stopped it, such as "Under 18"; its count)


@dataclass(frozen=True)
class TrendLine:
    """One centre's rating in one principle, this cycle against the previous one."""

    centre: str
    area: str
    before: str
    after: str
    change: Figure


@dataclass(frozen=True)
class ReportView:
    language: str
    direction: str
    hub_id: str
    written: str
    threshold: int
    secondary_mark: str
    region_filter: str | None
    critical: tuple[CentreView, ...]
    regions: tuple[RegionView, ...]
    unplaced: tuple[Figure, ...]  # centres a region filter could not place
    versions: tuple[VersionRow, ...]
    not_used: tuple[Figure, ...]
    level_names: Mapping[str, str]
    period: Figure
    counts: tuple[Figure, ...]  # centre assessments, peer interviews (of centres whose count is shown)
    top_flags: tuple[TopFlag, ...]
    service_gaps: tuple[Figure, ...]  # services no assessment found offered, with how many centres
    service_legend: tuple[Figure, ...]
    services: tuple[ServiceChunk, ...]
    quality: tuple[QualityRow, ...]
    area_items: tuple[AreaItems, ...]
    figures: tuple[Figure, ...]
    cycle: Figure | None = None  # the report's cycle (name and days); None: every record
    previous_cycle: Figure | None = None
    responses: tuple[ResponseLine, ...] = ()
    trends: tuple[TrendLine, ...] = ()

    @property
    def centres(self) -> list[CentreView]:
        return [centre for region in self.regions for centre in region.centres]

    @property
    def any_red_flag(self) -> bool:
        return any(table.region_reported for region in self.regions for table in region.flag_tables)


class _Book:
    """The figures in the order they are made; a key made twice must mean the same."""

    def __init__(self) -> None:
        self.figures: dict[str, Figure] = {}

    def add(self, figure: Figure) -> Figure:
        known = self.figures.setdefault(figure.key, figure)
        if known != figure:
            raise ValueError(f"figure {figure.key} made twice with different values")
        return known


def flag_key(centre_key: str, form_id: str, item_id: str) -> str:
    return f"{centre_key}|{form_id}|{item_id}"


class _Builder:
    """Builds the view; holds what every part needs (words, book, keys, threshold)."""

    def __init__(
        self,
        protected: Protected,
        words: ReportWords,
        forms: Mapping[str, Form],
        definitions: Mapping[tuple[str, int], Form] | None = None,
    ) -> None:
        self.definitions = definitions or {}
        self.protected = protected
        self.words = words
        self.forms = forms
        self.book = _Book()
        self.threshold = protected.threshold
        self.keys = {centre.code: f"c{index + 1}" for index, centre in enumerate(protected.scored.centres)}

    def shown(self, cell: Cell) -> str:
        return cell.shown(self.threshold)

    def question(self, form_id: str, item_id: str) -> str:
        """A question's wording: the current form's, or the newest older version's that asked it.

        A red flag only an older version asked still counts (collect.py scores records with
        their own version), so it is named with the words that version used.
        """
        asking = [self.forms[form_id]] + [
            form for (known_id, _version), form in sorted(self.definitions.items(), reverse=True) if known_id == form_id
        ]
        for form in asking:
            found = next((item for item in form.items if item.id == item_id), None)
            if found is not None:
                return self.words.question(form, found)
        return item_id

    # --- Red-flag tables ------------------------------------------------------------

    def flag_table(self, table: FlagTable, region_key: str, index: int, region_label: str) -> FlagTableView:
        _ = self.words.gettext
        add, form = self.book.add, table.form
        base = f"{region_key}|flags{index}"
        all_label = _("All red flags (reports)")

        def count(key: str, centre: str, measure: str, label: str, cell: Cell) -> Figure:
            return add(Figure(key, region_label, centre, RIGHTS, measure, label, self.shown(cell)))

        label = _("Peer interviews") if table.about_people else _("Centre assessments")
        records = [
            add(
                Figure(
                    f"{self.keys[code]}|{form.id}|records",
                    region_label,
                    code,
                    "",
                    f"records:{form.id}",
                    label,
                    self.shown(cell),
                )
            )
            for code, cell in zip(table.centres, table.records, strict=True)
        ]
        rows = []
        for column, item_id in enumerate(table.items):
            question = self.question(form.id, item_id)
            measure = f"red_flag:{form.id}/{item_id}"
            cells = [
                count(
                    flag_key(self.keys[code], form.id, item_id), code, measure, question, table.table.cells[row][column]
                )
                for row, code in enumerate(table.centres)
            ]
            total = count(f"{base}|{item_id}", "", measure, question, table.table.column_totals[column])
            rows.append((question, cells, total))
        measure = f"red_flag_reports:{form.id}"
        totals: list[Figure] = []
        grand = None
        if not table.about_people:  # interview tables publish no total per centre (suppress.py)
            totals = [
                count(f"{self.keys[code]}|{form.id}|reports", code, measure, all_label, table.table.row_totals[row])
                for row, code in enumerate(table.centres)
            ]
            grand = count(f"{base}|reports", "", measure, all_label, table.table.grand_total)
        chunks = []
        for start in range(0, len(table.centres), CENTRES_PER_TABLE):
            end = start + CENTRES_PER_TABLE
            last = end >= len(table.centres)
            chunks.append(
                FlagChunk(
                    centres=table.centres[start:end],
                    records=tuple(records[start:end]),
                    rows=tuple(FlagRow(q, tuple(c[start:end]), t if last else None) for q, c, t in rows),
                    totals=tuple(totals[start:end]),
                    grand=grand if last else None,
                    last=last,
                )
            )
        if table.about_people:
            # TRANSLATORS: beside a red-flag question, for a whole region; never said of one centre.
            reported_text = _("reported at one or more centres in this region")
        else:
            reported_text = _("found by the assessment team at one or more centres in this region")
        reported = tuple(
            add(
                Figure(
                    f"{base}|{item_id}|region",
                    region_label,
                    "",
                    RIGHTS,
                    f"red_flag_in_region:{form.id}/{item_id}",
                    self.question(form.id, item_id),
                    reported_text,
                )
            )
            for item_id in table.region_reported
        )
        heading = self.words.records_of(form, table.about_people)
        return FlagTableView(heading, table.about_people, tuple(chunks), reported)

    # --- One centre ---------------------------------------------------------------------

    def finding(self, centre: CentreScore, finding: Finding, region_label: str) -> FlagLine:
        _ = self.words.gettext
        key = flag_key(self.keys[centre.code], finding.form_id, finding.item_id)
        # The count as the red-flag table shows it (its mark, if it is hidden there).
        figure = self.book.figures[key]
        who = _("peer interviews answered “yes”") if finding.about_people else _("centre assessments found it")
        return FlagLine(self.question(finding.form_id, finding.item_id), who, figure)

    def centre(self, centre: CentreScore, region_label: str) -> CentreView:
        _ = self.words.gettext
        add, key, words = self.book.add, self.keys[centre.code], self.words
        interviews = self.protected.interviews[centre.code]
        note = _("too few to use in any rating") if 0 < interviews.value < self.threshold else ""
        critical = centre.status == CRITICAL
        status = add(
            Figure(
                f"{key}|status",
                region_label,
                centre.code,
                RIGHTS,
                "rights_status",
                _("Human rights status"),
                _("Critical") if critical else _("No red flag reported by enough people to publish"),
                _("red flags reported by at least %(n)s people, or found by the assessment team")
                % {"n": self.threshold}
                if critical
                else "",
            )
        )
        assessments = add(
            Figure(
                f"{key}|assessments",
                region_label,
                centre.code,
                "",
                "centre_assessments",
                _("Centre assessments"),
                str(centre.assessments),
                sources=words.sources(centre.sources),
            )
        )
        interview_figure = add(
            Figure(
                f"{key}|interviews",
                region_label,
                centre.code,
                "",
                "peer_interviews",
                _("Peer interviews"),
                self.shown(interviews),
                note,
            )
        )
        disagreements = tuple(
            add(
                Figure(
                    f"{key}|disagree|{d.assessment_item}",
                    region_label,
                    centre.code,
                    RIGHTS,
                    "source_disagreement",
                    _("Sources disagree"),
                    self.book.figures[flag_key(key, d.interview_form, d.interview_item)].value,
                    _(
                        "centre assessments answered “no” (%(no)s): %(assessment)s; "
                        "peer interviews answered “yes”: %(interview)s"
                    )
                    % {
                        "no": d.assessments_no,
                        "assessment": self.question("centre-assessment", d.assessment_item),
                        "interview": self.question(d.interview_form, d.interview_item),
                    },
                )
            )
            for d in centre.disagreements
        )
        ratings, bars = [], []
        for area in AREAS:
            rating = centre.ratings[area]
            capped = ""
            if area == RIGHTS and critical:
                capped = _("at most “not initiated”: red flags decide")
            if area == RIGHTS and disagreements:
                capped = words.parts([text for text in (capped, _("sources disagree")) if text])
            figure = add(
                Figure(
                    f"{key}|rating|{area}",
                    region_label,
                    centre.code,
                    area,
                    "rating",
                    words.areas[area],
                    words.levels[rating.level],
                    capped,
                    str(rating.respondents),
                    words.rating_sources(
                        rating.assessments, rating.sources, rating.interviews, rating.interviews_unused, self.threshold
                    ),
                )
            )
            ratings.append((words.areas[area], figure))
            bars.append(BarSpec(words.areas[area], rating.level, figure.value, figure.key))
        summary = words.parts(f"{name}: {figure.value}" for name, figure in ratings)
        chart = CentreChart(
            f"chart-{key}",
            tuple(bars),
            _("Ratings of centre %(code)s by area") % {"code": centre.code},
            _(
                "Bar length shows the level, from not initiated (one step) to achieved in full (four steps). "
                "%(ratings)s."
            )
            % {"ratings": summary},
        )
        findings = tuple(self.finding(centre, finding, region_label) for finding in centre.findings)
        return CentreView(
            anchor=f"centre-{key}",
            code=centre.code,
            region=region_label,
            critical=critical,
            status=status,
            assessments=assessments,
            interviews=interview_figure,
            sources=words.sources(centre.sources),
            findings=findings,
            disagreements=disagreements,
            chart=chart,
            ratings=tuple(ratings),
        )

    def region_charts(self, centres: Sequence[CentreScore], region_key: str, label: str) -> tuple[RegionChart, ...]:
        _ = self.words.gettext
        charts = []
        for start in range(0, len(centres), CENTRES_PER_CHART):
            group = centres[start : start + CENTRES_PER_CHART]
            codes = self.words.items(centre.code for centre in group)
            charts.append(
                RegionChart(
                    f"chart-{region_key}-{start // CENTRES_PER_CHART}",
                    tuple(self.words.areas[area] for area in AREAS),
                    tuple((c.code, tuple(c.ratings[area].level for area in AREAS)) for c in group),
                    _("Centres of region %(region)s side by side: %(codes)s") % {"region": label, "codes": codes},
                    _(
                        "In each area, one bar per centre, labelled with its code. Bar length shows "
                        "the level: 1 not initiated, 2 achievement initiated, 3 achieved partially, "
                        "4 achieved in full. The table below gives the same ratings."
                    ),
                )
            )
        return tuple(charts)

    # --- The whole report ---------------------------------------------------------------

    def regions(self) -> tuple[RegionView, ...]:
        scored, views = self.protected.scored, []
        for r, region in enumerate(scored.regions()):
            label = self.words.region(region)
            region_key = f"r{r + 1}"
            centres = scored.centres_in(region)
            tables = tuple(
                self.flag_table(table, region_key, index, label)
                for index, table in enumerate(self.protected.tables_in(region))
            )
            centre_views = tuple(self.centre(centre, label) for centre in centres)
            matrices = tuple(
                Matrix(
                    group,
                    tuple(
                        (self.words.areas[area], tuple(view.ratings[index][1] for view in group))
                        for index, area in enumerate(AREAS)
                    ),
                )
                for group in (
                    centre_views[start : start + CENTRES_PER_CHART]
                    for start in range(0, len(centre_views), CENTRES_PER_CHART)
                )
            )
            views.append(
                RegionView(label, tables, self.region_charts(centres, region_key, label), centre_views, matrices)
            )
        return tuple(views)

    def unplaced(self) -> tuple[Figure, ...]:
        _ = self.words.gettext
        return tuple(
            self.book.add(
                Figure(
                    f"hub|unplaced|{index + 1}",
                    "",
                    found.centre.code,
                    "",
                    "centre_without_region",
                    _("Centre %(code)s: no centre assessment gives its region") % {"code": found.centre.code},
                    self.shown(found.interviews),
                    _("peer interviews; red-flag reports there: %(count)s")
                    % {"count": self.shown(found.flags_reported)},
                )
            )
            for index, found in enumerate(self.protected.unplaced)
        )

    def versions(self) -> tuple[VersionRow, ...]:
        _ = self.words.gettext
        how_text = {
            CURRENT: _("the shipped definition"),
            OLDER_VERSION: _("another version: answers read by question id"),
            OWN_DEFINITION: _("another version: read with its own questions and rules"),
            OTHER_DEFINITION: _("another definition of this version: answers read by question id"),
        }
        rows = []
        for (form_id, version, how), count in self.protected.scored.versions.items():
            form = self.forms.get(form_id)
            title = self.words.form_title(form) if form is not None else form_id
            figure = self.book.add(
                Figure(
                    f"hub|version|{form_id}|{version}|{how}",
                    "",
                    "",
                    "",
                    f"records_by_version:{form_id}/{version}",
                    title,
                    str(count),
                    how_text[how],
                )
            )
            rows.append(VersionRow(title, version, how_text[how], figure))
        return tuple(rows)

    def not_used(self) -> tuple[Figure, ...]:
        _ = self.words.gettext
        scored = self.protected.scored
        reasons = {
            UNREADABLE: _("Records that could not be opened"),
            UNKNOWN_FORM: _("Records of a form this report does not know"),
        }
        if OTHER_CYCLE in scored.not_used:
            reasons[OTHER_CYCLE] = _("Records of another cycle, or of none")
        found = []
        for reason, label in reasons.items():
            value = str(scored.not_used.get(reason, 0))
            found.append(
                self.book.add(Figure(f"hub|unused|{reason}", "", "", "", f"records_not_used:{reason}", label, value))
            )
        if scored.region_filter is not None:
            found.append(
                self.book.add(
                    Figure(
                        "hub|unused|other_regions",
                        "",
                        "",
                        "",
                        "records_not_used:other_regions",
                        _("Records of centres in other regions"),
                        str(scored.other_regions),
                    )
                )
            )
        for form_id, cell in self.protected.unlinked.items():
            form = self.forms.get(form_id)
            title = self.words.form_title(form) if form is not None else form_id
            found.append(
                self.book.add(
                    Figure(
                        f"hub|unlinked|{form_id}",
                        "",
                        "",
                        "",
                        f"records_without_centre:{form_id}",
                        _("%(form)s without a centre code") % {"form": title},
                        self.shown(cell),
                    )
                )
            )
        return tuple(found)

    # --- For advocates: the summary, services, data quality, the questions behind a rating ---

    def period(self) -> Figure:
        _ = self.words.gettext
        found = self.protected.scored.period
        if found is None:
            value = _("no dates recorded")
        else:
            value = _("%(first)s to %(last)s") % {"first": self.words.day(found[0]), "last": self.words.day(found[1])}
        return self.book.add(Figure("hub|period", "", "", "", "period", _("Period covered"), value))

    def counts(self) -> tuple[Figure, ...]:
        _ = self.words.gettext
        centres = self.protected.scored.centres
        # Centre assessments are not about people: their sum is published as it is. Peer
        # interviews are summed only over centres whose count is shown, so that the total
        # minus the shown counts cannot give a hidden one back.
        shown = sum(centre.interviews for centre in centres if not self.protected.interviews[centre.code].hidden)
        found = (
            ("centre_assessments_total", _("Centre assessments"), str(sum(c.assessments for c in centres)), ""),
            (
                "peer_interviews_total",
                _("Peer interviews"),
                str(shown),
                _("at centres with %(n)s or more; fewer are not counted here") % {"n": self.threshold},
            ),
        )
        return tuple(
            self.book.add(Figure(f"hub|count|{measure}", "", "", "", measure, label, value, note))
            for measure, label, value, note in found
        )

    def top_flags(self, regions: Sequence[RegionView]) -> tuple[TopFlag, ...]:
        """The red flags with the largest published region totals (hidden totals never rank)."""
        _ = self.words.gettext
        found = []
        for region in regions:
            for table in region.flag_tables:
                who = _("peer interviews answered “yes”") if table.about_people else _("centre assessments found it")
                for row in table.chunks[-1].rows:
                    total = row.total
                    if total is not None and total.value.isdigit() and int(total.value) > 0:
                        found.append(TopFlag(row.question, region.label, who, total))
        found.sort(key=lambda flag: -int(flag.figure.value))
        return tuple(found[:TOP_FLAGS])

    def services(self) -> tuple[tuple[Figure, ...], tuple[Figure, ...], tuple[ServiceChunk, ...]]:
        """Harm-reduction services per centre, as the centre assessments found them (not about people)."""
        _ = self.words.gettext
        add = self.book.add
        form = next((self.forms[form_id] for form_id in sorted(CENTRE_FORMS) if form_id in self.forms), None)
        if form is None:
            return (), (), ()
        items = harm_reduction_items(form)
        legend = []
        for choice_id, mark in SERVICE_MARKS.items():
            owner = next((item for item in items if choice_id in item.choice_ids()), None)
            if owner is not None:  # named with the form's own words for that answer
                label = self.words.choice(form, owner, choice_id)
                legend.append(add(Figure(f"hub|service_mark|{choice_id}", "", "", HARM_REDUCTION, "mark", label, mark)))
        legend.append(
            add(
                Figure(
                    "hub|service_mark|none",
                    "",
                    "",
                    HARM_REDUCTION,
                    "mark",
                    _("no answer, or “don't know”"),
                    NO_ANSWER_MARK,
                )
            )
        )
        centres = self.protected.scored.centres
        gaps = []
        rows: list[tuple[str, list[Figure]]] = []
        for item in items:
            service = self.question(form.id, item.id)
            cells, assessed, missing = [], 0, 0
            for centre in centres:
                answers = {a: n for a, n in centre.services.get(item.id, {}).items() if a != DONT_KNOW}
                marks = "".join(SERVICE_MARKS[a] for a in SERVICE_MARKS if a in answers) or NO_ANSWER_MARK
                if answers:
                    assessed += 1
                    missing += set(answers) <= MISSING_SERVICE
                cells.append(
                    add(
                        Figure(
                            f"{self.keys[centre.code]}|service|{item.id}",
                            self.words.region(centre.region),
                            centre.code,
                            HARM_REDUCTION,
                            f"harm_reduction_service:{item.id}",
                            service,
                            marks,
                        )
                    )
                )
            rows.append((service, cells))
            if missing:
                gaps.append(
                    add(
                        Figure(
                            f"hub|service_gap|{item.id}",
                            "",
                            "",
                            HARM_REDUCTION,
                            f"service_missing:{item.id}",
                            service,
                            str(missing),
                            _("centres where no assessment found it offered, of %(count)s assessed")
                            % {"count": assessed},
                        )
                    )
                )
        gaps.sort(key=lambda figure: -int(figure.value))
        chunks = tuple(
            ServiceChunk(
                tuple(centre.code for centre in centres[start : start + CENTRES_PER_SERVICE_TABLE]),
                tuple(
                    ServiceRow(service, tuple(cells[start : start + CENTRES_PER_SERVICE_TABLE]))
                    for service, cells in rows
                ),
            )
            for start in range(0, len(centres), CENTRES_PER_SERVICE_TABLE)
        )
        return tuple(gaps), tuple(legend), chunks

    def quality(self, views: Sequence[CentreView]) -> tuple[QualityRow, ...]:
        """Interviews per centre, shares of "prefer not to answer" and "don't know", sources never used."""
        _ = self.words.gettext
        add, rows = self.book.add, []
        by_code = {centre.code: centre for centre in self.protected.scored.centres}
        for view in views:
            centre, key = by_code[view.code], self.keys[view.code]
            # A share over fewer than THRESHOLD people's answers could say what one person did.
            use_people = centre.interviews >= self.threshold
            answered = centre.answered.get(False, 0) + (centre.answered.get(True, 0) if use_people else 0)

            def share(
                kind: str,
                counts: Mapping[bool, int],
                centre: CentreScore = centre,
                use_people: bool = use_people,
                answered: int = answered,
                view: CentreView = view,
                key: str = key,
            ) -> Figure:
                count = counts.get(False, 0) + (counts.get(True, 0) if use_people else 0)
                value = self.words.percent(count / answered) if answered else _("no answers")
                note = "" if use_people or not centre.interviews else _("centre assessments only")
                label = _("“Prefer not to answer”") if kind == "prefer_not" else _("“Don't know”")
                return add(
                    Figure(f"{key}|quality|{kind}", view.region, view.code, "", f"share_{kind}", label, value, note)
                )

            if centre.assessments:
                unused = [name for name in KNOWN_SOURCES if name not in centre.sources]
                missing = self.words.sources(unused) if unused else _("none")
            else:
                missing = _("no centre assessment")
            rows.append(
                QualityRow(
                    view.code,
                    view.assessments,
                    view.interviews,
                    share("prefer_not", centre.prefer_not),
                    share("dont_know", centre.dont_know),
                    add(
                        Figure(
                            f"{key}|quality|missing_sources",
                            view.region,
                            view.code,
                            "",
                            "missing_sources",
                            _("Sources not used"),
                            missing,
                        )
                    ),
                )
            )
        return tuple(rows)

    def rated_questions(self, form_id: str, area: str) -> tuple[str, ...]:
        """The questions of a form that rate ``area``: the current version's, then those
        only older versions asked (their records still count), named with those versions."""
        _ = self.words.gettext
        current = self.forms[form_id]
        questions = [self.question(form_id, item.id) for item in current.items if item.scoring and area in item.tags]
        asked_now = {item.id for item in current.items}
        read_with_own = {
            int(version)
            for (known_id, version, how) in self.protected.scored.versions
            if known_id == form_id and how == OWN_DEFINITION
        }
        older: dict[str, list[int]] = {}
        for (known_id, version), form in sorted(self.definitions.items()):
            if known_id != form_id or version not in read_with_own:
                continue
            for item in form.items:
                if item.scoring and area in item.tags and item.id not in asked_now:
                    older.setdefault(item.id, []).append(version)
        for item_id, versions in older.items():
            questions.append(
                _("%(question)s (asked by version %(versions)s only)")
                % {"question": self.question(form_id, item_id), "versions": ", ".join(map(str, versions))}
            )
        return tuple(questions)

    def area_items(self) -> tuple[AreaItems, ...]:
        found = []
        for area in AREAS:
            per_form = []
            for form_id in sorted(self.forms, key=lambda form_id: (form_id not in CENTRE_FORMS, form_id)):
                questions = self.rated_questions(form_id, area)
                if questions:
                    per_form.append((self.words.form_title(self.forms[form_id]), questions))
            found.append(AreaItems(self.words.areas[area], tuple(per_form)))
        return tuple(found)


class _Programme:
    """The parts of the view about cycles and response rates (issue 18)."""

    def __init__(self, builder: _Builder) -> None:
        self.builder = builder
        self.words = builder.words
        self.add = builder.book.add

    def cycle(self, key: str, label: str, cycle: HubCycle | None) -> Figure:
        _ = self.words.gettext
        if cycle is None:
            value = _("none: there is no earlier cycle to compare with")
        else:
            value = _("%(name)s (%(first)s to %(last)s)") % {
                "name": cycle.name,
                "first": self.words.day(cycle.start),
                "last": self.words.day(cycle.end),
            }
        return self.add(Figure(f"hub|{key}", "", "", "", key, label, value))

    def responses(self, responses: Responses) -> tuple[ResponseLine, ...]:
        _ = self.words.gettext
        lines = []
        for index, row in enumerate(responses.rows):
            form = self.builder.forms.get(row.form_id)
            title = self.words.form_title(form) if form is not None else row.form_id
            centre = row.centre or _("no centre recorded")
            cycle = row.cycle or _("every cycle")
            base = f"hub|response{index + 1}"
            completed = self.add(
                Figure(f"{base}|completed", "", centre, "", f"interviews_completed:{row.form_id}", title,
                       self.builder.shown(row.completed))
            )  # fmt: skip
            declined = self.add(
                Figure(f"{base}|declined", "", centre, "", f"interviews_declined:{row.form_id}", title,
                       self.builder.shown(row.declined))
            )  # fmt: skip
            if row.rate is None:
                value = _("suppressed")
                note = _("a count is under %(n)s") % {"n": self.builder.threshold}
            else:
                value, note = self.words.percent(row.rate), ""
            rate = self.add(Figure(f"{base}|rate", "", centre, "", f"response_rate:{row.form_id}", title, value, note))
            stopped = []
            for stop in row.stopped:
                reason = self._stop_reason(form, stop.item, stop.answer)
                figure = self.add(
                    Figure(f"{base}|stopped:{stop.item}:{stop.answer}", "", centre, "",
                           f"interviews_stopped:{row.form_id}:{stop.item}:{stop.answer}", f"{title}: {reason}",
                           self.builder.shown(stop.count))
                )  # fmt: skip
                stopped.append((reason, figure))
            lines.append(ResponseLine(title, centre, cycle, completed, declined, rate, tuple(stopped)))
        return tuple(lines)

    def _stop_reason(self, form: Form | None, item_id: str, answer: str) -> str:
        """The answer that stopped an interview, in the form's own words ("Under 18")."""
        if form is not None and any(item.id == item_id for item in form.items):
            return self.words.choice(form, form.item(item_id), answer)
        return f"{item_id}: {answer}"

    def trends(self, changes: Sequence[Change]) -> tuple[TrendLine, ...]:
        _ = self.words.gettext
        outcomes = {IMPROVED: _("improved"), SAME: _("same"), WORSE: _("worse")}
        reasons = {
            NO_PREVIOUS: _("no previous cycle"),
            NOT_ASSESSED: _("the centre was not assessed in one of the two cycles"),
            TOO_FEW: _("too few answers to publish a rating in one of the two cycles"),
        }
        unrated = _("no rating in one of the two cycles")
        not_assessed = _("not assessed")
        lines = []
        # A principle rated in neither cycle says nothing: left out (the page says so).
        shown = [c for c in changes if {c.before, c.after} - {None, NO_DATA}]
        for index, change in enumerate(shown):
            value = outcomes.get(change.outcome, _("not comparable"))
            note = "" if change.outcome in outcomes else reasons.get(change.why or "", unrated)
            figure = self.add(
                Figure(f"hub|trend{index + 1}", "", change.centre, change.area, "change_from_previous_cycle",
                       self.words.areas[change.area], value, note)
            )  # fmt: skip
            before = self.words.levels[change.before] if change.before is not None else not_assessed
            after = self.words.levels[change.after] if change.after is not None else not_assessed
            lines.append(TrendLine(change.centre, self.words.areas[change.area], before, after, figure))
        return tuple(lines)


def build_view(
    protected: Protected,
    words: ReportWords,
    *,
    hub_id: str,
    forms: Mapping[str, Form],
    today: datetime.date | None = None,
    responses: Responses | None = None,
    cycle: HubCycle | None = None,
    previous: HubCycle | None = None,
    changes: Sequence[Change] = (),
    definitions: Mapping[tuple[str, int], Form] | None = None,
) -> ReportView:
    """Everything the report shows, in the report's language, with every figure listed once."""
    builder = _Builder(protected, words, forms, definitions)
    programme = _Programme(builder)
    _ = words.gettext
    cycle_figure = programme.cycle("cycle", _("Cycle"), cycle) if cycle is not None else None
    previous_figure = programme.cycle("previous_cycle", _("Previous cycle"), previous) if cycle is not None else None
    response_lines = programme.responses(responses) if responses is not None else ()
    trend_lines = programme.trends(changes) if cycle is not None else ()
    regions = builder.regions()
    by_code = {centre.code: centre for region in regions for centre in region.centres}
    critical = tuple(by_code[centre.code] for centre in protected.scored.critical)
    unplaced = builder.unplaced()
    versions = builder.versions()
    not_used = builder.not_used()
    period = builder.period()
    counts = builder.counts()
    top_flags = builder.top_flags(regions)
    service_gaps, service_legend, services = builder.services()
    quality = builder.quality([centre for region in regions for centre in region.centres])
    area_items = builder.area_items()
    return ReportView(
        language=words.language,
        direction=words.direction,
        hub_id=hub_id,
        written=(today or datetime.date.today()).isoformat(),
        threshold=protected.threshold,
        secondary_mark=SECONDARY_MARK,
        region_filter=protected.scored.region_filter,
        critical=critical,
        regions=regions,
        unplaced=unplaced,
        versions=versions,
        not_used=not_used,
        level_names=dict(words.levels),
        period=period,
        counts=counts,
        top_flags=top_flags,
        service_gaps=service_gaps,
        service_legend=service_legend,
        services=services,
        quality=quality,
        area_items=area_items,
        figures=tuple(builder.book.figures.values()),
        cycle=cycle_figure,
        previous_cycle=previous_figure,
        responses=response_lines,
        trends=trend_lines,
    )

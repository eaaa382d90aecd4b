"""The report's pages and its figures: one view model, rendered to HTML and to CSV.

Every figure the HTML shows is a :class:`Figure` made here once, with the text it is
shown as ("<5" for a hidden count). The template prints figures only from that list,
marking each with ``data-fig`` (its key), and ``figures.csv`` is the same list, so the
two cannot disagree. Keys use positions (``c3`` is the third centre), not codes, so
that a code cannot break them.
"""

from __future__ import annotations

import csv
import datetime
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
from markupsafe import Markup

from fieldkit.core.formengine.model import Form
from sync.hub.export.writers import neutralise_formula
from sync.hub.reports.collect import OTHER_DEFINITION, UNKNOWN_FORM, UNREADABLE
from sync.hub.reports.scorecard import AREAS, Centre, RedFlagTable, Scorecards
from sync.hub.reports.suppression import Cell, suppress_count
from sync.hub.reports.svg import Bar, Series, centre_chart, region_chart
from sync.hub.reports.text import ReportWords

__all__ = ["CSV_COLUMNS", "Figure", "ReportView", "build_view", "figures_csv", "render_html", "report_css"]

TEMPLATES = Path(__file__).with_name("templates") / "report"
CSS_FILE = "report.css"
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
CENTRES_PER_TABLE = 6  # red-flag tables are split into column groups that fit an A4 page
CENTRES_PER_CHART = 6


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


@dataclass
class FlagChunk:
    """Some centres of a red-flag table, side by side (the last chunk carries the totals)."""

    centres: list[str]
    records: list[Figure]
    rows: list[tuple[str, list[Figure], Figure | None]]
    totals: list[Figure]
    grand: Figure | None


@dataclass
class FlagTableView:
    heading: str
    about_people: bool
    chunks: list[FlagChunk]
    any_reported: bool


@dataclass
class CentreFlag:
    question: str
    figure: Figure


@dataclass
class CentreView:
    anchor: str
    code: str
    region: str
    assessments: Figure
    interviews: Figure
    sources: str
    flags: list[tuple[str, list[CentreFlag]]]  # (which records, flags reported)
    chart: Markup
    ratings: list[tuple[str, Figure]]  # (area name, rating figure)


@dataclass
class Matrix:
    """Some centres of a region side by side: one row per area, one rating per centre."""

    centres: list[CentreView]
    areas: list[tuple[str, list[Figure]]]


@dataclass
class RegionView:
    label: str
    flag_tables: list[FlagTableView]
    charts: list[Markup]
    centres: list[CentreView]
    matrices: list[Matrix]


@dataclass
class ReportView:
    language: str
    direction: str
    hub_id: str
    written: str
    threshold: int
    region_filter: str | None
    regions: list[RegionView]
    not_used: list[Figure]
    level_names: Mapping[str, str]
    figures: list[Figure] = field(default_factory=list)

    @property
    def centres(self) -> list[CentreView]:
        return [centre for region in self.regions for centre in region.centres]

    @property
    def any_red_flag(self) -> bool:
        return any(table.any_reported for region in self.regions for table in region.flag_tables)


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


def _flag_tables(
    book: _Book,
    words: ReportWords,
    tables: Sequence[RedFlagTable],
    region_key: str,
    centre_keys: Mapping[str, str],
    region_label: str,
    threshold: int,
) -> list[FlagTableView]:
    _ = words.gettext
    reported, all_label = _("reported"), _("All red flags (reports)")
    views = []
    for index, table in enumerate(tables):
        form = table.form
        items = {item.id: item for item in form.items}
        base = f"{region_key}|flags{index}"

        def count(key: str, centre: str, measure: str, label: str, cell: Cell) -> Figure:
            # A red-flag count: "reported" beside every count above zero, hidden or not.
            note = reported if cell.value > 0 else ""
            return book.add(Figure(key, region_label, centre, "rights", measure, label, cell.shown(threshold), note))

        records = []
        for code, number in zip(table.centres, table.records, strict=True):
            cell = suppress_count(number, threshold) if table.about_people else Cell(number, False)
            label = _("Peer interviews") if table.about_people else _("Centre assessments")
            records.append(
                book.add(
                    Figure(
                        f"{centre_keys[code]}|{form.id}|records",
                        region_label,
                        code,
                        "",
                        f"records:{form.id}",
                        label,
                        cell.shown(threshold),
                    )
                )
            )
        rows = []
        for column, item_id in enumerate(table.items):
            question = words.question(form, items[item_id])
            measure = f"red_flag:{form.id}/{item_id}"
            cells_of = table.table.cells
            cells = [
                count(flag_key(centre_keys[code], form.id, item_id), code, measure, question, cells_of[row][column])
                for row, code in enumerate(table.centres)
            ]
            total = count(f"{base}|{item_id}", "", measure, question, table.table.column_totals[column])
            rows.append((question, cells, total))
        measure = f"red_flag_reports:{form.id}"
        totals = [
            count(f"{centre_keys[code]}|{form.id}|reports", code, measure, all_label, table.table.row_totals[row])
            for row, code in enumerate(table.centres)
        ]
        grand = count(f"{base}|reports", "", measure, all_label, table.table.grand_total)
        chunks = []
        for start in range(0, len(table.centres), CENTRES_PER_TABLE):
            end = start + CENTRES_PER_TABLE
            last = end >= len(table.centres)
            chunks.append(
                FlagChunk(
                    centres=list(table.centres[start:end]),
                    records=records[start:end],
                    rows=[(question, cells[start:end], total if last else None) for question, cells, total in rows],
                    totals=totals[start:end],
                    grand=grand if last else None,
                )
            )
        heading = words.records_of(form, table.about_people)
        views.append(FlagTableView(heading, table.about_people, chunks, table.table.grand_total.value > 0))
    return views


def _centre_view(
    book: _Book,
    words: ReportWords,
    centre: Centre,
    key: str,
    region_label: str,
    threshold: int,
    tables: Sequence[RedFlagTable],
) -> CentreView:
    _ = words.gettext
    interviews = centre.interview_count(threshold)
    note = _("too few to use in any rating") if 0 < interviews.value < threshold else ""
    assessments = book.add(
        Figure(
            f"{key}|assessments",
            region_label,
            centre.code,
            "",
            "centre_assessments",
            _("Centre assessments"),
            centre.assessment_count().shown(threshold),
            sources=words.sources(centre.sources()),
        )
    )
    interview_figure = book.add(
        Figure(
            f"{key}|interviews",
            region_label,
            centre.code,
            "",
            "peer_interviews",
            _("Peer interviews"),
            interviews.shown(threshold),
            note,
        )
    )
    ratings = []
    bars = []
    for area in AREAS:
        rating = centre.ratings[area]
        figure = book.add(
            Figure(
                f"{key}|rating|{area}",
                region_label,
                centre.code,
                area,
                "rating",
                words.areas[area],
                words.levels[rating.level],
                "",  # peer interviews not used are named in the sources
                str(rating.respondents),
                words.rating_sources(
                    rating.assessments, rating.sources, rating.interviews, rating.interviews_unused, threshold
                ),
            )
        )
        ratings.append((words.areas[area], figure))
        bars.append(Bar(words.areas[area], rating.level, figure.value, figure.key))
    flags = []
    for table in tables:
        if centre.code not in table.centres:
            continue
        row = table.centres.index(centre.code)
        items = {item.id: item for item in table.form.items}
        found = [
            CentreFlag(words.question(table.form, items[item_id]), book.figures[flag_key(key, table.form.id, item_id)])
            for column, item_id in enumerate(table.items)
            if table.reported(row, column)
        ]
        if found:
            flags.append((words.records_of(table.form, table.about_people), found))
    summary = words.parts(f"{name}: {figure.value}" for name, figure in ratings)
    chart = centre_chart(
        f"chart-{key}",
        bars,
        title=_("Ratings of centre %(code)s by area") % {"code": centre.code},
        desc=_(
            "Bar length shows the level, from not initiated (one step) to achieved in full (four steps). %(ratings)s."
        )
        % {"ratings": summary},
        rtl=words.direction == "rtl",
    )
    return CentreView(
        anchor=f"centre-{key}",
        code=centre.code,
        region=region_label,
        assessments=assessments,
        interviews=interview_figure,
        sources=words.sources(centre.sources()),
        flags=flags,
        chart=chart,
        ratings=ratings,
    )


def _region_charts(words: ReportWords, centres: Sequence[Centre], region_key: str, region_label: str) -> list[Markup]:
    _ = words.gettext
    charts = []
    for start in range(0, len(centres), CENTRES_PER_CHART):
        group = centres[start : start + CENTRES_PER_CHART]
        series = [Series(centre.code, [centre.ratings[area].level for area in AREAS]) for centre in group]
        codes = words.items(centre.code for centre in group)
        charts.append(
            region_chart(
                f"chart-{region_key}-{start // CENTRES_PER_CHART}",
                [words.areas[area] for area in AREAS],
                series,
                words.levels,
                title=_("Centres of region %(region)s side by side: %(codes)s")
                % {"region": region_label, "codes": codes},
                desc=_(
                    "In each area, one bar per centre, labelled with its code. Bar length shows "
                    "the level: 1 not initiated, 2 achievement initiated, 3 achieved partially, "
                    "4 achieved in full. The table below gives the same ratings."
                ),
                rtl=words.direction == "rtl",
            )
        )
    return charts


def build_view(
    cards: Scorecards,
    words: ReportWords,
    *,
    hub_id: str,
    not_used: Mapping[str, int],
    forms: Mapping[str, Form],
    today: datetime.date | None = None,
) -> ReportView:
    """Everything the report shows, in the report's language, with every figure listed once."""
    _ = words.gettext
    book = _Book()
    threshold = cards.threshold
    regions = []
    centre_index = {centre.code: f"c{index + 1}" for index, centre in enumerate(cards.centres)}
    for r, region in enumerate(cards.regions()):
        label = words.region(region)
        region_key = f"r{r + 1}"
        centres = cards.centres_in(region)
        tables = [table for table in cards.red_flags if table.region == region]
        flag_views = _flag_tables(book, words, tables, region_key, centre_index, label, threshold)
        centre_views = [
            _centre_view(book, words, centre, centre_index[centre.code], label, threshold, tables) for centre in centres
        ]
        matrices = []
        for start in range(0, len(centre_views), CENTRES_PER_CHART):
            group = centre_views[start : start + CENTRES_PER_CHART]
            matrices.append(
                Matrix(
                    group,
                    [
                        (words.areas[area], [view.ratings[index][1] for view in group])
                        for index, area in enumerate(AREAS)
                    ],
                )
            )
        regions.append(
            RegionView(label, flag_views, _region_charts(words, centres, region_key, label), centre_views, matrices)
        )
    reasons = {
        UNREADABLE: _("Records that could not be opened"),
        UNKNOWN_FORM: _("Records made with a form version this report does not know"),
        OTHER_DEFINITION: _("Records made with another definition of the same form version"),
    }
    unused = []
    for reason, label in reasons.items():
        measure = f"records_not_used:{reason}"
        figure = Figure(f"hub|unused|{reason}", "", "", "", measure, label, str(not_used.get(reason, 0)))
        unused.append(book.add(figure))
    for form_id, cell in cards.unlinked.items():
        form = forms.get(form_id)
        title = words.form_title(form) if form is not None else form_id
        unused.append(
            book.add(
                Figure(
                    f"hub|unlinked|{form_id}",
                    "",
                    "",
                    "",
                    f"records_without_centre:{form_id}",
                    _("%(form)s without a centre code") % {"form": title},
                    cell.shown(threshold),
                )
            )
        )
    return ReportView(
        language=words.language,
        direction=words.direction,
        hub_id=hub_id,
        written=(today or datetime.date.today()).isoformat(),
        threshold=threshold,
        region_filter=cards.region_filter,
        regions=regions,
        not_used=unused,
        level_names=words.levels,
        figures=list(book.figures.values()),
    )


def report_css() -> str:
    return (TEMPLATES / CSS_FILE).read_text(encoding="utf-8")


def _environment(words: ReportWords) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=words.gettext,
        ngettext=lambda singular, plural, count: words.gettext(singular if count == 1 else plural),
        newstyle=True,
    )
    return env


def render_html(view: ReportView, words: ReportWords, *, css_href: str | None = None) -> str:
    """The report as one HTML page: CSS inline, or linked from ``css_href`` (for the hub's pages)."""
    template = _environment(words).get_template("report.html")
    return template.render(view=view, css=Markup(report_css()), css_href=css_href)  # noqa: S704 - our own file


def figures_csv(view: ReportView) -> str:
    """figures.csv: one row per figure, text guarded against spreadsheet formulas."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for figure in view.figures:
        writer.writerow([neutralise_formula(value) for value in figure.row()])
    return buffer.getvalue()

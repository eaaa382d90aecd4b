"""Stage 5 of the report: lay the view model out as HTML (one static page) and as CSV.

Renderers decide nothing: every word and figure comes from
:class:`~sync.hub.reports.view.ReportView`. The page marks each figure with
``data-fig`` (its key), and ``figures.csv`` is the view's figure list, so the two
cannot disagree. Charts are drawn here (:mod:`sync.hub.reports.svg`) from the
view's chart descriptions. The PDF is this page printed (:mod:`sync.hub.reports.pdf`),
so it shows exactly the same view.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import jinja2
from markupsafe import Markup

from sync.hub.export.writers import neutralise_formula
from sync.hub.reports.svg import Bar, Series, centre_chart, region_chart
from sync.hub.reports.text import ReportWords
from sync.hub.reports.view import CSV_COLUMNS, CentreChart, RegionChart, ReportView

__all__ = ["CSS_FILE", "figures_csv", "render_html", "report_css"]

TEMPLATES = Path(__file__).with_name("templates") / "report"
CSS_FILE = "report.css"


def report_css() -> str:
    return (TEMPLATES / CSS_FILE).read_text(encoding="utf-8")


def _chart(view: ReportView, chart: CentreChart | RegionChart) -> Markup:
    rtl = view.direction == "rtl"
    if isinstance(chart, CentreChart):
        bars = [Bar(bar.label, bar.level, bar.level_text, bar.key) for bar in chart.bars]
        return centre_chart(chart.chart_id, bars, title=chart.title, desc=chart.desc, rtl=rtl)
    series = [Series(code, levels) for code, levels in chart.series]
    return region_chart(
        chart.chart_id, chart.areas, series, view.level_names, title=chart.title, desc=chart.desc, rtl=rtl
    )


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
        ngettext=words.ngettext,
        newstyle=True,
    )
    return env


def render_html(view: ReportView, words: ReportWords, *, css_href: str | None = None) -> str:
    """The report as one HTML page: CSS inline, or linked from ``css_href`` (for the hub's pages)."""
    template = _environment(words).get_template("report.html")
    return template.render(
        view=view,
        chart=lambda chart: _chart(view, chart),
        css=Markup(report_css()),  # noqa: S704 - our own file
        css_href=css_href,
    )


def figures_csv(view: ReportView) -> str:
    """figures.csv: one row per figure, text guarded against spreadsheet formulas."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for figure in view.figures:
        writer.writerow([neutralise_formula(value) for value in figure.row()])
    return buffer.getvalue()

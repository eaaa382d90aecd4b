"""Two small charts as inline SVG: one centre's ratings, and the centres of a region side by side.

Why our own code and not a charting library: the report must be one static file with
no external assets, and the hub serves it under a Content-Security-Policy that allows
no script and no inline style. The maintained pure-Python option, pygal, links its
tooltip script from a web address unless told otherwise, styles charts with a
``<style>`` element inside the SVG (which that policy blocks), and tells series apart
by colour alone. These charts need two bar shapes, patterns for greyscale printing,
direct labels and right-to-left mirroring: about a hundred lines, tested in
``tests/test_scorecards.py``.

How they read without colour: bar length is the level (not initiated = 1 step to
achieved in full = 4 steps); every bar has a dark outline and a pattern (by level in
the centre chart, by centre in the region chart); and every bar carries a direct text
label. Styling is by presentation attributes only. Each chart has a ``<title>`` and a
``<desc>`` named by ``aria-labelledby``; the report puts the same figures in a table
next to it.

For right-to-left languages every x coordinate is mirrored and the SVG's
``direction`` is set, so that labels start at the right edge as the text does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

from sync.hub.reports.score import SCORES

__all__ = ["CENTRE_PATTERNS", "LEVEL_PATTERNS", "Bar", "Series", "centre_chart", "region_chart"]

WIDTH = 640
MARGIN = 10
INK = "#1a1a1a"
FAINT = "#b0b0b0"
FONT = "system-ui, 'Noto Sans', 'DejaVu Sans', sans-serif"

# Pattern contents on a 6x6 tile: (background fill, drawing inside the tile).
_TILES: dict[str, tuple[str, str]] = {
    "solid": (INK, ""),
    "diagonal": ("#ffffff", f'<path d="M-1,1 l2,-2 M0,6 l6,-6 M5,7 l2,-2" stroke="{INK}" stroke-width="1.6"/>'),
    "dots": ("#ffffff", f'<circle cx="3" cy="3" r="1.4" fill="{INK}"/>'),
    "horizontal": ("#ffffff", f'<path d="M0,3 h6" stroke="{INK}" stroke-width="1.6"/>'),
    "cross": ("#ffffff", f'<path d="M0,0 l6,6 M6,0 l-6,6" stroke="{INK}" stroke-width="1"/>'),
    "empty": ("#ffffff", ""),
}
LEVEL_PATTERNS = {"full": "solid", "partial": "diagonal", "initiated": "dots", "not_initiated": "empty"}
CENTRE_PATTERNS = ("solid", "diagonal", "dots", "horizontal", "cross", "empty")


@dataclass(frozen=True)
class Bar:
    """One area of one centre: its label, level, the level's words, and the figure's key."""

    label: str
    level: str
    level_text: str
    figure: str


@dataclass(frozen=True)
class Series:
    """One centre in a region chart: its code and its level in each area."""

    code: str
    levels: Sequence[str]


class _Canvas:
    def __init__(self, chart_id: str, height: int, rtl: bool, title: str, desc: str) -> None:
        self.id = chart_id
        self.rtl = rtl
        self.parts: list[str] = []
        labelled = f"{chart_id}-title {chart_id}-desc"
        direction = "rtl" if rtl else "ltr"
        self.head = (
            f'<svg viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" '
            f'height="{height}" role="img" aria-labelledby="{labelled}" direction="{direction}" '
            f'font-family="{escape(FONT)}" class="chart">'
            f'<title id="{chart_id}-title">{escape(title)}</title>'
            f'<desc id="{chart_id}-desc">{escape(desc)}</desc>'
        )

    def x(self, x: float) -> float:
        return WIDTH - x if self.rtl else x

    def pattern_defs(self, names: Sequence[str]) -> None:
        tiles = []
        for name in dict.fromkeys(names):
            background, drawing = _TILES[name]
            tiles.append(
                f'<pattern id="{self.id}-{name}" width="6" height="6" patternUnits="userSpaceOnUse">'
                f'<rect width="6" height="6" fill="{background}"/>{drawing}</pattern>'
            )
        self.parts.append("<defs>" + "".join(tiles) + "</defs>")

    def bar(self, x0: float, y: float, length: float, height: float, pattern: str) -> None:
        left = self.x(x0 + length) if self.rtl else self.x(x0)
        self.parts.append(
            f'<rect x="{left:g}" y="{y:g}" width="{length:g}" height="{height:g}" '
            f'fill="url(#{self.id}-{pattern})" stroke="{INK}" stroke-width="1"/>'
        )

    def line(self, x: float, y1: float, y2: float) -> None:
        self.parts.append(f'<line x1="{self.x(x):g}" y1="{y1:g}" x2="{self.x(x):g}" y2="{y2:g}" stroke="{FAINT}"/>')

    def text(
        self,
        x: float,
        y: float,
        words: str,
        *,
        size: int = 12,
        anchor: str = "start",
        weight: str = "normal",
        grey: bool = False,
        figure: str | None = None,
    ) -> None:
        extra = f' data-fig="{escape(figure)}"' if figure else ""
        # A white halo keeps text readable where it crosses a grid line.
        self.parts.append(
            f'<text x="{self.x(x):g}" y="{y:g}" font-size="{size}" text-anchor="{anchor}" '
            f'font-weight="{weight}" fill="{"#555555" if grey else INK}" stroke="#ffffff" '
            f'stroke-width="3" paint-order="stroke"{extra}>{escape(words)}</text>'
        )

    def markup(self) -> Markup:
        return Markup(self.head + "".join(self.parts) + "</svg>")  # noqa: S704 - every text is escaped above


STEP = 90  # one level step in the centre chart
ROW = 40  # label line and bar of one area


def centre_chart(chart_id: str, bars: Sequence[Bar], *, title: str, desc: str, rtl: bool = False) -> Markup:
    """One centre's rating in each area: label above, bar below, level named at the bar's end."""
    height = MARGIN * 2 + ROW * len(bars)
    canvas = _Canvas(chart_id, height, rtl, title, desc)
    canvas.pattern_defs([LEVEL_PATTERNS[level] for level in LEVEL_PATTERNS])
    for step in range(1, 5):
        canvas.line(MARGIN + step * STEP, MARGIN, height - MARGIN)
    for index, bar in enumerate(bars):
        top = MARGIN + index * ROW
        canvas.text(MARGIN, top + 12, bar.label, weight="bold")
        score = SCORES.get(bar.level)
        if score is None:
            canvas.text(MARGIN, top + 29, bar.level_text, grey=True, figure=bar.figure)
            continue
        canvas.bar(MARGIN, top + 17, score * STEP, 16, LEVEL_PATTERNS[bar.level])
        canvas.text(MARGIN + score * STEP + 6, top + 29, bar.level_text, figure=bar.figure)
    return canvas.markup()


REGION_STEP = 110
BAR = 12
GAP = 4


def region_chart(
    chart_id: str,
    areas: Sequence[str],
    series: Sequence[Series],
    level_texts: Mapping[str, str],
    *,
    title: str,
    desc: str,
    rtl: bool = False,
) -> Markup:
    """The centres of a region side by side: one bar per centre in each area, code at its end."""
    group = 18 + len(series) * (BAR + GAP) + 8
    axis = 16
    height = MARGIN * 2 + axis + group * len(areas)
    canvas = _Canvas(chart_id, height, rtl, title, desc)
    patterns = [CENTRE_PATTERNS[index % len(CENTRE_PATTERNS)] for index in range(len(series))]
    canvas.pattern_defs(patterns or ["empty"])
    for step in range(1, 5):
        x = MARGIN + step * REGION_STEP
        canvas.line(x, MARGIN + axis, height - MARGIN)
        canvas.text(x, MARGIN + 10, str(step), size=10, anchor="middle", grey=True)
    for a, area in enumerate(areas):
        top = MARGIN + axis + a * group
        canvas.text(MARGIN, top + 13, area, weight="bold")
        for s, centre in enumerate(series):
            y = top + 18 + s * (BAR + GAP)
            level = centre.levels[a]
            score = SCORES.get(level)
            if score is None:
                canvas.text(MARGIN, y + BAR - 2, f"{centre.code}: {level_texts[level]}", size=10, grey=True)
                continue
            canvas.bar(MARGIN, y, score * REGION_STEP, BAR, patterns[s])
            canvas.text(MARGIN + score * REGION_STEP + 5, y + BAR - 2, centre.code, size=11)
    return canvas.markup()

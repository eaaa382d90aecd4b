"""The report for advocates on paper: `fieldkit hub report` writes report.pdf beside the HTML,
20 simulated centres fit in about 20 A4 pages, and no text runs past the margins.

Records come from `fieldkit simulate --centres 20 --regions 2` on a real kit, exported and
imported into a real hub (as tests/test_scorecards.py does); the PDF is printed by Debian's
headless Chromium, read back with pypdf (page count, page size, where every piece of text
starts) and rendered with pdftoppm to check that each page's margins are blank.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from pypdf import PageObject, PdfReader, mult

from fieldkit.cli import cli
from tests.conftest import require_tool
from tests.sync_cli import enrol, export, init_hub_folder, make_hub_keys, new_kit, write_passphrase_file
from tests.sync_cli import run as run_cli

A4_POINTS = (595.0, 842.0)  # 210 x 297 mm
MM = 72 / 25.4
# The print stylesheet's page margins are 12 mm (top, bottom) and 11 mm (sides); a text or a
# table line may come to 1 mm of them (borders, antialiasing), never nearer the edge.
SIDE_MARGIN, TOP_MARGIN = 10 * MM, 11 * MM
MAX_PAGES = 22
RENDER_DPI = 40


class SimulatedHub:
    def __init__(self, root: Path) -> None:
        passphrase = write_passphrase_file(root)
        keys = make_hub_keys(root)
        self.hub = init_hub_folder(root, keys)
        self.identity = keys / "hub-identity.txt"
        kit = new_kit(root, keys, passphrase)
        enrol(self.hub, kit, passphrase, root)
        run_cli(
            "simulate", "--data", kit, "--responses", 306, "--seed", 16, "--centres", 20, "--regions", 2,
            "--passphrase-file", passphrase,
        )  # fmt: skip
        export(kit, root / "kit.tar", passphrase)
        run_cli("hub", "import", "--data", self.hub, root / "kit.tar")

    def report(self, out: Path, *extra: str, env: dict[str, str] | None = None) -> str:
        args = ["hub", "report", "--data", str(self.hub), "--identity", str(self.identity), "--out", str(out), *extra]
        result = CliRunner().invoke(cli, args, env=env)
        assert result.exit_code == 0, result.output
        assert "Traceback" not in result.output
        return result.output


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> SimulatedHub:
    return SimulatedHub(tmp_path_factory.mktemp("report-pdf"))


@pytest.fixture(scope="module", params=["en", "ar"])
def printed(simulated: SimulatedHub, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    require_tool("chromium")
    out = tmp_path_factory.mktemp(f"pdf-{request.param}") / "out"
    output = simulated.report(out, "--lang", request.param)
    assert f"Wrote {out / 'report.pdf'}" in output
    return out


def _centres(out: Path) -> int:
    with (out / "figures.csv").open(encoding="utf-8", newline="") as handle:
        return sum(1 for row in csv.DictReader(handle) if row["measure"] == "rights_status")


def test_twenty_centres_print_on_about_twenty_a4_pages(printed: Path) -> None:
    assert _centres(printed) >= 18, "the simulated world has about 20 centres"
    reader = PdfReader(printed / "report.pdf")
    assert 4 <= len(reader.pages) <= MAX_PAGES, len(reader.pages)
    for page in reader.pages:
        width, height = float(page.mediabox.width), float(page.mediabox.height)
        assert abs(width - A4_POINTS[0]) < 2 and abs(height - A4_POINTS[1]) < 2, "A4 portrait"
    first = reader.pages[0].extract_text()
    assert re.search(r"\d{4}-\d{2}-\d{2}", first), "the period covered is on the first page"


def _text_starts(page: PageObject) -> list[tuple[float, float, str]]:
    """Where each piece of text on a page starts (x, y in points from the bottom left)."""
    found: list[tuple[float, float, str]] = []

    def visit(text: str, cm: list[float], tm: list[float], _font: object, _size: float) -> None:
        if text.strip():
            x, y = mult(tm, cm)[4:6]
            found.append((x, y, text[:40]))

    page.extract_text(visitor_text=visit)
    return found


def test_every_text_starts_inside_the_side_margins(printed: Path) -> None:
    reader = PdfReader(printed / "report.pdf")
    runs = 0
    for number, page in enumerate(reader.pages, start=1):
        width = float(page.mediabox.width)
        starts = _text_starts(page)
        runs += len(starts)
        # Only x: pypdf places some shaped Arabic glyphs below their line; the rendered
        # pages below check all four margins, pixel by pixel.
        outside = [(round(x), round(y), text) for x, y, text in starts if not SIDE_MARGIN <= x <= width - SIDE_MARGIN]
        assert not outside, f"page {number}: text outside the margins: {outside[:5]}"
    assert runs > 500, "the PDF holds text, not pictures of text"


def test_no_word_runs_past_the_margins_even_where_chromium_clips_it(printed: Path) -> None:
    """Chromium clips what runs past the page's frame, so blank margins alone would not show
    a cell cut short; pdftotext -bbox gives every word's box, clipped or not."""
    pdftotext = require_tool("pdftotext")
    found = subprocess.run(
        [pdftotext, "-bbox", str(printed / "report.pdf"), "-"], check=True, capture_output=True, timeout=300
    ).stdout.decode("utf-8")
    pages = re.split(r"<page ", found)[1:]
    assert len(pages) == len(PdfReader(printed / "report.pdf").pages)
    words = 0
    for number, page in enumerate(pages, start=1):
        size = re.match(r'width="([\d.]+)" height="([\d.]+)"', page)
        assert size is not None
        width, height = float(size.group(1)), float(size.group(2))
        boxes = re.findall(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)<', page)
        words += len(boxes)
        outside = [
            text
            for x_min, y_min, x_max, _y_max, text in boxes
            if float(x_min) < SIDE_MARGIN
            or float(x_max) > width - SIDE_MARGIN
            or not TOP_MARGIN <= float(y_min) <= height - TOP_MARGIN
        ]  # y by the word's top: Arabic glyph boxes reach below the line; the pixels below check it
        assert not outside, f"page {number}: words past the margins: {outside[:8]}"
    assert words > 2000


def _pgm(path: Path) -> tuple[int, int, bytes]:
    """A binary PGM (P5) as pdftoppm writes it: width, height, one byte per pixel."""
    data = path.read_bytes()
    fields = re.match(rb"P5\s+(\d+)\s+(\d+)\s+(\d+)\s", data)
    assert fields is not None and fields.group(3) == b"255", path
    width, height = int(fields.group(1)), int(fields.group(2))
    return width, height, data[fields.end() : fields.end() + width * height]


def test_every_page_has_blank_margins_nothing_runs_past_its_frame(printed: Path, tmp_path: Path) -> None:
    pdftoppm = require_tool("pdftoppm")
    subprocess.run(
        [pdftoppm, "-gray", "-r", str(RENDER_DPI), str(printed / "report.pdf"), str(tmp_path / "page")],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    pages = sorted(tmp_path.glob("page-*.pgm"))
    assert len(pages) == len(PdfReader(printed / "report.pdf").pages)
    side = int(SIDE_MARGIN / 72 * RENDER_DPI)
    top = int(TOP_MARGIN / 72 * RENDER_DPI)
    for path in pages:
        width, height, pixels = _pgm(path)
        inked_inside = False
        for y in range(height):
            row = pixels[y * width : (y + 1) * width]
            if y < top or y >= height - top:
                assert min(row) > 200, f"{path.name}: ink in the top or bottom margin at row {y}"
                continue
            assert min(row[:side]) > 200 and min(row[width - side :]) > 200, (
                f"{path.name}: ink in a side margin at row {y}: a table or a line runs past its frame"
            )
            inked_inside = inked_inside or min(row) < 128
        assert inked_inside, f"{path.name} is blank"


def test_without_chromium_the_html_and_csv_are_written_and_the_command_says_why(
    simulated: SimulatedHub, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.pdf").write_bytes(b"%PDF an older report")
    env = {**os.environ, "FIELDKIT_CHROMIUM": str(tmp_path / "no-such-chromium")}
    output = simulated.report(out, env=env)
    assert "the PDF was not made: chromium is not installed" in output
    assert (out / "report.html").stat().st_size > 10_000 and (out / "figures.csv").stat().st_size > 1_000
    assert not (out / "report.pdf").exists(), "an older PDF is not left beside the new report"

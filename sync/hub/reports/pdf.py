"""Stage 6 of the report: the PDF, printed from the same HTML page by headless Chromium.

The page already holds every word and figure of the view (:mod:`sync.hub.reports.render`)
and its print stylesheet lays it out on A4, so the PDF is that page printed, nothing
decided here. Chromium rather than WeasyPrint: the hub machine already has Debian's
chromium for the kit's browser tests (``scripts/install-system-packages.sh``), it lays
out Arabic and every other script the kit ships with the system's fonts, and it adds
no Python package or C library to the locks. It runs offline: the page fetches
nothing, and background networking is switched off.

A hub without Chromium still gets its HTML and CSV; :func:`print_pdf` then says why
no PDF was made instead of failing the report.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from fieldkit.core.storage.atomic import write_atomic

__all__ = ["CHROMIUM_NAMES", "PDF_FILE", "PdfOutcome", "find_chromium", "print_pdf"]

PDF_FILE = "report.pdf"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
TIMEOUT_SECONDS = 180  # a 20-centre report prints in a few seconds; a stuck browser must not hang the hub


@dataclass(frozen=True)
class PdfOutcome:
    """Whether the PDF was written; ``reason`` says why not, in one line."""

    path: Path | None
    reason: str = ""


def find_chromium() -> str | None:
    """Chromium's path (``FIELDKIT_CHROMIUM`` if set, else the first on PATH)."""
    chosen = os.environ.get("FIELDKIT_CHROMIUM")
    if chosen:
        return shutil.which(chosen)
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def print_pdf(html_file: Path, pdf_file: Path) -> PdfOutcome:
    """Print ``html_file`` to ``pdf_file`` (A4, no browser header or footer), or say why not."""
    binary = find_chromium()
    if binary is None:
        return PdfOutcome(None, "chromium is not installed (scripts/install-system-packages.sh installs it)")
    with tempfile.TemporaryDirectory(prefix="fieldkit-pdf-") as work:
        printed = Path(work) / PDF_FILE
        command = [
            binary,
            "--headless",
            "--no-sandbox",  # the hub may run as root in a container; the page is our own, with no script
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-dev-shm-usage",
            f"--user-data-dir={Path(work) / 'profile'}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={printed}",
            html_file.resolve().as_uri(),
        ]
        try:
            finished = subprocess.run(  # noqa: S603 - our own argument list, no shell
                command, capture_output=True, timeout=TIMEOUT_SECONDS, check=False
            )
        except subprocess.TimeoutExpired:
            return PdfOutcome(None, f"chromium did not finish printing within {TIMEOUT_SECONDS} s")
        except OSError as error:
            return PdfOutcome(None, f"chromium could not be started: {error.strerror or error}")
        if not printed.is_file() or printed.stat().st_size == 0:
            detail = finished.stderr.decode("utf-8", "replace").strip().splitlines()
            last = detail[-1] if detail else f"exit status {finished.returncode}"
            return PdfOutcome(None, f"chromium wrote no PDF ({last[:200]})")
        # Written like the other files: atomically, 0600.
        write_atomic(pdf_file, printed.read_bytes())
    return PdfOutcome(pdf_file)

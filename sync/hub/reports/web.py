"""The hub's page for the latest report, behind the operator login.

The hub keeps no identity, so it cannot make a report itself: ``fieldkit hub report``
runs with the identity brought to the hub machine and leaves its files in
``HUBDIR/reports/latest/`` (aggregate, suppressed figures only). These pages show
those files (permission ``reports``: every role may read the reports already made):
a summary at ``/operator/reports/``, the report itself with its
stylesheet linked (the hub's Content-Security-Policy allows no inline style), and
both files for download.

Wire it in with ``create_hub_app(settings, store, pages=[reports_pages()])``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask import Blueprint, abort, current_app, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from werkzeug.wrappers import Response

from sync.hub.reports.render import CSS_FILE
from sync.hub.reports.run import ABOUT_FILE, FIGURES_FILE, HUB_VIEW_FILE, LATEST_DIR, REPORT_FILE, REPORT_FORMAT
from sync.hub.web import OperatorPages
from sync.hub.web.auth import require_permission

__all__ = ["bp", "reports_pages"]

bp = Blueprint("reports", __name__, url_prefix="/operator/reports", template_folder="templates")


def reports_pages() -> OperatorPages:
    """The report pages as the hub's web app takes them (linked "Reports" in its header)."""
    return OperatorPages(bp, "reports.index", lazy_gettext("Reports"), permission="reports")


def _latest() -> Path:
    return Path(current_app.extensions["fieldkit_hub"].store.data_dir) / LATEST_DIR


def _about(folder: Path) -> dict[str, Any] | None:
    try:
        about = json.loads((folder / ABOUT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(about, dict) or about.get("format") != REPORT_FORMAT:
        return None
    if not all((folder / name).is_file() for name in (REPORT_FILE, FIGURES_FILE, HUB_VIEW_FILE, CSS_FILE)):
        return None
    return about


@bp.get("/")
@require_permission("reports")
def index() -> str:
    return render_template("hub/reports.html", about=_about(_latest()))


def _file(name: str, mimetype: str, *, download: bool = False) -> Response:
    folder = _latest()
    if _about(folder) is None:
        abort(404, _("No report has been written yet."))
    # Small files, read whole: the response never holds the file open.
    response = Response((folder / name).read_bytes(), mimetype=mimetype)
    if download:
        response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@bp.get("/latest/")
@require_permission("reports")
def view() -> Response:
    return _file(HUB_VIEW_FILE, "text/html")


@bp.get(f"/latest/{CSS_FILE}")
@require_permission("reports")
def stylesheet() -> Response:
    return _file(CSS_FILE, "text/css")


@bp.get(f"/latest/{REPORT_FILE}")
@require_permission("reports")
def report_file() -> Response:
    return _file(REPORT_FILE, "text/html", download=True)


@bp.get(f"/latest/{FIGURES_FILE}")
@require_permission("reports")
def figures_file() -> Response:
    return _file(FIGURES_FILE, "text/csv", download=True)

"""The operator's pages: what the hub holds, who may send, what was refused and why.

Behind the login (``auth.require_login``), each view with the permission it needs
(``auth.require_permission``): the overview is for every role, the changes are an
admin's. Every change is a POST with a CSRF token. The
pages show metadata only (ids, forms, days, sizes, hashes, reasons): the hub cannot
decrypt anything, and nothing here would show an answer if it could.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from fieldkit.core.counts import count_of
from sync.hub.enrolment import create_token
from sync.hub.forward import FORWARD_DB_FILE, ForwardError, ForwardState
from sync.hub.operators import Operators
from sync.hub.store import DB_FILE, HubStoreError
from sync.hub.web.auth import require_permission
from sync.protocol.bundle import BundleError, check_source_id
from sync.protocol.enrolment import DEFAULT_TOKEN_DAYS

bp = Blueprint("operator", __name__, url_prefix="/operator")

_RECENT_EVENTS = 40
_RECENT_REFUSALS = 20


def _hub():
    return current_app.extensions["fieldkit_hub"]


@dataclass(frozen=True)
class CountRow:
    kit_id: str
    form_id: str
    form_version: int
    records: int


def record_counts(data_dir: Path) -> list[CountRow]:
    """Accepted records per kit and form version, read from the hub database.

    One grouped query on a connection of its own (read-only by pragma), so the page never
    loads ciphertext and never waits on the store's lock during an import.
    """
    connection = sqlite3.connect(Path(data_dir) / DB_FILE, timeout=10.0)
    try:
        connection.execute("PRAGMA query_only=ON")
        rows = connection.execute(
            "SELECT kit_id, form_id, form_version, COUNT(*) FROM versions WHERE record_id IN "
            "(SELECT record_id FROM versions GROUP BY record_id HAVING COUNT(*) = 1) "
            "GROUP BY kit_id, form_id, form_version ORDER BY kit_id, form_id, form_version"
        ).fetchall()
    finally:
        connection.close()
    return [CountRow(*row) for row in rows]


def _upstreams(data_dir: Path) -> list:
    # Only read forwarding state that exists: a page view never creates files.
    if not (Path(data_dir) / FORWARD_DB_FILE).exists():
        return []
    try:
        with ForwardState(data_dir) as state:
            return state.upstreams()
    except ForwardError:
        return []


@bp.get("/")
@require_permission("status")
def overview() -> str:
    hub = _hub()
    store = hub.store
    refusals = list(reversed(store.events(("refused",), limit=_RECENT_REFUSALS)))
    events = list(reversed(store.events(limit=_RECENT_EVENTS)))
    return render_template(
        "overview.html",
        config=store.config,
        accepted=store.record_count(),
        counts=record_counts(store.data_dir),
        sources=store.sources(),
        quarantine=store.quarantine(),
        set_aside=store.set_aside(),
        refusals=refusals,
        events=events,
        upstreams=_upstreams(store.data_dir),
        token_days=DEFAULT_TOKEN_DAYS,
    )


def _epoch(text: str | None) -> int | None:
    if not text:
        return None
    if not text.isdigit() or not 0 < int(text) < 1_000_000:
        raise HubStoreError("the key epoch is not a number")
    return int(text)


@bp.post("/revoke")
@require_permission("revoke")
def revoke() -> Response:
    source_id = request.form.get("source_id", "")
    try:
        check_source_id(source_id)
        epoch = _epoch(request.form.get("epoch"))
        count = _hub().store.revoke(source_id, epoch=epoch)
    except (BundleError, HubStoreError) as error:
        flash(f"Not revoked: {error}", "error")
    else:
        which = f"{source_id} key epoch {epoch}" if epoch else source_id
        flash(
            f"{which} revoked: later bundles are refused; those up to the last one acknowledged are still accepted."
            if count
            else f"{which} was already revoked."
        )
    return redirect(url_for("operator.overview"))


@bp.post("/resolve")
@require_permission("quarantine")
def resolve() -> Response:
    """Accept one version of a record in quarantine or set aside, or drop one."""
    record_id = request.form.get("record_id", "")[:100]
    version = request.form.get("version", "")[:200]
    action = request.form.get("action")
    store = _hub().store
    try:
        if action == "release":
            moved = store.release(record_id, version)
            others = count_of(moved, "other version", "other versions")
            flash(f"Record {record_id}: version {version} accepted; {others} set aside.")
        elif action == "drop":
            store.drop(record_id, version)
            flash(f"Record {record_id}: version {version} dropped.")
        else:
            flash("Nothing was changed: choose Accept or Drop.", "error")
    except HubStoreError as error:
        flash(f"Nothing was changed: {error}", "error")
    return redirect(url_for("operator.overview"))


@bp.post("/drop-source")
@require_permission("revoke")
def drop_source() -> Response:
    """Delete everything a revoked kit sent."""
    kit_id = request.form.get("kit_id", "")
    try:
        check_source_id(kit_id, "kit id")
        count = _hub().store.drop_source(kit_id)
    except (BundleError, HubStoreError) as error:
        flash(f"Nothing was dropped: {error}", "error")
    else:
        flash(f"Dropped {count} record versions sent as revoked kit {kit_id}.")
    return redirect(url_for("operator.overview"))


@bp.get("/operators")
@require_permission("operators")
def operators() -> str:
    """The operator accounts, for admins: names, roles and dates (never a hash).

    They are changed at the hub computer (``fieldkit hub operators``), by whoever holds
    the hub folder.
    """
    return render_template("operators.html", operators=Operators(_hub().store).list())


@bp.post("/token")
@require_permission("enrol")
def token() -> str | tuple[str, int]:
    try:
        days = int(request.form.get("valid_days", DEFAULT_TOKEN_DAYS))
    except ValueError:
        days = DEFAULT_TOKEN_DAYS
    days = min(max(days, 1), 365)
    store = _hub().store
    created = create_token(store, valid_days=days)
    # Shown once, in this answer only (no-store): the hub keeps only its hash.
    return render_template(
        "token.html",
        token=created,
        hub_url=request.host_url.rstrip("/"),
        config=store.config,
    )

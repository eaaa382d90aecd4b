"""The operator's pages: what the hub holds, who may send, what was refused and why.

Behind the login (``auth.require_login``), each view with the permission it needs
(``auth.require_permission``): the overview is for every role, the changes are an
admin's. Every change is a POST with a CSRF token. The
pages show metadata only (ids, forms, days, sizes, hashes, reasons): the hub cannot
decrypt anything, and nothing here would show an answer if it could.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from markupsafe import Markup, escape
from werkzeug.wrappers import Response

from fieldkit.core.formengine.labels import N_
from sync.hub.database import DatabaseError
from sync.hub.enrolment import create_token
from sync.hub.forward import FORWARD_DB_FILE, ForwardError, ForwardState
from sync.hub.operators import Operators
from sync.hub.store import HubStore, HubStoreError
from sync.hub.web.auth import current_actor, require_permission
from sync.protocol.bundle import BundleError, check_source_id
from sync.protocol.enrolment import DEFAULT_TOKEN_DAYS

bp = Blueprint("operator", __name__, url_prefix="/operator")

_RECENT_EVENTS = 40
_RECENT_REFUSALS = 20


def _hub():
    return current_app.extensions["fieldkit_hub"]


def _bdi(value: object) -> Markup:
    """An id or a version isolated (left to right, by hub.css), so it keeps its order in an Arabic sentence."""
    return Markup("<bdi>{}</bdi>").format(value)


def _said(text: str) -> Markup:
    """A translated sentence to flash as it is: each of its values went in escaped (``_bdi``, ``escape``)."""
    return Markup(text)  # noqa: S704 (catalogue wording; every value was escaped before it was put in)


@dataclass(frozen=True)
class CountRow:
    kit_id: str
    form_id: str
    form_version: int
    records: int


def record_counts(store: HubStore) -> list[CountRow]:
    """Accepted records per kit and form version, read from the hub database.

    One grouped query on a connection of its own (read-only), so the page never loads
    ciphertext and never waits on the store's lock during an import.
    """
    connection = store.reader()
    try:
        with connection.read_only():
            rows = connection.execute(
                "SELECT kit_id, form_id, form_version, COUNT(*) FROM versions WHERE record_id IN "
                "(SELECT record_id FROM versions GROUP BY record_id HAVING COUNT(*) = 1) "
                "GROUP BY kit_id, form_id, form_version ORDER BY kit_id, form_id, form_version"
            ).fetchall()
    except DatabaseError as error:
        raise HubStoreError(f"Could not read {store.where}: {error}") from error
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
        counts=record_counts(store),
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
        count = _hub().store.revoke(source_id, epoch=epoch, actor=current_actor())
    except (BundleError, HubStoreError) as error:
        flash(_said(_("Not revoked: %(reason)s", reason=escape(str(error)))), "error")
    else:
        which = (
            _said(_("%(source)s key epoch %(epoch)s", source=_bdi(source_id), epoch=epoch))
            if epoch
            else _bdi(source_id)
        )
        flash(
            _said(
                _(
                    "%(source)s revoked: later bundles are refused; those up to the last one acknowledged are still "
                    "accepted.",
                    source=which,
                )
                if count
                else _("%(source)s was already revoked.", source=which)
            )
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
            moved = store.release(record_id, version, actor=current_actor())
            flash(
                _said(
                    ngettext(
                        "Record %(record)s: version %(version)s accepted; %(num)s other version set aside.",
                        "Record %(record)s: version %(version)s accepted; %(num)s other versions set aside.",
                        moved,
                        record=_bdi(record_id),
                        version=_bdi(version),
                    )
                )
            )
        elif action == "drop":
            store.drop(record_id, version, actor=current_actor())
            flash(
                _said(
                    _("Record %(record)s: version %(version)s dropped.", record=_bdi(record_id), version=_bdi(version))
                )
            )
        else:
            flash(_("Nothing was changed: choose Accept or Drop."), "error")
    except HubStoreError as error:
        flash(_said(_("Nothing was changed: %(reason)s", reason=escape(str(error)))), "error")
    return redirect(url_for("operator.overview"))


@bp.post("/drop-source")
@require_permission("revoke")
def drop_source() -> Response:
    """Delete everything a revoked kit sent."""
    kit_id = request.form.get("kit_id", "")
    try:
        check_source_id(kit_id, "kit id")
        count = _hub().store.drop_source(kit_id, actor=current_actor())
    except (BundleError, HubStoreError) as error:
        flash(_said(_("Nothing was dropped: %(reason)s", reason=escape(str(error)))), "error")
    else:
        flash(
            _said(
                ngettext(
                    "Dropped %(num)s record version sent as revoked kit %(kit)s.",
                    "Dropped %(num)s record versions sent as revoked kit %(kit)s.",
                    count,
                    kit=_bdi(kit_id),
                )
            )
        )
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
    created = create_token(store, valid_days=days, actor=current_actor())
    # Shown once, in this answer only (no-store): the hub keeps only its hash.
    return render_template(
        "token.html",
        token=created,
        hub_url=request.host_url.rstrip("/"),
        config=store.config,
    )


# --- The audit trail ----------------------------------------------------------------

_AUDIT_ENTRIES = 200

# What each action of the audit trail is called on the page; an action not listed here
# (one added later) shows by its code.
AUDIT_ACTIONS = {
    "hub.created": N_("Hub created"),
    "store.upgraded": N_("Hub database upgraded"),
    "token.created": N_("Enrolment token made"),
    "kit.enrolled": N_("Kit enrolled"),
    "hub.enrolled": N_("Hub enrolled"),
    "kit.revoked": N_("Kit revoked"),
    "hub.revoked": N_("Hub revoked"),
    "revocation.point": N_("Revocation point moved"),
    "bundle.imported": N_("Bundle imported"),
    "quarantine.released": N_("Version accepted from quarantine"),
    "quarantine.dropped": N_("Version dropped"),
    "quarantine.dropped-kit": N_("Everything a revoked kit sent dropped"),
    "export.written": N_("Records exported"),
    "report.written": N_("Report written"),
    "login": N_("Logged in"),
    "login.failed": N_("Failed login"),
    "logout": N_("Logged out"),
    "login.unlocked": N_("Login limits lifted"),
    "password.set": N_("Operator password set"),
    "password.changed": N_("Operator password changed"),
    "operator.added": N_("Operator added"),
    "operator.removed": N_("Operator removed"),
    "operator.role": N_("Operator given another role"),
    "operator.disabled": N_("Operator disabled"),
    "operator.enabled": N_("Operator enabled"),
    "centre.added": N_("Centre added"),
    "centre.changed": N_("Centre changed"),
    "centre.retired": N_("Centre retired"),
    "centres.imported": N_("Centres imported"),
    "cycle.added": N_("Cycle added"),
    "cycle.closed": N_("Cycle closed"),
    "pack.made": N_("Form pack made"),
    "recipient.changed": N_("Hub key changed"),
    "upstream.enrolled": N_("Enrolled at an upstream hub"),
    "records.forwarded": N_("Records forwarded upstream"),
    "rollup.made": N_("Counts rolled up for an upstream hub"),
    "rollup.imported": N_("A regional hub's roll-up held"),
    "backup.written": N_("Backup written"),
    "backup.restored": N_("Restored from a backup"),
}


@bp.get("/audit")
@require_permission("audit")
def audit_trail() -> str:
    """The newest entries of the audit trail, newest first, and whether the whole chain verifies."""
    store = _hub().store
    verdict = store.verify_audit()
    entries = list(reversed(store.audit_entries(_AUDIT_ENTRIES)))
    return render_template(
        "audit.html",
        verdict=verdict,
        entries=entries,
        actions={code: _(label) for code, label in AUDIT_ACTIONS.items()},
    )

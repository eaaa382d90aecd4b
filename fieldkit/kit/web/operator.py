"""The operator page, for the kit's own screen or a logged-in operator: pairing, sessions, counts, stopping the kit.

Never answers. Laid out for a 360 px wide phone as well as the kit's own screen (the
operator may hold the kit's page on their phone, logged in over TLS).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from flask import Blueprint, current_app, make_response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from fieldkit.core.crypto.hubkeys import recipient_fingerprint
from fieldkit.kit.drafts import DraftUnreadable
from fieldkit.kit.web import operator_login
from fieldkit.kit.web.clock import from_epoch, from_stamp, local_time
from fieldkit.kit.web.i18n import current_language
from fieldkit.kit.web.qr import pairing_url, svg_data_uri
from fieldkit.kit.web.services import services
from fieldkit.kit.web.views import unavailable_notices, who_can_open

bp = Blueprint("operator", __name__, url_prefix="/operator")

# The page reloads itself this often (and when its code expires), so the code on
# screen is never one a phone has just used: a plain Refresh header, no script.
REFRESH_SECONDS = 15


@bp.before_request
def operator_only() -> Response | None:
    return operator_login.guard()  # the kit's own screen, or an operator logged in over TLS


@bp.route("/")
def overview() -> Response:
    kit = services()
    kit.discarded.wipe_expired()  # the operator page is open all day: a good moment to wipe
    code, expires_at, seconds_left = kit.pairing.code_expires()
    urls = kit.settings.urls or (request.host_url,)
    records = kit.record_counts()
    drafts = kit.draft_counts()
    declined = kit.declined_counts()
    stopped = kit.stopped_counts()
    free = kit.free_disk_bytes()
    rows = [
        {
            "form": form.key,
            "title": form.title,
            "drafts": drafts.get(form.id, 0),
            "records": records.get(form.id, 0),
            "declined": declined.get(form.id, 0),
            "stopped": stopped.get(form.id, 0),
        }
        for form in kit.forms.values()
    ]
    page = render_template(
        "operator.html",
        kit_id=kit.kit.config.kit_id,
        fingerprints=", ".join(recipient_fingerprint(recipient) for recipient in kit.finaliser.recipients),
        who_can_open=who_can_open(current_language()),
        code=code,
        code_expires=local_time(from_epoch(expires_at)),
        sessions=[
            {
                "session_id": s.session_id,
                "interviewer": s.interviewer,
                "tag": s.tag,
                "paired": local_time(from_epoch(s.paired_wall)),
                "elsewhere": sum(1 for d in _drafts_of(s.interviewer) if not kit.pairing.holds(s, d)),
            }
            for s in kit.pairing.sessions()
        ],
        urls=urls,
        qr=svg_data_uri(pairing_url(urls[0], code)),
        rows=rows,
        unreadable_drafts=drafts.get("(unreadable)", 0),
        sync=_sync_shown(),
        free_mb=free // (1024 * 1024),
        disk_low=free < kit.settings.low_disk_bytes,
        unavailable=unavailable_notices(),
        pack=_pack_shown(current_app.config.get("FIELDKIT_PACK")),
        pack_waiting=current_app.config.get("FIELDKIT_PACK_WAITING"),
        refused_hubs=current_app.config.get("FIELDKIT_REFUSED_HUBS", ()),
        centres=len(kit.programme.centres),
    )
    response = make_response(page)
    response.headers["Refresh"] = str(max(1, min(REFRESH_SECONDS, math.ceil(seconds_left) + 1)))
    return response


def _sync_shown() -> dict[str, object]:
    """Records waiting and the last push, with the stamps in the kit's local time."""
    state = services().sync_state()

    def shown(stamp: str | None) -> str | None:
        if not stamp:
            return None
        moment = from_stamp(stamp)
        return local_time(moment) if moment is not None else stamp

    return {
        "held": state.held,
        "waiting": state.waiting,
        "hub_id": state.hub_id,
        "last_success": shown(state.last_success),
        "last_attempt": shown(state.last_attempt),
        "last_error": state.last_error,
        "next_attempt": shown(state.next_attempt) or "-",
    }


def _pack_shown(pack: object) -> dict[str, object] | None:
    """The applied pack as the page shows it: when it was made in the kit's local time."""
    if pack is None:
        return None
    made = from_stamp(str(getattr(pack, "made", "")))
    return {
        "version": getattr(pack, "version", None),
        "hub_id": getattr(pack, "hub_id", None),
        "made": local_time(made) if made is not None else getattr(pack, "made", ""),
        "cycle": getattr(pack, "cycle", None),
    }


@bp.route("/revoke", methods=["POST"])
def revoke() -> Response:
    services().pairing.end(request.form.get("session", ""))
    return redirect(url_for("operator.overview"))


@bp.route("/hand-over", methods=["POST"])
def hand_over() -> Response:
    """Give a paired phone every unfinished (and restorable) interview of its interviewer code.

    The one way a draft moves to another pairing: after a restart, or when an
    interviewer changes phones. Only the operator, on the kit's own screen, decides.
    """
    kit = services()
    wanted = request.form.get("session", "")
    current = next((s for s in kit.pairing.sessions() if s.session_id == wanted), None)
    if current is not None:
        kit.pairing.hand_over(current.session_id, _drafts_of(current.interviewer))
    return redirect(url_for("operator.overview"))


def _drafts_of(interviewer: str) -> list[str]:
    """Ids of the unfinished and the still restorable drafts an interviewer code started."""
    kit = services()
    found = []
    for draft_id in kit.drafts.ids():
        try:
            if kit.drafts.load(draft_id).owner == interviewer:
                found.append(draft_id)
        except DraftUnreadable:
            continue
    return found + [r.draft.draft_id for r in kit.discarded.restorable(interviewer)]


@bp.route("/new-code", methods=["POST"])
def new_code() -> Response:
    services().pairing.new_code()
    return redirect(url_for("operator.overview"))


def _stopper() -> Callable[[], None] | None:
    """How the running server stops (``serve_kit`` sets it); None when nothing can stop it from here."""
    stop = current_app.config.get("FIELDKIT_STOP")
    return stop if callable(stop) else None


@bp.route("/stop", methods=["GET", "POST"])
def stop() -> Response:
    """Stop the kit as Ctrl+C does, after a page that asks first (and that does not reload itself).

    The POST answers with the "stopped" page, then the server stops: requests being
    answered finish, the push worker stops, and the process exits with status 0 (a
    service manager that restarts on failure leaves it stopped).
    """
    stopper = _stopper()
    if request.method == "GET" or stopper is None:
        page = render_template(
            "operator_stop.html",
            waiting=services().sync_state().waiting,
            cannot_stop=request.method == "POST",
        )
        return make_response(page, 200 if request.method == "GET" else 409)
    response = make_response(render_template("operator_stopped.html"))
    response.call_on_close(stopper)  # once the page is written out; the server sends it before it stops
    return response

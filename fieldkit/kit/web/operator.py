"""The operator page, for the kit's own screen only: pairing, sessions, counts. Never answers."""

from __future__ import annotations

import math

from flask import Blueprint, abort, current_app, make_response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from fieldkit.core.crypto.hubkeys import recipient_fingerprint
from fieldkit.kit.drafts import DraftUnreadable
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
def local_only() -> None:
    if request.remote_addr not in services().settings.operator_addresses:
        abort(404)  # not 403: the page's existence is none of the network's business


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
        outbox=kit.outbox_summary(),
        free_mb=kit.free_disk_bytes() // (1024 * 1024),
        unavailable=unavailable_notices(),
        pack=_pack_shown(current_app.config.get("FIELDKIT_PACK")),
        pack_waiting=current_app.config.get("FIELDKIT_PACK_WAITING"),
        refused_hubs=current_app.config.get("FIELDKIT_REFUSED_HUBS", ()),
        centres=len(kit.programme.centres),
    )
    response = make_response(page)
    response.headers["Refresh"] = str(max(1, min(REFRESH_SECONDS, math.ceil(seconds_left) + 1)))
    return response


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

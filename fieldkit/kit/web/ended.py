"""What a phone is told when it sends a page after its session has ended.

Sessions live in the kit's memory only, so a restart, a quick exit, the operator's
"Disconnect" or ``--idle-minutes`` without a request ends them. A page still open on
the phone then posts into nothing: without this, a restart shows the CSRF refusal
("reload the page"), and reloading leads to pairing with no word about the draft.
This runs before the CSRF check and says what really happened: the pages saved
before are in the draft, which the same interviewer code gets back after pairing and
the operator's "Give it ... unfinished interviews" (drafts are bound to a pairing).
"""

from __future__ import annotations

import contextlib

from flask import Flask, current_app, g, render_template, request, session
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from fieldkit.kit.drafts import DraftUnreadable
from fieldkit.kit.web.services import services

# The routes that save answers; pairing, language and exit work without a session.
SAVING_PATHS = ("/d/", "/start")


def register(app: Flask) -> None:
    """Add the check; call before ``CSRFProtect.init_app`` so that it runs first."""
    app.before_request(_ended_page)


def _ended_page() -> ResponseReturnValue | None:
    if request.method != "POST" or not request.path.startswith(SAVING_PATHS):
        return None
    if services().pairing.session(session.get("sid")) is not None:
        return None
    # A cookie the kit cannot read is one it signed before a restart (a new key each run).
    restarted = current_app.config["SESSION_COOKIE_NAME"] in request.cookies and not session
    _speak_the_drafts_language()
    if restarted:
        reason = _("Session ended: the kit was restarted.")
    else:
        reason = _("Session ended: it was not used for a while, or it was ended on the kit.")
    kept = _(
        "The answers on this page were not saved. The pages saved before are kept: pair again with "
        "the same interviewer code, ask the kit's operator to give this phone its interviews, "
        "and continue under “Unfinished interviews”."
    )
    return render_template("error.html", title=_("Session ended"), message=f"{reason} {kept}"), 403


def _speak_the_drafts_language() -> None:
    """A restart forgets the session's language; the page's draft still knows the interview's."""
    parts = request.path.split("/")
    if len(parts) > 2 and parts[1] == "d":
        with contextlib.suppress(DraftUnreadable):  # a made-up id: the session's language, or English
            g.language = services().drafts.load(parts[2]).language

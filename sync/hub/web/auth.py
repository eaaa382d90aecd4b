"""The hub operator's login pages, and the guard on every operator page.

The password itself is kept by :mod:`sync.hub.web.password`. Wrong attempts are limited
per client address and overall in a sliding window (``fieldkit.webbase.throttle``, shared
with the kit's pairing), so guessing is slow even from many addresses; while the limit
holds, even the right password is refused. ``fieldkit hub unlock-login`` lifts the limits
of a running hub (it leaves a marker in the store that the next login attempt sees).
Behind a TLS proxy, ``HubSettings.behind_proxy`` makes the client address the one the
proxy forwards, so one guesser does not lock the operator out.

Sessions are kept in the store (:mod:`sync.hub.web.sessions`). A login clears the session
and gives it a new id (no fixation) and stores a fingerprint of the stored hash, so
changing the password ends every other session; logout deletes the session on the hub,
so a copied cookie is worthless afterwards.

Logins, failed logins and logouts go to the audit trail (:mod:`sync.hub.audit`), with the
client address. A failed login names no one: the hub has one operator password today,
and when operators get names (the operators change), a name field can hold a password
typed in the wrong box, which an append-only log would keep for good; the entry then
says only whether the name tried exists (``name_known``), never the name. Only attempts
the hub actually checked are logged: while the wrong-password limit holds, refused
attempts are not, so a guesser cannot fill the log at the speed of their requests.

``next`` (where to go after login) must be a plain path on this hub: letters, digits and
``/._-~`` only, one leading slash. Anything else (``//host``, ``/\\host``, a tab or newline,
percent-escapes that browsers decode into those) is ignored, never followed.

``/lang`` (a POST with the CSRF token, from the language form in every page's header,
the login page's too) keeps the chosen language in the session; a login and a logout
keep it (a logout under a new session id, with nothing else in it).
"""

from __future__ import annotations

import hmac
import re

from flask import Blueprint, Flask, current_app, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from werkzeug.wrappers import Response

from fieldkit.webbase.i18n import SESSION_KEY, choose_language
from sync.hub.web.password import MIN_PASSWORD_LENGTH, PASSWORD_FILE, OperatorPassword, PasswordError
from sync.hub.web.sessions import rotate

# The password names stay importable from here, where they lived before password.py.
__all__ = [
    "MIN_PASSWORD_LENGTH",
    "PASSWORD_FILE",
    "OperatorPassword",
    "PasswordError",
    "bp",
    "current_actor",
    "require_login",
]

bp = Blueprint("auth", __name__)


def _hub():  # the app's HubServices; imported lazily to keep this module free of cycles
    return current_app.extensions["fieldkit_hub"]


def logged_in() -> bool:
    hub = _hub()
    marker = session.get("operator")
    if not isinstance(marker, str):
        return False
    try:
        return hmac.compare_digest(marker, hub.password.fingerprint())
    except PasswordError:
        return False


# The actor the audit trail names for what is done on the hub's pages. One operator
# password today; with named operators, their name (wired at merge with current_operator()).
OPERATOR_ACTOR = "operator"


def current_actor() -> str:
    """Who the audit trail names for the request being served: the logged-in operator."""
    return OPERATOR_ACTOR if logged_in() else "anonymous"


def require_login(app: Flask, blueprint_names: set[str]) -> None:
    """Make every view of the named blueprints need an operator login (else: the login page)."""

    @app.before_request
    def require_operator() -> Response | None:
        if request.blueprint not in blueprint_names or logged_in():
            return None
        return redirect(url_for("auth.login", next=request.path))


# Segments separated by single slashes (no repetition that could backtrack).
_SAFE_PATH = re.compile(r"/(?:[A-Za-z0-9._~-]+(?:/[A-Za-z0-9._~-]+)*/?)?")
_MAX_NEXT = 512


def checked_next(target: object) -> str | None:
    """``target`` if it is a plain path on this hub, else None: never a way off the hub."""
    if not isinstance(target, str) or len(target) > _MAX_NEXT or not _SAFE_PATH.fullmatch(target):
        return None
    return target


def _safe_next(target: object) -> str:
    return checked_next(target) or url_for("operator.overview")


def _apply_unlock(hub) -> None:  # type: ignore[no-untyped-def]
    marker = hub.store.login_unlock_marker()
    if marker != hub.unlock_seen:
        hub.throttle.clear()
        hub.unlock_seen = marker


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | tuple[str, int] | str:
    hub = _hub()
    if request.method != "POST":  # GET, or HEAD (which Flask routes here too)
        if logged_in():
            return redirect(_safe_next(request.args.get("next")))
        return render_template("login.html", message=None, next=checked_next(request.args.get("next")) or "")
    address = request.remote_addr or "unknown"
    _apply_unlock(hub)
    wait = hub.throttle.retry_after(address)
    if wait > 0:
        seconds = int(wait) + 1
        message = ngettext(
            "Too many wrong passwords. Wait %(num)s second, then try again.",
            "Too many wrong passwords. Wait %(num)s seconds, then try again.",
            seconds,
        )
        return render_template("login.html", message=message, next=""), 429
    password = request.form.get("password", "")
    try:
        right = bool(password) and hub.password.check(password)
    except PasswordError:
        # The reason (missing, damaged, unreadable) is for the hub's owner, who runs the command.
        message = _(
            "The hub has no usable operator password. On the hub machine, set it with: %(command)s",
            command="fieldkit hub password",
        )
        return render_template("login.html", message=message, next=""), 503
    if not right:
        hub.throttle.failed(address)
        # No name to tell (one password); with named operators: name_known, never the name.
        hub.store.audit("anonymous", "login.failed", "", {"address": address, "name_known": None})
        return render_template("login.html", message=_("Wrong password."), next=""), 401
    hub.throttle.succeeded(address)
    # A hash in the first format is rewritten now that the password is known; before the
    # fingerprint is taken, so this session survives the rewrite.
    hub.password.upgrade(password)
    language = session.get(SESSION_KEY)  # chosen on the login page: the operator keeps it
    session.clear()
    rotate(session)
    session["operator"] = hub.password.fingerprint()
    choose_language(language)
    hub.store.audit(current_actor(), "login", "", {"address": address})
    return redirect(_safe_next(request.form.get("next")))


@bp.post("/lang")
def language() -> Response:
    """Keep the chosen language for this session; back to the page the form was on."""
    choose_language(request.form.get("lang"))
    return redirect(checked_next(request.form.get("next")) or url_for("auth.login"))


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    if logged_in():
        _hub().store.audit(current_actor(), "logout", "", {"address": request.remote_addr or "unknown"})
    language = session.get(SESSION_KEY)
    session.clear()  # an empty session is deleted from the store, and its cookie with it
    if choose_language(language):
        rotate(session)  # only the language goes on, under a new id: the old one is deleted
    return redirect(url_for("auth.login"))

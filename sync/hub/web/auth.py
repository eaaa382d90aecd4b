"""The hub operator's login pages, and the guard on every operator page.

The password itself is kept by :mod:`sync.hub.web.password`. Wrong attempts are limited
per client address and overall in a sliding window (``fieldkit.webbase.throttle``, shared
with the kit's pairing), so guessing is slow even from many addresses; while the limit
holds, even the right password is refused. A login clears the session first (no fixation) and
stores a fingerprint of the stored hash, so changing the password ends every other
session. Flask's ``PERMANENT_SESSION_LIFETIME`` (set from ``HubSettings.session_hours``)
bounds how long a session cookie is accepted.
"""

from __future__ import annotations

import hmac

from flask import Blueprint, Flask, current_app, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from sync.hub.web.password import MIN_PASSWORD_LENGTH, PASSWORD_FILE, OperatorPassword, PasswordError

# The password names stay importable from here, where they lived before password.py.
__all__ = ["MIN_PASSWORD_LENGTH", "PASSWORD_FILE", "OperatorPassword", "PasswordError", "bp", "require_login"]

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


def require_login(app: Flask, blueprint_names: set[str]) -> None:
    """Make every view of the named blueprints need an operator login (else: the login page)."""

    @app.before_request
    def require_operator() -> Response | None:
        if request.blueprint not in blueprint_names or logged_in():
            return None
        return redirect(url_for("auth.login", next=request.path))


def _safe_next(target: str | None) -> str:
    # Only paths on this hub: never an open redirect to another site.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("operator.overview")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | tuple[str, int] | str:
    hub = _hub()
    if request.method != "POST":  # GET, or HEAD (which Flask routes here too)
        if logged_in():
            return redirect(_safe_next(request.args.get("next")))
        return render_template("login.html", message=None, next=request.args.get("next", ""))
    address = request.remote_addr or "unknown"
    wait = hub.throttle.retry_after(address)
    if wait > 0:
        message = f"Too many wrong passwords. Wait {int(wait) + 1} seconds, then try again."
        return render_template("login.html", message=message, next=""), 429
    password = request.form.get("password", "")
    try:
        right = bool(password) and hub.password.check(password)
    except PasswordError as error:
        return render_template("login.html", message=str(error), next=""), 503
    if not right:
        hub.throttle.failed(address)
        return render_template("login.html", message="Wrong password.", next=""), 401
    hub.throttle.succeeded(address)
    # A hash in the first format is rewritten now that the password is known; before the
    # fingerprint is taken, so this session survives the rewrite.
    hub.password.upgrade(password)
    session.clear()
    session["operator"] = hub.password.fingerprint()
    return redirect(_safe_next(request.form.get("next")))


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    session.clear()
    return redirect(url_for("auth.login"))

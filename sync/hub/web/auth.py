"""The hub operators' login page, and the guard on every operator page.

Operators log in with their name and password (accounts: :mod:`sync.hub.operators`).
Wrong attempts are limited per client address and overall in a sliding window
(``fieldkit.webbase.throttle``, shared with the kit's pairing), so guessing is slow even
from many addresses; while the limit holds, even the right password is refused.
``fieldkit hub unlock-login`` lifts the limits of a running hub (it leaves a marker in
the store that the next login attempt sees). Behind a TLS proxy,
``HubSettings.behind_proxy`` makes the client address the one the proxy forwards, so one
guesser does not lock the operators out.

Sessions are kept in the store (:mod:`sync.hub.web.sessions`). A login clears the session
and gives it a new id (no fixation), and the session keeps the operator's name and a
fingerprint of that operator's hash and role (:func:`sync.hub.operators.fingerprint`);
every request compares it, so a new password, another role, disabling or removal ends
that operator's sessions (their rows are deleted too) and no one else's. Logout deletes
the session on the hub, so a copied cookie is worthless afterwards.

Every operator view names the permission it needs (:func:`require_permission`, the
table in :data:`sync.hub.operators.PERMISSIONS`); a view of an operator blueprint that
names none is refused (fail closed), and pages added with ``OperatorPages`` take that
one's permission. A logged-in operator without the permission gets a 403 page saying so
(never a redirect to the login, which would loop); the navigation shows only the pages
the role may use. :func:`current_operator` says who is logged in, for the audit trail.

Flask-Login is not used: it keeps an account id in the session and reloads the account
on each request, which is what this module does in a few lines over the store's sessions; its
own parts (remember-me cookies, its login view redirects, ``fresh`` logins) would be a
second cookie and a second policy beside the store-kept session, and its
``login_required`` knows nothing of roles. Not depending on it keeps one cookie, one
expiry and one place to end a session.

Logins, failed logins and logouts go to the audit trail (:mod:`sync.hub.audit`), with the
client address and, for a login or logout, the operator's name. A failed login never
names anyone: a name field can hold a password typed in the wrong box, which an
append-only log would keep for good; the entry says only whether the name tried exists
(``name_known``). Only attempts the hub actually checked are logged: while the
wrong-password limit holds, refused attempts are not, so a guesser cannot fill the log
at the speed of their requests. :func:`current_actor` is the name the trail gives what
is done on the pages.

``next`` (where to go after login) must be a plain path on this hub: letters, digits and
``/._-~`` only, one leading slash. Anything else (``//host``, ``/\\host``, a tab or newline,
percent-escapes that browsers decode into those) is ignored, never followed.

``/lang`` (a POST with the CSRF token, from the language form in every page's header,
the login page's too) keeps the chosen language in the session; a login and a logout
keep it (a logout under a new session id, with nothing else in it).
"""

from __future__ import annotations

import functools
import hmac
import re
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Flask, current_app, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from werkzeug.wrappers import Response

from fieldkit.webbase.i18n import SESSION_KEY, choose_language
from sync.hub.operators import PERMISSIONS, Operator, OperatorError, Operators, adopt_single_password, fingerprint
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
    "current_operator",
    "require_login",
    "require_permission",
]

bp = Blueprint("auth", __name__)

View = TypeVar("View", bound=Callable[..., Any])
_PERMISSION_ATTRIBUTE = "fieldkit_permission"


def _hub():  # the app's HubServices; imported lazily to keep this module free of cycles
    return current_app.extensions["fieldkit_hub"]


def current_operator() -> Operator | None:
    """The operator logged in on this request (``.name``, ``.role``), or None.

    A session whose operator was removed or disabled, or whose password or role changed
    since the login, is ended here.
    """
    if "fieldkit_operator" in g:
        found: Operator | None = g.fieldkit_operator
        return found
    name, marker = session.get("operator"), session.get("fingerprint")
    operator = None
    if isinstance(name, str) and isinstance(marker, str):
        candidate = Operators(_hub().store).get(name)
        if (
            candidate is not None
            and not candidate.disabled
            and hmac.compare_digest(marker.encode(), fingerprint(candidate).encode())
        ):
            operator = candidate
    if operator is None and "operator" in session:
        session.clear()  # an ended session: its row goes when the response is saved
    g.fieldkit_operator = operator
    return operator


def logged_in() -> bool:
    return current_operator() is not None


def current_actor() -> str:
    """Who the audit trail names for the request being served: the logged-in operator's name."""
    operator = current_operator()
    return operator.name if operator is not None else "anonymous"


def require_permission(permission: str) -> Callable[[View], View]:
    """Let only operators whose role has ``permission`` use the view (``sync.hub.operators``)."""
    if permission not in PERMISSIONS:
        raise KeyError(f"no such permission: {permission}")

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            refused = _refusal(permission)
            return refused if refused is not None else view(*args, **kwargs)

        setattr(guarded, _PERMISSION_ATTRIBUTE, permission)
        return guarded  # type: ignore[return-value]

    return decorate


def may(permission: str) -> bool:
    """May the operator of this request do ``permission``? (For templates: what to show.)"""
    operator = current_operator()
    return operator is not None and operator.may(permission)


def _refusal(permission: str | None) -> Response | tuple[str, int] | None:
    operator = current_operator()
    if operator is None:
        return redirect(url_for("auth.login", next=request.path))
    if permission is not None and operator.may(permission):
        return None
    return forbidden_page(operator)


def forbidden_page(operator: Operator) -> tuple[str, int]:
    title = _("Not open to your role")
    message = _(
        "You are logged in as %(name)s (%(role)s); this page or action is for other roles. Nothing was changed. "
        "An admin of this hub can change your role.",
        name=operator.name,
        role=role_label(operator.role),
    )
    return render_template("error.html", title=title, message=message), 403


def role_label(role: str) -> str:
    labels = {"admin": _("admin"), "analyst": _("analyst"), "viewer": _("viewer")}
    return labels.get(role, role)


def require_login(app: Flask, blueprints: dict[str, str | None]) -> None:
    """Guard every view of the named blueprints: a login, then the view's permission.

    ``blueprints`` maps each blueprint's name to the permission its views need when they
    do not name one themselves (None: each view must name its own, or it is refused).
    """

    @app.before_request
    def require_operator() -> Response | tuple[str, int] | None:
        if request.blueprint not in blueprints:
            return None
        view = app.view_functions.get(request.endpoint or "")
        permission = getattr(view, _PERMISSION_ATTRIBUTE, None) or blueprints[request.blueprint]
        return _refusal(permission)


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
        return _login_page(None, checked_next(request.args.get("next")) or "")
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
        return _login_page(message, ""), 429
    name = request.form.get("name", "").strip()
    password = request.form.get("password", "")
    operators = Operators(hub.store)
    try:
        adopt_single_password(hub.store)  # a hub with the single operator password: its admin
        if not operators.any():
            message = _("No operator is set up for this hub yet: run 'fieldkit hub operators add' on the hub computer.")
            return _login_page(message, ""), 503
        operator = operators.check(name, password) if password else None
    except (OperatorError, PasswordError) as error:
        return _login_page(str(error), ""), 503
    if operator is None:
        hub.throttle.failed(address)
        name_known = operators.get(name) is not None if name else False
        hub.store.audit("anonymous", "login.failed", "", {"address": address, "name_known": name_known})
        return _login_page(_("Wrong name or password."), "", name=name), 401
    hub.throttle.succeeded(address)
    language = session.get(SESSION_KEY)  # chosen on the login page: the operator keeps it
    session.clear()
    rotate(session)
    session["operator"] = operator.name
    session["fingerprint"] = fingerprint(operator)
    g.fieldkit_operator = operator
    choose_language(language)
    hub.store.audit(operator.name, "login", "", {"address": address})
    return redirect(_safe_next(request.form.get("next")))


@bp.post("/lang")
def language() -> Response:
    """Keep the chosen language for this session; back to the page the form was on."""
    choose_language(request.form.get("lang"))
    return redirect(checked_next(request.form.get("next")) or url_for("auth.login"))


def _login_page(message: str | None, next_path: str, *, name: str = "") -> str:
    return render_template("login.html", message=message, next=next_path, name=name[:32])


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    if logged_in():
        _hub().store.audit(current_actor(), "logout", "", {"address": request.remote_addr or "unknown"})
    language = session.get(SESSION_KEY)
    session.clear()  # an empty session is deleted from the store, and its cookie with it
    g.fieldkit_operator = None
    if choose_language(language):
        rotate(session)  # only the language goes on, under a new id: the old one is deleted
    return redirect(url_for("auth.login"))

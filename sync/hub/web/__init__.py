"""The hub's web application: an HTTP API for kits and hubs, and pages for the operator.

``create_hub_app(settings, store)`` builds it. Two kinds of callers, two policies:

- ``/api/v1/...`` (:mod:`sync.hub.web.api`) takes bundle and enrolment bytes from
  machines. It has no session and no CSRF token: each request is authenticated by what
  it carries (a bundle's Ed25519 signature by an enrolled key, an enrolment's one-time
  token), and answers in JSON with a reason for every refusal.
- ``/login`` and ``/operator/...`` (:mod:`sync.hub.web.auth`, :mod:`sync.hub.web.pages`)
  serve people: a login with an operator's name and password, a role check on every page
  and POST (:data:`sync.hub.operators.PERMISSIONS`), CSRF on every form, HttpOnly
  SameSite=Strict cookies.

Every response carries the kit's headers: a strict Content-Security-Policy with no
script at all, ``Cache-Control: no-store``, no referrer, no framing. No page shows
decrypted data: the hub holds no identity.

More operator pages (the reports of ``sync/hub/reports/web.py``) come from other modules:
a :class:`flask.Blueprint` passed as ``OperatorPages(blueprint, endpoint, label,
permission)`` in ``create_hub_app(..., pages=...)`` is registered behind the operator
login, its views need ``permission`` unless they name their own
(``auth.require_permission``), and it is linked from the page header for the roles that
have it.

The pages are in the language the operator chose (the header's language form, kept in
the session) or else the browser's Accept-Language, from the same interface catalogues
as the kit's (:mod:`fieldkit.webbase.i18n`). They are compiled for serving into a
temporary folder of this process, not the hub folder: ``fieldkit hub backup`` copies
every file of the hub folder, and derived files have no place in a backup.
"""

from __future__ import annotations

import atexit
import datetime
import functools
import logging
import secrets
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from flask import Blueprint, Flask, redirect, url_for
from flask_babel import Babel, LazyString, lazy_gettext
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError, CSRFProtect
from markupsafe import Markup
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response

from fieldkit.core import paths
from fieldkit.core.i18n import compile_for_serving
from fieldkit.webbase.assets import add_hashed_assets
from fieldkit.webbase.compression import add_compression
from fieldkit.webbase.errors import register_error_handlers
from fieldkit.webbase.i18n import init_languages
from fieldkit.webbase.security import add_security_headers, content_security_policy
from fieldkit.webbase.throttle import FailureThrottle
from sync.hub.operators import adopt_single_password
from sync.hub.store import HubStore
from sync.hub.web import api, auth, errorpages
from sync.hub.web import pages as operator_pages
from sync.hub.web.auth import current_operator, may, require_login, role_label
from sync.hub.web.sessions import StoreSessionInterface

__all__ = ["CONTENT_SECURITY_POLICY", "HubServices", "HubSettings", "OperatorPages", "create_hub_app"]

CONTENT_SECURITY_POLICY = content_security_policy("style-src 'self'", "img-src 'self'")

log = logging.getLogger("fieldkit.hub")
csrf = CSRFProtect()


@dataclass(frozen=True)
class HubSettings:
    """How one running hub server behaves; built once by ``hub serve`` and passed in."""

    secret_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    max_form_bytes: int = 64 * 1024
    max_enrolment_bytes: int = 1024 * 1024
    max_bundle_bytes: int | None = None  # default: the store's bundle limit
    login_failures_per_address: int = 5
    login_failures_overall: int = 30
    login_window_seconds: float = 60.0
    session_hours: float = 12.0
    secure_cookies: bool = False  # set when operators reach the hub through HTTPS
    # How many proxies in front add X-Forwarded-For (0: none, and the header is ignored,
    # since anyone can send it). Behind a TLS proxy every request comes from the proxy's
    # address, so without this the per-address login limit would be one limit for all.
    behind_proxy: int = 0
    translations_dir: Path | None = None  # the .po catalogues; None: the shipped ones
    compiled_translations_dir: Path | None = None  # None: a temporary folder of this process
    testing: bool = False


@dataclass(frozen=True)
class OperatorPages:
    """More operator pages (reports): a blueprint, its start endpoint, a link label, and the
    permission its views need unless they name their own (``auth.require_permission``)."""

    blueprint: Blueprint
    endpoint: str
    label: str | LazyString  # lazy_gettext("..."): shown in the page's language
    permission: str = "reports"


@dataclass
class HubServices:
    """What the views need, gathered once: ``current_app.extensions["fieldkit_hub"]``."""

    store: HubStore
    settings: HubSettings
    throttle: FailureThrottle
    nav: list[tuple[str, str | LazyString, str]]  # endpoint, label, the permission that shows it
    unlock_seen: str | None = None  # the store's login-unlock marker last acted on

    @property
    def max_bundle_bytes(self) -> int:
        return self.settings.max_bundle_bytes or self.store.limits.max_bundle_bytes


def create_hub_app(settings: HubSettings, store: HubStore, *, pages: Sequence[OperatorPages] = ()) -> Flask:
    """Build the hub's web app over an open :class:`HubStore`."""
    app = Flask(__name__, static_folder=None)  # add_hashed_assets serves static/
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_NAME="fkhub",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        # Kept for Flask; the session's own row in the store ends it (sessions.py).
        PERMANENT_SESSION_LIFETIME=datetime.timedelta(hours=settings.session_hours),
        MAX_CONTENT_LENGTH=settings.max_form_bytes,  # the API raises it per request
        MAX_FORM_MEMORY_SIZE=settings.max_form_bytes,
        WTF_CSRF_SSL_STRICT=False,  # we send no Referer (no-referrer); the token and SameSite do the work
        TESTING=settings.testing,
    )
    app.extensions["fieldkit_hub"] = HubServices(
        store=store,
        settings=settings,
        throttle=FailureThrottle(
            per_key=settings.login_failures_per_address,
            overall=settings.login_failures_overall,
            window_seconds=settings.login_window_seconds,
        ),
        nav=[
            ("operator.overview", lazy_gettext("Overview"), "status"),
            ("operator.audit_trail", lazy_gettext("Audit trail"), "audit"),
            ("operator.operators", lazy_gettext("Operators"), "operators"),
        ],
        unlock_seen=store.login_unlock_marker(),
    )
    # Sessions live in the store; the cookie is only a random id (see sessions.py).
    app.session_interface = StoreSessionInterface(store, datetime.timedelta(hours=settings.session_hours))
    if settings.behind_proxy:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=settings.behind_proxy, x_proto=settings.behind_proxy
        )
    csrf.init_app(app)
    translations = settings.translations_dir or paths.translations_dir()
    compiled = settings.compiled_translations_dir or _compiled_folder()
    init_languages(app, translations, compile_for_serving(translations, compiled), babel=Babel)

    csrf.exempt(api.bp)  # machines post bytes, authenticated by signature or token (see api.py)
    app.register_blueprint(api.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(operator_pages.bp)
    for extra in pages:
        app.register_blueprint(extra.blueprint)
        app.extensions["fieldkit_hub"].nav.append((extra.endpoint, extra.label, extra.permission))
    require_login(app, {operator_pages.bp.name: None, **{extra.blueprint.name: extra.permission for extra in pages}})
    # A hub with the single operator password of earlier versions: its admin (operators.py).
    adopt_single_password(store)

    @app.route("/")
    def root() -> Response:
        return redirect(url_for("operator.overview"))

    app.jinja_env.filters.update(bdi=_isolated("bdi"), code=_isolated("code"), when=_isolated("bdi", "when"))
    app.jinja_env.globals["link"] = _link

    @app.context_processor
    def navigation() -> dict[str, object]:
        operator = current_operator()
        shown = [(endpoint, label) for endpoint, label, permission in app.extensions["fieldkit_hub"].nav
                 if operator is not None and operator.may(permission)]  # fmt: skip
        return {"nav": shown, "hub_id": store.config.hub_id, "operator": operator}

    app.jinja_env.globals.update(may=may, role_label=role_label)

    add_hashed_assets(app, Path(__file__).parent / "static")
    add_security_headers(app, CONTENT_SECURITY_POLICY)
    add_compression(app)
    # Pages for the operator; under /api/ a JSON refusal instead (api.error_response).
    register_error_handlers(
        app,
        log=log,
        csrf_error=CSRFError,
        csrf_message=_csrf_message,
        instead=api.error_response,
        csrf_title=errorpages.csrf_title,
        describe=errorpages.describe,
        unexpected_title=errorpages.unexpected_title,
    )
    return app


def _isolated(tag: str, css_class: str = "") -> Callable[[object], Markup]:
    """A filter wrapping a value (an id, a hash, a date) in ``tag``, for a translated sentence's placeholder.

    hub.css sets such elements left to right and isolated, so that an id or a date keeps
    its order inside an Arabic sentence; a date (``when``) is also kept on one line.
    """
    opening = f'<{tag} class="{css_class}">' if css_class else f"<{tag}>"

    def wrap(value: object) -> Markup:
        return Markup(f"{opening}{{}}</{tag}>").format(value)  # noqa: S704 (tag and class are ours; value escaped)

    return wrap


def _link(href: str, text: str) -> Markup:
    return Markup('<a href="{}">{}</a>').format(href, text)


@functools.cache
def _compiled_folder() -> Path:
    """One temporary folder per process for the compiled catalogues, removed at exit."""
    folder = Path(tempfile.mkdtemp(prefix="fieldkit-hub-translations-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def _csrf_message() -> str:
    return _("This page has expired or the form was not sent from it. Go back, reload and try again.")

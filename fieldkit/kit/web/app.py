"""The kit's Flask application factory and its security policy.

Every response forbids caching and external loads; every POST needs a CSRF
token; cookies are HttpOnly and SameSite=Strict; request bodies are bounded.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask, Response
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import SecurityError

from fieldkit.core import paths
from fieldkit.core.i18n import compile_for_serving
from fieldkit.kit.config import UnlockedKit
from fieldkit.kit.netinfo import trusted_host_names
from fieldkit.kit.programme import Programme
from fieldkit.kit.web import ended, errorpages, operator_login
from fieldkit.kit.web.i18n import init_i18n
from fieldkit.kit.web.operator_access import OperatorAccess
from fieldkit.kit.web.services import KitServices
from fieldkit.webbase.assets import add_hashed_assets
from fieldkit.webbase.compression import add_compression
from fieldkit.webbase.errors import register_error_handlers
from fieldkit.webbase.security import add_security_headers, content_security_policy

CONTENT_SECURITY_POLICY = content_security_policy(
    "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'"
)

DEFAULT_INTERVIEWER_CODES = tuple(f"P{number:02d}" for number in range(1, 21))


@dataclass(frozen=True)
class WebSettings:
    """How one running kit server behaves; built once by ``serve`` and passed in."""

    secret_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    interviewer_codes: tuple[str, ...] = DEFAULT_INTERVIEWER_CODES
    max_request_bytes: int = 256 * 1024
    pairing_failures_per_minute: int = 5
    pairing_code_minutes: int = 10  # a pairing code works once, and for this long at most
    discard_minutes: int = 10  # a discarded draft can be restored for this long, or until a restart
    idle_minutes: float = 30.0  # a session unused this long ends (a phone may leave with no link)
    allow_incomplete_translations: bool = False
    operator_addresses: frozenset[str] = frozenset({"127.0.0.1", "::1"})
    urls: tuple[str, ...] = ()  # where phones reach the kit, shown on the operator page
    trusted_urls: tuple[str, ...] = ()  # also answered (the operator's https addresses); () : ``urls``
    low_disk_bytes: int = 200 * 1024 * 1024  # below this much free space the operator page warns
    translations_dir: Path = field(default_factory=paths.translations_dir)
    # Where compiled catalogues go; None: the kit's own cache/translations/ folder. Never
    # beside the shipped .po files, which may be a read-only installed package.
    compiled_translations_dir: Path | None = None
    testing: bool = False


csrf = CSRFProtect()
log = logging.getLogger("fieldkit.kit.web")


def create_app(
    settings: WebSettings,
    kit: UnlockedKit,
    programme: Programme,
    broken_forms: Mapping[str, Sequence[object]] | None = None,
    operator: OperatorAccess | None = None,
) -> Flask:
    """Build the kit's web app for one unlocked kit and the programme it follows.

    ``programme`` (``fieldkit.kit.packs.load_programme``) holds every form version the
    kit serves, the centres interviewers pick from and the current cycle; with no pack
    applied, ``Programme.from_forms(shipped forms)``.

    ``broken_forms`` names form files that could not be loaded (with their
    problems): the operator page says they are unavailable. A language whose
    catalogues have errors is likewise only left out.

    ``operator``: the operator's password and sessions (fieldkit/kit/web/operator_access.py),
    made before the kit was unlocked when it booted locked; None: no network login.
    """
    app = Flask(__name__, static_folder=None)  # add_hashed_assets serves static/
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_NAME="fk",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        MAX_FORM_MEMORY_SIZE=settings.max_request_bytes,
        WTF_CSRF_TIME_LIMIT=None,  # the session bounds the token; interviews can be long
        WTF_CSRF_SSL_STRICT=False,  # plain HTTP on the local network; see docs/threat-model.md
        TESTING=settings.testing,
        # Only the kit's own names and printed addresses (Flask checks it per request).
        TRUSTED_HOSTS=trusted_host_names(settings.trusted_urls or settings.urls),
        FIELDKIT_OPERATOR_ADDRESSES=settings.operator_addresses,
    )
    languages = compile_for_serving(
        settings.translations_dir, settings.compiled_translations_dir or kit.data_dir / "cache" / "translations"
    )
    app.extensions["fieldkit"] = KitServices.create(kit, programme, settings, dict(broken_forms or {}))
    ended.register(app)  # before the CSRF check: a page sent after a restart is told why
    csrf.init_app(app)
    init_i18n(app, settings.translations_dir, languages)

    from fieldkit.kit.web import interview
    from fieldkit.kit.web import operator as operator_pages

    app.register_blueprint(interview.bp)
    app.register_blueprint(operator_pages.bp)
    operator_login.register(app, operator or OperatorAccess())

    add_hashed_assets(app, Path(__file__).parent / "static")
    add_security_headers(app, CONTENT_SECURITY_POLICY)
    add_compression(app)
    # Never a traceback on a phone, and never an answer in the log: only the type.
    register_error_handlers(
        app,
        log=log,
        csrf_error=CSRFError,
        csrf_message=_csrf_message,
        csrf_title=errorpages.csrf_title,
        describe=errorpages.describe,
        unexpected_title=errorpages.unexpected_title,
    )
    app.register_error_handler(SecurityError, _untrusted_host)
    _read_catalogues_now(app)
    return app


def _read_catalogues_now(app: Flask) -> None:
    """Work out now, at start, what the home page's language list needs: each language's coverage of each form.

    It means parsing every language's form wording (about 3 MB passing through memory
    for a few bytes kept). Done by the first phone's home page, that memory was freed
    among what the first pages keep (compiled templates, forms), and stayed resident as
    holes; done before serving, the pages' lasting memory fills the same space
    (``docs/performance.md``, resident memory).
    """
    from fieldkit.kit.web.services import services
    from fieldkit.kit.web.views import form_languages

    with app.test_request_context("/"):
        for form in services().forms.values():
            form_languages(form)


def _untrusted_host(error: SecurityError) -> Response:
    """A bare 400 page for a Host header that is not the kit's: one sentence, no links, no form.

    Not the error template: no URL can be built for a host the app does not answer to.
    In the browser's language, as the phone's session cookie belongs to the kit's own
    address and never reaches this one.
    """
    from flask import g, request
    from flask_babel import gettext
    from markupsafe import escape

    from fieldkit.core.i18n.languages import text_direction
    from fieldkit.kit.web.i18n import current_language, interface_languages

    g.language = request.accept_languages.best_match(interface_languages())
    language = current_language()
    message = escape(gettext("This address is not the kit's. Open the address the kit's screen shows."))
    page = (
        f'<!doctype html><html lang="{language}" dir="{text_direction(language)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{message}</title></head><body><p>{message}</p></body></html>\n"
    )
    return Response(page, status=400, mimetype="text/html")


def _csrf_message() -> str:
    from flask_babel import gettext

    return gettext("This page has expired. Go back, reload the page and try again.")

"""The app a kit serves while it waits to be unlocked (``fieldkit serve --wait-for-unlock``).

Over TLS (the operator's listener) it shows the unlock page: the kit id, a note to
check the certificate's fingerprint, and the passphrase field. Over plain HTTP (the
phones' port) every path answers one short page: the kit is locked, the operator unlocks
it, at this https address; no form. The passphrase is checked by ``unlock`` (given by
the command line: it runs the unlock and everything ``serve`` does after it, then swaps
the app), one at a time, with the same throttle as the operator's login; it is never
stored or logged. The browser that unlocked the kit is logged in as its operator.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from flask import Flask, make_response, redirect, render_template, request
from flask_babel import gettext
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from fieldkit.core.errors import FieldkitError
from fieldkit.core.i18n import compile_for_serving
from fieldkit.kit.config import WrongPassphrase
from fieldkit.kit.netinfo import trusted_host_names
from fieldkit.kit.web.app import CONTENT_SECURITY_POLICY, WebSettings, csrf
from fieldkit.kit.web.i18n import init_i18n
from fieldkit.kit.web.operator_access import OperatorAccess, is_local, over_tls
from fieldkit.webbase.assets import add_hashed_assets
from fieldkit.webbase.security import add_security_headers

__all__ = ["UNLOCK_PATH", "create_locked_app"]

UNLOCK_PATH = "/operator/unlock"
_MAX_PASSPHRASE = 1024
log = logging.getLogger("fieldkit.kit.web.locked")


def create_locked_app(
    settings: WebSettings,
    *,
    data_dir: Path,
    kit_id: str,
    operator: OperatorAccess,
    unlock: Callable[[str], None],
    urls: tuple[str, ...],
) -> Flask:
    """The locked kit's app; ``unlock(passphrase)`` unlocks and swaps the app, or raises FieldkitError."""
    app = Flask(__name__, static_folder=None, template_folder="templates")
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_NAME="fk",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        MAX_CONTENT_LENGTH=16 * 1024,
        MAX_FORM_MEMORY_SIZE=16 * 1024,
        WTF_CSRF_TIME_LIMIT=None,
        WTF_CSRF_SSL_STRICT=False,
        TRUSTED_HOSTS=trusted_host_names((*urls, *operator.https_urls)),
    )
    languages = compile_for_serving(
        settings.translations_dir, settings.compiled_translations_dir or data_dir / "cache" / "translations"
    )
    csrf.init_app(app)
    init_i18n(app, settings.translations_dir, languages)
    add_hashed_assets(app, Path(__file__).parent / "static")
    add_security_headers(app, CONTENT_SECURITY_POLICY)
    unlocked = {"done": False}

    def https_url() -> str:
        found = operator.https_urls
        shown = next((url for url in found if "://127." not in url), found[0] if found else "")
        return f"{shown.rstrip('/')}{UNLOCK_PATH}" if shown else ""

    def unlock_page(status: int = 200, error: str | None = None, retry_after: int = 0) -> Response:
        page = render_template("unlock.html", kit_id=kit_id, fingerprint=operator.fingerprint, error=error)
        response = make_response(page, status)
        if retry_after:
            response.headers["Retry-After"] = str(retry_after)
        return response

    def locked_page(status: int = 503) -> Response:
        response = make_response(render_template("locked.html", https_url=https_url()), status)
        response.headers["Retry-After"] = "30"
        return response

    @app.route("/", defaults={"path": ""}, methods=["GET", "POST"])
    @app.route("/<path:path>", methods=["GET", "POST"])
    def everything(path: str) -> Response:
        if not over_tls(request):
            return locked_page()
        if f"/{path}" != UNLOCK_PATH:
            return redirect(UNLOCK_PATH)
        if unlocked["done"]:
            return redirect("/operator/")
        if request.method == "GET":
            return unlock_page()
        return _try_unlock()

    def _try_unlock() -> Response:
        address = str(request.remote_addr)
        local = is_local(request)
        attempts = operator.unlocks
        wait = attempts.retry_after(address, local=local)
        if wait:
            message = gettext("Too many wrong attempts. Wait %(seconds)s seconds, then try again.", seconds=wait)
            return unlock_page(429, message, retry_after=wait)
        passphrase = request.form.get("passphrase", "")
        if not passphrase or len(passphrase) > _MAX_PASSPHRASE:
            attempts.failed(address, local=local)
            return unlock_page(403, gettext("That passphrase does not unlock this kit."))
        with attempts.lock:  # one unlock (one scrypt) at a time
            if unlocked["done"]:
                return redirect("/operator/")
            try:
                unlock(passphrase)
            except WrongPassphrase:
                attempts.failed(address, local=local)
                return unlock_page(403, gettext("That passphrase does not unlock this kit."))
            except FieldkitError as error:
                # Its detail stays in English, as the command line prints it.
                log.warning("unlock refused: %s", error)
                message = gettext("The kit cannot be unlocked. It stays locked. What is wrong:")
                return unlock_page(409, f"{message} {error}")
            unlocked["done"] = True
        attempts.succeeded(address, local=local)
        response = redirect("/operator/")
        operator.log_in(response)
        return response

    @app.errorhandler(CSRFError)
    def csrf_refused(error: CSRFError) -> Response:
        if not over_tls(request):
            return locked_page()
        return unlock_page(400, gettext("This page has expired. Go back, reload the page and try again."))

    @app.errorhandler(HTTPException)
    def other(error: HTTPException) -> Response:
        return locked_page(error.code or 400)

    return app

"""Logging in to the operator pages from the kit's network (over TLS), and logging out.

fieldkit/kit/web/operator_access.py says who may open the operator pages and why.
"""

from __future__ import annotations

from flask import Blueprint, Flask, abort, current_app, make_response, redirect, render_template, request, url_for
from flask_babel import gettext
from werkzeug.wrappers import Response

from fieldkit.kit.web.operator_access import OperatorAccess, is_local, over_tls

bp = Blueprint("operator_login", __name__, url_prefix="/operator")
_MAX_PASSWORD = 1024  # characters checked at most: a longer one is wrong, and costs no scrypt


def access() -> OperatorAccess:
    found: OperatorAccess = current_app.extensions["fieldkit_operator"]
    return found


def register(app: Flask, operator: OperatorAccess) -> None:
    app.extensions["fieldkit_operator"] = operator
    app.register_blueprint(bp)
    app.jinja_env.globals.update(
        operator_logged_in=lambda: access().logged_in(request),
        operator_login_off=lambda: access().verifier is None,
    )


def guard() -> Response | None:
    """For the operator pages' ``before_request``: None when the request may go on."""
    if is_local(request, current_app.config["FIELDKIT_OPERATOR_ADDRESSES"]) or access().logged_in(request):
        return None
    if not over_tls(request):
        abort(404)  # not 403: the page's existence is none of the network's business
    return redirect(url_for("operator_login.login"))


@bp.before_request
def tls_or_local() -> None:
    if not (over_tls(request) or is_local(request)):
        abort(404)


def wait_page(seconds: int, template: str, **context: object) -> Response:
    message = gettext("Too many wrong attempts. Wait %(seconds)s seconds, then try again.", seconds=seconds)
    response = make_response(render_template(template, error=message, **context), 429)
    response.headers["Retry-After"] = str(seconds)
    return response


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response:
    operator = access()
    if operator.verifier is None:
        return make_response(render_template("operator_login.html", off=True, problem=operator.problem), 200)
    if request.method == "GET":
        if operator.logged_in(request):
            return redirect(url_for("operator.overview"))
        return make_response(render_template("operator_login.html"))
    address = str(request.remote_addr)
    local = is_local(request)
    wait = operator.logins.retry_after(address, local=local)
    if wait:
        return wait_page(wait, "operator_login.html")
    password = request.form.get("password", "")
    with operator.logins.lock:
        right = 0 < len(password) <= _MAX_PASSWORD and operator.verifier.check(password)
    if not right:
        operator.logins.failed(address, local=local)
        error = gettext("That is not the operator password.")
        return make_response(render_template("operator_login.html", error=error), 403)
    operator.logins.succeeded(address, local=local)
    response = redirect(url_for("operator.overview"))
    operator.log_in(response)
    return response


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    response = redirect(url_for("operator_login.login"))
    access().log_out(request, response)
    return response

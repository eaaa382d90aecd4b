"""The error pages of both web apps: one place that decides what a failure shows and logs.

A page never shows a traceback, and the log gets only the exception's type with the
method and path: never the request's data, which on the kit holds answers. Each app
keeps its own ``error.html`` (``title`` and ``message``; no message: the template's own
text) and its own words for a refused CSRF token; an app with a machine API answers
there in its own format through ``instead``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from flask import Flask, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

__all__ = ["describer", "register_error_handlers"]

# A response in the app's own format (the hub's JSON API), or None for the error page.
Instead = Callable[[Exception], ResponseReturnValue | None]
# The title and message of an HTTP error's page; a message of None: the template's own text.
Describe = Callable[[HTTPException], tuple[str, str | None]]


def _werkzeug_words(error: HTTPException) -> tuple[str, str | None]:
    return error.name, error.description


def describer(
    titles: Callable[[], Mapping[int, str]], messages: Callable[[], Mapping[int, str]], unexpected: Callable[[], str]
) -> Describe:
    """A ``describe`` from an app's own words per status (called per request, so translated).

    A description the app's own code gave (``abort(404, description=_("..."))``) is kept:
    it is already in the page's language; Werkzeug's English default never shows.
    """

    def describe(error: HTTPException) -> tuple[str, str | None]:
        code = error.code or 500
        own = error.description if error.description != type(error).description else None
        return titles().get(code, unexpected()), own or messages().get(code)

    return describe


def _page_expired() -> str:
    return "Page expired"


def _something_went_wrong() -> str:
    return "Something went wrong"


def register_error_handlers(
    app: Flask,
    *,
    log: logging.Logger,
    csrf_error: type[HTTPException],
    csrf_message: Callable[[], str],
    template: str = "error.html",
    instead: Instead | None = None,
    csrf_title: Callable[[], str] = _page_expired,
    describe: Describe = _werkzeug_words,
    unexpected_title: Callable[[], str] = _something_went_wrong,
) -> None:
    """Handle HTTP errors, refused CSRF tokens and unexpected exceptions on ``app``.

    ``csrf_error`` is the CSRF extension's exception (the app owns its CSRF setup);
    ``csrf_message`` gives the words for it. These and ``csrf_title``, ``describe``
    and ``unexpected_title`` are called per request, so that a translating app can
    answer in the phone's language; the defaults are English (Werkzeug's own words
    for HTTP errors).
    """

    def page(title: str, message: str | None, status: int) -> ResponseReturnValue:
        return render_template(template, title=title, message=message), status

    @app.errorhandler(csrf_error)
    def csrf_refused(error: HTTPException) -> ResponseReturnValue:
        return page(csrf_title(), csrf_message(), 400)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> ResponseReturnValue:
        answer = instead(error) if instead is not None else None
        if answer is not None:
            return answer
        title, message = describe(error)
        return page(title, message, error.code or 500)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> ResponseReturnValue:
        # Never a traceback to the client, and only the error's type in the log.
        log.error("unexpected error on %s %s: %s", request.method, request.path, type(error).__name__)
        answer = instead(error) if instead is not None else None
        if answer is not None:
            return answer
        return page(unexpected_title(), None, 500)

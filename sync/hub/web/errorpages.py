"""The words of the hub's error pages, in the page's language.

Werkzeug names HTTP errors in English ("Not Found", "Request Entity Too Large"); an
operator reading the hub in Arabic or Russian must not fall back to them. Each status a
hub page can answer with gets its own translated title and a sentence that says what
happened and what to do; a description the hub's own code gave (``abort(404,
_("..."))``) is already translated and is kept.
"""

from __future__ import annotations

from flask_babel import gettext as _

from fieldkit.webbase.errors import describer

__all__ = ["csrf_title", "describe", "unexpected_title"]


def csrf_title() -> str:
    return _("Page expired")


def unexpected_title() -> str:
    return _("Something went wrong")


def _titles() -> dict[int, str]:
    return {
        400: _("Not accepted"),
        404: _("Page not found"),
        405: _("Not possible here"),
        413: _("Too much sent at once"),
        429: _("Too many tries"),
    }


def _messages() -> dict[int, str]:
    return {
        400: _("The hub could not read what this page sent. Nothing was changed. Go back and try again."),
        404: _("This page does not exist on the hub. Go back to the overview."),
        405: _("This page cannot be used that way. Go back and use the buttons on the page."),
        413: _("This page sent more than the hub accepts, so nothing was changed."),
        429: _("Wait a minute, then try again."),
    }


# The title and message of an HTTP error's page, in the page's language.
describe = describer(_titles, _messages, unexpected_title)

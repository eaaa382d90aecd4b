"""Language for each page: interface strings via Flask-Babel, form wording via ``forms.po``.

The language of an interview is chosen when it starts and kept in its draft;
pages outside an interview use the language the phone last chose. Choosing among
the served languages (session, then Accept-Language) is shared with the hub, in
:mod:`fieldkit.webbase.i18n`.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from flask import Flask, g, has_request_context, request, session
from flask_babel import Babel, gettext, ngettext

from fieldkit.core.formengine.messages import Message
from fieldkit.core.i18n import ServingLanguages
from fieldkit.core.i18n.catalogues import (
    SOURCE_LANGUAGE,
    Catalogue,
    CatalogueError,
    Coverage,
    Key,
    catalogue_coverage,
    load_catalogue,
)
from fieldkit.core.i18n.languages import language_name
from fieldkit.webbase.i18n import (
    choose_language as keep_language,
)
from fieldkit.webbase.i18n import (
    chosen_language,
    init_languages,
    interface_languages,
    serving_languages,
    translations_dir,
)

__all__ = [
    "SOURCE_LANGUAGE",
    "current_language",
    "form_text",
    "forms_catalogue",
    "forms_coverage",
    "init_i18n",
    "interface_languages",
    "keep_language",
    "language_name",
    "serving_languages",
    "translate_message",
    "translations_dir",
]

log = logging.getLogger(__name__)


def current_language() -> str:
    """The interview's language, else the one the phone chose, else its Accept-Language, else English."""
    chosen = getattr(g, "language", None) or _open_interview_language()
    if chosen:
        return str(chosen)
    return chosen_language()


def remember_interview_language(draft_id: str, language: str) -> None:
    """Note the language of the interview this phone has open, for pages its draft cannot give it.

    A refused CSRF token or an oversized page is answered before the view opens the
    draft; without this note that answer would come in the interface language, not
    the interview's. The session cookie is signed, so a phone cannot plant it.
    """
    if session.get("interview") != [draft_id, language]:
        session["interview"] = [draft_id, language]


def _open_interview_language() -> str | None:
    if not has_request_context():
        return None
    noted = session.get("interview")
    if isinstance(noted, list) and len(noted) == 2 and request.path.startswith(f"/d/{noted[0]}/"):
        return str(noted[1])
    return None


def init_i18n(app: Flask, directory: Path, languages: ServingLanguages) -> None:
    """Serve the languages that compiled, from their compiled folder; ``directory`` has the ``.po`` files."""
    init_languages(app, directory, languages, babel=Babel, locale_selector=current_language)


def forms_catalogue(language: str) -> Catalogue | None:
    """The reviewed form wording in ``language``; None, logged, when its catalogue cannot be read.

    A catalogue edited into a syntax error while the kit runs must not take the pages
    down: its wording is then shown in the source language, and the language is not
    offered for new interviews (the kit refuses it at start-up for the same reason).
    """
    try:
        return load_catalogue(translations_dir(), language, "forms")
    except CatalogueError as error:
        _log_once(str(error))
        return None


def forms_coverage(language: str, wanted: frozenset[Key]) -> Coverage | None:
    """How much of ``wanted`` the form wording in ``language`` translates; None, logged, as :func:`forms_catalogue`."""
    try:
        return catalogue_coverage(translations_dir(), language, "forms", wanted)
    except CatalogueError as error:
        _log_once(str(error))
        return None


@functools.lru_cache(maxsize=32)
def _log_once(message: str) -> None:
    # The message names the catalogue and its line, never an answer.
    log.error("%s", message)


def form_text(language: str, context: str, text: str) -> str:
    """Form wording in ``language``; ``context`` is ``form id/item id[/choice id]``."""
    if not text:
        return text
    catalogue = forms_catalogue(language)
    return (catalogue.get(context, text) if catalogue is not None else None) or text


def translate_message(message: Message) -> str:
    """A form engine message in the page's language: from ``forms.po`` or the interface catalogue."""
    if message.form_context is not None:
        return form_text(current_language(), message.form_context, message.text)
    if message.plural is not None and message.count is not None:
        return ngettext(message.text, message.plural, message.count, **message.params)
    return gettext(message.text, **message.params)

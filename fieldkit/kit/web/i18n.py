"""Language for each page: interface strings via Flask-Babel, form wording via ``forms.po``.

The language of an interview is chosen when it starts and kept in its draft;
pages outside an interview use the language the phone last chose.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from babel import negotiate_locale
from flask import Flask, current_app, g, has_request_context, request, session
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
    catalogue_languages,
    load_catalogue,
)
from fieldkit.core.i18n.languages import language_name, text_direction

__all__ = [
    "SOURCE_LANGUAGE",
    "current_language",
    "form_text",
    "forms_catalogue",
    "forms_coverage",
    "init_i18n",
    "interface_languages",
    "translate_message",
]

log = logging.getLogger(__name__)


def current_language() -> str:
    """The interview's language, else the one the phone chose, else its Accept-Language, else English."""
    chosen = getattr(g, "language", None) or _open_interview_language() or session.get("lang")
    if chosen:
        return str(chosen)
    if has_request_context():
        return _accepted_language(interface_languages()) or SOURCE_LANGUAGE
    return SOURCE_LANGUAGE


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


def _accepted_language(served: list[str]) -> str | None:
    """The phone's most preferred language this kit serves, a regional tag matching its language.

    Babel's ``negotiate_locale`` goes down the phone's list in order of preference;
    Werkzeug's ``best_match`` prefers any exact match to a regional one, so that
    ``fr;q=0.3, pt-BR;q=0.8`` would give French.
    """
    preferred = [value.replace("_", "-") for value, _quality in request.accept_languages]  # best first
    found = negotiate_locale(preferred, served, sep="-", aliases={})  # no aliases: only served tags
    return found.lower() if found else None


def translations_dir() -> Path:
    return current_app.config["FIELDKIT_TRANSLATIONS_DIR"]


def init_i18n(app: Flask, directory: Path, languages: ServingLanguages) -> None:
    """Serve the languages that compiled, from their compiled folder; ``directory`` has the ``.po`` files."""
    app.config["FIELDKIT_TRANSLATIONS_DIR"] = directory
    app.config["FIELDKIT_LANGUAGES"] = languages
    Babel(
        app,
        locale_selector=current_language,
        default_translation_directories=str(languages.directory),
        default_domain="messages",
    )
    app.jinja_env.globals.update(language_name=language_name, interface_languages=interface_languages)

    @app.context_processor
    def page_language() -> dict[str, str]:
        language = current_language()
        return {"page_lang": language, "page_dir": text_direction(language)}


def interface_languages() -> list[str]:
    """The source language, then every language with an interface catalogue that has no errors."""
    usable = set(serving_languages().available)
    return [code for code in catalogue_languages(translations_dir()) if code == SOURCE_LANGUAGE or code in usable]


def serving_languages() -> ServingLanguages:
    languages: ServingLanguages = current_app.config["FIELDKIT_LANGUAGES"]
    return languages


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

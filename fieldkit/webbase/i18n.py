"""The language of a page, for both web apps: the chosen one, else the browser's, else English.

Both the kit and the hub serve the same interface catalogues
(``translations/<lang>/LC_MESSAGES/messages.po``), compiled for serving by
:func:`fieldkit.core.i18n.compile_for_serving`. This module decides which language a
request gets and gives every page ``page_lang`` and ``page_dir`` (``rtl`` for Arabic)
for ``<html lang dir>``; the kit adds its interview's language on top
(:mod:`fieldkit.kit.web.i18n`).

Each app owns its Flask-Babel extension (the web base imports none): it passes
``Babel`` in, and this module builds it over the compiled folder.

A person changes the language with a POST (CSRF-protected, like every form) to the
app's own route, which calls :func:`choose_language`; the choice lives in the session.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from babel import negotiate_locale
from flask import Flask, current_app, has_request_context, request, session

from fieldkit.core.i18n import ServingLanguages
from fieldkit.core.i18n.catalogues import SOURCE_LANGUAGE, catalogue_languages
from fieldkit.core.i18n.languages import language_name, text_direction

__all__ = [
    "SESSION_KEY",
    "SOURCE_LANGUAGE",
    "accepted_language",
    "choose_language",
    "chosen_language",
    "init_languages",
    "interface_languages",
    "serving_languages",
    "translations_dir",
]

SESSION_KEY = "lang"  # the language a person chose, in their session


def accepted_language(served: list[str]) -> str | None:
    """The browser's most preferred language among ``served``, a regional tag matching its language.

    Babel's ``negotiate_locale`` goes down the browser's list in order of preference;
    Werkzeug's ``best_match`` prefers any exact match to a regional one, so that
    ``fr;q=0.3, pt-BR;q=0.8`` would give French.
    """
    preferred = [value.replace("_", "-") for value, _quality in request.accept_languages]  # best first
    found = negotiate_locale(preferred, served, sep="-", aliases={})  # no aliases: only served tags
    return found.lower() if found else None


def chosen_language() -> str:
    """The language chosen in this session, else the browser's Accept-Language, else English."""
    if not has_request_context():
        return SOURCE_LANGUAGE
    chosen = session.get(SESSION_KEY)
    if isinstance(chosen, str) and chosen in interface_languages():
        return chosen
    return accepted_language(interface_languages()) or SOURCE_LANGUAGE


def choose_language(language: object) -> bool:
    """Keep ``language`` for this session if the app serves it; False (nothing kept) if not."""
    if not isinstance(language, str) or language not in interface_languages():
        return False
    session[SESSION_KEY] = language
    return True


def translations_dir() -> Path:
    directory: Path = current_app.config["FIELDKIT_TRANSLATIONS_DIR"]
    return directory


def serving_languages() -> ServingLanguages:
    languages: ServingLanguages = current_app.config["FIELDKIT_LANGUAGES"]
    return languages


def interface_languages() -> list[str]:
    """The source language, then every language with an interface catalogue that has no errors."""
    usable = set(serving_languages().available)
    return [code for code in catalogue_languages(translations_dir()) if code == SOURCE_LANGUAGE or code in usable]


def init_languages(
    app: Flask,
    directory: Path,
    languages: ServingLanguages,
    *,
    babel: Callable[..., Any],
    locale_selector: Callable[[], str] = chosen_language,
) -> None:
    """Serve the languages that compiled, from their compiled folder; ``directory`` has the ``.po`` files.

    ``babel`` is Flask-Babel's ``Babel`` class (the app's own extension);
    ``locale_selector`` picks each request's language (default :func:`chosen_language`).
    """
    app.config["FIELDKIT_TRANSLATIONS_DIR"] = directory
    app.config["FIELDKIT_LANGUAGES"] = languages
    babel(
        app,
        locale_selector=locale_selector,
        default_translation_directories=str(languages.directory),
        default_domain="messages",
    )
    app.jinja_env.globals.update(language_name=language_name, interface_languages=interface_languages)

    @app.context_processor
    def page_language() -> dict[str, str]:
        language = locale_selector()
        return {"page_lang": language, "page_dir": text_direction(language)}

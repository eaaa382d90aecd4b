"""Language for each page: interface strings via Flask-Babel, form wording via ``forms.po``.

The language of an interview is chosen when it starts and kept in its draft;
pages outside an interview use the language the phone last chose.
"""

from __future__ import annotations

import functools

from babel import Locale, UnknownLocaleError
from babel.support import NullTranslations, Translations
from flask import Flask, g, session
from flask_babel import Babel

from fieldkit import paths

SOURCE_LANGUAGE = "en"


def current_language() -> str:
    return getattr(g, "language", None) or session.get("lang") or SOURCE_LANGUAGE


def init_i18n(app: Flask) -> None:
    Babel(
        app,
        locale_selector=current_language,
        default_translation_directories=str(paths.translations_dir()),
        default_domain="messages",
    )
    app.jinja_env.globals.update(language_name=language_name, interface_languages=interface_languages)

    @app.context_processor
    def page_language() -> dict[str, str]:
        language = current_language()
        return {"page_lang": language, "page_dir": text_direction(language)}


def interface_languages() -> list[str]:
    """The source language, then every language with an interface catalogue."""
    found = [SOURCE_LANGUAGE]
    root = paths.translations_dir()
    if root.is_dir():
        found += sorted(p.name for p in root.iterdir() if (p / "LC_MESSAGES" / "messages.po").is_file())
    return found


@functools.cache
def text_direction(language: str) -> str:
    try:
        return "rtl" if Locale.parse(language).character_order == "right-to-left" else "ltr"
    except (ValueError, UnknownLocaleError):
        return "ltr"


@functools.cache
def language_name(language: str) -> str:
    """A language's name in that language, as people look for it in a list."""
    try:
        return Locale.parse(language).get_display_name(language) or language
    except (ValueError, UnknownLocaleError):
        return language


@functools.cache
def _form_catalogue(language: str) -> NullTranslations:
    if language == SOURCE_LANGUAGE:
        return NullTranslations()
    return Translations.load(str(paths.translations_dir()), [language], domain="forms")


def form_text(language: str, context: str, text: str) -> str:
    """Form wording in ``language``; ``context`` is ``form id/item id[/choice id]``."""
    if not text:
        return text
    return _form_catalogue(language).pgettext(context, text)

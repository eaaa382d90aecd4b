"""What pages need to know of a language: its own name and its writing direction (CLDR, via Babel)."""

from __future__ import annotations

import functools

from babel import Locale, UnknownLocaleError


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

"""What the leftover-English tests look for: English interface strings a translated page must not show."""

from __future__ import annotations

import re

from fieldkit.core import paths
from fieldkit.core.i18n.catalogues import load_catalogue

PLACEHOLDER = re.compile(r"%\(\w+\)s")


def interface_sources(language: str) -> set[str]:
    """English interface strings whose translation differs, long enough to spot in a page.

    A string with placeholders ("Enter %(number)s or more.") counts by its longest fixed
    piece, so that a message filled in at run time is caught too.
    """
    sources = set()
    for (_, english), translated in load_catalogue(paths.translations_dir(), language, "messages").translated.items():
        if translated == english:
            continue
        if "%(" not in english:
            if len(english) >= 6:
                sources.add(english)
            continue
        longest = max((piece.strip(" ,.:;") for piece in PLACEHOLDER.split(english)), key=len)
        if len(longest) >= 10 and longest not in translated:
            sources.add(longest)
    return sources

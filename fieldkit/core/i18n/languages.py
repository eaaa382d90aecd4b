"""What pages need to know of a language: its own name and its writing direction (CLDR).

Both come from CLDR through Babel, but read from a small table made from it
(``language_names.json``: every locale Babel knows, its name in itself and whether it
is written right to left) rather than from Babel at run time: Babel loads a locale's
whole CLDR data (about 1.5 MB in memory each) to answer either question, and a kit's
language menu asks it of every language it offers, so a kit serving six languages held
about 9 MB for six names (``docs/performance.md``). A code missing from the table is
asked of Babel, as before. Regenerate the table after a Babel upgrade with
``python -m fieldkit.core.i18n.languages``; ``tests/test_language_names.py`` compares it
with Babel.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_TABLE = Path(__file__).with_name("language_names.json")


@functools.cache
def _table() -> tuple[Mapping[str, str], frozenset[str]]:
    data: dict[str, Any] = json.loads(_TABLE.read_text(encoding="utf-8"))
    return data["names"], frozenset(data["right_to_left"])


@functools.cache
def text_direction(language: str) -> str:
    names, right_to_left = _table()
    if language in names:
        return "rtl" if language in right_to_left else "ltr"
    return _babel_direction(language)


@functools.cache
def language_name(language: str) -> str:
    """A language's name in that language, as people look for it in a list."""
    names, _ = _table()
    return names.get(language) or _babel_name(language)


def _babel_direction(language: str) -> str:
    from babel import Locale, UnknownLocaleError

    try:
        return "rtl" if Locale.parse(language).character_order == "right-to-left" else "ltr"
    except (ValueError, UnknownLocaleError):
        return "ltr"


def _babel_name(language: str) -> str:
    from babel import Locale, UnknownLocaleError

    try:
        return Locale.parse(language).get_display_name(language) or language
    except (ValueError, UnknownLocaleError):
        return language


def build_table() -> dict[str, Any]:
    """The table, from Babel's CLDR data for every locale it has (takes some seconds)."""
    from babel import localedata

    codes = sorted(localedata.locale_identifiers())
    return {
        "source": "CLDR via Babel: python -m fieldkit.core.i18n.languages",
        "names": {code: _babel_name(code) for code in codes},
        "right_to_left": [code for code in codes if _babel_direction(code) == "rtl"],
    }


if __name__ == "__main__":
    _TABLE.write_text(json.dumps(build_table(), ensure_ascii=False, indent=0, sort_keys=True) + "\n", encoding="utf-8")

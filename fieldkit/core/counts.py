"""Counts in English, for the words that are English only: the command line and the hub's pages.

The phone's pages go through the gettext catalogues (``ngettext``) in every language.
The ``fieldkit`` command and the hub operator's pages are written in English only;
they still must not say "1 kits". English has one rule, one or many,
so a catalogue lookup would add nothing here; this stays a function of two lines.
"""

from __future__ import annotations

__all__ = ["count_of"]


def count_of(number: int, one: str, many: str) -> str:
    """``"1 kit"``, ``"2 kits"``, ``"0 kits"``: the number and the noun that fits it in English."""
    return f"{number} {one if number == 1 else many}"

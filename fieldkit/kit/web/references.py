"""``${item}`` in a label or hint: an earlier answer shown inside the words.

The translated text keeps its ``${item}`` placeholders (translators see them in forms.po,
and ``fieldkit translations check`` keeps them); the answers saved so far are put in when
the page is made, as plain text that the template escapes, so an answer can never be
taken for markup. An answer given on the same page shows from the next page on: the page
script stays within the pages' size budget (docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Callable

from fieldkit.core.formengine.loader import LABEL_REFERENCE


def fill_references(text: str, shown: Callable[[str], str]) -> str:
    """``text`` with each ``${item}`` replaced by ``shown(item)``."""
    if "${" not in text:
        return text
    return LABEL_REFERENCE.sub(lambda found: shown(found[1]), text)

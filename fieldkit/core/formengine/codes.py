"""Centre and region codes: one spelling for what a person reads as the same code.

A code typed with a zero-width space, or in fullwidth letters (``Ｃ０１``), looks like
``C01`` on every screen but would count as a second centre in every report. So codes are
normalised with NFKC (fullwidth and other compatibility forms become plain ones) and
every invisible formatting character (Unicode category Cf: zero-width spaces and joiners,
direction marks, the byte-order mark) is dropped, then runs of white space become one
space. The kit does this when the code is entered; the hub again when it reports,
for records sealed before the kit did.
"""

from __future__ import annotations

import unicodedata

__all__ = ["CENTRE_CODE_ITEM", "CODE_ITEM_IDS", "REGION_CODE_ITEM", "canonical_code"]

CENTRE_CODE_ITEM = "centre_code"
REGION_CODE_ITEM = "region_code"
CODE_ITEM_IDS = frozenset({CENTRE_CODE_ITEM, REGION_CODE_ITEM})


def canonical_code(text: str) -> str:
    """``text`` in NFKC, without formatting characters, its white space collapsed and trimmed."""
    normal = unicodedata.normalize("NFKC", text)
    visible = "".join(char for char in normal if unicodedata.category(char) != "Cf")
    return " ".join(visible.split())

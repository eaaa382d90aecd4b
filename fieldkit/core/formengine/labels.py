"""The wording of answers every form shares: Likert scales and built-in choices, in English.

They are marked with ``N_`` so that extraction puts them in ``messages.pot``; each
side translates them with its own catalogue reader (the kit's pages through gettext,
the hub's exports and reports through their ``Wording``).
"""

from __future__ import annotations

from fieldkit.core.formengine.model import DONT_KNOW, PREFER_NOT


def N_(text: str) -> str:
    """Mark ``text`` for translation without translating it here."""
    return text


def N_plural(singular: str, plural: str) -> tuple[str, str]:
    """Mark a message with plural forms (an ``ngettext`` pair) without translating it here."""
    return singular, plural


LIKERT_LABELS = {
    "agreement": (
        N_("Strongly disagree"),
        N_("Disagree"),
        N_("Neither agree nor disagree"),
        N_("Agree"),
        N_("Strongly agree"),
    ),
    "frequency": (N_("Never"), N_("Rarely"), N_("Sometimes"), N_("Often"), N_("Always")),
    "quality": (N_("Very poor"), N_("Poor"), N_("Fair"), N_("Good"), N_("Very good")),
}
BUILT_IN_LABELS = {
    "yes": N_("Yes"),
    "no": N_("No"),
    "given": N_("Consent given"),
    "declined": N_("Declined"),
    PREFER_NOT: N_("Prefer not to answer"),
    DONT_KNOW: N_("Don't know"),
}

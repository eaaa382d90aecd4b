"""Messages for the interviewer, kept untranslated until a page shows them.

The form engine knows no language and no web framework, so it cannot translate: it
says *which* message applies, in English, and the page that shows it translates it
into the interview's language. Interface messages (``"Enter a whole number, such as
12."``) are marked with ``N_`` where they are written, so extraction puts them in
``messages.pot``; a form's own constraint message carries its msgctxt and comes from
the forms catalogue (``forms.po``) instead.

``str()`` gives the English text, for logs and for callers with no language at hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["Message"]


@dataclass(frozen=True)
class Message:
    """One message: its English source text (a gettext msgid) and what fills it in.

    ``plural`` (with ``count``) picks a plural form through ``ngettext``, whose
    placeholder for the number is ``%(num)s``. ``form_context`` is the msgctxt of a
    form's wording in the forms domain; such text is shown as written, never
    %-formatted (a "%" in a form's wording is just a percent sign).
    """

    text: str
    params: Mapping[str, object] = field(default_factory=dict)
    plural: str | None = None
    count: int | None = None
    form_context: str | None = None

    def __str__(self) -> str:
        if self.form_context is not None:
            return self.text
        text = self.plural if self.plural is not None and self.count != 1 else self.text
        values = dict(self.params)
        if self.count is not None:
            values.setdefault("num", self.count)
        return text % values if values else text

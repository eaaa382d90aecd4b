"""The report's words in one language, from the same catalogues as the kit's screens.

Every text the report shows passes through :class:`ReportWords`, which reads the
reviewed ``messages`` catalogue through :class:`sync.hub.export.wording.Wording` (English where
a text is not translated yet). The literal ``_("...")`` calls below are what
``fieldkit translations extract`` finds; the templates use the same ``_``.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from pathlib import Path

from babel.numbers import format_percent

from fieldkit.core.formengine.model import Form, Item
from fieldkit.core.formengine.wording import choice_context, item_context
from fieldkit.core.i18n.languages import text_direction
from sync.hub.export.wording import Wording
from sync.hub.reports.score import NO_DATA

__all__ = ["ReportWords"]

Gettext = Callable[[str], str]


def _level_names(_: Gettext) -> dict[str, str]:
    return {
        # TRANSLATORS: the levels of the WHO QualityRights tool kit, used to rate each centre.
        "full": _("Achieved in full"),
        "partial": _("Achieved partially"),
        "initiated": _("Achievement initiated"),
        "not_initiated": _("Not initiated"),
        "not_applicable": _("Not applicable"),
        NO_DATA: _("No data"),
    }


def _area_names(_: Gettext) -> dict[str, str]:
    return {
        # TRANSLATORS: short names of the seven principles of the WHO/UNODC International Standards
        # for the Treatment of Drug Use Disorders (2020); keep "P1" to "P7" as they are.
        "P1": _("P1 Available and accessible"),
        "P2": _("P2 Ethics, consent and dignity"),
        "P3": _("P3 Justice and health services"),
        "P4": _("P4 Evidence-based treatment"),
        "P5": _("P5 Specific groups"),
        "P6": _("P6 Clinical governance"),
        "P7": _("P7 Monitoring and evaluation"),
        "harm_reduction": _("Harm reduction and health"),
        "rights": _("Human rights"),
    }


def _source_names(_: Gettext) -> dict[str, str]:
    return {
        "observation": _("observation"),
        "documents": _("documents"),
        "staff_talk": _("staff or manager"),
    }


class ReportWords:
    """Labels and sentences of the report in one language."""

    def __init__(self, language: str, translations_dir: Path) -> None:
        self.wording = Wording(language, translations_dir)
        self.language = language
        self.direction = text_direction(language)
        self.levels = _level_names(self.gettext)
        self.areas = _area_names(self.gettext)
        self.source_names = _source_names(self.gettext)

    def gettext(self, text: str) -> str:
        return self.wording.interface(text).text

    def ngettext(self, singular: str, plural: str, count: int) -> str:
        # The reviewed catalogues hold no plural forms for the report: its sentences are
        # written so that one form reads well with any number ("peer interviews: 1").
        return self.gettext(singular if count == 1 else plural)

    def question(self, form: Form, item: Item) -> str:
        return self.wording.form(item_context(form, item), item.label).text

    def choice(self, form: Form, item: Item, choice_id: str) -> str:
        english = next((choice.label for choice in item.choices if choice.id == choice_id), choice_id)
        return self.wording.form(choice_context(form, item, choice_id), english).text

    def percent(self, share: float) -> str:
        """A share as the language writes a whole percentage ("12 %", "١٢٪"), by Babel."""
        return format_percent(share, locale=self.language)

    def day(self, day: datetime.date) -> str:
        """A day as the report shows dates: ISO, which reads the same in every language."""
        return day.isoformat()

    def form_title(self, form: Form) -> str:
        return self.wording.form(f"{form.id}/:title", form.title).text

    def items(self, texts: Iterable[str]) -> str:
        """Short items as one list: "a, b, c" (with the language's own comma)."""
        _ = self.gettext
        # TRANSLATORS: joins the items of a short list, such as "observation, documents".
        return self._join(texts, _("%(list)s, %(item)s"))

    def parts(self, texts: Iterable[str]) -> str:
        """Longer parts, which may hold commas themselves: "a; b; c"."""
        _ = self.gettext
        # TRANSLATORS: joins longer parts of a line, such as "centre assessments: 2; peer interviews: 6".
        return self._join(texts, _("%(list)s; %(item)s"))

    @staticmethod
    def _join(texts: Iterable[str], pattern: str) -> str:
        joined = ""
        for text in texts:
            joined = pattern % {"list": joined, "item": text} if joined else text
        return joined

    def sources(self, found: Iterable[str]) -> str:
        found = set(found)
        return self.items(self.source_names[key] for key in self.source_names if key in found)

    def region(self, code: str | None) -> str:
        _ = self.gettext
        return code if code is not None else _("No region recorded")

    def records_of(self, form: Form, about_people: bool) -> str:
        """What one table's records are, for headings: peer interviews or centre assessments."""
        _ = self.gettext
        if about_people:
            return _("Peer interviews (people in treatment)")
        return _("Centre assessments (observation and staff)")

    def rating_sources(
        self, assessments: int, sources: Iterable[str], interviews: int, unused: int, threshold: int
    ) -> str:
        """What a rating rests on, as one line: counts per kind of source."""
        _ = self.gettext
        parts = []
        if assessments:
            line = _("centre assessments: %(count)s") % {"count": assessments}
            named = self.sources(sources)
            parts.append(f"{line} ({named})" if named else line)
        if interviews:
            parts.append(_("peer interviews (people in treatment): %(count)s") % {"count": interviews})
        if unused:
            parts.append(self.not_used_note(threshold))
        return self.parts(parts) if parts else _("none")

    def not_used_note(self, threshold: int) -> str:
        _ = self.gettext
        return _("peer interviews: %(count)s, not used") % {"count": f"<{threshold}"}

"""How far each translation is: translated, fuzzy, untranslated and obsolete strings.

Counts are per language and catalogue and, for the form wording, per form (the
part of the ``msgctxt`` before the first ``/``), because a form is offered in a
language only when all of its own strings are translated and none is fuzzy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from babel.messages.catalog import Catalog, Message

from fieldkit.core.i18n.layout import DOMAINS, FORMS, Layout
from fieldkit.core.i18n.merge import translated
from fieldkit.core.i18n.pofile import PoFile, parse_po

_NO_FORM = "(no form)"


@dataclass
class Counts:
    translated: int = 0
    fuzzy: int = 0
    untranslated: int = 0
    obsolete: int = 0

    @property
    def total(self) -> int:
        return self.translated + self.fuzzy + self.untranslated

    @property
    def percent(self) -> float:
        """Share of strings translated and reviewed, rounded down: 99.99% never shows as 100%."""
        if not self.total:
            return 100.0
        return math.floor(1000 * self.translated / self.total) / 10

    def add(self, message: Message) -> None:
        if message.fuzzy:
            self.fuzzy += 1
        elif translated(message):
            self.translated += 1
        else:
            self.untranslated += 1


@dataclass
class CatalogueStatus:
    language: str
    domain: str
    shown: str
    counts: Counts | None = None  # None when the catalogue is missing or unreadable
    forms: dict[str, Counts] = field(default_factory=dict)
    note: str = ""


def _form_of(message: Message) -> str:
    return message.context.split("/", 1)[0] if message.context else _NO_FORM


def count_catalogue(catalog: Catalog, *, per_form: bool) -> tuple[Counts, dict[str, Counts]]:
    whole = Counts()
    forms: dict[str, Counts] = {}
    for message in catalog:
        if message.id:
            whole.add(message)
            if per_form:
                forms.setdefault(_form_of(message), Counts()).add(message)
    for message in catalog.obsolete.values():
        whole.obsolete += 1
        if per_form:
            forms.setdefault(_form_of(message), Counts()).obsolete += 1
    return whole, dict(sorted(forms.items()))


def _keys(po: PoFile) -> set[tuple[object, str | None]]:
    return {(tuple(m.id) if isinstance(m.id, (list, tuple)) else m.id, m.context) for m in po.catalog if m.id}


def catalogue_status(layout: Layout, language: str, domain: str) -> CatalogueStatus:
    path = layout.catalogue(language, domain)
    status = CatalogueStatus(language, domain, layout.shown(path))
    if not path.is_file():
        status.note = "missing: run 'fieldkit translations update'"
        return status
    po, problems = parse_po(path.read_bytes())
    if problems:
        status.note = f"cannot be read (line {problems[0].line}): run 'fieldkit translations check'"
        return status
    status.counts, status.forms = count_catalogue(po.catalog, per_form=domain == FORMS)
    template_path = layout.template(domain)
    if template_path.is_file():
        template, template_problems = parse_po(template_path.read_bytes())
        if not template_problems and _keys(template) != _keys(po):
            status.note = f"behind {template_path.name}: run 'fieldkit translations update'"
    return status


def all_status(layout: Layout, languages: list[str] | None = None) -> list[CatalogueStatus]:
    return [
        catalogue_status(layout, language, domain)
        for language in (languages or layout.languages())
        for domain in DOMAINS
    ]


_COLUMNS = ("language", "catalogue", "done", "translated", "fuzzy", "untranslated", "obsolete")


def _row(language: str, name: str, counts: Counts) -> list[str]:
    return [
        language,
        name,
        f"{counts.percent:.1f}%",
        str(counts.translated),
        str(counts.fuzzy),
        str(counts.untranslated),
        str(counts.obsolete),
    ]


def status_table(statuses: list[CatalogueStatus]) -> list[str]:
    """The counts as an aligned text table, then one line per note."""
    rows: list[list[str]] = [list(_COLUMNS)]
    notes = []
    for status in statuses:
        if status.counts is None:
            rows.append([status.language, status.domain, "-", "-", "-", "-", "-"])
        else:
            rows.append(_row(status.language, status.domain, status.counts))
            for form, counts in status.forms.items():
                rows.append(_row(status.language, f"  {form}", counts))
        if status.note:
            notes.append(f"{status.shown}: {status.note}")
    widths = [max(len(row[column]) for row in rows) for column in range(len(_COLUMNS))]
    lines = []
    for row in rows:
        cells = [
            cell.ljust(width) if column < 2 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return lines + notes

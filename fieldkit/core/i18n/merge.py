"""Bring each language's catalogues up to date with the templates, and start new languages.

Merging follows gettext's rules (Babel's :meth:`~babel.messages.catalog.Catalog.update`):
an unchanged string keeps its translation; a changed one keeps the old translation
marked *fuzzy* (needs review), with the old source kept as a ``#| msgid`` comment;
a new string starts empty; a removed one stays at the end of the file as an
obsolete ``#~`` entry, so nothing a translator wrote is lost.

Form wording is matched by its place (``msgctxt``) rather than by similar text: a
changed question keeps its own old translation for review, never the translation
of some other question that happens to read alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from babel import Locale
from babel.messages.catalog import Catalog, Message

from fieldkit.core.errors import FieldkitError
from fieldkit.core.i18n.layout import DOMAINS, FORMS, SOURCE_LANGUAGE, Layout
from fieldkit.core.i18n.plurals import PluralRule, normal_language, parse_rule, rule_for
from fieldkit.core.i18n.pofile import (
    PoFile,
    read_po_file,
    render_po,
    set_translator_comments,
    translator_comments,
    write_if_changed,
)

_WHAT = {"messages": "the app's screens", "forms": "the forms"}
_FORMAT_FLAGS = frozenset({"python-format", "no-python-format"})


@dataclass(frozen=True)
class MergeSummary:
    shown: str
    created: bool
    new: int  # strings added, waiting for a translation
    fuzzy: int  # translations kept for changed strings, to review
    obsolete: int  # translations of strings that were removed
    written: bool

    def describe(self) -> str:
        if self.created:
            return f"{self.shown}: started"
        parts = [
            f"{self.new} new",
            f"{self.fuzzy} to review (fuzzy)",
            f"{self.obsolete} removed (obsolete)",
        ]
        return f"{self.shown}: {', '.join(parts)}{'' if self.written else ' (no change)'}"


def translated(message: Message) -> bool:
    if isinstance(message.string, (list, tuple)):
        return all(message.string)
    return bool(message.string)


def _key(message: Message) -> Any:
    ident = message.id[0] if isinstance(message.id, (list, tuple)) else message.id
    return (ident, message.context) if message.context is not None else ident


def new_catalogue(language: str, domain: str) -> PoFile:
    """An empty catalogue for ``language`` with the headers translators' tools expect."""
    try:
        name = Locale.parse(normal_language(language)).english_name
        rule = rule_for(language)
    except ValueError as error:
        raise FieldkitError(str(error)) from None
    comment = [
        f"# {name} translation of {_WHAT[domain]} of fieldkit.",
        "# How to translate and check this file: translations/README.md",
    ]
    headers = [
        ("Project-Id-Version", "fieldkit"),
        ("Language", language),
        ("MIME-Version", "1.0"),
        ("Content-Type", "text/plain; charset=UTF-8"),
        ("Content-Transfer-Encoding", "8bit"),
        ("Plural-Forms", rule.header),
    ]
    return PoFile(comment, headers, Catalog(fuzzy=False))


def _rule(po: PoFile, language: str) -> PluralRule:
    try:
        return parse_rule(po.header("Plural-Forms") or "")
    except ValueError:
        return rule_for(language)  # 'check' reports the header; merging still needs a count


def _revive(catalog: Catalog, template: Catalog) -> None:
    """Bring back obsolete translations whose exact string is in the sources again."""
    for key, message in list(catalog.obsolete.items()):
        ident = message.id if isinstance(message.id, str) else message.id[0]
        if catalog.get(ident, message.context) is not None:
            del catalog.obsolete[key]  # the same string is also current: keep that one
        elif template.get(ident, message.context) is not None:
            del catalog.obsolete[key]
            catalog[message.id] = message


def _match_by_place(catalog: Catalog) -> None:
    """Give an empty string the old translation that had the same msgctxt, marked fuzzy."""
    by_place = {
        message.context: key
        for key, message in catalog.obsolete.items()
        if message.context is not None and translated(message) and isinstance(message.id, str)
    }
    for message in catalog:
        if not message.id or message.context not in by_place or translated(message):
            continue
        if not isinstance(message.id, str):
            continue
        old = catalog.obsolete.pop(by_place.pop(message.context))
        assert isinstance(old.id, str)  # by_place holds only messages with one msgid
        message.string = old.string
        message.previous_id = [old.id]
        set_translator_comments(message, translator_comments(old))
        message.flags.add("fuzzy")


def merge(po: PoFile, template: PoFile, language: str, domain: str) -> tuple[PoFile, int, int, int]:
    """Merge ``template`` into ``po`` in place; return it with (new, fuzzy, obsolete) counts."""
    catalog = po.catalog
    rule = _rule(po, language)
    catalog.mime_headers = [("Plural-Forms", rule.header)]  # Babel sizes plural entries by it
    _revive(catalog, template.catalog)
    before = {_key(m): m.fuzzy for m in catalog if m.id}
    previous = {_key(m): m.previous_id for m in catalog if m.id and m.previous_id}
    obsolete_before = len(catalog.obsolete)

    catalog.update(
        template.catalog,
        no_fuzzy_matching=domain == FORMS,
        update_header_comment=False,
        update_creation_date=False,
    )
    if domain == FORMS:
        _match_by_place(catalog)
    for key, old in list(catalog.obsolete.items()):
        if not any(old.string if isinstance(old.string, (list, tuple)) else [old.string]):
            del catalog.obsolete[key]  # nothing was written for it: nothing to keep
    for message in catalog:
        if not message.id:
            continue
        key = _key(message)
        if message.fuzzy and not message.previous_id and key in previous:
            message.previous_id = previous[key]  # Babel forgets it for unchanged strings
        if not message.fuzzy:
            message.previous_id = []
        source = template.catalog.get(key[0] if isinstance(key, tuple) else key, message.context)
        if source is not None:  # whether a string is %-formatted is the source's business
            message.flags = (message.flags - _FORMAT_FLAGS) | (source.flags & _FORMAT_FLAGS)

    po.set_header("Language", po.header("Language") or language)
    # The file is always written as UTF-8, whatever it said before.
    po.set_header("Content-Type", "text/plain; charset=UTF-8")
    if po.header("Plural-Forms") is None:
        po.set_header("Plural-Forms", rule.header)
    new = sum(1 for m in catalog if m.id and _key(m) not in before and not translated(m))
    fuzzy = sum(1 for m in catalog if m.id and m.fuzzy and not before.get(_key(m), False))
    return po, new, fuzzy, max(0, len(catalog.obsolete) - obsolete_before)


def _read_template(layout: Layout, domain: str) -> PoFile:
    path = layout.template(domain)
    if not path.is_file():
        raise FieldkitError(f"{layout.shown(path)} is missing: run 'fieldkit translations extract' first")
    return read_po_file(path, layout.shown(path))


def update_language(layout: Layout, language: str, *, create: bool = False) -> list[MergeSummary]:
    """Merge both templates into one language's catalogues; ``create`` starts missing ones."""
    summaries = []
    for domain in DOMAINS:
        template = _read_template(layout, domain)
        path = layout.catalogue(language, domain)
        shown = layout.shown(path)
        created = not path.is_file()
        if created and not create:
            raise FieldkitError(f"{shown} is missing: start it with 'fieldkit translations init {language}'")
        po = new_catalogue(language, domain) if created else read_po_file(path, shown)
        po, new, fuzzy, obsolete = merge(po, template, language, domain)
        written = write_if_changed(path, render_po(po, _rule(po, language).count))
        summaries.append(MergeSummary(shown, created, new, fuzzy, obsolete, written))
    return summaries


def init_language(layout: Layout, code: str) -> tuple[str, list[MergeSummary]]:
    """Start catalogues for a new language from the templates; return its normal code."""
    try:
        language = normal_language(code)
    except ValueError as error:
        raise FieldkitError(str(error)) from None
    if language.split("_")[0] == SOURCE_LANGUAGE:
        raise FieldkitError("English is the source language: it needs no catalogue")
    existing = [layout.shown(layout.catalogue(language, d)) for d in DOMAINS if layout.catalogue(language, d).exists()]
    if existing:
        raise FieldkitError(
            f"{', '.join(existing)} already exist: use 'fieldkit translations update {language}' to refresh them"
        )
    return language, update_language(layout, language, create=True)

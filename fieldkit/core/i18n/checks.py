"""Errors in catalogues and stale templates: what ``check`` reports and ``compile`` refuses.

Untranslated and fuzzy strings are not errors: ``status`` counts them, and the
app offers a form in a language only when all of its strings are translated and
reviewed. Errors are what would show a wrong or broken page: invalid syntax, a
missing or wrong ``Plural-Forms`` header, a plural entry with the wrong number of
forms, and placeholders that differ from the source.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from babel import Locale
from babel.messages.catalog import Message

from fieldkit.core.i18n.layout import DOMAINS, Layout
from fieldkit.core.i18n.placeholders import message_problems
from fieldkit.core.i18n.plurals import (
    Conventions,
    PluralRule,
    conventions,
    numbers_for_each_form,
    parse_rule,
    rule_for,
)
from fieldkit.core.i18n.pofile import PoFile, parse_po


@dataclass(frozen=True, order=True)
class Problem:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        place = f"{self.path}:{self.line}" if self.line else self.path
        return f"{place}: {self.message}"


def _language_name(language: str) -> str:
    try:
        return Locale.parse(language).english_name or language
    except ValueError:
        return language


def _header_problems(po: PoFile, shown: str, language: str) -> tuple[list[Problem], PluralRule | None]:
    line = po.header_line
    problems: list[Problem] = []
    declared = po.header("Language")
    if not declared:
        problems.append(Problem(shown, line, f"no Language header: add 'Language: {language}'"))
    elif declared.replace("-", "_") != language:
        problems.append(
            Problem(
                shown,
                line,
                f"the Language header says '{declared}', but this is the '{language}' folder",
            )
        )
    content_type = (po.header("Content-Type") or "").lower().replace(" ", "")
    if "charset=utf-8" not in content_type:
        problems.append(
            Problem(
                shown,
                line,
                "the Content-Type header must say charset=UTF-8 (save the file as UTF-8)",
            )
        )

    try:
        suggestion = f"'Plural-Forms: {rule_for(language).header}'"
    except ValueError:
        suggestion = "the Plural-Forms line for this language from your translation tool"
    value = po.header("Plural-Forms")
    if value is None:
        problems.append(Problem(shown, line, f"no Plural-Forms header: add {suggestion}"))
        return problems, None
    try:
        rule = parse_rule(value)
    except ValueError as error:
        problems.append(Problem(shown, line, f"bad Plural-Forms header: {error}; use {suggestion}"))
        return problems, None
    known = conventions(language)
    if known is not None and rule.count not in known.counts:
        problems.append(
            Problem(
                shown,
                line,
                f"bad Plural-Forms header: nplurals={rule.count}, but {_language_name(language)} has "
                f"{_conventional_counts(known)} plural forms; use {suggestion}",
            )
        )
        return problems, None
    return problems, rule


def _conventional_counts(known: Conventions) -> str:
    """ "3" when both conventions agree, else "2 (GNU gettext) or 3 (CLDR)"."""
    if len(known.counts) == 1:
        return str(next(iter(known.counts)))
    return f"{known.gettext} (GNU gettext) or {known.cldr} (CLDR)"


def _message_problems(message: Message, shown: str, rule: PluralRule | None, single: set[int]) -> list[Problem]:
    problems = []
    line = message.lineno or 0
    plural = isinstance(message.id, (list, tuple))
    strings = tuple(message.string) if isinstance(message.string, (list, tuple)) else (message.string or "",)
    if plural and rule is not None and len(strings) != rule.count:
        problems.append(
            Problem(
                shown,
                line,
                f"this plural entry has {len(strings)} translations "
                f"(msgstr[0]…msgstr[{len(strings) - 1}]), "
                f"but Plural-Forms says nplurals={rule.count}",
            )
        )
    if message.fuzzy:
        return problems  # a fuzzy translation is a draft: it is reviewed, not used
    found = message_problems(
        message.id if isinstance(message.id, str) else message.id[0],
        None if isinstance(message.id, str) else message.id[1],
        strings,
        python_format="python-format" in message.flags,
        single_number_forms=single,
    )
    for index, text in found:
        which = f"msgstr[{index}]: " if index is not None else ""
        problems.append(Problem(shown, line, f"{which}{text}"))
    return problems


def catalogue_problems(data: bytes, shown: str, language: str) -> list[Problem]:
    """Every error in one language catalogue (its bytes), each with its line."""
    po, syntax = parse_po(data)
    if syntax:
        return [Problem(shown, p.line, f"invalid syntax: {p.message}") for p in syntax]
    problems, rule = _header_problems(po, shown, language)
    single: set[int] = set()
    if rule is not None:
        single = {index for index, numbers in numbers_for_each_form(rule).items() if len(numbers) == 1}
    for message in po.catalog:
        if message.id:
            problems.extend(_message_problems(message, shown, rule, single))
    return sorted(problems)


def check_catalogue(path: Path, shown: str, language: str) -> list[Problem]:
    try:
        data = path.read_bytes()
    except OSError as error:
        return [Problem(shown, 0, f"cannot read it ({error.strerror})")]
    return catalogue_problems(data, shown, language)


def all_catalogue_problems(layout: Layout) -> list[Problem]:
    """Errors in every language's catalogues, and catalogues a language lacks."""
    problems = []
    for language in layout.languages():
        for domain in DOMAINS:
            path = layout.catalogue(language, domain)
            shown = layout.shown(path)
            if not path.is_file():
                problems.append(Problem(shown, 0, "missing: run 'fieldkit translations update' to start it"))
                continue
            problems.extend(check_catalogue(path, shown, language))
    return problems

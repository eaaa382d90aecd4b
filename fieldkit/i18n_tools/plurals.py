"""Plural forms: the ``Plural-Forms`` header each language needs, and checking one.

A language has a fixed number of plural forms (English 2, Russian 3, Arabic 6),
and the header's expression picks the form for a number ``n``. The counts come
from Babel's gettext table; the count of CLDR's plural categories is accepted too,
because Poedit and Weblate offer that one for some languages (French, Spanish and
Portuguese have a third form for millions in CLDR).
"""

from __future__ import annotations

import gettext
import re
from collections.abc import Callable
from dataclasses import dataclass

from babel import Locale, UnknownLocaleError
from babel.messages.plurals import PLURALS, get_plural

# Babel orders Arabic's last two forms differently from gettext, Poedit and Weblate;
# translators' tools show examples for each form, so use the expression they know.
_CONVENTIONAL_EXPRESSIONS = {
    "ar": (6, "(n==0 ? 0 : n==1 ? 1 : n==2 ? 2 : n%100>=3 && n%100<=10 ? 3 : n%100>=11 ? 4 : 5)"),
}
_HEADER = re.compile(
    r"^\s*nplurals\s*=\s*(?P<count>\d+)\s*;\s*plural\s*=\s*(?P<expression>[^;]+?)\s*;?\s*$"
)
# Numbers that reach every branch of the plural rules gettext knows.
_SAMPLE_NUMBERS = (*range(0, 1001), 1_000_000, 1_000_001)


@dataclass(frozen=True)
class PluralRule:
    count: int
    expression: str

    @property
    def header(self) -> str:
        return f"nplurals={self.count}; plural={self.expression};"


def normal_language(code: str) -> str:
    """``pt-br`` and ``pt_BR`` both as ``pt_BR``; ValueError for a code Babel does not know."""
    try:
        return str(Locale.parse(code.replace("-", "_")))
    except (ValueError, UnknownLocaleError):
        raise ValueError(
            f"'{code}' is not a known language code (use codes like ru, es, pt_BR)"
        ) from None


def _locale(language: str) -> Locale | None:
    try:
        return Locale.parse(language.replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        return None


def rule_for(language: str) -> PluralRule:
    """The plural rule a new catalogue in ``language`` starts with."""
    base = language.split("_")[0]
    if base in _CONVENTIONAL_EXPRESSIONS:
        count, expression = _CONVENTIONAL_EXPRESSIONS[base]
        return PluralRule(count, expression)
    try:
        found = get_plural(language)
    except (ValueError, UnknownLocaleError):
        raise ValueError(f"'{language}' is not a known language code") from None
    return PluralRule(found.num_plurals, found.plural_expr)


def accepted_counts(language: str) -> set[int] | None:
    """The plural-form counts that are right for ``language``; None when it is not known."""
    locale = _locale(language)
    if locale is None:
        return None
    known = str(locale) in PLURALS or locale.language in PLURALS
    counts = {rule_for(str(locale)).count} if known else set()
    counts.add(len(locale.plural_form.tags) + 1)  # CLDR's categories, plus "other"
    return counts


def parse_rule(value: str) -> PluralRule:
    """A ``Plural-Forms`` header value, or ValueError saying what is wrong with it."""
    found = _HEADER.match(value)
    if found is None:
        raise ValueError("it must read 'nplurals=N; plural=EXPRESSION;'")
    rule = PluralRule(int(found["count"]), found["expression"])
    if rule.count < 1:
        raise ValueError("nplurals must be 1 or more")
    choose = plural_function(rule.expression)
    for n in _SAMPLE_NUMBERS:
        try:
            index = choose(n)
        except ZeroDivisionError:
            raise ValueError(f"the expression divides by zero for n={n}") from None
        if not 0 <= index < rule.count:
            raise ValueError(
                f"the expression gives form {index} for n={n}, "
                f"but there are only {rule.count} forms"
            )
    return rule


def plural_function(expression: str) -> Callable[[int], int]:
    """The expression as a function of ``n``; ValueError when it is not a valid C expression."""
    try:
        choose = gettext.c2py(expression)
        choose(1)
    except (ValueError, SyntaxError, RecursionError, ZeroDivisionError):
        raise ValueError(f"'{expression}' is not a valid plural expression") from None
    return choose


def numbers_for_each_form(rule: PluralRule) -> dict[int, list[int]]:
    """Which sample numbers use each form: used to allow a form for one number to drop it."""
    choose = plural_function(rule.expression)
    forms: dict[int, list[int]] = {index: [] for index in range(rule.count)}
    for n in _SAMPLE_NUMBERS:
        forms.setdefault(choose(n), []).append(n)
    return forms

"""Plural forms: the ``Plural-Forms`` header each language needs, and checking one.

A language has a fixed number of plural forms (English 2, Russian 3, Arabic 6),
and the header's expression picks the form for a number ``n``. Two conventions are
in use: GNU gettext's traditional table (msginit, Poedit, translate-toolkit) and
CLDR's plural categories (Weblate, newer Poedit), which give French, Spanish and
Portuguese a third form for millions. Both are right. The counts are shipped in
``plural_forms.json`` rather than asked of Babel, whose table follows CLDR since
2.15: a library release must never make a catalogue that every gettext tool
accepts fail to load.
"""

from __future__ import annotations

import functools
import gettext
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError

_TABLE = Path(__file__).with_name("plural_forms.json")
_HEADER = re.compile(r"^\s*nplurals\s*=\s*(?P<count>\d+)\s*;\s*plural\s*=\s*(?P<expression>[^;]+?)\s*;?\s*$")
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
        raise ValueError(f"'{code}' is not a known language code (use codes like ru, es, pt_BR)") from None


@dataclass(frozen=True)
class Conventions:
    """What each convention says of one language's plural forms (None: it does not list it)."""

    gettext: int | None
    cldr: int | None
    header: str

    @property
    def counts(self) -> set[int]:
        return {count for count in (self.gettext, self.cldr) if count is not None}


@functools.cache
def _table() -> Mapping[str, Conventions]:
    entries: dict[str, Any] = json.loads(_TABLE.read_text(encoding="utf-8"))["languages"]
    return {
        code: Conventions(entry.get("gettext"), entry.get("cldr"), entry["header"]) for code, entry in entries.items()
    }


def conventions(language: str) -> Conventions | None:
    """The table's entry for ``pt_BR`` (or failing that ``pt``); None for a language it lacks."""
    table = _table()
    code = language.replace("-", "_")
    return table.get(code) or table.get(code.split("_")[0])


def rule_for(language: str) -> PluralRule:
    """The plural rule a new catalogue in ``language`` starts with."""
    found = conventions(language)
    if found is None:
        raise ValueError(f"'{language}' is not a language whose plural forms are known")
    return parse_rule(found.header)


def accepted_counts(language: str) -> set[int] | None:
    """The plural-form counts that mainstream tools use for ``language``; None when it is not known."""
    found = conventions(language)
    return found.counts if found is not None else None


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
            raise ValueError(f"the expression gives form {index} for n={n}, but there are only {rule.count} forms")
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

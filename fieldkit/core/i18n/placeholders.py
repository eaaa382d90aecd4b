"""Placeholders a translation must keep exactly: ``%(seconds)s``, ``%s``, ``{name}`` and ``${item}``.

The app fills them in when it shows a string. A renamed or missing placeholder
shows the wrong number or breaks the page, so a translation with one is an error.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

# A %-directive: optional (name), flags, width, precision, length, conversion.
_PERCENT = re.compile(
    r"%(?:\((?P<name>[^)]*)\))?"
    r"(?P<spec>[-#0 +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?)"
    r"(?P<conversion>[diouxXeEfFgGcrsa%]?)"
)
# "{name}", and "${item}" (a form label's earlier answer), which is kept whole: "{item}" is not it.
_BRACES = re.compile(r"(?P<dollar>\$?)(?<!\{)\{(?P<name>\w+)\}(?!\})")
# Flask-Babel's ngettext passes the count as "num"; a plural form used for one
# number only ("one file") may say the number in words instead.
_COUNT_NAMES = frozenset({"num"})


@dataclass(frozen=True)
class Placeholders:
    named: frozenset[str]  # "%(name)s", by name
    positional: tuple[str, ...]  # "%s", "%d", in order
    braces: frozenset[str]  # "{name}", by name
    stray: bool  # a "%" that starts no directive (Python would fail to format the string)

    @property
    def names(self) -> frozenset[str]:
        return self.named | self.braces


def find_placeholders(text: str, *, python_format: bool) -> Placeholders:
    named: dict[str, str] = {}
    positional: list[str] = []
    stray = False
    if python_format or "%(" in text:
        for found in _PERCENT.finditer(text):
            conversion = found["conversion"]
            if conversion == "%":
                continue
            if not conversion:
                stray = True
            elif found["name"] is not None:
                named[found["name"]] = f"%({found['name']}){conversion}"
            elif python_format:
                positional.append("%" + conversion)
    braces = frozenset(f"{found['dollar']}{{{found['name']}}}" for found in _BRACES.finditer(text))
    return Placeholders(frozenset(named.values()), tuple(positional), braces, stray)


def _listed(items: Collection[str]) -> str:
    return ", ".join(sorted(items))


def compare(source: Placeholders, translation: Placeholders, *, optional: Collection[str] = ()) -> list[str]:
    """What is wrong with the translation's placeholders; ``optional`` ones may be left out."""
    wanted = source.named | source.braces
    have = translation.named | translation.braces
    problems = []
    missing = {p for p in wanted - have if p not in optional}
    if missing:
        problems.append(f"the translation must keep {_listed(missing)} exactly as in the source")
    extra = have - wanted
    if extra:
        problems.append(f"the translation has {_listed(extra)}, which the source does not have")
    if translation.positional != source.positional and not (translation.positional == () and "%" in optional):
        if not source.positional:
            problems.append(
                f"the translation has {' '.join(translation.positional)}, which the source "
                'does not have (write a percent sign as "%%")'
            )
        else:
            problems.append(
                f"the source has {' '.join(source.positional)} in this order, "
                f"the translation {' '.join(translation.positional) or 'none'}"
            )
    if translation.stray and not source.stray:
        problems.append('a "%" on its own must be written "%%" here')
    return problems


def message_problems(
    msgid: str,
    msgid_plural: str | None,
    strings: Sequence[str],
    *,
    python_format: bool,
    single_number_forms: Collection[int] = (),
) -> list[tuple[int | None, str]]:
    """Problems of each non-empty translation: ``(plural index or None, message)``."""
    if msgid_plural is None:
        source = find_placeholders(msgid, python_format=python_format)
        translation = find_placeholders(strings[0], python_format=python_format) if strings[0] else None
        return [(None, problem) for problem in compare(source, translation)] if translation else []
    singular = find_placeholders(msgid, python_format=python_format)
    plural = find_placeholders(msgid_plural, python_format=python_format)
    results: list[tuple[int | None, str]] = []
    for index, string in enumerate(strings):
        if not string:
            continue
        translation = find_placeholders(string, python_format=python_format)
        optional: set[str] = set()
        if index in single_number_forms:
            optional = {p for p in plural.named if p.removeprefix("%(").split(")")[0] in _COUNT_NAMES} | {"%"}
        # A form may use what either source form uses, but must keep what the plural one has.
        allowed = Placeholders(
            plural.named | (singular.named & translation.named),
            plural.positional,
            plural.braces | (singular.braces & translation.braces),
            plural.stray,
        )
        results.extend((index, problem) for problem in compare(allowed, translation, optional=optional))
    return results

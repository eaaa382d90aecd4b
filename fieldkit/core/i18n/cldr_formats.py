"""Short times, dates and lists the way a language writes them, from a small table made from CLDR.

Pages show "09:41" or "2/12/26, 9:41 AM" and join answers with "or" as each language
does; Babel has all of that in CLDR. But answering any of it makes Babel load CLDR's
global data and the language's whole locale data, about 4 MB of memory for the first
language and 1 to 1.5 MB for each more, kept for the life of the process: more than a
tenth of a Pi-class kit's memory budget (``docs/performance.md``). So, as
:mod:`fieldkit.core.i18n.languages` does for names, the few patterns the kit needs are
read once from Babel into ``cldr_formats.json`` (for the source language and every
language with a catalogue) and applied here. The patterns are Babel's own tokens
(``babel.dates.tokenize_pattern``); only the fields these short patterns use are known
here (hours, minutes, AM/PM, day, month and year as numbers), and a language whose
patterns need any other field, or that is not in the table, is written by Babel as
before. ``tests/test_cldr_formats.py`` checks that the table gives exactly what Babel
gives, every hour of a year, for every language in it. Regenerate it after a Babel
upgrade or a new language with ``python -m fieldkit.core.i18n.cldr_formats``.
"""

from __future__ import annotations

import datetime
import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["format_list", "format_short_datetime", "format_short_time"]

_TABLE = Path(__file__).with_name("cldr_formats.json")
LIST_STYLES = ("standard", "or")
# The pattern fields written here, with the widths CLDR's short patterns use.
_KNOWN_FIELDS = {"h": (1, 2), "H": (1, 2), "m": (1, 2), "a": (1, 2, 3), "d": (1, 2), "M": (1, 2), "y": (1, 2, 4)}

Tokens = Sequence[Sequence[Any]]  # Babel's tokens: ("chars", text) or ("field", (letter, width))


@functools.cache
def _table() -> Mapping[str, Mapping[str, Any]]:
    data: dict[str, Any] = json.loads(_TABLE.read_text(encoding="utf-8"))
    languages: Mapping[str, Mapping[str, Any]] = data["languages"]
    return languages


def _entry(language: str) -> Mapping[str, Any] | None:
    return _table().get(language.replace("-", "_"))


def _field(letter: str, width: int, moment: datetime.datetime, entry: Mapping[str, Any]) -> str:
    if letter == "a":
        return str(entry["pm"] if moment.hour >= 12 else entry["am"])
    if letter == "y":
        year = f"{moment.year:0{width}d}"
        return year[-2:] if width == 2 else year
    value = {
        "h": moment.hour % 12 or 12,
        "H": moment.hour,
        "m": moment.minute,
        "d": moment.day,
        "M": moment.month,
    }[letter]
    return f"{value:0{width}d}"


def _apply(tokens: Tokens, moment: datetime.datetime, entry: Mapping[str, Any]) -> str:
    return "".join(
        str(value) if kind == "chars" else _field(value[0], value[1], moment, entry) for kind, value in tokens
    )


def format_short_time(moment: datetime.datetime, language: str) -> str:
    """``moment``'s time (in its own zone), CLDR's short format in ``language``."""
    entry = _entry(language)
    if entry is None:
        from babel.dates import format_time

        return format_time(moment, format="short", tzinfo=moment.tzinfo, locale=language.replace("-", "_"))
    return _apply(entry["time"], moment, entry)


def format_short_datetime(moment: datetime.datetime, language: str) -> str:
    """``moment``'s date and time (in its own zone), CLDR's short format in ``language``."""
    entry = _entry(language)
    if entry is None:
        from babel.dates import format_datetime

        return format_datetime(moment, format="short", tzinfo=moment.tzinfo, locale=language.replace("-", "_"))
    # As Babel does: the time as {0} and the date as {1} in the combining pattern.
    return (
        str(entry["datetime"])
        .replace("{0}", _apply(entry["time"], moment, entry))
        .replace("{1}", _apply(entry["date"], moment, entry))
    )


def format_list(items: Sequence[str], language: str, style: str = "standard") -> str:
    """``items`` joined as ``language`` joins them: style "standard" (and) or "or"."""
    entry = _entry(language)
    if entry is None:
        from babel.lists import format_list as babel_format_list

        return babel_format_list(items, style=style, locale=language.replace("-", "_"))  # type: ignore[arg-type]
    patterns: Mapping[str, str] = entry["lists"][style]
    # CLDR's rule, as Babel applies it: a pattern for two, else start, middle..., end.
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    if len(items) == 2 and "2" in patterns:
        return patterns["2"].format(*items)
    joined = patterns["start"].format(items[0], items[1])
    for item in items[2:-1]:
        joined = patterns["middle"].format(joined, item)
    return patterns["end"].format(joined, items[-1])


def _usable(tokens: Iterable[Sequence[Any]]) -> bool:
    return all(kind == "chars" or value[1] in _KNOWN_FIELDS.get(value[0], ()) for kind, value in tokens)


def build_entry(language: str) -> dict[str, Any] | None:
    """One language's entry, from Babel; None if its patterns need a field not written here."""
    from babel import Locale
    from babel.dates import format_time, get_datetime_format, tokenize_pattern

    locale = Locale.parse(language)
    try:
        lists = {
            style: {key: locale.list_patterns[style][key] for key in ("start", "middle", "end", "2")}
            for style in LIST_STYLES
        }
    except KeyError:
        return None  # a style this language inherits from elsewhere: Babel resolves it
    time_tokens = tokenize_pattern(locale.time_formats["short"].pattern)
    date_tokens = tokenize_pattern(locale.date_formats["short"].pattern)
    if not (_usable(time_tokens) and _usable(date_tokens)):
        return None
    return {
        "time": time_tokens,
        "date": date_tokens,
        # Babel drops the quotes of the combining pattern the same way.
        "datetime": str(get_datetime_format("short", locale=locale)).replace("'", ""),
        "am": format_time(datetime.time(9), "a", locale=locale),
        "pm": format_time(datetime.time(21), "a", locale=locale),
        "lists": lists,
    }


def build_table(languages: Iterable[str]) -> dict[str, Any]:
    import babel

    entries = {code: build_entry(code) for code in sorted(set(languages))}
    return {
        "source": f"CLDR via Babel {babel.__version__}: python -m fieldkit.core.i18n.cldr_formats",
        "languages": {code: entry for code, entry in entries.items() if entry is not None},
    }


def shipped_languages() -> list[str]:
    """The source language and every language with a catalogue among the shipped translations."""
    from fieldkit.core import paths
    from fieldkit.core.i18n.catalogues import SOURCE_LANGUAGE, catalogue_languages

    return [SOURCE_LANGUAGE, *catalogue_languages(paths.translations_dir())]


def render_table(table: Mapping[str, Any]) -> str:
    """The table as JSON with one line per language, so a regenerated table diffs by language."""
    rows = [
        f"  {json.dumps(code)}: {json.dumps(entry, ensure_ascii=False, sort_keys=True)}"
        for code, entry in table["languages"].items()
    ]
    return "{\n" + f' "source": {json.dumps(table["source"])},\n "languages": {{\n' + ",\n".join(rows) + "\n }\n}\n"


if __name__ == "__main__":
    _TABLE.write_text(render_table(build_table(shipped_languages())), encoding="utf-8")

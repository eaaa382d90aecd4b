"""The table of short times, dates and lists gives exactly what Babel gives, and the kit uses it."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from pathlib import Path

import pytest
from babel.dates import format_datetime, format_time
from babel.lists import format_list as babel_format_list

from fieldkit.core.i18n import cldr_formats
from fieldkit.core.i18n.cldr_formats import (
    build_table,
    format_list,
    format_short_datetime,
    format_short_time,
    render_table,
    shipped_languages,
)

TABLE = Path(cldr_formats.__file__).with_name("cldr_formats.json")
ZONES = [datetime.UTC, datetime.timezone(datetime.timedelta(hours=3)), datetime.timezone(datetime.timedelta(hours=-5))]


def _moments() -> list[datetime.datetime]:
    """Every hour of a leap year in three zones, and the edges (midnight, noon, one-digit days)."""
    start = datetime.datetime(2028, 1, 1, tzinfo=datetime.UTC)
    hours = [start + datetime.timedelta(hours=h, minutes=(h * 7) % 60) for h in range(0, 366 * 24, 5)]
    edges = [datetime.datetime(2026, 12, 3, h, m, tzinfo=datetime.UTC) for h in (0, 11, 12, 23) for m in (0, 5, 59)]
    return [moment.astimezone(zone) for moment in hours + edges for zone in ZONES]


def test_the_table_is_up_to_date_with_babel() -> None:
    """Committed as Babel would make it now: regenerate with python -m fieldkit.core.i18n.cldr_formats."""
    assert TABLE.read_text(encoding="utf-8") == render_table(build_table(shipped_languages()))


def test_every_shipped_language_is_in_the_table() -> None:
    held = set(json.loads(TABLE.read_text(encoding="utf-8"))["languages"])
    assert set(shipped_languages()) <= held, "a shipped language would fall back to Babel's whole locale data"


@pytest.mark.parametrize("language", shipped_languages())
def test_short_times_and_dates_match_babel(language: str) -> None:
    moments = _moments()
    ours = [(format_short_time(m, language), format_short_datetime(m, language)) for m in moments]
    babel = [
        (
            format_time(m, format="short", tzinfo=m.tzinfo, locale=language),
            format_datetime(m, format="short", tzinfo=m.tzinfo, locale=language),
        )
        for m in moments
    ]
    assert ours == babel


@pytest.mark.parametrize("language", shipped_languages())
@pytest.mark.parametrize("style", ["standard", "or"])
def test_lists_match_babel(language: str, style: str) -> None:
    for count in range(6):
        items = [f"item {n}" for n in range(count)]
        assert format_list(items, language, style) == babel_format_list(items, style=style, locale=language)


@pytest.mark.parametrize("language", ["uk", "pt-BR", "zh_Hant_TW", "fa"])
def test_a_language_outside_the_table_is_written_by_babel(language: str) -> None:
    moment = datetime.datetime(2026, 12, 3, 21, 4, tzinfo=datetime.UTC)
    babel_code = language.replace("-", "_")
    assert format_short_time(moment, language) == format_time(moment, "short", tzinfo=moment.tzinfo, locale=babel_code)
    assert format_list(["a", "b", "c"], language, "or") == babel_format_list(["a", "b", "c"], "or", locale=babel_code)


def test_arabic_keeps_its_marks_and_periods() -> None:
    evening = datetime.datetime(2026, 12, 3, 21, 4, tzinfo=datetime.UTC)
    assert format_short_time(evening, "ar") == "9:04 م"
    assert "\u200f" in format_short_datetime(evening, "ar")  # the right-to-left marks of CLDR's pattern


def test_serving_pages_never_loads_babels_locale_data(tmp_path: Path) -> None:
    """Writing times and lists in every shipped language leaves Babel's CLDR caches empty."""
    script = f"""
import datetime
from babel import localedata
import babel.core
from fieldkit.core.i18n.cldr_formats import format_list, format_short_datetime, format_short_time
moment = datetime.datetime(2026, 12, 3, 9, 41, tzinfo=datetime.UTC)
for language in {shipped_languages()!r}:
    format_short_time(moment, language); format_short_datetime(moment, language)
    format_list(["a", "b", "c"], language, "or"); format_list(["a", "b"], language)
print(len(localedata._cache), babel.core._global_data is None)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert done.stdout.split() == ["0", "True"]

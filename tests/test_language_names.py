"""The table of language names and directions matches Babel's CLDR data, and is what pages use."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from babel import Locale, localedata

from fieldkit.core import paths
from fieldkit.core.i18n import languages
from fieldkit.core.i18n.languages import language_name, text_direction

TABLE = Path(languages.__file__).with_name("language_names.json")


def _shipped() -> list[str]:
    return sorted(path.name for path in paths.translations_dir().iterdir() if (path / "LC_MESSAGES").is_dir())


def _babel(code: str) -> tuple[str, str]:
    locale = Locale.parse(code)
    direction = "rtl" if locale.character_order == "right-to-left" else "ltr"
    return locale.get_display_name(code) or code, direction


def test_the_table_holds_every_locale_babel_knows() -> None:
    table = json.loads(TABLE.read_text(encoding="utf-8"))
    assert set(table["names"]) == set(localedata.locale_identifiers())
    assert set(table["right_to_left"]) <= set(table["names"])


@pytest.mark.parametrize("code", ["en", *_shipped(), "fa", "he", "ur", "pt_BR", "zh_Hant_TW", "uk"])
def test_shipped_and_common_languages_match_babel(code: str) -> None:
    assert (language_name(code), text_direction(code)) == _babel(code)


def test_a_sample_of_every_locale_matches_babel() -> None:
    codes = random.Random(20).sample(sorted(localedata.locale_identifiers()), 40)
    assert [(language_name(code), text_direction(code)) for code in codes] == [_babel(code) for code in codes]


def test_arabic_is_right_to_left_and_named_in_arabic() -> None:
    assert text_direction("ar") == "rtl"
    assert language_name("ar") == "العربية"
    assert text_direction("ru") == "ltr"
    assert language_name("ru") == "русский"


def test_a_code_missing_from_the_table_is_asked_of_babel_or_shown_as_given() -> None:
    assert language_name("not-a-language") == "not-a-language"
    assert text_direction("not-a-language") == "ltr"
    assert language_name("ar-EG") == "ar-EG"  # not a Babel identifier (that is ar_EG): as before


def test_naming_the_shipped_languages_loads_no_locale_data() -> None:
    """The point of the table: the language menu costs no CLDR locale in memory."""
    script = (
        "from babel import localedata\n"
        "from fieldkit.core.i18n.languages import language_name, text_direction\n"
        f"for code in {_shipped()!r}: language_name(code); text_direction(code)\n"
        "print(sorted(localedata._cache))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"

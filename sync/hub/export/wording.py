"""Labels in the chosen language: form and interface wording, English where untranslated."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fieldkit.core.formengine.labels import BUILT_IN_LABELS, LIKERT_LABELS
from fieldkit.core.i18n.catalogues import SOURCE_LANGUAGE, load_catalogue
from sync.hub.export.errors import ExportError

__all__ = ["Label", "Wording", "interface_source_labels"]

_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:[_-][A-Za-z0-9]{2,8})*")


@dataclass(frozen=True)
class Label:
    text: str
    language: str
    fallback: bool  # True: English, because the chosen language has no reviewed translation


def interface_source_labels() -> tuple[dict[str, tuple[str, ...]], dict[str, str]]:
    """The English likert scale and built-in answer labels, as the kit's pages show them.

    They live in ``fieldkit.core.formengine.labels``; the messages catalogue translates them.
    """
    return dict(LIKERT_LABELS), dict(BUILT_IN_LABELS)


class Wording:
    """Form and interface labels in one language, English where a string is untranslated.

    Reads the ``forms`` and ``messages`` catalogues of ``translations_dir/LANG/LC_MESSAGES``;
    only reviewed translations count (fuzzy ones are drafts).
    """

    def __init__(self, language: str, translations_dir: Path) -> None:
        if not _LANGUAGE.fullmatch(language):
            raise ExportError(f"--lang {language!r} is not a language code (such as fr or pt_BR)")
        self.language = language
        self._forms: Mapping[tuple[str | None, str], str] = {}
        self._interface: Mapping[tuple[str | None, str], str] = {}
        if language != SOURCE_LANGUAGE:
            folder = translations_dir / language / "LC_MESSAGES"
            if not folder.is_dir():
                known = sorted(
                    p.name for p in translations_dir.iterdir() if (p / "LC_MESSAGES").is_dir()
                ) if translations_dir.is_dir() else []  # fmt: skip
                raise ExportError(
                    f"no translations for {language!r} in {translations_dir} "
                    f"(available: {', '.join([SOURCE_LANGUAGE, *known])})"
                )
            self._forms = load_catalogue(translations_dir, language, "forms").translated
            self._interface = load_catalogue(translations_dir, language, "messages").translated
        self.likert, self.built_in = interface_source_labels()

    def _pick(self, table: Mapping[tuple[str | None, str], str], key: tuple[str | None, str]) -> Label:
        english = key[1]
        if self.language == SOURCE_LANGUAGE or not english:
            return Label(english, SOURCE_LANGUAGE, False)
        found = table.get(key)
        if found:
            return Label(found, self.language, False)
        return Label(english, SOURCE_LANGUAGE, True)

    def form(self, context: str, english: str) -> Label:
        return self._pick(self._forms, (context, english))

    def interface(self, english: str) -> Label:
        return self._pick(self._interface, (None, english))

    def english(self, text: str) -> Label:
        """A fixed English text (the export's own descriptions), flagged like a fallback."""
        return Label(text, SOURCE_LANGUAGE, self.language != SOURCE_LANGUAGE)

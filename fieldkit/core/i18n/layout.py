"""Where the catalogues live, and which sources they are made from.

The layout is the one Flask-Babel and the form pages read at run time::

    translations/messages.pot                      interface strings (template)
    translations/forms.pot                         form wording (template)
    translations/<lang>/LC_MESSAGES/<domain>.po    one language's translations
    translations/<lang>/LC_MESSAGES/<domain>.mo    made by 'translations compile', never committed
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import fieldkit
from fieldkit.core import paths

INTERFACE = "messages"
FORMS = "forms"
DOMAINS = (INTERFACE, FORMS)
SOURCE_LANGUAGE = "en"

# Folders in translations/ that are not languages.
_NOT_LANGUAGES = frozenset({"stigma-terms"})


@dataclass(frozen=True)
class Layout:
    """The folders one run of the tools works on.

    ``sources`` is the repository root when fieldkit runs from a source checkout;
    an installed kit has no Python or template sources to extract from.
    """

    translations: Path
    forms: Path
    sources: Path | None

    def template(self, domain: str) -> Path:
        return self.translations / f"{domain}.pot"

    def catalogue(self, language: str, domain: str) -> Path:
        return self.translations / language / "LC_MESSAGES" / f"{domain}.po"

    def languages(self) -> list[str]:
        """Every language with a catalogue folder, sorted by code."""
        if not self.translations.is_dir():
            return []
        return sorted(
            folder.name
            for folder in self.translations.iterdir()
            if folder.name not in _NOT_LANGUAGES and (folder / "LC_MESSAGES").is_dir()
        )

    def shown(self, path: Path) -> str:
        """A path as messages show it: relative to the translations folder's parent."""
        try:
            return path.relative_to(self.translations.parent).as_posix()
        except ValueError:
            return str(path)


def source_checkout() -> Path | None:
    """The repository root when fieldkit runs from a checkout, else None."""
    root = Path(fieldkit.__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() else None


def default_layout() -> Layout:
    return Layout(paths.translations_dir(), paths.forms_dir(), source_checkout())

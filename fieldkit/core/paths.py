"""Where the shipped data folders (forms/, translations/) are found.

In a wheel they are installed under ``fieldkit/_shipped/``; in a source checkout
(editable install, or running from the repository) they sit beside the package.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # fieldkit/, above core/


def _shipped(name: str) -> Path:
    installed = _PACKAGE_DIR / "_shipped" / name
    if installed.is_dir():
        return installed
    return _PACKAGE_DIR.parent / name


def forms_dir() -> Path:
    """The folder holding the shipped form definitions."""
    return _shipped("forms")


def translations_dir() -> Path:
    """The folder holding the shipped gettext catalogues and term lists."""
    return _shipped("translations")

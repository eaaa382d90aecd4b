"""Translators' tooling: extract templates, merge them into catalogues, compile, report, check.

``fieldkit translations extract | update | compile | status | check | init`` is the
command line (``fieldkit/commands/translations.py``); the app calls
:func:`ensure_compiled` when it starts. ``translations/README.md`` is the guide.
"""

from __future__ import annotations

from fieldkit.i18n_tools.compiling import CatalogueErrors, ensure_compiled

__all__ = ["CatalogueErrors", "ensure_compiled"]

"""Translators' tooling: extract templates, merge them into catalogues, compile, report, check.

``fieldkit translations extract | update | compile | status | check | init`` is the
command line (``fieldkit/cli/translations.py``); the app calls
:func:`compile_for_serving` when it starts. ``translations/README.md`` is the guide.
"""

from __future__ import annotations

from fieldkit.core.i18n.compiling import CatalogueErrors, ServingLanguages, compile_for_serving

__all__ = ["CatalogueErrors", "ServingLanguages", "compile_for_serving"]

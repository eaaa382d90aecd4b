"""The respectful-language check behind ``fieldkit forms lint``.

Forms, translations and docs speak to and about people who use drugs. This package
compares their wording with the per-language term lists in
``translations/stigma-terms/`` and reports each stigmatising term with the
alternative to use instead.
"""

from __future__ import annotations

from fieldkit.core.lint.scanner import Finding, LintReport, default_paths, lint_paths, lint_text
from fieldkit.core.lint.terms import TermEntry, TermFileError, TermList, TermLists, load_term_lists

__all__ = [
    "Finding",
    "LintReport",
    "TermEntry",
    "TermFileError",
    "TermList",
    "TermLists",
    "default_paths",
    "lint_paths",
    "lint_text",
    "load_term_lists",
]

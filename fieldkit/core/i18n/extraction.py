"""Make the two templates: ``messages.pot`` (interface) and ``forms.pot`` (form wording).

Extraction is deterministic, so that running it twice changes nothing and a
stale template can be found by extracting again in memory:

- files are read in sorted order and messages keep that order;
- there is no creation date, no tool version and no project version in the header;
- locations are paths relative to the repository (``fieldkit/kit/web/views.py``,
  ``forms/peer-interview.yaml``), without line numbers.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from babel.messages.catalog import Catalog
from babel.messages.extract import extract
from jinja2 import TemplateSyntaxError
from jinja2.ext import babel_extract

from fieldkit.core.errors import FieldkitError
from fieldkit.core.formengine.catalogue import form_files
from fieldkit.core.formengine.loader import FormDefinitionError
from fieldkit.core.i18n.checks import Problem
from fieldkit.core.i18n.form_extractor import extract_form_wording
from fieldkit.core.i18n.layout import FORMS, INTERFACE, Layout
from fieldkit.core.i18n.pofile import PoFile, parse_po, render_po

# The translation functions of the Python code (Flask-Babel) and the templates (Jinja's i18n).
KEYWORDS: dict[str, Any] = {
    "_": None,
    "gettext": None,
    "_l": None,
    "N_": None,
    "N_plural": (1, 2),
    "lazy_gettext": None,
    "ngettext": (1, 2),
    "lazy_ngettext": (1, 2),
    "pgettext": ((1, "c"), 2),
    "lazy_pgettext": ((1, "c"), 2),
    "npgettext": ((1, "c"), 2, 3),
}
# Comments that reach the translator: "TRANSLATORS:" notes, and the stigma lint's
# "lint-allow:" marks, which must follow a quoted term into every catalogue.
COMMENT_TAGS = ("TRANSLATORS:", "lint-allow:")
EXTRACT_AND_UPDATE = "run 'fieldkit translations extract', then 'fieldkit translations update'"

# Fail on a template Jinja cannot parse, instead of leaving its strings out.
_JINJA_OPTIONS = {"silent": "false"}

ExtractionMethod = Callable[..., Iterable[Any]]


def extract_jinja(
    fileobj: IO[bytes], keywords: Collection[str], comment_tags: Collection[str], options: Any
) -> Iterator[tuple[int, str, Any, list[str]]]:
    """Jinja's extractor, keeping the tag in front of each comment as Babel's Python one does.

    Jinja drops the tag ("TRANSLATORS:", "lint-allow:"); without it a lint-allow
    mark would reach the catalogue as plain text. Jinja keeps one comment per
    message, so each tag gets its own pass over the same template.
    """
    source = fileobj.read()
    tags = list(comment_tags) or [""]
    passes = [  # Babel hands over its keywords as dict keys; Jinja's annotation asks for a sequence
        list(babel_extract(io.BytesIO(source), tuple(keywords), [tag] if tag else [], options)) for tag in tags
    ]
    for found in zip(*passes, strict=True):
        line, function, message, _comments = found[0]
        comments = [f"{tag} {text}".strip() for tag, item in zip(tags, found, strict=True) for text in item[3]]
        yield line, function, message, comments


@dataclass(frozen=True)
class SourceSet:
    """Files (a glob under the repository) and how to read them."""

    pattern: str
    method: str | ExtractionMethod  # a Babel method name, or the function itself
    options: dict[str, str]


# The kit's screens (fieldkit/) and the hub's reports and pages (sync/).
INTERFACE_SOURCES = (
    SourceSet("fieldkit/**/*.py", "python", {}),
    SourceSet("fieldkit/**/templates/**/*.html", extract_jinja, _JINJA_OPTIONS),
    SourceSet("sync/**/*.py", "python", {}),
    SourceSet("sync/**/templates/**/*.html", extract_jinja, _JINJA_OPTIONS),
)

_HEADER_COMMENT = {
    INTERFACE: [
        "# fieldkit: the words of the app's screens, for translators.",
        "# Made by 'fieldkit translations extract' from fieldkit/ and sync/: do not edit by hand.",
    ],
    FORMS: [
        "# fieldkit: the wording of the forms in forms/, for translators.",
        "# Made by 'fieldkit translations extract': do not edit by hand.",
        "# Each msgctxt names the place of a string: <form>/<item>[/<choice>].",
    ],
}
TEMPLATE_HEADERS = [
    ("Project-Id-Version", "fieldkit"),
    ("MIME-Version", "1.0"),
    ("Content-Type", "text/plain; charset=UTF-8"),
    ("Content-Transfer-Encoding", "8bit"),
]


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") or part == "__pycache__" for part in path.relative_to(root).parts)


def _add_file(
    catalog: Catalog,
    method: str | ExtractionMethod,
    path: Path,
    shown: str,
    options: dict[str, str],
) -> None:
    with path.open("rb") as handle:
        found = list(extract(method, handle, KEYWORDS, COMMENT_TAGS, options, strip_comment_tags=False))
    for line, message, comments, context in found:
        # One line per comment, single spaces: the file then reads back exactly as written.
        tidy = [" ".join(comment.split()) for comment in comments if comment.strip()]
        catalog.add(message, None, [(shown, line)], auto_comments=tidy, context=context)


def extract_interface(sources: Path) -> Catalog:
    """Every interface string of the Python code and templates under ``sources``."""
    catalog = Catalog(fuzzy=False)
    for source in INTERFACE_SOURCES:
        for path in sorted(sources.glob(source.pattern)):
            if path.is_file() and not _hidden(path, sources):
                try:
                    _add_file(catalog, source.method, path, _relative(path, sources), source.options)
                except (SyntaxError, TemplateSyntaxError) as error:
                    raise FieldkitError(f"{_relative(path, sources)}: cannot extract strings ({error})") from None
    return catalog


def extract_forms(forms: Path) -> Catalog:
    """Every piece of wording of the forms in ``forms``, with contexts and translator comments."""
    catalog = Catalog(fuzzy=False)
    files = form_files(forms)
    if not files:
        raise FieldkitError(f"{forms}: no form files (*.yaml) to extract")
    for path in files:
        try:
            _add_file(catalog, extract_form_wording, path, f"{forms.name}/{path.name}", {})
        except FormDefinitionError as error:
            raise FieldkitError(
                f"{forms.name}/{path.name}: fix the form first ('fieldkit forms check')\n{error}"
            ) from None
    for message in catalog:
        # Form wording is shown as written, never %-formatted: a "%" in it is just a percent sign.
        message.flags.discard("python-format")
    return catalog


def template(domain: str, catalog: Catalog) -> PoFile:
    return PoFile(list(_HEADER_COMMENT[domain]), list(TEMPLATE_HEADERS), catalog)


def fresh_templates(layout: Layout) -> dict[str, PoFile]:
    """Both templates, extracted now from the current sources (nothing is written)."""
    if layout.sources is None:
        raise FieldkitError(
            "extracting needs a source checkout of fieldkit (the Python code and templates); an installed kit has none"
        )
    return {
        INTERFACE: template(INTERFACE, extract_interface(layout.sources)),
        FORMS: template(FORMS, extract_forms(layout.forms)),
    }


def render_template(po: PoFile) -> bytes:
    return render_po(po, nplurals=2)


# --- comparing a committed template with a fresh one ----------------------------------------------


@dataclass(frozen=True)
class TemplateChanges:
    added: int
    removed: int
    changed: int

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def describe(self) -> str:
        parts = []
        if self.added:
            parts.append(f"{self.added} new")
        if self.removed:
            parts.append(f"{self.removed} removed")
        if self.changed:
            parts.append(f"{self.changed} with new comments, places or flags")
        return ", ".join(parts) + " string(s)"


def _signatures(catalog: Catalog) -> dict[tuple[Any, str | None], tuple[Any, ...]]:
    signatures = {}
    for message in catalog:
        if not message.id:
            continue
        ident = tuple(message.id) if isinstance(message.id, (list, tuple)) else message.id
        places = tuple(sorted({name for name, _line in message.locations}))
        signatures[(ident, message.context)] = (
            tuple(message.auto_comments),
            places,
            tuple(sorted(message.flags)),
        )
    return signatures


def compare_templates(committed: Catalog, fresh: Catalog) -> TemplateChanges:
    """What differs between a template on disk and a fresh extraction, ignoring layout."""
    old, new = _signatures(committed), _signatures(fresh)
    return TemplateChanges(
        added=len(new.keys() - old.keys()),
        removed=len(old.keys() - new.keys()),
        changed=sum(1 for key in new.keys() & old.keys() if new[key] != old[key]),
    )


def stale_templates(layout: Layout) -> list[Problem]:
    """A problem for each template that differs from a fresh extraction of the sources."""
    problems = []
    for domain, fresh in fresh_templates(layout).items():
        path = layout.template(domain)
        shown = layout.shown(path)
        if not path.is_file():
            problems.append(Problem(shown, 0, f"missing: {EXTRACT_AND_UPDATE}"))
            continue
        committed, syntax = parse_po(path.read_bytes())
        if syntax:
            problems.append(
                Problem(
                    shown,
                    syntax[0].line,
                    f"invalid syntax ({syntax[0].message}): {EXTRACT_AND_UPDATE}",
                )
            )
            continue
        changes = compare_templates(committed.catalog, fresh.catalog)
        if changes:
            problems.append(Problem(shown, 0, f"stale: the sources have {changes.describe()}; {EXTRACT_AND_UPDATE}"))
    return problems

"""Compile catalogues to the ``.mo`` files the app reads, refusing any with errors.

``.mo`` files are never committed: ``ensure_compiled`` builds them when the app
starts, next to each ``.po``, only where the ``.po`` changed since. A compiled
file takes the modification time of its source, so "changed" means "has another
time stamp", which a single ``stat`` of each file answers.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import os
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo

from fieldkit.errors import FieldkitError
from fieldkit.i18n_tools.checks import Problem, catalogue_problems
from fieldkit.i18n_tools.merge import translated
from fieldkit.i18n_tools.pofile import parse_po


class CatalogueErrors(FieldkitError):
    """Catalogues with errors were not compiled; ``problems`` lists every error."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(str(problem) for problem in problems)
        super().__init__(
            f"{len(problems)} error(s) in translation catalogues; fix them, then run "
            f"'fieldkit translations check':\n{lines}"
        )


@dataclass(frozen=True)
class CatalogueFile:
    language: str
    po: Path

    @property
    def mo(self) -> Path:
        return self.po.with_suffix(".mo")


def catalogue_files(translations: Path) -> list[CatalogueFile]:
    return [
        CatalogueFile(po.parent.parent.name, po)
        for po in sorted(translations.glob("*/LC_MESSAGES/*.po"))
        if po.is_file()
    ]


def _shown(path: Path, translations: Path) -> str:
    try:
        return path.relative_to(translations.parent).as_posix()
    except ValueError:
        return str(path)


# A fixed date keeps a compiled file the same bytes for the same catalogue, so that an
# up-to-date .mo with a wrong time stamp (copied, installed) is recognised, not rewritten.
_FIXED_DATE = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)


def compiled_bytes(data: bytes, shown: str, language: str) -> bytes:
    """The ``.mo`` of a catalogue's bytes; :class:`CatalogueErrors` if the catalogue has errors.

    Only reviewed translations go in: fuzzy ones, empty ones and plural entries
    with an empty form are left out, so the page shows the English source rather
    than a half-finished or unreviewed text.
    """
    problems = catalogue_problems(data, shown, language)
    if problems:
        raise CatalogueErrors(problems)
    po, _syntax = parse_po(data)
    compiled = Catalog(fuzzy=False, creation_date=_FIXED_DATE)
    compiled.mime_headers = [(k, v) for k, v in po.headers if k.lower() != "pot-creation-date"]
    for message in po.catalog:
        if message.id and translated(message) and not message.fuzzy:
            compiled[message.id] = message
    buffer = io.BytesIO()
    write_mo(buffer, compiled, use_fuzzy=False)
    return buffer.getvalue()


def _stamp(path: Path, stamp: int) -> None:
    os.utime(path, ns=(stamp, stamp))


def compile_catalogue(catalogue: CatalogueFile, shown: str, *, only_changed: bool = False) -> bool:
    """Write the ``.mo`` of one ``.po`` unless it already holds the same; True when written.

    With ``only_changed``, a ``.mo`` with the time stamp of its ``.po`` is taken as
    current without reading either file: that is what keeps app start fast.
    """
    stamp = catalogue.po.stat().st_mtime_ns
    try:
        current = catalogue.mo.stat().st_mtime_ns == stamp
    except FileNotFoundError:
        current = False
    if only_changed and current:
        return False
    compiled = compiled_bytes(catalogue.po.read_bytes(), shown, catalogue.language)
    try:
        if catalogue.mo.read_bytes() == compiled:
            with contextlib.suppress(OSError):  # a read-only install: still correct
                _stamp(catalogue.mo, stamp)
            return False
    except FileNotFoundError:
        pass
    temporary = catalogue.mo.with_name(catalogue.mo.name + ".tmp")
    temporary.write_bytes(compiled)
    _stamp(temporary, stamp)
    temporary.replace(catalogue.mo)
    return True


def compile_all(
    translations: Path, *, only_changed: bool = False
) -> tuple[list[Path], list[Problem]]:
    """Compile every catalogue (or only changed ones); return what was written and every error."""
    written: list[Path] = []
    problems: list[Problem] = []
    for catalogue in catalogue_files(translations):
        try:
            if compile_catalogue(
                catalogue, _shown(catalogue.po, translations), only_changed=only_changed
            ):
                written.append(catalogue.mo)
        except CatalogueErrors as error:
            problems.extend(error.problems)
        except OSError as error:
            raise FieldkitError(
                f"cannot write {_shown(catalogue.mo, translations)} ({error.strerror}): run "
                "'fieldkit translations compile' from an account that may write there"
            ) from None
    for mo in sorted(translations.glob("*/LC_MESSAGES/*.mo")):
        if not mo.with_suffix(".po").exists():
            with contextlib.suppress(OSError):
                mo.unlink()  # its catalogue was removed: the app must not keep offering it
    return written, problems


def ensure_compiled(translations_dir: Path) -> list[Path]:
    """Compile the catalogues whose ``.mo`` is missing or out of date; return the files written.

    Call it when the app starts. When nothing changed it only compares time
    stamps. Raises :class:`CatalogueErrors` if a changed catalogue has errors, so
    the kit never serves a language from a catalogue that would break its pages.
    """
    written, problems = compile_all(translations_dir, only_changed=True)
    if problems:
        raise CatalogueErrors(problems)
    return written

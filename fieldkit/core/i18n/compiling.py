"""Compile catalogues to the ``.mo`` files the app reads, refusing any with errors.

``.mo`` files are never committed, and the app never writes beside the shipped
``.po`` files (an installed package may be read-only, and must stay as it was
installed): :func:`compile_for_serving` builds them into a folder of the kit's
own, and a language whose catalogues have errors is left out, not fatal.
``fieldkit translations compile`` writes beside the ``.po`` files of a source
checkout, for translators who want the same files their tools make.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo

from fieldkit import __version__
from fieldkit.core.errors import FieldkitError
from fieldkit.core.i18n.checks import Problem, catalogue_problems
from fieldkit.core.i18n.merge import translated
from fieldkit.core.i18n.pofile import parse_po


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
# up-to-date .mo is recognised and not rewritten.
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


def _write_whole(path: Path, data: bytes) -> None:
    """Readers see the old file or the new one, never half of one."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(data)
    temporary.replace(path)


def compile_catalogue(catalogue: CatalogueFile, shown: str) -> bool:
    """Write the ``.mo`` of one ``.po`` beside it unless it already holds the same; True when written."""
    compiled = compiled_bytes(catalogue.po.read_bytes(), shown, catalogue.language)
    with contextlib.suppress(FileNotFoundError):
        if catalogue.mo.read_bytes() == compiled:
            return False
    _write_whole(catalogue.mo, compiled)
    return True


def compile_all(translations: Path) -> tuple[list[Path], list[Problem]]:
    """Compile every catalogue beside its ``.po``; return what was written and every error."""
    written: list[Path] = []
    problems: list[Problem] = []
    for catalogue in catalogue_files(translations):
        try:
            if compile_catalogue(catalogue, _shown(catalogue.po, translations)):
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


@dataclass(frozen=True)
class ServingLanguages:
    """What the app may offer: the folder of compiled catalogues, and each language's fate."""

    directory: Path
    available: tuple[str, ...]  # languages whose every catalogue compiled, in code order
    unavailable: Mapping[str, tuple[Problem, ...]]  # language -> the errors that keep it out


# A compiled file is reused while its catalogue's bytes and the checks that passed it
# are unchanged; the stamp beside it says which, so a restart reads each .po once.
_STAMP_SUFFIX = ".source-sha256"


def _stamp_of(data: bytes) -> str:
    return f"fieldkit {__version__} " + hashlib.sha256(data).hexdigest()


def _compile_into(catalogue: CatalogueFile, target: Path, shown: str) -> None:
    """Compile one catalogue to ``target`` unless its stamp shows it is current."""
    try:
        data = catalogue.po.read_bytes()
    except OSError as error:
        raise CatalogueErrors([Problem(shown, 0, f"cannot read it ({error.strerror})")]) from None
    stamp = target.with_name(target.name + _STAMP_SUFFIX)
    with contextlib.suppress(OSError):
        if target.is_file() and stamp.read_text(encoding="ascii") == _stamp_of(data):
            return
    compiled = compiled_bytes(data, shown, catalogue.language)
    target.parent.mkdir(parents=True, exist_ok=True)
    _write_whole(target, compiled)
    _write_whole(stamp, _stamp_of(data).encode("ascii"))


def _forget_compiled(language_folder: Path) -> None:
    """Remove a language's compiled files, so that none of it can be served from old ones."""
    for leftover in language_folder.glob("LC_MESSAGES/*"):
        with contextlib.suppress(OSError):
            leftover.unlink()


def compile_for_serving(translations: Path, out: Path) -> ServingLanguages:
    """Compile every language's catalogues into ``out``; a broken language is only left out.

    Nothing is written under ``translations``. A language with any catalogue that
    fails its checks gets no compiled files at all (old ones are removed), so the
    app can never serve half of it; the others are served as usual.
    """
    by_language: dict[str, list[CatalogueFile]] = {}
    for catalogue in catalogue_files(translations):
        by_language.setdefault(catalogue.language, []).append(catalogue)
    available: list[str] = []
    unavailable: dict[str, tuple[Problem, ...]] = {}
    for language, catalogues in sorted(by_language.items()):
        problems: list[Problem] = []
        for catalogue in catalogues:
            target = out / language / "LC_MESSAGES" / catalogue.mo.name
            try:
                _compile_into(catalogue, target, _shown(catalogue.po, translations))
            except CatalogueErrors as error:
                problems.extend(error.problems)
            except OSError as error:
                raise FieldkitError(
                    f"cannot write compiled translations into {out} ({error.strerror}); "
                    "check that the kit's folder is writable and has free space"
                ) from None
        if problems:
            unavailable[language] = tuple(problems)
            _forget_compiled(out / language)
        else:
            available.append(language)
    if out.is_dir():
        for folder in out.iterdir():  # a language whose catalogues were removed is not offered either
            if folder.name not in by_language and folder.is_dir():
                _forget_compiled(folder)
    return ServingLanguages(out, tuple(available), unavailable)

"""Reviewed translations, read at run time by the kit's pages and the hub's exports alike.

Only reviewed entries count: an entry marked fuzzy is a translator's draft and
is treated as untranslated, exactly as gettext's compiled catalogues treat it.
Catalogues are read from the ``.po`` files, with the same strict reader as the
translators' tools (:func:`fieldkit.core.i18n.pofile.parse_po`), and cached until a
file changes. A catalogue with a syntax error is not guessed at: it raises
:class:`CatalogueError` naming the file and the line, and the kit's pages then show
the English source for it (the kit refuses such a language at start-up anyway).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fieldkit.core.errors import FieldkitError
from fieldkit.core.i18n.pofile import CatalogueSyntaxError, parse_po

SOURCE_LANGUAGE = "en"
Key = tuple[str | None, str]  # (msgctxt, msgid)


class CatalogueError(FieldkitError):
    """A catalogue exists but cannot be read, or has a syntax error."""


@dataclass(frozen=True)
class Catalogue:
    language: str
    translated: Mapping[Key, str]
    fuzzy: frozenset[Key]
    digest: str | None  # sha256 of the file, None when there is no file

    def get(self, context: str | None, text: str) -> str | None:
        return self.translated.get((context, text))


@dataclass(frozen=True)
class Coverage:
    """How many of a set of texts a catalogue leaves untranslated or fuzzy, without the texts themselves."""

    digest: str | None  # as Catalogue.digest
    missing: int
    fuzzy: int


def catalogue_path(translations_dir: Path, language: str, domain: str) -> Path:
    return translations_dir / language / "LC_MESSAGES" / f"{domain}.po"


def catalogue_languages(translations_dir: Path) -> list[str]:
    """The source language, then every language with an interface catalogue."""
    found = [SOURCE_LANGUAGE]
    if translations_dir.is_dir():
        found += sorted(
            p.name for p in translations_dir.iterdir() if catalogue_path(translations_dir, p.name, "messages").is_file()
        )
    return found


def catalogue_digest(translations_dir: Path, language: str, domain: str) -> str | None:
    """The sha256 of a catalogue's file as it is now, even one with a syntax error (None: no file)."""
    try:
        return load_catalogue(translations_dir, language, domain).digest
    except CatalogueError:
        try:
            data = catalogue_path(translations_dir, language, domain).read_bytes()
        except OSError:
            return None
        return "sha256:" + hashlib.sha256(data).hexdigest()


def load_catalogue(translations_dir: Path, language: str, domain: str) -> Catalogue:
    """The reviewed translations of one catalogue (empty for the source language or no file)."""
    path = catalogue_path(translations_dir, language, domain)
    if language == SOURCE_LANGUAGE or not path.is_file():
        return Catalogue(language, {}, frozenset(), None)
    stat = path.stat()
    read = _read(path, language, stat.st_mtime_ns, stat.st_size)
    if isinstance(read, str):
        raise CatalogueError(read)
    return read


def catalogue_coverage(translations_dir: Path, language: str, domain: str, wanted: frozenset[Key]) -> Coverage:
    """How much of ``wanted`` one catalogue translates; CatalogueError as :func:`load_catalogue`.

    The catalogue is read for this and not kept: a kit lists every language on its home
    page, but keeps in memory the wording of only the languages interviews use
    (``docs/performance.md``, resident memory).
    """
    path = catalogue_path(translations_dir, language, domain)
    if language == SOURCE_LANGUAGE or not path.is_file():
        return Coverage(None, len(wanted), 0)
    stat = path.stat()
    found = _coverage(path, language, stat.st_mtime_ns, stat.st_size, wanted)
    if isinstance(found, str):
        raise CatalogueError(found)
    return found


@functools.lru_cache(maxsize=64)
def _coverage(path: Path, language: str, mtime_ns: int, size: int, wanted: frozenset[Key]) -> Coverage | str:
    read = _read.__wrapped__(path, language, mtime_ns, size)  # parsed again, not cached
    if isinstance(read, str):
        return read
    return Coverage(read.digest, len(wanted - read.translated.keys()), len(wanted & read.fuzzy))


@functools.lru_cache(maxsize=64)
def _read(path: Path, language: str, mtime_ns: int, size: int) -> Catalogue | str:
    """The catalogue, or what is wrong with its text (kept, so a broken file is parsed once)."""
    try:
        data = path.read_bytes()
    except OSError as error:  # not kept: a file made readable again keeps its mtime
        raise CatalogueError(f"cannot read the catalogue {path}: {error}") from None
    po, problems = parse_po(data)
    if problems:
        syntax = CatalogueSyntaxError(str(path), problems)
        return f"cannot read the catalogue {syntax}; run 'fieldkit translations check'"
    translated: dict[Key, str] = {}
    fuzzy: set[Key] = set()
    for message in po.catalog:
        if not isinstance(message.id, str) or not message.id:
            continue
        key = (message.context, message.id)
        if message.fuzzy:
            fuzzy.add(key)
        elif isinstance(message.string, str) and message.string:
            translated[key] = message.string
    return Catalogue(language, translated, frozenset(fuzzy), "sha256:" + hashlib.sha256(data).hexdigest())

"""Find stigmatising terms in text and in the files the kit ships.

Matching is per language and whole-word. Deliberate quotations are marked in a
comment of the file's own kind, ``lint-allow: <term> -- <reason>``, at the end of
the line or on the line above. In YAML, a mark on or above a key covers the key's
whole value when it runs over several lines (``label: >``); in a gettext catalogue,
a mark among an entry's comments covers the whole entry.

In Python files only the prose is read: comments, docstrings and string literals.
Names in the code (``_MAX_RETRIES``) are not wording, and neither is a string that is
one machine token, such as a header name, a key, an id or an environment variable
(``"Content-Type"``, ``"fieldkit-sync/1"``, ``"HOME"``): no spaces, and a ``-_./:@+=``
or a digit in it, or all in capitals. A string a person reads, even of one word, is
checked.
"""

from __future__ import annotations

import bisect
import io
import os
import re
import tokenize
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import fieldkit
from fieldkit.core.errors import FieldkitError
from fieldkit.core.i18n.pofile import PoFile, SourceField, parse_po
from fieldkit.core.lint.terms import (
    LETTER,
    SEVERITIES,
    SOURCE_LANGUAGE,
    NearPatterns,
    TermEntry,
    TermList,
    TermLists,
    load_term_lists,
    normalise,
    normalised_key,
)
from fieldkit.core.paths import forms_dir, translations_dir

ERROR = "error"
WARNING = "warning"
_ERROR_SEVERITIES = frozenset({"avoid", ERROR})
_SEVERITY_RANK = {"avoid": 0, "prefer": 1}

_DIRECTIVE = r"lint-allow:"
_COMMENT_SYNTAXES: dict[str, re.Pattern[str]] = {
    "jinja": re.compile(r"\{#-?[ \t]*" + _DIRECTIVE + r"(?P<body>.*?)-?#\}"),
    "html": re.compile(r"<!--[ \t]*" + _DIRECTIVE + r"(?P<body>.*?)-->"),
    "rst": re.compile(r"^[ \t]*\.\.[ \t]+" + _DIRECTIVE + r"(?P<body>.*)$"),
    "hash": re.compile(r"#[ \t]*" + _DIRECTIVE + r"(?P<body>.*)$"),
}
_ALL_SYNTAXES = tuple(_COMMENT_SYNTAXES)
_SYNTAXES_BY_SUFFIX = {
    ".yaml": ("hash",),
    ".yml": ("hash",),
    ".py": ("hash",),
    ".md": ("html",),
    ".markdown": ("html",),
    ".html": ("jinja", "html"),
    ".htm": ("jinja", "html"),
    ".xml": ("html",),
    ".j2": ("jinja", "html"),
    ".jinja": ("jinja", "html"),
    ".jinja2": ("jinja", "html"),
    ".rst": ("rst",),
}
_CATALOGUE_SUFFIXES = frozenset({".po", ".pot"})
TEXT_SUFFIXES = frozenset({*_SYNTAXES_BY_SUFFIX, *_CATALOGUE_SUFFIXES, ".txt"})

# "key: value" where the value starts on the key's line (a block indicator such as
# ">" counts); the key's column is after any "- " list markers.
_YAML_KEY_WITH_VALUE = re.compile(r"^(?P<indent>[ \t]*(?:-[ \t]+)*)[^\s#][^#]*?:[ \t]+(?P<value>[^#\s].*)$")
_LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}(?:[_-][A-Za-z0-9]{2,8})?(?:@[a-z]+)?$")
_QUOTES = "\"'`\u00ab\u00bb\u201c\u201d\u201e\u2018\u2019"

_PO_DIRECTIVE = re.compile(r"^#\.?[ \t]*" + _DIRECTIVE + r"(?P<body>.*)$")
_PO_LANGUAGE = re.compile(r"(?P<code>[A-Za-z]{2,3}(?:[_@-][A-Za-z0-9]+)*)")
_PO_ESCAPED_CHARACTER = re.compile(r"\\.")

_SKIPPED_FOLDERS = frozenset({"__pycache__", "node_modules", "tests"})


@dataclass(frozen=True)
class Finding:
    """One thing the lint reports.

    ``severity`` is ``avoid`` or ``prefer`` for a term (``suggestion`` is then the
    respectful alternative), or ``error`` / ``warning`` for a problem with a
    ``lint-allow`` mark or a missing term list (``suggestion`` then says what is wrong).
    """

    path: str
    line: int
    column: int
    term: str
    matched_text: str
    severity: str
    suggestion: str
    language: str

    @property
    def is_error(self) -> bool:
        """Whether this finding fails the check even without ``--strict``."""
        return self.severity in _ERROR_SEVERITIES

    def format(self) -> str:
        """The one-line report, ``path:line:col: severity: ...``."""
        where = f"{self.path}:{self.line}:{self.column}"
        if self.severity in SEVERITIES:
            return f'{where}: {self.severity}: "{self.matched_text}" -> use "{self.suggestion}" ({self.language})'
        return f"{where}: {self.severity}: {self.suggestion}"


@dataclass
class LintReport:
    """Everything one run found, and how many files it read."""

    findings: list[Finding] = field(default_factory=list)
    files_checked: int = 0

    @property
    def errors(self) -> int:
        """Findings that fail the check: ``avoid`` terms and broken marks."""
        return sum(1 for finding in self.findings if finding.is_error)

    @property
    def warnings(self) -> int:
        """Findings that only warn: ``prefer`` terms and unused marks."""
        return len(self.findings) - self.errors

    def failed(self, *, strict: bool = False) -> bool:
        """Whether the run should exit non-zero; ``strict`` counts warnings too."""
        return self.errors > 0 or (strict and self.warnings > 0)

    def summary(self) -> str:
        """``N errors, M warnings in K files``."""
        return (
            f"{_count(self.errors, 'error')}, {_count(self.warnings, 'warning')} "
            f"in {_count(self.files_checked, 'file')}"
        )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


# --- matching -----------------------------------------------------------------


@dataclass(frozen=True)
class _Hit:
    start: int
    end: int
    entry: TermEntry
    term: str


def _find_hits(text: str, terms: TermList) -> list[_Hit]:
    """Every term of ``terms`` in ``text`` (NFC), keeping the outermost of nested hits."""
    prepared: dict[bool, tuple[str, list[int] | None]] = {}
    words: dict[bool, _Words] = {}
    hits: list[_Hit] = []
    # Per judging word (by where it stands): the rank of its reading and the hits.
    judged: dict[int, tuple[tuple[int, int], list[_Hit]]] = {}
    possible: dict[bool, bool] = {}
    for entry, pattern, groups in terms.compiled():
        fold = not entry.match_case
        if fold not in prepared:
            prepared[fold] = normalise(text, fold_case=fold)
            screen = terms.screen(fold)
            possible[fold] = screen is not None and screen.search(prepared[fold][0]) is not None
        if not possible[fold]:
            continue
        haystack, origin = prepared[fold]
        for match in pattern.finditer(haystack):
            start, end = match.start(), match.end()
            anchor = start
            distance = 0
            if entry.near is not None:
                if fold not in words:
                    words[fold] = _Words(haystack)
                found = _judged_span(words[fold], start, terms.near_patterns(entry))
                if found is None:
                    continue
                start, end, distance = found
            if origin is not None:
                start, end, anchor = origin[start], origin[end], origin[anchor]
            hit = _Hit(start, end, entry, groups[match.lastgroup or "t0"])
            if entry.near is None:
                hits.append(hit)
                continue
            # One word judges one noun, so of the rules that find one, one reading is
            # reported: an error before a warning (a word that may judge a sample or
            # a pronoun is an error), then the nearest noun.
            rank = (_SEVERITY_RANK[entry.severity], distance)
            best, kept = judged.get(anchor, (rank, []))
            if rank < best:
                judged[anchor] = (rank, [hit])
            elif rank == best:
                judged[anchor] = (rank, [*kept, hit])
    for _, kept in judged.values():
        hits.extend(kept)
    return _outermost(hits)


# --- a judging word near the noun it judges -------------------------------------------

_WORD = re.compile(f"{LETTER}+")
# A near rule looks only within a sentence: these end one (as do a blank line, a
# Markdown list item and a table cell). Commas and line breaks do not.
_SENTENCE_BREAK = re.compile(r"[.!?;\u2026|\u00bf\u00a1\u061f\u061b]|\n[ \t]*\n|\n[ \t]*[-*+][ \t]")


class _Words:
    """The words of a text with the sentence each belongs to, made once per text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.spans = [match.span() for match in _WORD.finditer(text)]
        self.starts = [start for start, _ in self.spans]
        breaks = [match.start() for match in _SENTENCE_BREAK.finditer(text)]
        self.sentence = [bisect.bisect_right(breaks, start) for start in self.starts]

    def touching(self, first: int, second: int) -> bool:
        """Whether two words stand next to each other with only spaces between."""
        if first < 0 or second >= len(self.spans):
            return False
        return not self.text[self.spans[first][1] : self.spans[second][0]].strip()

    def fits(self, index: int, pattern: re.Pattern[str] | None) -> bool:
        if pattern is None:
            return False
        start, end = self.spans[index]
        return pattern.fullmatch(self.text, start, end) is not None


def _judged_span(words: _Words, start: int, near: NearPatterns) -> tuple[int, int, int] | None:
    """Where the judging word at ``start`` and the noun it judges stand, and how far apart.

    The word judges the nearest listed word in its sentence: a noun of the rule
    (the hit) or a neutral one (no hit; a tie goes to the neutral one). ``None`` when
    it judges no noun of the rule.
    """
    index = bisect.bisect_left(words.starts, start)
    if index >= len(words.spans) or words.starts[index] != start:
        return None
    sentence = words.sentence[index]
    last = len(words.spans) - 1

    def same_sentence(other: int) -> bool:
        return 0 <= other <= last and words.sentence[other] == sentence

    if words.touching(index, index + 1) and words.fits(index + 1, near.not_before):
        return None
    if words.touching(index - 1, index) and words.fits(index - 1, near.not_after):
        return None
    for distance in range(1, near.rule.within + 1):
        sides = [index - distance, index + distance]
        sides = [other for other in sides if same_sentence(other)]
        if not sides:
            return None
        if any(words.fits(other, near.unless) for other in sides):
            return None
        for other in sides:
            if near.rule.noun_first and other > index:
                continue
            if words.fits(other, near.of):
                first, last_word = min(index, other), max(index, other)
                return words.spans[first][0], words.spans[last_word][1], distance
    return None


def _outermost(hits: list[_Hit]) -> list[_Hit]:
    # A phrase entry and a one-word entry can match the same words; report only the
    # phrase, whose advice fits. At equal spans the stronger severity wins.
    hits.sort(key=lambda hit: (hit.start, -hit.end, _SEVERITY_RANK[hit.entry.severity]))
    kept: list[_Hit] = []
    for hit in hits:
        if not any(k.start <= hit.start and hit.end <= k.end for k in kept):
            kept.append(hit)
    return kept


# --- lint-allow marks -----------------------------------------------------------


@dataclass
class _Mark:
    line: int
    column: int
    terms: tuple[str, ...]
    reason: str
    covers: set[int] = field(default_factory=set)
    used: set[str] = field(default_factory=set)

    @property
    def is_valid(self) -> bool:
        return bool(self.terms and self.reason)

    def allows(self, line: int, hit: _Hit, matched_text: str) -> bool:
        if not self.is_valid or line not in self.covers:
            return False
        names = {normalised_key(matched_text), normalised_key(hit.term)}
        names.update(normalised_key(term) for term in hit.entry.match)
        allowed = False
        for term in self.terms:
            if normalised_key(term) in names:
                self.used.add(term)
                allowed = True
        return allowed


def _parse_mark(body: str, line: int, column: int) -> _Mark:
    names, _, reason = body.partition("--")
    cleaned = (name.strip().strip(_QUOTES).strip() for name in names.split(","))
    terms = tuple(name for name in cleaned if name)
    return _Mark(line=line, column=column, terms=terms, reason=reason.strip())


def _mark_findings(marks: Iterable[_Mark], path: str, language: str) -> list[Finding]:
    findings: list[Finding] = []
    for mark in marks:
        problems: list[tuple[str, str]] = []
        if not mark.terms:
            problems.append((ERROR, 'lint-allow names no term: write "lint-allow: TERM -- REASON"'))
        elif not mark.reason:
            problems.append((ERROR, 'lint-allow needs a reason after "--"'))
        else:
            problems.extend(
                (WARNING, f'lint-allow for "{term}" suppresses nothing here')
                for term in mark.terms
                if term not in mark.used
            )
        findings.extend(
            Finding(path, mark.line, mark.column, "lint-allow", "", severity, message, language)
            for severity, message in problems
        )
    return findings


# --- plain text files -------------------------------------------------------------


def _scan_plain(
    text: str,
    *,
    path: str,
    terms: TermList,
    syntaxes: Sequence[str],
    yaml_values: bool = False,
    prose: Callable[[str], bytearray | None] | None = None,
) -> list[Finding]:
    text = unicodedata.normalize("NFC", text)
    lines = text.split("\n")
    marks, blanked = _read_marks(lines, syntaxes)
    _set_coverage(marks, blanked, yaml_values=yaml_values)

    body = "\n".join(line for line, _ in blanked)
    keep = prose(text) if prose is not None else None
    if keep is not None:
        # Same length and lines as the text, so positions stay true.
        body = "".join(c if keep[i] or c == "\n" else " " for i, c in enumerate(body))
    line_starts = [0]
    for line, _ in blanked[:-1]:
        line_starts.append(line_starts[-1] + len(line) + 1)

    findings = []
    for hit in _find_hits(body, terms):
        index = bisect.bisect_right(line_starts, hit.start) - 1
        line_number = index + 1
        matched = " ".join(text[hit.start : hit.end].split())
        if any(mark.allows(line_number, hit, matched) for mark in marks):
            continue
        findings.append(
            Finding(
                path=path,
                line=line_number,
                column=hit.start - line_starts[index] + 1,
                term=hit.term,
                matched_text=matched,
                severity=hit.entry.severity,
                suggestion=hit.entry.use,
                language=terms.language,
            )
        )
    return findings + _mark_findings(marks, path, terms.language)


def _read_marks(lines: list[str], syntaxes: Sequence[str]) -> tuple[list[_Mark], list[tuple[str, bool]]]:
    """Find the marks; return them and each line with its mark blanked out.

    The mark names the term it allows, so its own text must not count as a use. The
    flag says whether the line holds nothing but a mark.
    """
    marks: list[_Mark] = []
    blanked: list[tuple[str, bool]] = []
    for number, line in enumerate(lines, start=1):
        found = None
        for syntax in syntaxes:
            found = _COMMENT_SYNTAXES[syntax].search(line)
            if found:
                break
        if found is None:
            blanked.append((line, False))
            continue
        marks.append(_parse_mark(found["body"], number, found.start() + 1))
        start, end = found.span()
        rest = line[:start] + " " * (end - start) + line[end:]
        blanked.append((rest, not rest.strip()))
    return marks, blanked


def _set_coverage(marks: list[_Mark], lines: list[tuple[str, bool]], *, yaml_values: bool) -> None:
    for mark in marks:
        target = mark.line - 1
        if lines[target][1]:
            # A mark on a line of its own speaks for the next line that is not
            # itself a mark, so several marks can stack above one line.
            target += 1
            while target < len(lines) and lines[target][1]:
                target += 1
            if target >= len(lines):
                continue
        mark.covers.add(target + 1)
        if yaml_values:
            mark.covers.update(_yaml_value_lines(lines, target))


def _yaml_value_lines(lines: list[tuple[str, bool]], header: int) -> list[int]:
    """Line numbers where the value begun on line index ``header`` continues.

    That is a block scalar (``label: >``) or a plain or quoted scalar wrapped over
    several lines: every following line indented deeper than the key.
    """
    found = _YAML_KEY_WITH_VALUE.match(lines[header][0].rstrip())
    if found is None:
        return []
    indent = len(found["indent"])
    covered = []
    for index in range(header + 1, len(lines)):
        line = lines[index][0]
        if line.strip() and len(line) - len(line.lstrip()) <= indent:
            break
        covered.append(index + 1)
    return covered


# --- gettext catalogues ---------------------------------------------------------------


def _blank_escapes(text: str) -> str:
    # "\n" must read as a break between words; same width keeps columns true.
    return _PO_ESCAPED_CHARACTER.sub("  ", text)


def _catalogue_language(po: PoFile, path: Path) -> str | None:
    header = _PO_LANGUAGE.match(po.header("Language") or "")
    if header:
        return header["code"]
    return _language_from_path(path)


def _scan_catalogue(text: str, *, path: str, real_path: Path, lists: TermLists) -> list[Finding]:
    english = lists[SOURCE_LANGUAGE]
    is_template = real_path.suffix == ".pot"
    # The catalogues' one reader; a file with syntax errors is still read as far as it
    # can be ('fieldkit translations check' reports those errors).
    po, _syntax = parse_po(text.encode("utf-8"), sources=True)
    code = SOURCE_LANGUAGE if is_template else _catalogue_language(po, real_path)
    translated = lists.for_language(code) if code else english
    findings: list[Finding] = []
    if translated is None:
        findings.append(_no_list_finding(path, code or "?"))

    for entry in po.sources:
        marks = [
            _parse_mark(directive["body"], comment.line, comment.column + 1)
            for comment in entry.comments
            if (directive := _PO_DIRECTIVE.match(comment.text))
        ]
        for mark in marks:
            mark.covers.update(range(entry.first_line, entry.last_line + 1))
        for po_field in [] if entry.obsolete else entry.fields:
            if po_field.keyword == "msgctxt":
                continue  # a context is an identifier for translators, not wording
            term_list = english if po_field.keyword.startswith("msgid") else translated
            if term_list is not None:
                findings.extend(_scan_po_field(po_field, marks, term_list, path))
        findings.extend(_mark_findings(marks, path, (translated or english).language))
    return findings


def _scan_po_field(po_field: SourceField, marks: list[_Mark], terms: TermList, path: str) -> list[Finding]:
    # The pieces of one message are joined, because catalogue tools wrap long
    # strings at any space, often inside a phrase.
    offsets: list[int] = []
    joined: list[str] = []
    position = 0
    for source in po_field.pieces:
        piece = unicodedata.normalize("NFC", _blank_escapes(source.raw))
        offsets.append(position)
        joined.append(piece)
        position += len(piece)
    message = "".join(joined)

    findings = []
    for hit in _find_hits(message, terms):
        index = bisect.bisect_right(offsets, hit.start) - 1
        line, column = po_field.pieces[index].line, po_field.pieces[index].column
        matched = " ".join(message[hit.start : hit.end].split())
        if any(mark.allows(line, hit, matched) for mark in marks):
            continue
        findings.append(
            Finding(
                path=path,
                line=line,
                column=column + hit.start - offsets[index] + 1,
                term=hit.term,
                matched_text=matched,
                severity=hit.entry.severity,
                suggestion=hit.entry.use,
                language=terms.language,
            )
        )
    return findings


def _no_list_finding(path: str, code: str) -> Finding:
    message = (
        f'no stigma term list for language "{code}": add translations/stigma-terms/{code}.yaml (see the README there)'
    )
    return Finding(path, 1, 1, "", "", WARNING, message, code)


# --- Python sources: only the prose ------------------------------------------------------

_STRING_START = re.compile(r"(?P<prefix>[A-Za-z]*)(?P<quote>\'\'\'|\"\"\"|\'|\")")
_MACHINE_TOKEN = re.compile(r"[\w.\-/:@+=]+")
_MACHINE_MARKS = frozenset("-_./:@+=0123456789")
_PYTHON_ESCAPE = re.compile(r"\\.", re.S)


def python_prose(text: str) -> bytearray | None:
    """For each character of ``text``, whether it is prose a person reads.

    Prose is comments and string literals (docstrings included), less the fields of
    f-strings and strings that are one machine token (see the module docstring).
    ``None`` when the file does not tokenize: then all of it is read, to be safe.
    """
    starts = [0]
    for line in text.split("\n")[:-1]:
        starts.append(starts[-1] + len(line) + 1)

    def offset(position: tuple[int, int]) -> int:
        return starts[position[0] - 1] + position[1]

    keep = bytearray(len(text))
    nested = 0
    fstring_start = 0
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            kind = token.type
            if kind == tokenize.COMMENT:
                keep[offset(token.start) : offset(token.end)] = b"\1" * (offset(token.end) - offset(token.start))
            elif kind == tokenize.STRING:
                _keep_string(text, offset(token.start), offset(token.end), keep)
            elif kind == getattr(tokenize, "FSTRING_START", None):  # Python 3.12+ splits f-strings
                if nested == 0:
                    fstring_start = offset(token.start)
                nested += 1
            elif kind == getattr(tokenize, "FSTRING_END", None):
                nested -= 1
                if nested == 0:
                    _keep_string(text, fstring_start, offset(token.end), keep)
    except (tokenize.TokenError, SyntaxError, IndexError):
        return None
    return keep


def _keep_string(text: str, start: int, end: int, keep: bytearray) -> None:
    opening = _STRING_START.match(text, start, end)
    if opening is None:
        return
    prefix = opening["prefix"].lower()
    quote = len(opening["quote"])
    first, last = opening.end(), max(opening.end(), end - quote)
    content = text[first:last]
    if "r" not in prefix:
        content = _PYTHON_ESCAPE.sub("  ", content)  # "\n" must read as a break between words
    if "f" in prefix:
        content = _blank_fields(content)
    if _is_machine_token(content):
        return
    for index, character in enumerate(content):
        if character != " ":
            keep[first + index] = 1


def _blank_fields(content: str) -> str:
    """An f-string's literal text, with its ``{...}`` fields blanked (``{{`` stays)."""
    out = list(content)
    depth = 0
    index = 0
    while index < len(content):
        character = content[index]
        if depth == 0 and character in "{}" and content[index + 1 : index + 2] == character:
            index += 2
            continue
        if character == "{":
            depth += 1
        if depth > 0 and character != "\n":
            out[index] = " "
        if character == "}" and depth > 0:
            depth -= 1
        index += 1
    return "".join(out)


def _is_machine_token(content: str) -> bool:
    word = content.strip()
    if not word or not _MACHINE_TOKEN.fullmatch(word):
        return False
    return any(character in _MACHINE_MARKS for character in word) or (word.isupper() and len(word) > 1)


# --- files ----------------------------------------------------------------------------


def _language_from_path(path: Path) -> str | None:
    """``ru`` for ``translations/ru/...``; ``None`` when the path does not say."""
    parts = path.parts
    for index in range(len(parts) - 2, -1, -1):
        if parts[index] == "translations" and _LANGUAGE_CODE.match(parts[index + 1]):
            return parts[index + 1]
    return None


def lint_file(path: Path, lists: TermLists, *, shown_as: str | None = None) -> list[Finding]:
    """Lint one file, choosing language and comment syntax from its type and place."""
    shown = shown_as or str(path)
    text = _read_text(path, shown)
    real_path = path.resolve()
    suffix = path.suffix.lower()
    if suffix in _CATALOGUE_SUFFIXES:
        return _scan_catalogue(text, path=shown, real_path=real_path, lists=lists)
    language = SOURCE_LANGUAGE
    if suffix in (".yaml", ".yml"):
        language = _language_from_path(real_path) or SOURCE_LANGUAGE
    terms = lists.for_language(language)
    if terms is None:
        return [_no_list_finding(shown, language)]
    return _scan_plain(
        text,
        path=shown,
        terms=terms,
        syntaxes=_SYNTAXES_BY_SUFFIX.get(suffix, _ALL_SYNTAXES),
        yaml_values=suffix in (".yaml", ".yml"),
        prose=python_prose if suffix == ".py" else None,
    )


def _read_text(path: Path, shown: str) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FieldkitError(f"{shown}: not a UTF-8 text file, so it cannot be checked") from None
    except OSError as error:
        raise FieldkitError(f"{shown}: cannot be read ({error.strerror})") from None


def _walk(root: Path, wanted: Callable[[Path], bool], excluded: Path) -> list[Path]:
    """Files under ``root`` that ``wanted`` accepts, skipping hidden, cache and test folders."""
    found: list[Path] = []
    for folder, subfolders, files in os.walk(root):
        here = Path(folder)
        subfolders[:] = sorted(
            name
            for name in subfolders
            if not name.startswith(".") and name not in _SKIPPED_FOLDERS and not _is_term_folder(here / name, excluded)
        )
        candidates = (here / name for name in sorted(files) if not name.startswith("."))
        found.extend(path for path in candidates if wanted(path))
    return found


def _is_term_folder(path: Path, excluded: Path) -> bool:
    # The lists must spell out every term, so they are never linted.
    return (path.name == "stigma-terms" and path.parent.name == "translations") or (path.resolve() == excluded)


def _is_text_file(path: Path) -> bool:
    return path.suffix.lower() in TEXT_SUFFIXES


def default_paths(excluded: Path | None = None) -> list[Path]:
    """Everything the kit ships: forms, translations and, in a source checkout, its texts."""
    excluded = (excluded or translations_dir() / "stigma-terms").resolve()
    files: list[Path] = []
    for folder in (forms_dir(), translations_dir()):
        if folder.is_dir():
            files.extend(_walk(folder, _is_text_file, excluded))
    package = Path(fieldkit.__file__).resolve().parent
    root = package.parent
    if (root / "pyproject.toml").is_file():
        if (root / "README.md").is_file():
            files.append(root / "README.md")

        def code_or_template(path: Path) -> bool:
            return path.suffix == ".py" or "templates" in path.relative_to(root).parts[:-1]

        sources: list[tuple[Path, Callable[[Path], bool]]] = [
            (root / "docs", lambda p: p.suffix == ".md"),
            (package, code_or_template),
            (root / "sync", code_or_template),  # the hub's pages and reports are read by people too
        ]
        for folder, wanted in sources:
            if folder.is_dir():
                files.extend(_walk(folder, wanted, excluded))
    return files


def _shown(path: Path) -> str:
    if not path.is_absolute():
        return str(path)
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def lint_paths(paths: Sequence[Path] | None = None, *, terms_dir: Path | None = None) -> LintReport:
    """Lint files and folders; with no ``paths``, everything the kit ships.

    Folders are searched for text files (YAML, gettext catalogues, Markdown, text,
    reStructuredText, HTML and Jinja templates, Python), leaving out hidden folders,
    ``tests`` folders and the term lists themselves. Raises
    :class:`~fieldkit.core.errors.FieldkitError` for a missing path, an unreadable file or a
    broken term list.
    """
    lists = load_term_lists(terms_dir)
    excluded = lists.directory
    if paths is None:
        files = [(path, True) for path in default_paths(excluded)]
    else:
        files = []
        for path in paths:
            if path.is_dir():
                files.extend((found, True) for found in _walk(path, _is_text_file, excluded))
            elif path.is_file():
                files.append((path, False))
            else:
                raise FieldkitError(f"{path}: no such file or folder")

    report = LintReport()
    seen: set[Path] = set()
    for path, from_walk in files:
        real = path.resolve()
        if real in seen:
            continue
        seen.add(real)
        try:
            findings = lint_file(path, lists, shown_as=_shown(path))
        except FieldkitError:
            if from_walk and not _is_text_file(path):
                continue  # a picture or font among templates: nothing to read
            raise
        report.files_checked += 1
        report.findings.extend(findings)
    report.findings.sort(key=lambda f: (f.path, f.line, f.column))
    return report


def lint_text(text: str, language: str, path: str = "<text>", *, terms_dir: Path | None = None) -> list[Finding]:
    """Lint a piece of text in ``language`` (a code such as ``en`` or ``pt_BR``).

    Marks are recognised in every comment syntax the lint knows.
    """
    lists = load_term_lists(terms_dir)
    terms = lists.for_language(language)
    if terms is None:
        raise FieldkitError(
            f'no stigma term list for language "{language}"; lists exist for: {", ".join(sorted(lists))}'
        )
    findings = _scan_plain(text, path=path, terms=terms, syntaxes=_ALL_SYNTAXES)
    return sorted(findings, key=lambda f: (f.line, f.column))

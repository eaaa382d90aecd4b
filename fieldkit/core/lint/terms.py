"""Stigma term lists: load, validate and compile the per-language YAML files.

Each file in ``translations/stigma-terms/`` holds one language's terms as data (the
README in that folder describes the format for translators). This module turns the
files into compiled patterns and refuses a malformed file with a message that names
the file and the entry, so a translator can fix it without reading Python.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fieldkit.core.errors import FieldkitError
from fieldkit.core.paths import translations_dir

SEVERITIES = ("avoid", "prefer")
SOURCE_LANGUAGE = "en"

_FILE_KEYS = {"language", "name", "inflect", "prefixes", "terms"}
_ENTRY_KEYS = {"match", "near", "severity", "use", "note", "inflect", "match_case"}
_NEAR_KEYS = {"words", "of", "within", "unless", "not_before", "not_after", "noun_first"}
# How far apart, in words, a judging word and its noun may stand (three words apart
# is a distance of 3); a rule may choose 1 to NEAR_MAX_WITHIN.
NEAR_DEFAULT_WITHIN = 4
NEAR_MAX_WITHIN = 8
_INFLECTIONS = ("english",)

# A letter or digit. Underscore counts as a separator so that identifiers such as
# ``term_count`` are split into words.
LETTER = r"[^\W_]"
# Writers join compounds with a hyphen, a space or nothing ("well-being",
# "well being", "wellbeing"); a hyphen in a term accepts all three.
_HYPHEN = r"(?:[-\u2010\u2011]|\s+)?"
_ALLOWED_PUNCTUATION = set("-'.\u2019")
_GROUP_NAME = re.compile(r"\(\?P<\w+>")

# Arabic vowel marks and the tatweel are optional in writing, so they are dropped
# before matching; the letter pairs below are spelled either way in everyday text.
_DROPPED = frozenset([0x0640, 0x0670, *range(0x064B, 0x0660)])
_SAME_LETTER = str.maketrans(
    {
        "\u0623": "\u0627",  # alef with hamza above -> alef
        "\u0625": "\u0627",  # alef with hamza below -> alef
        "\u0622": "\u0627",  # alef with madda -> alef
        "\u0671": "\u0627",  # alef wasla -> alef
        "\u0649": "\u064a",  # alef maksura -> yeh
        "\u0629": "\u0647",  # teh marbuta -> heh
        "\u0451": "\u0435",  # Cyrillic yo -> ie
        "\u0401": "\u0415",
        "\u2019": "'",  # typographic apostrophe -> straight
        "\u02bc": "'",
    }
)


class TermFileError(FieldkitError):
    """A term file that cannot be used; the message names the file and the entry."""


def default_terms_dir() -> Path:
    """The shipped folder of term lists."""
    return translations_dir() / "stigma-terms"


def normalise(text: str, *, fold_case: bool = True) -> tuple[str, list[int] | None]:
    """Return ``text`` prepared for matching, and where each character came from.

    The second value maps each index of the result to an index of ``text`` (with one
    extra entry for the end), or is ``None`` when the two line up one to one.
    ``text`` should already be in Unicode NFC form.
    """
    if text.isascii():
        return (text.lower() if fold_case else text), None
    out: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        if ord(char) in _DROPPED:
            continue
        char = char.translate(_SAME_LETTER)
        if fold_case:
            char = char.casefold()
        out.extend(char)
        origin.extend([index] * len(char))
    origin.append(len(text))
    return "".join(out), origin


def normalised_key(text: str) -> str:
    """A form of ``text`` for comparing terms: case, spacing and stars ignored."""
    folded, _ = normalise(unicodedata.normalize("NFC", text))
    return " ".join(folded.replace("*", "").split())


def english_forms(word: str) -> list[str]:
    """The word plus its regular -s, -es, -ed and -ing forms, longest first."""
    forms = {word, word + "s", word + "es", word + "ed", word + "ing"}
    if word.endswith("e"):
        forms |= {word + "d", word[:-1] + "ing"}
    if len(word) > 1 and word.endswith("y") and word[-2] not in "aeiou":
        forms |= {word[:-1] + "ies", word[:-1] + "ied"}
    return sorted(forms, key=lambda form: (-len(form), form))


def english_plurals(word: str) -> list[str]:
    """The noun plus its regular plural (-s, -es, -ies), longest first."""
    forms = {word, word + "s", word + "es"}
    if len(word) > 1 and word.endswith("y") and word[-2] not in "aeiou":
        forms.add(word[:-1] + "ies")
    return sorted(forms, key=lambda form: (-len(form), form))


@dataclass(frozen=True)
class NearRule:
    """A judging word that stigmatises only when it judges a test or a person.

    ``words`` are the judging words, ``of`` the nouns (and pronouns) they must judge
    to count, at most ``within`` words away on either side, in one sentence. The word
    judges the nearest listed noun, so one of ``unless`` (water, a room) standing
    nearer (or as near) makes it neutral. ``not_before`` and ``not_after`` are the
    words that, right after or right before it, show it is used in another sense
    (a verb followed by "the"). With ``noun_first`` the word counts only after its noun.
    """

    words: tuple[str, ...]
    of: tuple[str, ...]
    within: int = NEAR_DEFAULT_WITHIN
    unless: tuple[str, ...] = ()
    not_before: tuple[str, ...] = ()
    not_after: tuple[str, ...] = ()
    noun_first: bool = False


@dataclass(frozen=True)
class NearPatterns:
    """A near rule compiled: each list as one pattern that a whole word must match."""

    rule: NearRule
    of: re.Pattern[str]
    unless: re.Pattern[str] | None
    not_before: re.Pattern[str] | None
    not_after: re.Pattern[str] | None


@dataclass(frozen=True)
class TermEntry:
    """One entry of a term file: the words to find and what to say instead."""

    number: int
    line: int
    match: tuple[str, ...]
    severity: str
    use: str
    note: str = ""
    inflect: bool = True
    match_case: bool = False
    near: NearRule | None = None

    @property
    def term(self) -> str:
        """The entry's first listed term, used as its name."""
        return self.match[0]


@dataclass
class TermList:
    """The terms of one language, ready to match."""

    language: str
    path: Path
    entries: tuple[TermEntry, ...]
    name: str = ""
    inflect: str | None = None
    prefixes: tuple[str, ...] = ()
    _compiled: list[tuple[TermEntry, re.Pattern[str], dict[str, str]]] | None = field(default=None, repr=False)
    _near: dict[int, NearPatterns] | None = field(default=None, repr=False)
    _screens: dict[bool, re.Pattern[str] | None] | None = field(default=None, repr=False)

    def inflects(self, entry: TermEntry) -> bool:
        """Whether regular English endings are added to this entry's terms."""
        return self.inflect == "english" and entry.inflect

    def word_forms(self, entry: TermEntry, term: str) -> list[str]:
        """Concrete spellings that ``term`` of ``entry`` matches (a stem stands bare).

        For a near rule the judging words are never inflected: list every form.
        """
        words = term.split()
        if entry.near is not None:
            return [term.rstrip("*")]
        last = words[-1]
        fixed = last.endswith("*") or not self.inflects(entry)
        endings = [last.rstrip("*")] if fixed else english_forms(last)
        head = " ".join(word.rstrip("*") for word in words[:-1])
        return [f"{head} {ending}".strip() for ending in endings]

    def compiled(self) -> list[tuple[TermEntry, re.Pattern[str], dict[str, str]]]:
        """Per entry: the entry, its pattern, and which listed term each group is."""
        if self._compiled is None:
            self._compiled = [self._compile(entry) for entry in self.entries]
        return self._compiled

    def screen(self, fold_case: bool) -> re.Pattern[str] | None:
        """One pattern that finds where any entry might match (folded text or not).

        Most texts hold no term at all; one search with it spares a search per entry.
        ``None`` when no entry reads text that way.
        """
        if self._screens is None:
            self._screens = {}
            for fold in (True, False):
                bodies = [pattern.pattern for entry, pattern, _ in self.compiled() if entry.match_case != fold]
                # The groups are renamed away: a combined pattern may not repeat a name.
                self._screens[fold] = (
                    re.compile("|".join(f"(?:{_GROUP_NAME.sub('(?:', body)})" for body in bodies)) if bodies else None
                )
        return self._screens[fold_case]

    def near_patterns(self, entry: TermEntry) -> NearPatterns:
        """The compiled word lists of a near rule (``entry.near`` must be set)."""
        if self._near is None:
            self._near = {}
        found = self._near.get(entry.number)
        if found is None:
            rule = entry.near
            assert rule is not None
            # The neutral things always take plural endings; the judged nouns unless the
            # entry says "inflect: false" (pronouns: "I" must not find "is").
            plurals = self.inflect == "english"
            found = NearPatterns(
                rule=rule,
                of=self._word_list(entry, rule.of, plurals=self.inflects(entry), prefixed=True),
                unless=self._word_list(entry, rule.unless, plurals=plurals, prefixed=True) if rule.unless else None,
                not_before=self._word_list(entry, rule.not_before) if rule.not_before else None,
                not_after=self._word_list(entry, rule.not_after) if rule.not_after else None,
            )
            self._near[entry.number] = found
        return found

    def _word_list(
        self, entry: TermEntry, words: Sequence[str], *, plurals: bool = False, prefixed: bool = False
    ) -> re.Pattern[str]:
        # One pattern that a whole word (as the scanner splits text into words) must match.
        options: set[str] = set()
        for word in words:
            prepared = _prepare(word, entry.match_case)
            if prepared.endswith("*"):
                options.add(f"{re.escape(prepared[:-1])}{LETTER}*")
            elif plurals:
                options.update(re.escape(form) for form in english_plurals(prepared))
            else:
                options.add(re.escape(prepared))
        body = "|".join(sorted(options, key=lambda option: (-len(option), option)))
        return re.compile(f"{self._prefix_pattern(entry) if prefixed else ''}(?:{body})")

    def _prefix_pattern(self, entry: TermEntry) -> str:
        if not self.prefixes:
            return ""
        options = sorted(
            {re.escape(_prepare(p, entry.match_case)) for p in self.prefixes},
            key=lambda p: (-len(p), p),
        )
        return f"(?:{'|'.join(options)})?"

    def _compile(self, entry: TermEntry) -> tuple[TermEntry, re.Pattern[str], dict[str, str]]:
        groups: dict[str, str] = {}
        alternatives: list[tuple[int, str]] = []
        for number, term in enumerate(entry.match):
            group = f"t{number}"
            groups[group] = term
            body = self._term_pattern(entry, term)
            alternatives.append((len(term), f"(?P<{group}>{body})"))
        # Longer terms first, so that the fullest phrase wins at a given position.
        alternatives.sort(key=lambda item: -item[0])
        prefix = self._prefix_pattern(entry)
        body = "|".join(pattern for _, pattern in alternatives)
        pattern = re.compile(rf"(?<!{LETTER}){prefix}(?:{body})(?!{LETTER})")
        return entry, pattern, groups

    def _term_pattern(self, entry: TermEntry, term: str) -> str:
        words = _prepare(term, entry.match_case).split()
        parts = []
        for position, word in enumerate(words):
            is_last = position == len(words) - 1
            if word.endswith("*"):
                parts.append(f"{_word_pattern(word[:-1])}{LETTER}*")
            elif is_last and self.inflects(entry) and entry.near is None:
                forms = english_forms(word)
                parts.append(f"(?:{'|'.join(_word_pattern(form) for form in forms)})")
            else:
                parts.append(_word_pattern(word))
        return r"\s+".join(parts)


def _prepare(text: str, match_case: bool) -> str:
    prepared, _ = normalise(unicodedata.normalize("NFC", text), fold_case=not match_case)
    return prepared


def _word_pattern(word: str) -> str:
    return _HYPHEN.join(re.escape(piece) for piece in word.split("-"))


class TermLists(Mapping[str, TermList]):
    """All loaded term lists, by language code."""

    def __init__(self, lists: dict[str, TermList], directory: Path) -> None:
        self._lists = lists
        self.directory = directory

    def __getitem__(self, language: str) -> TermList:
        return self._lists[language]

    def __iter__(self) -> Iterator[str]:
        return iter(self._lists)

    def __len__(self) -> int:
        return len(self._lists)

    def for_language(self, code: str) -> TermList | None:
        """The list for a language code such as ``ru``, ``pt_BR`` or ``sr@latin``."""
        code = code.strip().replace("-", "_")
        candidates = [code, code.lower(), re.split(r"[_@.]", code)[0].lower()]
        for candidate in candidates:
            if candidate in self._lists:
                return self._lists[candidate]
        return None


def load_term_lists(directory: Path | None = None) -> TermLists:
    """Load and validate every ``*.yaml`` term list in ``directory``.

    Raises :class:`TermFileError` naming the file and entry when anything is wrong.
    Results are reused while the files are unchanged.
    """
    directory = (directory or default_terms_dir()).resolve()
    if not directory.is_dir():
        raise TermFileError(f"{_shown(directory)}: the stigma term folder is missing")
    files = sorted(directory.glob("*.yaml"))
    fingerprint = tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    return _load_cached(directory, fingerprint)


@functools.lru_cache(maxsize=8)
def _load_cached(directory: Path, fingerprint: tuple[tuple[str, int, int], ...]) -> TermLists:
    lists: dict[str, TermList] = {}
    for name, _, _ in fingerprint:
        term_list = _load_file(directory / name)
        lists[term_list.language] = term_list
    if SOURCE_LANGUAGE not in lists:
        raise TermFileError(
            f"{_shown(directory)}: {SOURCE_LANGUAGE}.yaml is required, because English "
            "is the source language of every form"
        )
    return TermLists(lists, directory)


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _load_file(path: Path) -> TermList:
    where = _shown(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise TermFileError(f"{where}: not UTF-8 text ({error.reason})") from None
    try:
        root_node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        at = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise TermFileError(f"{where}: not valid YAML{at}: {problem}") from None
    if not isinstance(data, dict):
        raise TermFileError(f"{where}: expected keys 'language' and 'terms' at the top")
    unknown = set(data) - _FILE_KEYS
    if unknown:
        raise TermFileError(f"{where}: unknown key(s) {_listed(unknown)}; allowed: {_listed(_FILE_KEYS)}")
    language = data.get("language")
    if language != path.stem:
        raise TermFileError(f"{where}: 'language' must be {path.stem!r} (the file name), not {language!r}")
    inflect = data.get("inflect")
    if inflect is not None and inflect not in _INFLECTIONS:
        raise TermFileError(f"{where}: 'inflect' can only be 'english', not {inflect!r}")
    prefixes = data.get("prefixes") or []
    if not isinstance(prefixes, list) or not all(
        isinstance(p, str) and p.strip() and not p.split()[1:] for p in prefixes
    ):
        raise TermFileError(f"{where}: 'prefixes' must be a list of single words")
    name = data.get("name") or ""
    if not isinstance(name, str):
        raise TermFileError(f"{where}: 'name' must be text")
    raw_entries = data.get("terms")
    if not isinstance(raw_entries, list) or not raw_entries:
        raise TermFileError(f"{where}: 'terms' must be a non-empty list of entries")

    entry_lines = _entry_lines(root_node, len(raw_entries))
    entries: list[TermEntry] = []
    seen: dict[str, int] = {}
    for number, (raw, line) in enumerate(zip(raw_entries, entry_lines, strict=True), start=1):
        entry = _parse_entry(raw, number, line, where)
        if entry.near is not None:
            entries.append(entry)  # a near rule's words may also stand alone in another entry
            continue
        for term in entry.match:
            key = normalised_key(term) + ("*" if term.endswith("*") else "")
            if key in seen:
                raise TermFileError(
                    f"{where}: entry {number} (line {line}) repeats {term!r}, already listed in entry {seen[key]}"
                )
            seen[key] = number
        entries.append(entry)
    return TermList(
        language=language,
        path=path,
        entries=tuple(entries),
        name=name,
        inflect=inflect,
        prefixes=tuple(p.strip() for p in prefixes),
    )


def _entry_lines(root: Any, count: int) -> list[int]:
    """The line where each entry under ``terms`` starts, for error messages."""
    if isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            if key.value == "terms" and isinstance(value, yaml.SequenceNode):
                lines = [item.start_mark.line + 1 for item in value.value]
                if len(lines) == count:
                    return lines
    return [0] * count


def _parse_entry(raw: object, number: int, line: int, where: str) -> TermEntry:
    label = f"{where}: entry {number} (line {line})"
    if not isinstance(raw, dict):
        raise TermFileError(f"{label}: expected keys 'match' (or 'near'), 'severity' and 'use'")
    match = raw.get("match")
    if isinstance(match, str):
        match = [match]
    near_raw = raw.get("near")
    if isinstance(match, list) and match:
        label = f"{where}: entry {number} {str(match[0])!r} (line {line})"
    elif isinstance(near_raw, dict) and isinstance(near_raw.get("words"), list) and near_raw["words"]:
        label = f"{where}: entry {number} near {str(near_raw['words'][0])!r} (line {line})"
    unknown = set(raw) - _ENTRY_KEYS
    if unknown:
        raise TermFileError(f"{label}: unknown key(s) {_listed(unknown)}; allowed: {_listed(_ENTRY_KEYS)}")
    near: NearRule | None = None
    if near_raw is not None:
        if match is not None:
            raise TermFileError(f"{label}: an entry has either 'match' or 'near', not both")
        near = _parse_near(near_raw, label)
        terms = near.words
    elif not isinstance(match, list) or not match:
        raise TermFileError(f"{label}: 'match' must be a term or a list of terms (or give 'near')")
    else:
        terms = tuple(_check_term(term, label) for term in match)
    severity = raw.get("severity")
    if severity not in SEVERITIES:
        raise TermFileError(
            f"{label}: 'severity' must be 'avoid' (fails the check) or 'prefer' (warns), not {severity!r}"
        )
    use = raw.get("use")
    if not isinstance(use, str) or not use.strip():
        raise TermFileError(f"{label}: 'use' must give the respectful alternative")
    note = raw.get("note", "")
    if not isinstance(note, str):
        raise TermFileError(f"{label}: 'note' must be text")
    flags = {}
    for key, default in (("inflect", True), ("match_case", False)):
        value = raw.get(key, default)
        if not isinstance(value, bool):
            raise TermFileError(f"{label}: {key!r} must be true or false, not {value!r}")
        flags[key] = value
    return TermEntry(
        number=number,
        line=line,
        match=terms,
        severity=severity,
        use=" ".join(use.split()),
        note=" ".join(note.split()),
        near=near,
        **flags,
    )


def _parse_near(raw: object, label: str) -> NearRule:
    if not isinstance(raw, dict):
        raise TermFileError(f"{label}: 'near' must have the keys 'words' and 'of' (see the README)")
    unknown = set(raw) - _NEAR_KEYS
    if unknown:
        raise TermFileError(f"{label}: unknown key(s) {_listed(unknown)} under 'near'; allowed: {_listed(_NEAR_KEYS)}")
    lists: dict[str, tuple[str, ...]] = {}
    for key in ("words", "of", "unless", "not_before", "not_after"):
        value = raw.get(key, [])
        if isinstance(value, str):
            value = [value]
        required = key in ("words", "of")
        if not isinstance(value, list) or (required and not value):
            need = "a word or a list of words" if required else "a list of words"
            raise TermFileError(f"{label}: 'near: {key}' must be {need}")
        lists[key] = tuple(_check_near_word(word, key, label) for word in value)
    within = raw.get("within", NEAR_DEFAULT_WITHIN)
    if isinstance(within, bool) or not isinstance(within, int) or not 1 <= within <= NEAR_MAX_WITHIN:
        raise TermFileError(
            f"{label}: 'near: within' must be a whole number of words from 1 to {NEAR_MAX_WITHIN}, not {within!r}"
        )
    noun_first = raw.get("noun_first", False)
    if not isinstance(noun_first, bool):
        raise TermFileError(f"{label}: 'near: noun_first' must be true or false, not {noun_first!r}")
    for first, second in (("words", "of"), ("words", "unless"), ("of", "unless")):
        shared = {normalised_key(word) for word in lists[first]} & {normalised_key(word) for word in lists[second]}
        if shared:
            raise TermFileError(f"{label}: {_listed(shared)} is in both 'near: {first}' and 'near: {second}'")
    return NearRule(within=within, noun_first=noun_first, **lists)


def _check_near_word(word: object, key: str, label: str) -> str:
    if isinstance(word, bool):
        # YAML reads a bare yes, no, on or off as true or false.
        raise TermFileError(f"{label}: 'near: {key}' holds {word!r}: put quotes around the word (\"off\")")
    if not isinstance(word, str) or not word.strip():
        raise TermFileError(f"{label}: every word in 'near: {key}' must be non-empty text")
    checked = _check_term(word, label)
    if " " in checked or "-" in checked or "'" in checked or "." in checked:
        raise TermFileError(
            f"{label}: 'near: {key}' takes single words, each on its own, not {checked!r} "
            "(the check splits text into words at spaces, hyphens and apostrophes)"
        )
    return checked


def _check_term(term: object, label: str) -> str:
    if not isinstance(term, str) or not term.strip():
        raise TermFileError(f"{label}: every term in 'match' must be non-empty text")
    term = " ".join(term.split())
    for word in term.split():
        core = word[:-1] if word.endswith("*") else word
        if "*" in core:
            raise TermFileError(f"{label}: in {term!r}, '*' may only end a word")
        if word.endswith("*") and len(core) < 2:
            raise TermFileError(f"{label}: in {term!r}, a stem needs at least two letters")
        odd = [c for c in core if not _is_word_character(c)]
        if odd:
            hint = "; list several terms as separate items" if "," in odd else ""
            raise TermFileError(f"{label}: {term!r} contains {''.join(sorted(set(odd)))!r}{hint}")
        if not any(c.isalnum() for c in core):
            raise TermFileError(f"{label}: {term!r} has a word without letters")
    return term


def _is_word_character(char: str) -> bool:
    return char in _ALLOWED_PUNCTUATION or unicodedata.category(char)[0] in "LMN"


def _listed(keys: Sequence[str] | set[str]) -> str:
    return ", ".join(repr(key) for key in sorted(keys))

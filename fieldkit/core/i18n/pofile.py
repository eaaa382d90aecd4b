"""Read and write gettext catalogues (.po and .pot) exactly and strictly: the one reader.

Every reader of a catalogue uses :func:`parse_po`: the kit's pages and the hub's
export and reports (through :mod:`fieldkit.core.i18n.catalogues`), the translators'
tools and checks, the compiler, and the stigma lint (``sources=True`` says where each
string is written, so findings point at a line and column). One reader means a file
is never read one way by ``fieldkit translations check`` and another way at run time.

Babel's own ``read_po`` is not used: it forgives broken files, logging or silently
skipping what it cannot read (a line that is not a keyword, an unknown escape, a
``msgstr`` without a ``msgid``, a duplicate entry, which then overrides the first),
so a page could show half a catalogue with no one told; it drops the
previous-source comments (``#| msgid``) that tell a translator what changed; and its
writer stamps the current date into every file. These tools need the opposite:
every syntax error reported with its line, the ``#|`` comments kept, and the same
catalogue always written as the same bytes. Messages are still held in a Babel
:class:`~babel.messages.catalog.Catalog`, so that Babel's merge and ``.mo`` writer,
which are kept, work on them unchanged.

polib was not chosen either: it would be a second catalogue model beside Babel's,
which the merge and ``.mo`` writer need anyway, and a new dependency to pin and
hash; it stops at the first syntax error, where the translators' check reports them
all with their lines; and it does not say at which column a string starts, which the
lint needs. Its ``#|`` support would not outweigh that.

Speed: reading all shipped catalogues takes about 1.5 times as long as Babel's
``read_po`` (tens of milliseconds in all); the run time reads each file once per
change (cached by mtime and size), and the kit already checks every catalogue with
this reader at start-up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import escape, normalize

from fieldkit.core.errors import FieldkitError

WIDTH = 79  # the width msgmerge and Poedit wrap at, so their rewrites stay small

_KEYWORD = re.compile(
    r"^(?P<keyword>msgctxt|msgid_plural|msgid|msgstr)(?:\[(?P<index>\d+)\])?(?:\s+|(?=\")|$)(?P<rest>.*)$"
)
# C escapes gettext tools write; anything else after a backslash is an error.
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "'": "'", "?": "?"}
_ESCAPES |= {"a": "\a", "b": "\b", "f": "\f", "v": "\v"}


@dataclass(frozen=True)
class SyntaxProblem:
    line: int
    message: str


class CatalogueSyntaxError(FieldkitError):
    """A catalogue cannot be read; ``problems`` has every error with its line."""

    def __init__(self, shown: str, problems: list[SyntaxProblem]) -> None:
        self.shown = shown
        self.problems = problems
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{shown}:{first.line}: {first.message}{more}")


@dataclass
class PoFile:
    """One catalogue: its header and its messages (current and obsolete)."""

    header_comment: list[str]
    headers: list[tuple[str, str]]
    catalog: Catalog
    header_flags: list[str] = field(default_factory=list)
    header_line: int = 0
    sources: list[SourceEntry] = field(default_factory=list)  # only with parse_po(..., sources=True)

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    def set_header(self, name: str, value: str) -> None:
        for index, (key, _old) in enumerate(self.headers):
            if key.lower() == name.lower():
                self.headers[index] = (key, value)
                return
        self.headers.append((name, value))


def translator_comments(message: Message) -> list[str]:
    """The "# ..." comments translators write above an entry."""
    return message.user_comments


def set_translator_comments(message: Message, comments: list[str]) -> None:
    message.user_comments = list(comments)


# --- reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourcePiece:
    """One quoted string as written: where its text starts, and the text between the quotes."""

    line: int
    column: int  # 0-based, in characters, of the first character after the opening quote
    raw: str  # escapes as written (``\\n`` is two characters), so columns stay true


@dataclass
class SourceField:
    keyword: str  # msgctxt, msgid, msgid_plural, msgstr, msgstr[N]
    pieces: list[SourcePiece] = field(default_factory=list)


@dataclass(frozen=True)
class SourceComment:
    line: int
    column: int  # 0-based column of the "#"
    text: str  # the comment line, stripped


@dataclass
class SourceEntry:
    """Where one entry is written, for tools that point into the file (the stigma lint).

    Comments that belong to no entry (above a blank line, or in the header comment)
    go with the entry that follows them; comments after the last entry make an entry
    of their own, with no fields.
    """

    obsolete: bool
    comments: list[SourceComment] = field(default_factory=list)
    fields: list[SourceField] = field(default_factory=list)

    @property
    def first_line(self) -> int:
        return min(self._lines())

    @property
    def last_line(self) -> int:
        return max(self._lines())

    def _lines(self) -> list[int]:
        lines = [comment.line for comment in self.comments]
        return lines + [piece.line for f in self.fields for piece in f.pieces]


@dataclass
class _Field:
    keyword: str  # msgctxt, msgid, msgid_plural, msgstr, msgstr[N]
    line: int
    parts: list[str]
    source: SourceField | None = None

    @property
    def text(self) -> str:
        return "".join(self.parts)


@dataclass
class _Entry:
    first_line: int
    obsolete: bool = False
    broken: bool = False  # a field had a syntax error, already reported
    translator_comments: list[str] = field(default_factory=list)
    auto_comments: list[str] = field(default_factory=list)
    locations: list[tuple[str, int | None]] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    previous: list[_Field] = field(default_factory=list)
    fields: list[_Field] = field(default_factory=list)
    keywords: set[str] = field(default_factory=set)  # of the fields, msgstr[N] counted as msgstr
    source: SourceEntry | None = None

    def has(self, keyword: str) -> bool:
        return keyword in self.keywords


def unquote(literal: str) -> str:
    """The text of one quoted PO string, or ValueError saying what is wrong with it."""
    if len(literal) < 2 or not literal.startswith('"') or not literal.endswith('"'):
        raise ValueError("text must be written between double quotes")
    body = literal[1:-1]
    if "\\" not in body:  # most text has no escape: no need to look at each character
        if '"' in body:
            raise ValueError('a double quote inside the text must be written \\"')
        return body
    return _SPECIAL.sub(_unescape, body)


# A backslash and what follows it, or a bare double quote, in the text between the quotes.
_SPECIAL = re.compile(r'\\(?:(?P<octal>[0-7]{1,3})|x(?P<hex>[0-9A-Fa-f]+)|(?P<code>.)|$)|"', re.S)


def _unescape(found: re.Match[str]) -> str:
    if found.group() == '"':
        raise ValueError('a double quote inside the text must be written \\"')
    if found["octal"] is not None:
        return chr(int(found["octal"], 8))
    if found["hex"] is not None:
        return chr(int(found["hex"], 16))
    code = found["code"]
    if code is None:
        raise ValueError("the text ends with a lone backslash (write \\\\ for a backslash)")
    if code not in _ESCAPES:
        raise ValueError(f"unknown escape \\{code} (write \\\\ for a backslash)")
    return _ESCAPES[code]


class _Parser:
    def __init__(self, *, sources: bool = False) -> None:
        self.entries: list[_Entry] = []
        self.problems: list[SyntaxProblem] = []
        self.current: _Entry | None = None
        # Where things are written, only when asked: the run time does not need it.
        self.sources: list[SourceEntry] | None = [] if sources else None
        self.pending: list[SourceComment] = []  # comments not yet part of a kept entry

    def problem(self, line: int, message: str) -> None:
        self.problems.append(SyntaxProblem(line, message))

    def start(self, line: int, *, obsolete: bool = False) -> _Entry:
        self.finish()
        self.current = _Entry(first_line=line, obsolete=obsolete)
        if self.sources is not None:
            self.current.source = SourceEntry(obsolete)
        return self.current

    def finish(self) -> None:
        current = self.current
        if current is not None and (current.fields or current.previous):
            self.entries.append(current)
            if current.source is not None and self.sources is not None:
                current.source.obsolete = current.obsolete
                current.source.comments[:0] = self.pending
                self.pending = []
                self.sources.append(current.source)
        elif current is not None and current.source is not None:
            self.pending.extend(current.source.comments)
        self.current = None

    def end(self) -> None:
        self.finish()
        if self.pending and self.sources is not None:
            self.sources.append(SourceEntry(False, self.pending))
            self.pending = []

    def feed(self, number: int, line: str) -> None:
        stripped = line.strip()
        indent = len(line) - len(line.lstrip()) if self.sources is not None else 0
        if not stripped:
            self.finish()
        elif stripped.startswith("#~"):
            body = stripped[2:].lstrip()
            if not body.startswith("|"):  # an obsolete message's previous source: nothing to keep
                self.field_line(number, body, obsolete=True, column=indent + len(stripped) - len(body))
        elif stripped.startswith("#"):
            self.comment(number, stripped)
            if self.current is not None and self.current.source is not None:
                self.current.source.comments.append(SourceComment(number, indent, stripped))
        else:
            self.field_line(number, stripped, obsolete=False, column=indent)

    def comment(self, number: int, stripped: str) -> None:
        # A comment after the fields of an entry begins the next entry.
        entry = self.current if self.current is not None and not self.current.fields else self.start(number)
        kind = stripped[1:2]
        body = stripped[2:].strip() if kind in ".:,|" else stripped[1:].removeprefix(" ").rstrip()
        if kind == "|":
            self.previous_line(number, entry, body)
        elif kind == ".":
            entry.auto_comments.append(body)
        elif kind == ":":
            entry.locations.extend(_locations(body))
        elif kind == ",":
            entry.flags.extend(flag.strip() for flag in body.split(",") if flag.strip())
        else:
            entry.translator_comments.append(body)

    def previous_line(self, number: int, entry: _Entry, body: str) -> None:
        keyword = _KEYWORD.match(body)
        try:
            if keyword and keyword["keyword"] != "msgstr" and keyword["index"] is None:
                entry.previous.append(_Field(keyword["keyword"], number, [unquote(keyword["rest"].strip())]))
            elif body.startswith('"') and entry.previous:
                entry.previous[-1].parts.append(unquote(body))
            else:
                self.problem(number, "a #| comment must hold msgctxt, msgid or msgid_plural and quoted text")
        except ValueError as error:
            self.problem(number, f"in the #| comment: {error}")

    def field_line(self, number: int, stripped: str, *, obsolete: bool, column: int) -> None:
        """One msgctxt, msgid, msgstr... line, or quoted text; ``column`` is where ``stripped`` starts."""
        if stripped.startswith('"'):
            current = self.current
            if current is None or not current.fields or current.obsolete != obsolete:
                self.problem(number, "quoted text outside an entry: it must follow msgid, msgstr or msgctxt")
                return
            if self.sources is not None:
                _record(current.fields[-1].source, number, column, stripped)
            try:
                current.fields[-1].parts.append(unquote(stripped))
            except ValueError as error:
                self.problem(number, str(error))
                current.broken = True
            return
        keyword = _KEYWORD.match(stripped)
        if keyword is None:
            word = stripped.split()[0] if stripped.split() else stripped
            self.problem(number, f"'{word}' is not a gettext keyword (msgctxt, msgid, msgid_plural, msgstr)")
            return
        name, index, rest = keyword.group("keyword", "index", "rest")
        if index is not None and name != "msgstr":
            self.problem(number, f"only msgstr takes a plural index, not {name}")
            return
        full = f"msgstr[{int(index)}]" if index is not None else name
        entry = self.current
        starts = name == "msgid" or name == "msgctxt"
        if starts:
            if entry is not None and entry.has("msgid") and not entry.has("msgstr"):
                self.problem(number, f"{name} follows a msgid that has no msgstr")
                entry = self.start(number, obsolete=obsolete)
            elif entry is None or entry.has("msgstr") or (name == "msgid" and entry.has("msgid")):
                entry = self.start(number, obsolete=obsolete)
            elif not entry.fields:
                entry.obsolete = obsolete  # comments above "#~ msgid" belong to that obsolete entry
        if entry is None or (not starts and not entry.fields):
            self.problem(number, f"{name} without a msgid before it")
            return
        if entry.obsolete != obsolete:
            self.problem(number, "an entry mixes obsolete (#~) and current lines")
            return
        rest = rest.strip()
        try:
            text = unquote(rest)
        except ValueError as error:
            self.problem(number, f"{full}: {error}")
            entry.broken = True
            text = ""
        entry.fields.append(_Field(full, number, [text]))
        entry.keywords.add(name)
        if entry.source is not None:
            source = SourceField(full)
            entry.fields[-1].source = source
            entry.source.fields.append(source)
            _record(source, number, column + keyword.start("rest"), rest)


def _record(source: SourceField | None, number: int, column: int, literal: str) -> None:
    # Text that is not between quotes is an error the parser reports; there is nothing to point into.
    if source is not None and len(literal) >= 2 and literal[0] == literal[-1] == '"':
        source.pieces.append(SourcePiece(number, column + 1, literal[1:-1]))


def _locations(body: str) -> list[tuple[str, int | None]]:
    found: list[tuple[str, int | None]] = []
    for token in body.split():
        name, _colon, number = token.rpartition(":")
        if name and number.isdigit():
            found.append((name, int(number)))
        else:
            found.append((token, None))
    return found


def _build_message(entry: _Entry, problems: list[SyntaxProblem]) -> Message | None:
    """A Babel message from one entry, after checking the order of its fields."""
    if entry.broken:
        return None
    keywords = [f.keyword for f in entry.fields]
    values = {f.keyword: f for f in entry.fields}
    line = values["msgid"].line if "msgid" in values else entry.first_line
    if len(set(keywords)) != len(keywords):
        problems.append(SyntaxProblem(line, "an entry has the same keyword twice"))
        return None
    expected_start = ["msgctxt", "msgid"] if "msgctxt" in values else ["msgid"]
    if keywords[: len(expected_start)] != expected_start:
        problems.append(SyntaxProblem(line, "an entry must start with msgid (or msgctxt, then msgid)"))
        return None
    rest = keywords[len(expected_start) :]
    context = values["msgctxt"].text if "msgctxt" in values else None
    msgid = values["msgid"].text
    if rest and rest[0] == "msgid_plural":
        indexes = rest[1:]
        if not indexes or indexes != [f"msgstr[{n}]" for n in range(len(indexes))]:
            problems.append(
                SyntaxProblem(line, "a plural entry needs msgstr[0], msgstr[1], … in order after msgid_plural")
            )
            return None
        message_id: str | tuple[str, str] = (msgid, values["msgid_plural"].text)
        string: str | tuple[str, ...] = tuple(values[key].text for key in indexes)
    elif rest == ["msgstr"]:
        message_id, string = msgid, values["msgstr"].text
    else:
        what = "msgstr[N] without msgid_plural" if any(k.startswith("msgstr[") for k in rest) else "no msgstr"
        problems.append(SyntaxProblem(line, f"an entry has {what}"))
        return None
    previous = {f.keyword: f.text for f in entry.previous}
    previous_id = [previous["msgid"]] if "msgid" in previous else []
    if previous_id and "msgid_plural" in previous:
        previous_id.append(previous["msgid_plural"])
    message = Message(
        message_id,
        string,
        # Babel's own reader keeps (file, None) for a location without a line, as this one
        # does; its annotation says int only.
        locations=entry.locations,  # type: ignore[arg-type]
        flags=entry.flags,
        auto_comments=entry.auto_comments,
        previous_id=previous_id,
        lineno=line,
        context=context,
    )
    set_translator_comments(message, entry.translator_comments)
    # Babel guesses "python-format" from the text; a catalogue says what it means.
    if "python-format" not in entry.flags:
        message.flags.discard("python-format")
    return message


def _parse_headers(text: str) -> list[tuple[str, str]]:
    headers = []
    for line in text.split("\n"):
        name, colon, value = line.partition(":")
        if colon and name.strip():
            headers.append((name.strip(), value.strip()))
    return headers


def parse_po(data: bytes, *, sources: bool = False) -> tuple[PoFile, list[SyntaxProblem]]:
    """Read a catalogue; return it with every syntax problem found (empty when valid).

    With ``sources``, :attr:`PoFile.sources` also says where each entry, comment and
    quoted string is written, for tools that report a line and column in the file.
    """
    problems: list[SyntaxProblem] = []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        bad_line = data[: error.start].count(b"\n") + 1
        text = data.decode("utf-8", errors="replace")
        problems.append(SyntaxProblem(bad_line, "not valid UTF-8: save the file as UTF-8"))
    text = text.removeprefix("\ufeff")
    parser = _Parser(sources=sources)
    header_comment: list[str] = []
    lines = text.split("\n")
    body_start = len(lines)
    for number, raw in enumerate(lines, start=1):  # the header comment, up to the first entry
        line = raw.rstrip("\r")
        stripped = line.strip()
        if stripped.startswith("#") and stripped[1:2] not in ".:,|~":
            header_comment.append(line)
            if sources:
                parser.pending.append(SourceComment(number, len(line) - len(line.lstrip()), stripped))
        elif stripped:
            parser.feed(number, line)
            body_start = number
            break
    feed = parser.feed
    for number, raw in enumerate(lines[body_start:], start=body_start + 1):
        feed(number, raw.rstrip("\r"))
    parser.end()
    problems.extend(parser.problems)

    catalog = Catalog(fuzzy=False)
    headers: list[tuple[str, str]] = []
    header_flags: list[str] = []
    header_line = 0
    seen: dict[tuple[str, str | None, bool], int] = {}
    for index, entry in enumerate(parser.entries):
        message = _build_message(entry, problems)
        if message is None:
            continue
        assert message.lineno is not None  # _build_message always sets it
        key_id = message.id if isinstance(message.id, str) else message.id[0]  # str or a plural's pair
        if not key_id and not entry.obsolete:
            if index != 0 or message.context is not None:
                problems.append(SyntaxProblem(message.lineno, "an empty msgid is only allowed in the header"))
                continue
            headers = _parse_headers(message.string if isinstance(message.string, str) else "")
            header_flags = [flag for flag in entry.flags if flag != "python-format"]
            header_line = message.lineno
            continue
        where = "obsolete " if entry.obsolete else ""
        seen_key = (key_id, message.context, entry.obsolete)
        if seen_key in seen:
            problems.append(
                SyntaxProblem(
                    message.lineno,
                    f"duplicate {where}entry: same msgctxt and msgid as line {seen[seen_key]}",
                )
            )
            continue
        seen[seen_key] = message.lineno
        if entry.obsolete:
            catalog.obsolete[(key_id, message.context) if message.context is not None else key_id] = message
        else:
            catalog[message.id] = message
    if not headers and not problems:
        problems.append(SyntaxProblem(1, 'no header: the file must start with msgid "" and its msgstr'))
    problems.sort(key=lambda p: p.line)
    po = PoFile(header_comment, headers, catalog, header_flags, header_line, parser.sources or [])
    return po, problems


def read_po_file(path: Path, shown: str) -> PoFile:
    """A catalogue from disk, or :class:`CatalogueSyntaxError` with every problem."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise FieldkitError(f"{shown}: cannot read it ({error.strerror})") from None
    po, problems = parse_po(data)
    if problems:
        raise CatalogueSyntaxError(shown, problems)
    return po


# --- writing ------------------------------------------------------------------------------------


def _quoted(keyword: str, text: str, prefix: str = "") -> list[str]:
    lines = normalize(text, width=WIDTH - len(prefix)).split("\n")
    return [f"{prefix}{keyword} {lines[0]}", *(prefix + line for line in lines[1:])]


def _message_lines(message: Message, nplurals: int, prefix: str = "") -> list[str]:
    out: list[str] = []
    if message.context is not None:
        out += _quoted("msgctxt", message.context, prefix)
    if isinstance(message.id, (list, tuple)):
        out += _quoted("msgid", message.id[0], prefix)
        out += _quoted("msgid_plural", message.id[1], prefix)
        strings = message.string if isinstance(message.string, (list, tuple)) else (message.string or "",)
        for index in range(max(nplurals, len(strings))):
            out += _quoted(f"msgstr[{index}]", strings[index] if index < len(strings) else "", prefix)
    else:
        string = message.string if isinstance(message.string, str) else ""
        out += _quoted("msgid", message.id, prefix)
        out += _quoted("msgstr", string or "", prefix)
    return out


def _comments(prefix: str, comments: list[str]) -> list[str]:
    # A comment with a line break would end the comment and break the file.
    return [f"{prefix} {line}".rstrip() for comment in comments for line in (comment.split("\n") or [""])]


def _entry_lines(message: Message, nplurals: int) -> list[str]:
    out = _comments("#", translator_comments(message))
    out += _comments("#.", message.auto_comments)
    # One location per line: a new file then changes one line, not a wrapped block.
    for filename in dict.fromkeys(_location_text(name, line) for name, line in message.locations):
        out.append(f"#: {filename}")
    if message.flags:
        out.append("#, " + ", ".join(sorted(message.flags)))
    if message.previous_id:
        out += _quoted("msgid", message.previous_id[0], "#| ")
        if len(message.previous_id) > 1:
            out += _quoted("msgid_plural", message.previous_id[1], "#| ")
    return out + _message_lines(message, nplurals)


def _location_text(name: str, line: int | None) -> str:
    # Line numbers are left out on purpose: they move with every edit of a file and
    # would change every catalogue, hiding the changes a translator must see.
    del line
    return name


def render_po(po: PoFile, nplurals: int = 2) -> bytes:
    """The catalogue as it is written to disk: always the same bytes for the same catalogue."""
    blocks: list[list[str]] = []
    header = list(po.header_comment)
    if po.header_flags:
        header.append("#, " + ", ".join(po.header_flags))
    header += ['msgid ""', 'msgstr ""']
    header += [escape(f"{name}: {value}\n") for name, value in po.headers]
    blocks.append(header)
    for message in po.catalog:
        if message.id:
            blocks.append(_entry_lines(message, nplurals))
    for message in po.catalog.obsolete.values():
        lines = _comments("#", translator_comments(message))
        blocks.append(lines + _message_lines(message, nplurals, prefix="#~ "))
    return ("\n\n".join("\n".join(block) for block in blocks) + "\n").encode("utf-8")


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` unless it already holds exactly that; True when written."""
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(data)
    temporary.replace(path)
    return True

"""Read and write gettext catalogues (.po and .pot) exactly and strictly.

Babel's own reader forgives broken files and drops the previous-source comments
(``#| msgid``) that tell a translator what changed, and its writer stamps the
current date into every file. These tools need the opposite: every syntax error
reported with its line, the ``#|`` comments kept, and the same catalogue always
written as the same bytes. Messages are still held in a Babel
:class:`~babel.messages.catalog.Catalog`, so that Babel's merge and ``.mo``
writer work on them unchanged.
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
_OCTAL = re.compile(r"[0-7]{1,3}")
_HEX = re.compile(r"[0-9A-Fa-f]+")


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


@dataclass
class _Field:
    keyword: str  # msgctxt, msgid, msgid_plural, msgstr, msgstr[N]
    line: int
    parts: list[str]

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

    def has(self, keyword: str) -> bool:
        return any(f.keyword == keyword or f.keyword.startswith(keyword + "[") for f in self.fields)


def unquote(literal: str) -> str:
    """The text of one quoted PO string, or ValueError saying what is wrong with it."""
    if len(literal) < 2 or not literal.startswith('"') or not literal.endswith('"'):
        raise ValueError("text must be written between double quotes")
    body = literal[1:-1]
    out: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char == '"':
            raise ValueError('a double quote inside the text must be written \\"')
        if char != "\\":
            out.append(char)
            index += 1
            continue
        if index + 1 >= len(body):
            raise ValueError("the text ends with a lone backslash (write \\\\ for a backslash)")
        code = body[index + 1]
        if code in _ESCAPES:
            out.append(_ESCAPES[code])
            index += 2
        elif code in "01234567":
            digits = _OCTAL.match(body, index + 1)
            assert digits is not None
            out.append(chr(int(digits.group(), 8)))
            index = digits.end()
        elif code == "x" and (digits := _HEX.match(body, index + 2)):
            out.append(chr(int(digits.group(), 16)))
            index = digits.end()
        else:
            raise ValueError(f"unknown escape \\{code} (write \\\\ for a backslash)")
    return "".join(out)


class _Parser:
    def __init__(self) -> None:
        self.entries: list[_Entry] = []
        self.problems: list[SyntaxProblem] = []
        self.current: _Entry | None = None

    def problem(self, line: int, message: str) -> None:
        self.problems.append(SyntaxProblem(line, message))

    def start(self, line: int, *, obsolete: bool = False) -> _Entry:
        self.finish()
        self.current = _Entry(first_line=line, obsolete=obsolete)
        return self.current

    def finish(self) -> None:
        if self.current is not None and (self.current.fields or self.current.previous):
            self.entries.append(self.current)
        self.current = None

    def feed(self, number: int, line: str) -> None:
        stripped = line.strip()
        if not stripped:
            self.finish()
        elif stripped.startswith("#~"):
            body = stripped[2:].lstrip()
            if not body.startswith("|"):  # an obsolete message's previous source: nothing to keep
                self.field_line(number, body, obsolete=True)
        elif stripped.startswith("#"):
            self.comment(number, stripped)
        else:
            self.field_line(number, stripped, obsolete=False)

    def comment(self, number: int, stripped: str) -> None:
        # A comment after the fields of an entry begins the next entry.
        entry = (
            self.current
            if self.current is not None and not self.current.fields
            else self.start(number)
        )
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
                entry.previous.append(
                    _Field(keyword["keyword"], number, [unquote(keyword["rest"].strip())])
                )
            elif body.startswith('"') and entry.previous:
                entry.previous[-1].parts.append(unquote(body))
            else:
                self.problem(
                    number, "a #| comment must hold msgctxt, msgid or msgid_plural and quoted text"
                )
        except ValueError as error:
            self.problem(number, f"in the #| comment: {error}")

    def field_line(self, number: int, stripped: str, *, obsolete: bool) -> None:
        if stripped.startswith('"'):
            current = self.current
            if current is None or not current.fields or current.obsolete != obsolete:
                self.problem(
                    number, "quoted text outside an entry: it must follow msgid, msgstr or msgctxt"
                )
                return
            try:
                current.fields[-1].parts.append(unquote(stripped))
            except ValueError as error:
                self.problem(number, str(error))
                current.broken = True
            return
        keyword = _KEYWORD.match(stripped)
        if keyword is None:
            word = stripped.split()[0] if stripped.split() else stripped
            self.problem(
                number, f"'{word}' is not a gettext keyword (msgctxt, msgid, msgid_plural, msgstr)"
            )
            return
        name = keyword["keyword"]
        if keyword["index"] is not None and name != "msgstr":
            self.problem(number, f"only msgstr takes a plural index, not {name}")
            return
        full = f"msgstr[{int(keyword['index'])}]" if keyword["index"] is not None else name
        entry = self.current
        if name in ("msgctxt", "msgid"):
            if entry is not None and entry.has("msgid") and not entry.has("msgstr"):
                self.problem(number, f"{name} follows a msgid that has no msgstr")
                entry = self.start(number, obsolete=obsolete)
            elif entry is None or entry.has("msgstr") or (name == "msgid" and entry.has("msgid")):
                entry = self.start(number, obsolete=obsolete)
            elif not entry.fields:
                entry.obsolete = obsolete  # comments above "#~ msgid" belong to that obsolete entry
        if entry is None or (name not in ("msgctxt", "msgid") and not entry.fields):
            self.problem(number, f"{name} without a msgid before it")
            return
        if entry.obsolete != obsolete:
            self.problem(number, "an entry mixes obsolete (#~) and current lines")
            return
        rest = keyword["rest"].strip()
        try:
            text = unquote(rest)
        except ValueError as error:
            self.problem(number, f"{full}: {error}")
            entry.broken = True
            text = ""
        entry.fields.append(_Field(full, number, [text]))


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
        problems.append(
            SyntaxProblem(line, "an entry must start with msgid (or msgctxt, then msgid)")
        )
        return None
    rest = keywords[len(expected_start) :]
    context = values["msgctxt"].text if "msgctxt" in values else None
    msgid = values["msgid"].text
    if rest and rest[0] == "msgid_plural":
        indexes = rest[1:]
        if not indexes or indexes != [f"msgstr[{n}]" for n in range(len(indexes))]:
            problems.append(
                SyntaxProblem(
                    line, "a plural entry needs msgstr[0], msgstr[1], … in order after msgid_plural"
                )
            )
            return None
        message_id: str | tuple[str, str] = (msgid, values["msgid_plural"].text)
        string: str | tuple[str, ...] = tuple(values[key].text for key in indexes)
    elif rest == ["msgstr"]:
        message_id, string = msgid, values["msgstr"].text
    else:
        what = (
            "msgstr[N] without msgid_plural"
            if any(k.startswith("msgstr[") for k in rest)
            else "no msgstr"
        )
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


def parse_po(data: bytes) -> tuple[PoFile, list[SyntaxProblem]]:
    """Read a catalogue; return it with every syntax problem found (empty when valid)."""
    problems: list[SyntaxProblem] = []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        bad_line = data[: error.start].count(b"\n") + 1
        text = data.decode("utf-8", errors="replace")
        problems.append(SyntaxProblem(bad_line, "not valid UTF-8: save the file as UTF-8"))
    text = text.removeprefix("\ufeff")
    parser = _Parser()
    header_comment: list[str] = []
    seen_entry = False
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.rstrip("\r")
        if not seen_entry:
            stripped = line.strip()
            if stripped.startswith("#") and stripped[1:2] not in ".:,|~":
                header_comment.append(line)
                continue
            if stripped:
                seen_entry = True
            else:
                continue
        parser.feed(number, line)
    parser.finish()
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
                problems.append(
                    SyntaxProblem(message.lineno, "an empty msgid is only allowed in the header")
                )
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
            catalog.obsolete[
                (key_id, message.context) if message.context is not None else key_id
            ] = message
        else:
            catalog[message.id] = message
    if not headers and not problems:
        problems.append(
            SyntaxProblem(1, 'no header: the file must start with msgid "" and its msgstr')
        )
    problems.sort(key=lambda p: p.line)
    return PoFile(header_comment, headers, catalog, header_flags, header_line), problems


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
        strings = (
            message.string if isinstance(message.string, (list, tuple)) else (message.string or "",)
        )
        for index in range(max(nplurals, len(strings))):
            out += _quoted(
                f"msgstr[{index}]", strings[index] if index < len(strings) else "", prefix
            )
    else:
        string = message.string if isinstance(message.string, str) else ""
        out += _quoted("msgid", message.id, prefix)
        out += _quoted("msgstr", string or "", prefix)
    return out


def _comments(prefix: str, comments: list[str]) -> list[str]:
    # A comment with a line break would end the comment and break the file.
    return [
        f"{prefix} {line}".rstrip()
        for comment in comments
        for line in (comment.split("\n") or [""])
    ]


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

"""ASCII armor for age files (the "ASCII armor" section of the age v1 spec).

Armor is strict PEM (RFC 7468 section 3) with the label ``AGE ENCRYPTED FILE``. A lax
parser would make armored files malleable, so this one accepts exactly one encoding of
any given file: 64-column lines, a short (non-empty) last line, canonical padded base64,
no PEM headers. The only freedom is whitespace before and after the block and LF or CRLF
line endings, both of which the spec allows.
"""

from __future__ import annotations

import base64
import binascii
import re

BEGIN_LINE = b"-----BEGIN AGE ENCRYPTED FILE-----"
END_LINE = b"-----END AGE ENCRYPTED FILE-----"
_COLUMNS = 64
_OUTSIDE_WHITESPACE = b" \t\r\n"
_FULL_LINE = re.compile(rb"[A-Za-z0-9+/]{64}")
_LAST_LINE = re.compile(rb"[A-Za-z0-9+/]*={0,2}")


class ArmorError(ValueError):
    """The armored text breaks one of the strict encoding rules; the message says which."""


def looks_armored(data: bytes | bytearray | memoryview) -> bool:
    """Guess whether ``data`` is armor: it opens, after whitespace, with a PEM-style line.

    Anything starting with ``-----BEGIN`` is treated as armor so that a wrong label or a
    damaged begin line is reported as an armor problem, not as a mangled binary header.
    """
    head = bytes(data[:1024]).lstrip(_OUTSIDE_WHITESPACE)
    return head.startswith(b"-----BEGIN")


def armor(data: bytes) -> bytes:
    """Wrap binary age ``data`` in the armor; the output ends with a newline."""
    encoded = base64.b64encode(data)
    lines = [encoded[i : i + _COLUMNS] for i in range(0, len(encoded), _COLUMNS)]
    return b"\n".join([BEGIN_LINE, *lines, END_LINE, b""])


def dearmor(text: bytes | bytearray | memoryview) -> bytes:
    """Return the binary age file inside ``text``, or raise ArmorError."""
    body = bytes(text).strip(_OUTSIDE_WHITESPACE)
    # The end line may lack its newline (stripped above, or missing at end of file).
    lines = body.split(b"\n")
    lines = [line[:-1] if line.endswith(b"\r") else line for line in lines]
    if lines[0] != BEGIN_LINE:
        raise ArmorError("missing or malformed begin line")
    if len(lines) < 2 or lines[-1] != END_LINE:
        raise ArmorError("missing or malformed end line, or data after it")
    base64_lines = lines[1:-1]
    for index, line in enumerate(base64_lines):
        is_last = index == len(base64_lines) - 1
        if not is_last and not _FULL_LINE.fullmatch(line):
            raise ArmorError(f"line {index + 2}: every line but the last must be 64 base64 chars")
        if is_last and not (0 < len(line) <= _COLUMNS and _LAST_LINE.fullmatch(line)):
            raise ArmorError(f"line {index + 2}: last line must be 1 to 64 base64 chars")
    encoded = b"".join(base64_lines)
    try:
        decoded = base64.b64decode(encoded, validate=True)
    except binascii.Error as error:
        raise ArmorError(f"invalid base64: {error}") from None
    if base64.b64encode(decoded) != encoded:
        raise ArmorError("non-canonical base64")
    return decoded

"""Bech32 (BIP 173) as age uses it for ``age1...`` recipients and ``AGE-SECRET-KEY-1...`` keys.

Hand-written on purpose: it is about sixty lines, it is part of the age format itself, and
age needs a variant no general-purpose package offers (no 90-character length limit, as
the age spec says). Only the original Bech32 checksum constant is supported; age does not
use Bech32m.
"""

from __future__ import annotations

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_CHARSET_INDEX = {char: value for value, char in enumerate(_CHARSET)}
_GENERATORS = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
_CHECKSUM_LENGTH = 6


class Bech32Error(ValueError):
    """The string is not valid Bech32; the message says which rule it breaks."""


def _polymod(values: list[int]) -> int:
    checksum = 1
    for value in values:
        top = checksum >> 25
        checksum = ((checksum & 0x1FFFFFF) << 5) ^ value
        for bit, generator in enumerate(_GENERATORS):
            if (top >> bit) & 1:
                checksum ^= generator
    return checksum


def _expand_hrp(hrp: str) -> list[int]:
    return [ord(char) >> 5 for char in hrp] + [0] + [ord(char) & 31 for char in hrp]


def _convert_bits(data: bytes | list[int], from_bits: int, to_bits: int, pad: bool) -> list[int]:
    accumulator = 0
    bit_count = 0
    result: list[int] = []
    mask = (1 << to_bits) - 1
    for value in data:
        accumulator = (accumulator << from_bits) | value
        bit_count += from_bits
        while bit_count >= to_bits:
            bit_count -= to_bits
            result.append((accumulator >> bit_count) & mask)
    if pad:
        if bit_count:
            result.append((accumulator << (to_bits - bit_count)) & mask)
    elif bit_count >= from_bits or (accumulator << (to_bits - bit_count)) & mask:
        # Leftover bits must be fewer than one input group and all zero, or two strings
        # would decode to the same bytes.
        raise Bech32Error("invalid padding in data part")
    return result


def encode(hrp: str, data: bytes) -> str:
    """Encode ``data`` under human-readable part ``hrp``; the case of ``hrp`` is kept."""
    lower_hrp = hrp.lower()
    values = _convert_bits(data, 8, 5, pad=True)
    polymod = _polymod([*_expand_hrp(lower_hrp), *values, 0, 0, 0, 0, 0, 0]) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(_CHECKSUM_LENGTH)]
    encoded = lower_hrp + "1" + "".join(_CHARSET[value] for value in values + checksum)
    return encoded.upper() if hrp.isupper() else encoded


def decode(text: str) -> tuple[str, bytes]:
    """Return ``(hrp, data)``; the hrp keeps the case it had in ``text``."""
    if text.lower() != text and text.upper() != text:
        raise Bech32Error("mixed upper and lower case")
    separator = text.rfind("1")
    if separator < 1 or separator + 1 + _CHECKSUM_LENGTH > len(text):
        raise Bech32Error("separator '1' missing or misplaced")
    hrp = text[:separator]
    if any(not 33 <= ord(char) <= 126 for char in hrp):
        raise Bech32Error("invalid character in human-readable part")
    try:
        values = [_CHARSET_INDEX[char] for char in text[separator + 1 :].lower()]
    except KeyError:
        raise Bech32Error("invalid character in data part") from None
    if _polymod(_expand_hrp(hrp.lower()) + values) != 1:
        raise Bech32Error("checksum mismatch")
    return hrp, bytes(_convert_bits(values[:-_CHECKSUM_LENGTH], 5, 8, pad=False))

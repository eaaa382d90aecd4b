"""The sealed record: what the kit seals to the hub's key and the hub opens (docs/formats.md).

The kit builds it (``fieldkit.kit.sealing``) and the hub reads it
(``sync.hub.opening``); the format name inside the ciphertext tells them apart from
anything else that might be encrypted to the same key.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

RECORD_FORMAT = "fieldkit-record/1"

# Sealed payloads are padded with spaces to one of these sizes, so the clear ``size``
# beside a record says little of what it holds (a "yes" and a "no" seal to the same
# size). Powers of two from 1 KiB to 64 KiB, then whole multiples of 64 KiB. JSON allows
# trailing whitespace, so every reader, old or new, parses a padded payload as it is,
# and a record sealed before padding existed still reads the same.
PADDING_BYTE = b" "
SMALLEST_BUCKET = 1024
LARGEST_DOUBLING_BUCKET = 64 * 1024


def padded_size(length: int) -> int:
    """The size a payload of ``length`` bytes is padded to (never smaller than it)."""
    size = SMALLEST_BUCKET
    while size < length and size < LARGEST_DOUBLING_BUCKET:
        size *= 2
    if length > size:
        size = -(-length // LARGEST_DOUBLING_BUCKET) * LARGEST_DOUBLING_BUCKET
    return size


@dataclass(frozen=True)
class RecordPlace:
    """Where and under what a record was made, as its kit wrote it: None for what is absent or odd."""

    centre: str | None  # the code of the centre picked from the pack's list
    region: str | None  # that centre's region, as the list gave it
    centre_named: bool  # the payload has a ``centre`` object (records before the list have none)
    cycle: str | None
    pack: int | None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def record_place(payload: Mapping[str, Any]) -> RecordPlace:
    """The payload's ``centre`` (``{"code", "region"}``), ``cycle`` and ``pack`` (docs/formats.md)."""
    centre = payload.get("centre")
    named = isinstance(centre, Mapping)
    pack = payload.get("pack")
    return RecordPlace(
        centre=_text(centre.get("code")) if isinstance(centre, Mapping) else None,
        region=_text(centre.get("region")) if isinstance(centre, Mapping) else None,
        centre_named=named,
        cycle=_text(payload.get("cycle")),
        pack=pack if isinstance(pack, int) and not isinstance(pack, bool) and pack > 0 else None,
    )

"""The sealed record: what the kit seals to the hub's key and the hub opens (docs/formats.md).

The kit builds it (``fieldkit.kit.sealing``) and the hub reads it
(``sync.hub.opening``); the format name inside the ciphertext tells them apart from
anything else that might be encrypted to the same key.
"""

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

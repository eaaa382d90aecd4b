"""The sealed record: what the kit seals to the hub's key and the hub opens (docs/formats.md).

The kit builds it (``fieldkit.kit.sealing``) and the hub reads it
(``sync.hub.opening``); the format name inside the ciphertext tells them apart from
anything else that might be encrypted to the same key.
"""

RECORD_FORMAT = "fieldkit-record/1"

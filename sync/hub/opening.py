"""Opening one sealed record at the hub: decrypt it and check that it is a record.

Shared by the export and the reports. Plaintext lives only in the returned payload;
a record that cannot be opened raises :class:`UnreadableRecord` with a one-line
reason that never quotes its content.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from fieldkit.core.crypto import age
from sync.hub.store import StoredRecord, StoredTally
from sync.protocol.bundle import BundleError, check_source_id
from sync.protocol.sealed_record import RECORD_FORMAT
from sync.protocol.tally import Tally, TallyError, parse_tally

__all__ = ["UnreadableRecord", "open_record", "open_tally"]


class UnreadableRecord(Exception):
    """A record the hub holds but cannot use; ``reason`` says why, without its content."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _reject_constant(name: str) -> Any:
    raise UnreadableRecord(f"the decrypted payload holds {name}, which JSON does not allow")


def _finite_float(text: str) -> float:
    number = float(text)
    if number in (float("inf"), float("-inf")):
        raise UnreadableRecord("the decrypted payload holds a number too large to read")
    return number


def _decrypted(ciphertext: bytes, identities: Sequence[age.Identity], what: str) -> bytes:
    """The plaintext of a sealed record or tally; one reason for each way opening fails."""
    try:
        return age.decrypt(ciphertext, identities)
    except age.DecryptionError as error:
        if error.kind == "no_match":
            raise UnreadableRecord("the identity does not open it (it was sealed to another key)") from None
        raise UnreadableRecord(f"the sealed {what} is damaged ({error.kind}: {error.reason})") from None


def open_record(stored: StoredRecord, identities: Sequence[age.Identity]) -> dict[str, Any]:
    """The payload of one sealed record, checked enough to be read by the hub's tools."""
    plaintext = _decrypted(stored.ciphertext, identities, "record")
    try:
        payload = json.loads(plaintext.decode("utf-8"), parse_constant=_reject_constant, parse_float=_finite_float)
    except (UnicodeDecodeError, ValueError):
        raise UnreadableRecord("the decrypted payload is not UTF-8 JSON") from None
    finally:
        del plaintext
    if not isinstance(payload, dict) or payload.get("format") != RECORD_FORMAT:
        raise UnreadableRecord(f"the decrypted payload is not a {RECORD_FORMAT} record")
    if payload.get("record_id") != stored.record_id:
        raise UnreadableRecord("the sealed record carries another record id than the one it was stored under")
    sealed_by = payload.get("kit_id", stored.kit_id)
    if sealed_by != stored.kit_id:
        # The kit that signed the bundle is the truth: a record sealed by another kit is a
        # copy sent under a false name, never counted under either kit.
        try:
            named = check_source_id(sealed_by, "kit id")
        except BundleError:
            named = "another kit"
        raise UnreadableRecord(
            f"sealed by {named} but sent by kit {stored.kit_id}: left out (a copy sent under another "
            "kit's name?); see 'fieldkit hub quarantine list'"
        )
    form = payload.get("form")
    if (
        not isinstance(form, dict)
        or not isinstance(form.get("id"), str)
        or not form["id"]
        or type(form.get("version")) is not int
        or not isinstance(form.get("hash"), str)
    ):
        raise UnreadableRecord("the payload does not name its form (id, version and hash)")
    answers = payload.get("answers")
    if not isinstance(answers, dict):
        raise UnreadableRecord("the payload has no answers object")
    return payload


def open_tally(stored: StoredTally, identities: Sequence[age.Identity]) -> Tally:
    """The declined counts of one kit key epoch's newest tally, checked like a record."""
    plaintext = _decrypted(stored.ciphertext, identities, "tally")
    try:
        document = json.loads(plaintext.decode("utf-8"), parse_constant=_reject_constant, parse_float=_finite_float)
        tally = parse_tally(document)
    except (UnicodeDecodeError, ValueError) as error:
        reason = str(error) if isinstance(error, TallyError) else "it is not UTF-8 JSON"
        raise UnreadableRecord(f"the decrypted tally is not valid: {reason}") from None
    finally:
        del plaintext
    if (tally.kit_id, tally.epoch) != (stored.source_id, stored.epoch):
        # The kit that signed the bundle is the truth, as for records.
        raise UnreadableRecord(f"sealed as another kit or key epoch than {stored.source_id} (epoch {stored.epoch})")
    return tally

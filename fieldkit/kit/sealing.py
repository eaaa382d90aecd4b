"""Finalising an interview: the sealed record, and the order of durable steps.

A sealed record is an age file to the hub recipient (and the escrow recipient
when set). The kit cannot read it back. Beside it, in clear, only the record id,
form id and version, size and day created. ``docs/formats.md`` describes the
payload (``fieldkit-record/1``).

The hub recipient is ``kit.json``'s, unless the newest form pack carries another one
(the hub rotated its key, ``docs/hub-keys.md``): then new records are sealed to the
pack's, with the escrow recipient unchanged. Records already sealed stay as they are.
"""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fieldkit.core.crypto import age
from fieldkit.core.errors import FieldkitError
from fieldkit.core.formengine.answers import missing_consent, validate_record
from fieldkit.core.formengine.model import Form
from fieldkit.core.storage.locks import writer_lock
from fieldkit.core.storage.records import RecordStore
from fieldkit.kit.config import UnlockedKit
from fieldkit.kit.drafts import Draft, DraftStore
from sync.protocol.sealed_record import PADDING_BYTE, RECORD_FORMAT, padded_size


class ConsentNotGiven(FieldkitError):
    """A record of a form with a consent item was about to be sealed without consent."""


def to_hour(moment: datetime.datetime) -> str:
    """An instant rounded down to the hour, in UTC: enough for analysis, little for tracing."""
    moment = moment.astimezone(datetime.UTC).replace(minute=0, second=0, microsecond=0)
    return moment.strftime("%Y-%m-%dT%H:00Z")


def receipt_code(record_id: str) -> str:
    """A short code an interviewer can note to confirm a record reached the hub."""
    return uuid.UUID(record_id).hex[:8].upper()


@dataclass(frozen=True)
class TranslationInfo:
    language: str
    catalogue_hash: str | None = None
    complete: bool = True
    languages: tuple[str, ...] = ()  # every language shown, first used first; () means (language,)


@dataclass(frozen=True)
class RecordCentre:
    """The centre a record is about, as its payload names it."""

    code: str
    region: str


def build_payload(
    *,
    record_id: str,
    form: Form,
    answers: Mapping[str, Any],
    kit_id: str,
    started: str,
    finished: str,
    translation: TranslationInfo,
    interviewer: str | None = None,
    centre: RecordCentre | None = None,
    cycle: str | None = None,
    pack: int | None = None,
) -> dict[str, Any]:
    """The record's payload (docs/formats.md, ``fieldkit-record/1``).

    ``centre`` is the centre picked from the form pack's list (None: no list, or the
    person preferred not to say), ``cycle`` the pack's cycle the interview started in
    and ``pack`` that pack's version: each always present, null when unknown.
    """
    payload: dict[str, Any] = {
        "format": RECORD_FORMAT,
        "record_id": record_id,
        "form": {"id": form.id, "version": form.version, "hash": form.content_hash},
        "language": translation.language,
        "languages": list(translation.languages or (translation.language,)),
        "translation": {"catalogue_hash": translation.catalogue_hash, "complete": translation.complete},
        "kit_id": kit_id,
        "started": started,
        "finished": finished,
        "answers": dict(answers),
        "centre": {"code": centre.code, "region": centre.region} if centre is not None else None,
        "cycle": cycle,
        "pack": pack,
    }
    if interviewer:
        payload["interviewer"] = interviewer
    return payload


def seal(payload: Mapping[str, Any], recipients: list[age.X25519Recipient]) -> bytes:
    """The payload as padded UTF-8 JSON, encrypted to ``recipients`` (docs/formats.md).

    The plaintext is built in a buffer this function owns and zeroed once sealed: the
    JSON text itself is an immutable ``str`` Python may keep until it is collected, but
    no second, padded copy outlives the call.
    """
    encoded = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    buffer = bytearray(PADDING_BYTE * padded_size(len(encoded)))
    buffer[: len(encoded)] = encoded
    del encoded
    try:
        return age.encrypt(buffer, recipients)
    finally:
        buffer[:] = bytes(len(buffer))


def sealing_recipients(kit_recipients: Sequence[str], pack_recipient: str | None) -> list[str]:
    """The keys new records are sealed to: the hub's (the pack's when it carries one), then escrow.

    ``kit_recipients``: ``kit.json``'s, hub first. A pack's recipient replaces only the
    hub's; an escrow recipient the pack also names is not added twice.
    """
    hub = pack_recipient or kit_recipients[0]
    return [hub, *(recipient for recipient in kit_recipients[1:] if recipient != hub)]


class Finaliser:
    """Seals drafts into records for one unlocked kit.

    ``hub_recipient``: the hub recipient of the programme's form pack, when it carries
    one (``Programme.hub_recipient``); None keeps ``kit.json``'s.
    """

    def __init__(
        self, kit: UnlockedKit, records: RecordStore, drafts: DraftStore, *, hub_recipient: str | None = None
    ) -> None:
        self.kit = kit
        self.records = records
        self.drafts = drafts
        self.recipients = tuple(sealing_recipients(kit.config.recipients, hub_recipient))
        self._recipients = [age.parse_recipient(text) for text in self.recipients]

    def finalise(
        self,
        form: Form,
        draft: Draft,
        *,
        catalogue_hash: str | None = None,
        now: datetime.datetime | None = None,
    ) -> str:
        """Seal the draft's answers, store the record durably, then delete the draft.

        Returns the record id only once the record is on disk for good, and then
        empties ``draft.answers``: no reference to them outlives the sealing. A crash
        before ``put`` returns leaves the draft; a crash after it leaves the record
        and, at worst, a draft the interviewer can discard.
        """
        now = now or datetime.datetime.now(datetime.UTC)
        answers = validate_record(form, draft.answers, today=now.date())
        # The web pages already refuse this; checking the answers that would be sealed
        # (after skip logic dropped what it hides) keeps any other caller from doing it.
        unconsented = missing_consent(form, answers)
        if unconsented is not None:
            raise ConsentNotGiven(f"{form.key}: '{unconsented.id}' is not 'given'; nothing was sealed")
        record_id = str(uuid.uuid4())
        payload = build_payload(
            record_id=record_id,
            form=form,
            answers=answers,
            kit_id=self.kit.config.kit_id,
            started=draft.started,
            finished=to_hour(now),
            translation=TranslationInfo(draft.language, catalogue_hash, not draft.pilot, tuple(draft.shown_in())),
            interviewer=draft.interviewer,
            centre=RecordCentre(draft.centre, draft.region or "") if draft.centre is not None else None,
            cycle=draft.cycle,
            pack=draft.pack_version,
        )
        ciphertext = seal(payload, self._recipients)
        del payload, answers  # the sealed bytes are all this process needs from here
        metadata = {
            "record_id": record_id,
            "form_id": form.id,
            "form_version": form.version,
            "size": len(ciphertext),
            "day": now.astimezone(datetime.UTC).date().isoformat(),
        }
        with writer_lock(self.records.root):
            self.records.put(record_id, ciphertext, metadata)
            self.drafts.delete(draft.draft_id)
        # Sealed for good: the caller's draft need not hold the answers a moment longer
        # (a failure above leaves them, so a retry can seal the same draft).
        draft.answers.clear()
        return record_id

"""Form packs: what a hub publishes for its kits, signed with the key kits already trust.

A pack is one signed document (the ``fieldkit-signed/1`` envelope of
:mod:`sync.protocol.receipts`) whose payload is ``fieldkit-pack/1``::

    {"format": "fieldkit-pack/1", "hub_id": "...", "version": 4, "made": "<stamp>",
     "forms": [{"id": "peer-interview", "version": 3, "hash": "sha256:...", "yaml": "..."}],
     "translations": {"fr": {"forms": "<text of forms.po>"}},
     "centres": [{"code": "C01", "region": "NORTH", "kind": "residential"}],
     "cycle": {"id": "2027-q1", "name": "...", "start": "2027-01-01", "end": "2027-03-31",
               "forms": ["peer-interview"], "centres": []},
     "settings": {"idle_minutes": 30},
     "recipient": "age1..."}

It is signed by the hub's receipt key, the Ed25519 key a kit learnt (and checked) at
enrolment, so a kit trusts a pack exactly as far as it trusts that hub's receipts.
``version`` goes up by one with every pack a hub makes; a kit refuses a pack that is not
newer than the one it applied. ``recipient``, only in a pack of a hub that rotated its
age key (``fieldkit hub keygen --rotate``), is the hub's current recipient: a kit seals
its new records to it instead of the hub recipient in its ``kit.json``. A pack without it
is read as before, so a hub that never rotated makes packs every kit version accepts.
``docs/formats.md`` ("Form pack") is the reference.

This module checks everything that can be checked without the kit: the envelope, the
signature against the hubs given, and the shape of every field (ids that become file
names, codes, days, sizes). Whether each form loads, and whether the version is newer
than the kit's, the kit checks when it applies the pack (``fieldkit.kit.packs``).
"""

from __future__ import annotations

import datetime
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from fieldkit.core.crypto.hubkeys import parse_recipient_text
from fieldkit.core.errors import FieldkitError
from fieldkit.core.formengine.codes import canonical_code
from sync.protocol.bundle import BundleError, check_source_id
from sync.protocol.receipts import MAX_DOCUMENT_BYTES, SignedDocumentError, read_signed_document, sign_document
from sync.protocol.stamps import format_stamp, parse_stamp, utcnow

__all__ = [
    "CYCLE_ID",
    "MAX_PACK_BYTES",
    "PACK_FORMAT",
    "SETTINGS",
    "PackCentre",
    "PackContents",
    "PackCycle",
    "PackError",
    "PackForm",
    "VerifiedPack",
    "make_pack",
    "read_pack",
]

PACK_FORMAT = "fieldkit-pack/1"
MAX_PACK_BYTES = MAX_DOCUMENT_BYTES  # 16 MiB: forms and catalogues are a few hundred KB
MAX_CENTRES = 10_000
MAX_FORMS = 64
MAX_LANGUAGES = 64

# Kit settings a pack may set, and the values each accepts. Anything else is refused, so
# a pack cannot switch off a protection by naming a setting the kit does not know.
SETTINGS: Mapping[str, tuple[type, float, float]] = {
    "idle_minutes": (int, 5, 240),  # a session unused this long ends
    "discard_minutes": (int, 1, 60),  # a discarded draft can be restored for this long
    "pairing_code_minutes": (int, 1, 60),  # a pairing code works for this long
}

# Ids that become file and folder names on a kit: no separators, no dots at the start.
_FORM_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_LANGUAGE = re.compile(r"[a-z]{2,3}(_[A-Z]{2})?")
_CYCLE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")
CYCLE_ID = _CYCLE_ID  # public: the hub checks a new cycle's id by the same rule
_CONTENT_HASH = re.compile(r"sha256:[0-9a-f]{64}")
_CODE_MAX = 32
_PAYLOAD_FIELDS = frozenset(
    {"format", "hub_id", "version", "made", "forms", "translations", "centres", "cycle", "settings", "recipient"}
)


class PackError(FieldkitError):
    """A pack was refused; ``str()`` says why. Nothing was applied."""


@dataclass(frozen=True)
class PackForm:
    form_id: str
    version: int
    content_hash: str  # as the form engine computes it (``Form.content_hash``)
    yaml: str


@dataclass(frozen=True)
class PackCentre:
    code: str
    region: str
    kind: str


@dataclass(frozen=True)
class PackCycle:
    cycle_id: str
    name: str
    start: datetime.date
    end: datetime.date
    forms: tuple[str, ...]
    centres: tuple[str, ...] = ()  # () means every centre of the pack


@dataclass(frozen=True)
class PackContents:
    """Everything a pack carries, before it is signed or after it was verified."""

    hub_id: str
    version: int
    forms: tuple[PackForm, ...]
    centres: tuple[PackCentre, ...] = ()
    cycle: PackCycle | None = None
    # language -> the text of its forms.po (form wording); the interface stays the install's
    translations: Mapping[str, str] = field(default_factory=dict)
    settings: Mapping[str, int] = field(default_factory=dict)
    made: str = ""  # a stamp; make_pack fills it in when empty
    # The hub's current age recipient, after it rotated its key; None: the kit keeps kit.json's.
    recipient: str | None = None

    def to_payload(self) -> dict[str, Any]:
        payload = {
            "format": PACK_FORMAT,
            "hub_id": self.hub_id,
            "version": self.version,
            "made": self.made or format_stamp(utcnow()),
            "forms": [
                {"id": f.form_id, "version": f.version, "hash": f.content_hash, "yaml": f.yaml} for f in self.forms
            ],
            "translations": {lang: {"forms": text} for lang, text in sorted(self.translations.items())},
            "centres": [{"code": c.code, "region": c.region, "kind": c.kind} for c in self.centres],
            "cycle": None
            if self.cycle is None
            else {
                "id": self.cycle.cycle_id,
                "name": self.cycle.name,
                "start": self.cycle.start.isoformat(),
                "end": self.cycle.end.isoformat(),
                "forms": list(self.cycle.forms),
                "centres": list(self.cycle.centres),
            },
            "settings": dict(sorted(self.settings.items())),
        }
        if self.recipient is not None:  # absent otherwise: kits from before the field accept the pack
            payload["recipient"] = self.recipient
        return payload


@dataclass(frozen=True)
class VerifiedPack:
    """A pack whose signature verified with the key of ``contents.hub_id``."""

    contents: PackContents
    sha256: str  # of the file as received, to name and compare it
    data: bytes  # the file itself, to keep as it came


def make_pack(contents: PackContents, signing_key: Ed25519PrivateKey) -> bytes:
    """The signed pack file; its contents are checked as a kit would check them first."""
    payload = contents.to_payload()
    _contents_from(payload)  # a hub never signs what its kits would refuse
    return sign_document(payload, signing_key)


def read_pack(data: bytes, trusted: Mapping[str, Ed25519PublicKey]) -> VerifiedPack:
    """Verify and parse a pack; ``trusted`` maps each enrolled hub id to its receipt key.

    Every refusal is a :class:`PackError` saying why; the caller changes nothing.
    """
    if len(data) > MAX_PACK_BYTES:
        raise PackError(f"the file is too large for a form pack ({len(data)} bytes; at most {MAX_PACK_BYTES})")
    try:
        document = read_signed_document(data, PACK_FORMAT, what="form pack")
    except SignedDocumentError as error:
        raise PackError(str(error)) from None
    hub_id = document.payload.get("hub_id")
    key = trusted.get(hub_id) if isinstance(hub_id, str) else None
    if key is None:
        shown = str(hub_id)[:40]
        raise PackError(
            f"the form pack comes from hub {shown!r}, which this kit is not enrolled with; "
            "only the hub that enrolled this kit can change its forms"
        )
    if not document.verify(key):
        raise PackError(f"the form pack's signature does not verify with hub {hub_id}'s key: it is forged or damaged")
    return VerifiedPack(_contents_from(document.payload), hashlib.sha256(data).hexdigest(), data)


# --- Checking the payload -------------------------------------------------------------


def _contents_from(payload: Mapping[str, Any]) -> PackContents:
    """The contents of a payload, or :class:`PackError` naming the first bad field."""
    unknown = set(payload) - _PAYLOAD_FIELDS
    if unknown:
        names = ", ".join(sorted(unknown))
        raise PackError(f"the form pack has fields this version of fieldkit does not know: {names}")
    try:
        hub_id = check_source_id(payload.get("hub_id"), "hub id")
    except BundleError as error:
        raise PackError(f"the form pack is damaged: {error}") from None
    version = payload.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise PackError("the form pack is damaged: its version must be a whole number of 1 or more")
    made = payload.get("made")
    if not isinstance(made, str) or parse_stamp(made) is None:
        raise PackError("the form pack is damaged: 'made' is not a time")
    forms = _forms(payload.get("forms"))
    centres = _centres(payload.get("centres"))
    cycle = _cycle(payload.get("cycle"), {f.form_id for f in forms}, {c.code for c in centres})
    return PackContents(
        hub_id=hub_id,
        version=version,
        made=made,
        forms=forms,
        centres=centres,
        cycle=cycle,
        translations=_translations(payload.get("translations")),
        settings=_settings(payload.get("settings")),
        recipient=_recipient(payload.get("recipient", None), "recipient" in payload),
    )


def _recipient(value: object, present: bool) -> str | None:
    if not present:
        return None
    if not isinstance(value, str):
        raise PackError("the form pack's hub recipient is damaged: it is not an age1... key")
    try:
        return parse_recipient_text(value)
    except FieldkitError as error:
        raise PackError(f"the form pack's hub recipient is not a valid age key: {error}") from None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _list(value: object, what: str, limit: int) -> list[Any]:
    if not isinstance(value, list):
        raise PackError(f"the form pack is damaged: {what} is not a list")
    if len(value) > limit:
        raise PackError(f"the form pack has too many {what} ({len(value)}; at most {limit})")
    return value


def _forms(value: object) -> tuple[PackForm, ...]:
    forms = []
    seen: set[str] = set()
    for item in _list(value, "forms", MAX_FORMS):
        if not isinstance(item, dict) or set(item) != {"id", "version", "hash", "yaml"}:
            raise PackError("the form pack is damaged: a form needs exactly id, version, hash and yaml")
        form_id, version, content_hash, text = item["id"], item["version"], item["hash"], item["yaml"]
        if not isinstance(form_id, str) or not _FORM_ID.fullmatch(form_id):
            raise PackError(f"the form pack names a form with an unsafe id: {str(form_id)[:40]!r}")
        if not _is_int(version) or version < 1:
            raise PackError(f"the form pack's form {form_id} has no valid version")
        if not isinstance(content_hash, str) or not _CONTENT_HASH.fullmatch(content_hash):
            raise PackError(f"the form pack's form {form_id} has no valid content hash")
        if not isinstance(text, str) or not text.strip():
            raise PackError(f"the form pack's form {form_id} is empty")
        if form_id in seen:
            raise PackError(f"the form pack holds form {form_id} twice; a pack holds one version of each form")
        seen.add(form_id)
        forms.append(PackForm(form_id, version, content_hash, text))
    if not forms:
        raise PackError("the form pack holds no form")
    return tuple(forms)


def _code(value: object, what: str) -> str:
    if not isinstance(value, str) or not value or len(value) > _CODE_MAX or canonical_code(value) != value:
        raise PackError(f"the form pack has a {what} that is not a well-formed code: {str(value)[:40]!r}")
    return value


def _centres(value: object) -> tuple[PackCentre, ...]:
    centres = []
    seen: set[str] = set()
    for item in _list(value if value is not None else [], "centres", MAX_CENTRES):
        if not isinstance(item, dict) or set(item) != {"code", "region", "kind"}:
            raise PackError("the form pack is damaged: a centre needs exactly code, region and kind")
        code = _code(item["code"], "centre code")
        if code.casefold() in seen:
            raise PackError(f"the form pack lists centre {code} twice")
        seen.add(code.casefold())
        kind = item["kind"]
        if not isinstance(kind, str) or not _FORM_ID.fullmatch(kind.replace("_", "-")):
            raise PackError(f"the form pack's centre {code} has no valid kind")
        centres.append(PackCentre(code, _code(item["region"], "region code"), kind))
    return tuple(centres)


def _day(value: object, what: str) -> datetime.date:
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise PackError(f"the form pack's cycle has no valid {what} day (YYYY-MM-DD)") from None


def _cycle(value: object, form_ids: set[str], centre_codes: set[str]) -> PackCycle | None:
    if value is None:
        return None
    keys = {"id", "name", "start", "end", "forms", "centres"}
    if not isinstance(value, dict) or set(value) != keys:
        raise PackError("the form pack's cycle is damaged: it needs exactly " + ", ".join(sorted(keys)))
    cycle_id, name = value["id"], value["name"]
    if not isinstance(cycle_id, str) or not _CYCLE_ID.fullmatch(cycle_id):
        raise PackError(f"the form pack's cycle has an unsafe id: {str(cycle_id)[:40]!r}")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise PackError(f"the form pack's cycle {cycle_id} has no valid name")
    start, end = _day(value["start"], "start"), _day(value["end"], "end")
    if end < start:
        raise PackError(f"the form pack's cycle {cycle_id} ends before it starts")
    forms = value["forms"]
    if not isinstance(forms, list) or not forms or not all(isinstance(f, str) and f in form_ids for f in forms):
        raise PackError(f"the form pack's cycle {cycle_id} names a form the pack does not hold")
    centres = value["centres"]
    if not isinstance(centres, list) or not all(isinstance(c, str) and c in centre_codes for c in centres):
        raise PackError(f"the form pack's cycle {cycle_id} names a centre the pack does not list")
    return PackCycle(cycle_id, name, start, end, tuple(forms), tuple(centres))


def _translations(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_LANGUAGES:
        raise PackError("the form pack's translations are damaged")
    found = {}
    for language, domains in value.items():
        if not isinstance(language, str) or not _LANGUAGE.fullmatch(language):
            raise PackError(f"the form pack names a language with an unsafe code: {str(language)[:20]!r}")
        if not isinstance(domains, dict) or set(domains) != {"forms"} or not isinstance(domains["forms"], str):
            raise PackError(f"the form pack's translation for {language} is damaged (it holds one forms catalogue)")
        found[language] = domains["forms"]
    return found


def _settings(value: object) -> dict[str, int]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PackError("the form pack's settings are damaged")
    found = {}
    for name, setting in value.items():
        if name not in SETTINGS:
            raise PackError(f"the form pack sets {str(name)[:40]!r}, which is not a kit setting a pack may change")
        _, low, high = SETTINGS[name]
        if not _is_int(setting) or not low <= setting <= high:
            raise PackError(f"the form pack sets {name} to {setting!r}; it must be a whole number from {low} to {high}")
        found[name] = setting
    return found

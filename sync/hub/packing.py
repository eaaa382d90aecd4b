"""Making form packs at the hub: the forms, their wording, the centre list and the cycle, signed.

``make_hub_pack`` gathers a pack's contents from the hub's forms folder, its
translations folder, the registry and the cycles, signs it with the hub's receipt key
(the key kits checked at enrolment) and records it, in one transaction: the ``packs``
row (with the signed bytes, so any pack can be written again and served) and a
``form_versions`` row for each form version not packed before. A form version the hub
already packed with other content is refused: records name a form by id and version,
so two contents under one version would be read by the wrong definition. So is a
form version that gives an item id another meaning (type, choice values or scale,
``fieldkit.core.formengine.meanings``) than any version the hub packed before or
holds in the forms folder's ``archive/``: records of every version are read together
by item id. Only after the commit does the caller write the file
(``fieldkit.cli.hub_programme``).

Only what a kit needs leaves the hub: for each active centre its code, region and
kind; never a name or a location. Once the hub has rotated its age key (``hub.json``
names earlier recipients), every pack also carries the current recipient, which the
kits seal their new records to.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from fieldkit.core.crypto.hubkeys import recipient_fingerprint
from fieldkit.core.errors import FieldkitError
from fieldkit.core.formengine.archive import load_archived_forms
from fieldkit.core.formengine.catalogue import load_directory
from fieldkit.core.formengine.loader import FormDefinitionError
from fieldkit.core.formengine.meanings import Meaning, find_conflicts, item_meanings
from fieldkit.core.formengine.model import Form
from fieldkit.core.i18n.layout import FORMS, Layout
from fieldkit.core.i18n.pofile import parse_po
from sync.hub import audit
from sync.hub.cycles import HubCycle, current_cycle, cycle_by_id
from sync.hub.definitions import held_forms
from sync.hub.registry import centres
from sync.hub.store import HubStore
from sync.protocol.pack import (
    MAX_PACK_BYTES,
    SETTINGS,
    PackCentre,
    PackContents,
    PackCycle,
    PackError,
    PackForm,
    make_pack,
)
from sync.protocol.stamps import format_stamp, utcnow

__all__ = [
    "MadePack",
    "PackingError",
    "StoredPack",
    "latest_pack",
    "make_hub_pack",
    "pack_translations",
    "packs",
    "parse_settings",
    "stored_pack",
]


class PackingError(FieldkitError):
    """The hub cannot make this pack; ``str()`` says why. Nothing was recorded."""


@dataclass(frozen=True)
class StoredPack:
    """A pack the hub made: a row of ``packs``."""

    version: int
    made: str
    sha256: str
    summary: str


@dataclass(frozen=True)
class MadePack:
    """A pack just made and recorded, with what the operator should be told."""

    stored: StoredPack
    data: bytes
    contents: PackContents
    skipped_languages: tuple[str, ...]  # "fr: line 12: ..." for catalogues left out
    left_out_centres: tuple[str, ...]  # retired centres the cycle named, not in the pack


# --- Reading what the hub made ------------------------------------------------------------


def packs(store: HubStore) -> list[StoredPack]:
    """Every pack the hub made, oldest first."""
    with store.transaction() as db:
        rows = db.execute("SELECT version, made, sha256, summary FROM packs ORDER BY version").fetchall()
    return [StoredPack(int(row[0]), str(row[1]), str(row[2]), str(row[3])) for row in rows]


def stored_pack(store: HubStore, version: int | None = None) -> tuple[StoredPack, bytes] | None:
    """A pack the hub made and its signed bytes: ``version``, or the newest; None if none."""
    with store.transaction() as db:
        if version is None:
            row = db.execute("SELECT version, made, sha256, summary, body FROM packs ORDER BY version DESC LIMIT 1")
        else:
            row = db.execute("SELECT version, made, sha256, summary, body FROM packs WHERE version=?", (version,))
        found = row.fetchone()
    if found is None:
        return None
    return StoredPack(int(found[0]), str(found[1]), str(found[2]), str(found[3])), bytes(found[4])


def latest_pack(store: HubStore) -> bytes | None:
    """The signed bytes of the newest pack, or None before the first (for the hub's endpoint)."""
    found = stored_pack(store)
    return None if found is None else found[1]


# --- Gathering the contents -------------------------------------------------------------


def parse_settings(pairs: Sequence[str]) -> dict[str, int]:
    """``name=value`` pairs as kit settings a pack may set, each checked as a kit would."""
    found: dict[str, int] = {}
    for pair in pairs:
        name, equals, text = pair.partition("=")
        name = name.strip()
        if not equals:
            raise PackingError(f"--setting {pair[:40]!r}: write it NAME=VALUE")
        if name not in SETTINGS:
            raise PackingError(f"--setting {name[:40]!r} is not a kit setting a pack may set; they are: "
                               f"{', '.join(SETTINGS)}")  # fmt: skip
        if name in found:
            raise PackingError(f"--setting {name} is given twice")
        _, low, high = SETTINGS[name]
        try:
            value = int(text.strip())
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise PackingError(f"--setting {name} must be a whole number from {low:g} to {high:g}")
        found[name] = value
    return found


def pack_translations(translations_dir: Path) -> tuple[dict[str, str], list[str]]:
    """Each language's forms catalogue that reads cleanly, and why the others were left out."""
    layout = Layout(translations_dir, translations_dir, None)
    found: dict[str, str] = {}
    skipped: list[str] = []
    for language in layout.languages():
        path = layout.catalogue(language, FORMS)
        if not path.is_file():
            continue
        try:
            data = path.read_bytes()
        except OSError as error:
            skipped.append(f"{language}: cannot read {path.name} ({error.strerror})")
            continue
        _, problems = parse_po(data)
        if problems:
            skipped.append(f"{language}: line {problems[0].line}: {problems[0].message}")
            continue
        found[language] = data.decode("utf-8").removeprefix("\ufeff")
    return found, skipped


def _forms(forms_dir: Path) -> tuple[tuple[PackForm, ...], dict[str, Form], list[Form]]:
    """The pack's forms, the same loaded, and the archived versions of the forms folder."""
    try:
        forms = load_directory(forms_dir)
        archived = load_archived_forms(forms_dir)
    except FormDefinitionError as error:
        raise PackingError(f"the forms in {forms_dir} have problems, so no pack was made:\n{error}") from None
    found = []
    for form_id in sorted(forms):
        form = forms[form_id]
        assert form.path is not None  # loaded from a file
        found.append(PackForm(form.id, form.version, form.content_hash, form.path.read_text(encoding="utf-8")))
    return tuple(found), forms, archived


def _check_meanings(forms: dict[str, Form], known: list[Form]) -> None:
    """Refuse a form that gives an item id another meaning than a version packed or archived before."""
    conflicts = []
    for form_id, form in sorted(forms.items()):
        versions: dict[int, dict[str, Meaning]] = {
            other.version: item_meanings(other) for other in known if other.id == form_id
        }
        versions[form.version] = item_meanings(form)
        conflicts.extend(find_conflicts(form_id, versions, checked=[form.version]))
    if conflicts:
        lines = "\n".join(f"  {conflict}" for conflict in conflicts)
        raise PackingError(f"no pack was made: {len(conflicts)} item id(s) would change meaning:\n{lines}")


def _cycle(
    store: HubStore, cycle_id: str | None, today: datetime.date, form_ids: set[str], active: set[str]
) -> tuple[HubCycle | None, tuple[str, ...]]:
    if cycle_id is None:
        cycle = current_cycle(store, today)
    else:
        cycle = cycle_by_id(store, cycle_id)
        if cycle is None:
            raise PackingError(f"no cycle {cycle_id[:40]!r} ('hub cycles list')")
        if not cycle.is_open:
            raise PackingError(f"cycle {cycle_id} was closed on {cycle.closed}; a pack carries an open cycle only")
    if cycle is None:
        return None, ()
    missing = [form for form in cycle.forms if form not in form_ids]
    if missing:
        raise PackingError(
            f"cycle {cycle.cycle_id} uses form {', '.join(missing)}, which is not in the forms folder; "
            "a cycle's forms must be in its pack"
        )
    left_out = tuple(code for code in cycle.centres if code not in active)
    if cycle.centres and len(left_out) == len(cycle.centres):
        raise PackingError(
            f"every centre cycle {cycle.cycle_id} covers has been retired ({', '.join(left_out)}); "
            "close the cycle or add one that covers active centres"
        )
    return cycle, left_out


def _summary(contents: PackContents) -> str:
    forms = ", ".join(f"{form.form_id} v{form.version}" for form in contents.forms)
    languages = ", ".join(sorted(contents.translations)) or "none"
    cycle = contents.cycle.cycle_id if contents.cycle else "none"
    summary = f"forms: {forms}; languages: {languages}; centres: {len(contents.centres)}; cycle: {cycle}"
    if contents.recipient is not None:
        summary += f"; hub recipient: {recipient_fingerprint(contents.recipient)}"
    return summary


def make_hub_pack(
    store: HubStore,
    *,
    forms_dir: Path,
    translations_dir: Path,
    cycle_id: str | None = None,
    settings: Mapping[str, int] | None = None,
    today: datetime.date | None = None,
) -> MadePack:
    """Gather, sign and record the next pack (see the module's docstring)."""
    forms, loaded, archived = _forms(forms_dir)
    translations, skipped = pack_translations(translations_dir)
    active = centres(store)
    active_codes = {centre.code for centre in active}
    cycle, left_out = _cycle(
        store, cycle_id, today or datetime.datetime.now(datetime.UTC).date(), {f.form_id for f in forms}, active_codes
    )
    pack_cycle = None
    if cycle is not None:
        pack_cycle = PackCycle(
            cycle.cycle_id, cycle.name, cycle.start, cycle.end, cycle.forms,
            tuple(code for code in cycle.centres if code in active_codes),
        )  # fmt: skip
    key = store.receipt_signing_key
    packed_before, _unreadable = held_forms(store)
    _check_meanings(loaded, [*archived, *packed_before])
    with store.transaction() as db:
        for form in forms:
            held = db.execute(
                "SELECT content_hash FROM form_versions WHERE form_id=? AND version=?", (form.form_id, form.version)
            ).fetchone()
            if held is not None and held[0] != form.content_hash:
                raise PackingError(
                    f"form {form.form_id} version {form.version} was packed before with other content "
                    f"({held[0][:19]}..., now {form.content_hash[:19]}...): records name a form by its "
                    "version, so raise its version in the YAML file"
                )
        found = db.execute("SELECT MAX(version) FROM packs").fetchone()
        version = int(found[0] or 0) + 1
        made = format_stamp(utcnow())
        contents = PackContents(
            hub_id=store.config.hub_id,
            version=version,
            made=made,
            forms=forms,
            centres=tuple(PackCentre(c.code, c.region, c.kind) for c in active),
            cycle=pack_cycle,
            translations=translations,
            settings=dict(settings or {}),
            recipient=store.config.recipient if store.config.earlier_recipients else None,
        )
        try:
            data = make_pack(contents, key)
        except PackError as error:
            raise PackingError(f"no pack was made: {error}") from None
        if len(data) > MAX_PACK_BYTES:
            raise PackingError(
                f"the pack would be {len(data)} bytes, more than a kit accepts ({MAX_PACK_BYTES}); "
                "leave out a language or a form"
            )
        sha256 = hashlib.sha256(data).hexdigest()
        summary = _summary(contents)
        db.execute(
            "INSERT INTO packs(version, made, sha256, summary, body) VALUES(?, ?, ?, ?, ?)",
            (version, made, sha256, summary, data),
        )
        for form in forms:
            db.execute(
                "INSERT INTO form_versions(form_id, version, content_hash, source, added) "
                "VALUES(?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (form.form_id, form.version, form.content_hash, form.yaml, made),
            )
        audit.append(db, audit.cli_actor(), "pack.made", str(version), {
            "sha256": sha256, "forms": [f"{form.form_id} v{form.version}" for form in forms],
            "centres": len(contents.centres), "cycle": pack_cycle.cycle_id if pack_cycle else None})  # fmt: skip
    return MadePack(StoredPack(version, made, sha256, summary), data, contents, tuple(skipped), left_out)

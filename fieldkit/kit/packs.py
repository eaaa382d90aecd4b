"""The kit's form packs: apply one (checked in full first), keep it, and build the programme from them.

A pack (``sync.protocol.pack``, ``docs/formats.md`` "Form pack") is kept as the file the
hub signed, in ``DATA/packs/``, named ``<n>-v<version>-<hub id>.pack`` where ``n`` counts
the packs this kit applied (so the newest applied is the one with the highest ``n``).
Every kept file is verified again whenever it is read: a file edited on the kit's disk is
left out, never trusted.

Applying checks everything before anything is written: the signature (a hub this kit
enrolled with), that the version is newer than the newest this kit applied from that hub,
that every form loads with the form engine with no problem and has the hash the pack
says, that no (form id, version) the kit already knows changes its content, and that
every catalogue passes the checks ``translations check`` applies. A refusal is a
:class:`~sync.protocol.pack.PackError` saying why, and the packs folder is unchanged.

The newest applied pack gives the current forms, centres and cycle. An older pack is
kept while a draft started under it (``Draft.pack_version``) is unfinished, so that
interview can be finished with the form it started with; ``prune`` deletes the others
when ``serve`` starts.
"""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from fieldkit.core.formengine.loader import load_form_text
from fieldkit.core.formengine.model import Form
from fieldkit.core.i18n.catalogues import catalogue_languages, catalogue_path
from fieldkit.core.i18n.checks import catalogue_problems
from fieldkit.core.storage.atomic import ensure_private_dir, remove_durably, write_atomic
from fieldkit.core.storage.locks import writer_lock
from fieldkit.kit.config import UnlockedKit, load_config
from fieldkit.kit.drafts import Draft, DraftStore, DraftUnreadable
from fieldkit.kit.outbox import SyncState
from fieldkit.kit.programme import Centre, Cycle, Programme
from sync.protocol.pack import PackContents, PackError, VerifiedPack, read_pack
from sync.protocol.receipts import SignedDocumentError, load_public_key

__all__ = [
    "PACKS_DIR",
    "AppliedPack",
    "PackError",
    "apply",
    "forms_needed_by_drafts",
    "kept_packs",
    "load_programme",
    "missing_forms",
    "pack_translations",
    "prune",
    "prune_for_drafts",
]

PACKS_DIR = "packs"
_NAME = re.compile(r"(\d{1,9})-v(\d{1,9})-([a-z][a-z0-9-]{1,63})\.pack")
_SHOWN_PROBLEMS = 3
log = logging.getLogger("fieldkit.kit.packs")


@dataclass(frozen=True)
class AppliedPack:
    """A pack this kit keeps: its file, its place in the order applied, and what it holds."""

    path: Path
    applied: int  # 1 for the first pack this kit applied, and so on
    contents: PackContents

    @property
    def version(self) -> int:
        return self.contents.version

    @property
    def hub_id(self) -> str:
        return self.contents.hub_id


def packs_dir(kit_dir: Path) -> Path:
    return Path(kit_dir) / PACKS_DIR


def trusted_hubs(kit_dir: Path) -> dict[str, Ed25519PublicKey]:
    """The receipt key of every hub this kit enrolled with: the only keys a pack may be signed by.

    Only hubs the kit's signature over its hub list covers (``fieldkit.kit.hub_list``):
    a key added to ``sync.json`` without the passphrase signs no pack this kit uses.
    """
    trusted: dict[str, Ed25519PublicKey] = {}
    for hub in SyncState(Path(kit_dir)).trusted_hubs(load_config(kit_dir)):
        with contextlib.suppress(SignedDocumentError):
            trusted[hub.hub_id] = load_public_key(hub.receipt_public_key, f"receipt key of hub {hub.hub_id}")
    return trusted


def _named(path: Path) -> tuple[int, int, str] | None:
    found = _NAME.fullmatch(path.name)
    return (int(found.group(1)), int(found.group(2)), found.group(3)) if found else None


def kept_packs(kit_dir: Path, trusted: Mapping[str, Ed25519PublicKey] | None = None) -> list[AppliedPack]:
    """Every kept pack that still verifies, oldest applied first.

    A file that no longer verifies (edited on disk, or from a hub the kit no longer
    trusts) is left out and logged: it never reaches an interview.
    """
    folder = packs_dir(kit_dir)
    if not folder.is_dir():
        return []
    keys = trusted_hubs(kit_dir) if trusted is None else trusted
    found: list[AppliedPack] = []
    for path in sorted(folder.iterdir()):
        named = _named(path)
        if named is None or not path.is_file():
            continue
        try:
            pack = read_pack(path.read_bytes(), keys)
        except (OSError, PackError) as error:
            log.error("kept form pack %s is left out: %s", path.name, error)
            continue
        if (pack.contents.version, pack.contents.hub_id) != named[1:]:
            log.error("kept form pack %s is left out: its name does not match what it holds", path.name)
            continue
        found.append(AppliedPack(path, named[0], pack.contents))
    return sorted(found, key=lambda applied: applied.applied)


# --- Checking and applying --------------------------------------------------------------


def _first(problems: Iterable[object]) -> str:
    shown = [str(problem) for problem in problems]
    more = f" (and {len(shown) - _SHOWN_PROBLEMS} more)" if len(shown) > _SHOWN_PROBLEMS else ""
    return "; ".join(shown[:_SHOWN_PROBLEMS]) + more


def pack_forms(contents: PackContents) -> dict[str, Form]:
    """The pack's forms, loaded by the form engine from their text; PackError on any problem."""
    forms: dict[str, Form] = {}
    for packed in contents.forms:
        shown = f"pack {contents.version}/{packed.form_id}.yaml"
        form, problems = load_form_text(packed.yaml, Path(f"{packed.form_id}.yaml"), shown)
        if problems or form is None:
            raise PackError(f"the form pack's form {packed.form_id} has problems: {_first(problems)}")
        if form.version != packed.version:
            raise PackError(
                f"the form pack says form {packed.form_id} is version {packed.version}, "
                f"but its definition is version {form.version}"
            )
        if form.content_hash != packed.content_hash:
            raise PackError(
                f"the form pack's form {packed.form_id} does not match its content hash: it was changed after packing"
            )
        forms[form.id] = form
    return forms


def _check_translations(contents: PackContents) -> None:
    for language, text in sorted(contents.translations.items()):
        problems = catalogue_problems(text.encode("utf-8"), f"pack {contents.version}/{language}/forms.po", language)
        if problems:
            raise PackError(f"the form pack's {language} catalogue has errors: {_first(problems)}")


def _check_known(forms: Mapping[str, Form], known: Iterable[Form]) -> None:
    """A (form id, version) names one content for ever: records are read by it at the hub."""
    seen = {(form.id, form.version): form.content_hash for form in known}
    for form in forms.values():
        earlier = seen.get((form.id, form.version))
        if earlier is not None and earlier != form.content_hash:
            raise PackError(
                f"the form pack's form {form.id} version {form.version} differs from the version "
                f"{form.version} this kit already has; a changed form needs a new version number"
            )


def check(kit_dir: Path, data: bytes, shipped: Iterable[Form] = ()) -> tuple[VerifiedPack, dict[str, Form]]:
    """Everything :func:`apply` checks, writing nothing: the pack and its loaded forms."""
    config = load_config(kit_dir)  # a clear error for a folder that is not a kit, before anything is read
    trusted = trusted_hubs(kit_dir)
    refused = SyncState(Path(kit_dir)).hub_trust(config).refused
    if not trusted:
        if refused:
            raise PackError(refused[0].line())
        raise PackError(
            "this kit is not enrolled with a hub yet, so it trusts no form pack; enrol it first ('fieldkit sync enrol')"
        )
    try:
        pack = read_pack(data, trusted)
    except PackError:
        # A pack from a hub whose entry was changed without the passphrase: say that, not "not enrolled".
        for hub in refused:
            if _signed_by(data, hub.hub_id, hub.receipt_public_key):
                raise PackError(hub.line()) from None
        raise
    contents = pack.contents
    kept = kept_packs(kit_dir, trusted)
    newest = max((p.version for p in kept if p.hub_id == contents.hub_id), default=None)
    if newest is not None and contents.version <= newest:
        same = "the same version" if contents.version == newest else "older"
        raise PackError(
            f"this kit already has pack {newest} from hub {contents.hub_id}; pack {contents.version} is {same}"
        )
    forms = pack_forms(contents)
    _check_translations(contents)
    known = list(shipped) + [form for p in kept for form in _forms_or_none(p)]
    _check_known(forms, known)
    return pack, forms


def _signed_by(data: bytes, hub_id: str, key_text: str) -> bool:
    try:
        read_pack(data, {hub_id: load_public_key(key_text, "receipt key")})
    except (PackError, SignedDocumentError):
        return False
    return True


def _forms_or_none(applied: AppliedPack) -> list[Form]:
    try:
        return list(pack_forms(applied.contents).values())
    except PackError as error:  # a kept pack loaded when applied; a newer fieldkit may read it otherwise
        log.error("kept form pack %s is left out: %s", applied.path.name, error)
        return []


def apply(kit_dir: Path, data: bytes, shipped: Iterable[Form] = ()) -> AppliedPack:
    """Check a pack in full, then keep it durably as the kit's newest; PackError and nothing written if refused.

    ``shipped``: the forms installed with fieldkit, whose (id, version) a pack may not
    redefine either.
    """
    kit_dir = Path(kit_dir)
    with writer_lock(kit_dir):
        pack, _forms = check(kit_dir, data, shipped)
        contents = pack.contents
        folder = packs_dir(kit_dir)
        order = max((named[0] for p in _all_files(folder) if (named := _named(p))), default=0) + 1
        path = folder / f"{order}-v{contents.version}-{contents.hub_id}.pack"
        ensure_private_dir(folder)
        write_atomic(path, pack.data)
    return AppliedPack(path, order, contents)


def _all_files(folder: Path) -> list[Path]:
    return sorted(folder.iterdir()) if folder.is_dir() else []


# --- Using the packs --------------------------------------------------------------------


def _programme_parts(contents: PackContents) -> tuple[tuple[Centre, ...], Cycle | None]:
    centres = tuple(Centre(c.code, c.region, c.kind) for c in contents.centres)
    cycle = contents.cycle
    if cycle is None:
        return centres, None
    return centres, Cycle(cycle.cycle_id, cycle.name, cycle.start, cycle.end, cycle.forms, cycle.centres)


def load_programme(
    kit_dir: Path,
    shipped_forms: Mapping[str, Form],
    archived: Iterable[Form] = (),
    kept: Sequence[AppliedPack] | None = None,
) -> Programme:
    """What this kit serves: the newest applied pack, with the forms of the older ones it keeps.

    The newest pack's forms are the current ones (new interviews start with them); forms
    of older kept packs, the shipped forms and the ``archived`` versions (older published
    versions, ``fieldkit.core.formengine.archive``) stay available by (id, version), for
    drafts started under them. With no pack: the shipped forms are the current ones and
    there is no centre list. An archived version never becomes current. ``kept``: the
    kit's :func:`kept_packs`, when the caller has already read them.
    """
    older: dict[tuple[str, int], Form] = {(form.id, form.version): form for form in archived}
    kept = kept_packs(kit_dir) if kept is None else kept
    if not kept:
        return _shipped_programme(shipped_forms, older)
    newest = kept[-1]
    forms = older | {(form.id, form.version): form for form in shipped_forms.values()}
    for applied in kept[:-1]:
        forms.update({(form.id, form.version): form for form in _forms_or_none(applied)})
    try:
        current = pack_forms(newest.contents)
    except PackError as error:
        log.error("the newest form pack %s cannot be used: %s; serving the shipped forms", newest.path.name, error)
        return _shipped_programme(shipped_forms, older)
    forms.update({(form.id, form.version): form for form in current.values()})
    centres, cycle = _programme_parts(newest.contents)
    return Programme(
        forms=forms,
        current={form.id: form.version for form in current.values()},
        centres=centres,
        cycle=cycle,
        pack_version=newest.version,
        hub_id=newest.hub_id,
        settings=dict(newest.contents.settings),
        hub_recipient=newest.contents.recipient,
    )


def pack_hub_recipient(kit_dir: Path) -> str | None:
    """The hub recipient the newest applied pack carries (a hub that rotated its key), or None."""
    kept = kept_packs(kit_dir)
    return kept[-1].contents.recipient if kept else None


def _shipped_programme(shipped_forms: Mapping[str, Form], older: Mapping[tuple[str, int], Form]) -> Programme:
    forms = dict(older) | {(form.id, form.version): form for form in shipped_forms.values()}
    return Programme(forms=forms, current={form.id: form.version for form in shipped_forms.values()})


def _kept_drafts(kit: UnlockedKit) -> list[Draft] | None:
    """Every unfinished and discarded (still restorable) draft; None if one cannot be read."""
    drafts = DraftStore(kit.data_dir / "drafts", kit.draft_key)
    try:
        return [
            *(drafts.load(draft_id) for draft_id in drafts.ids()),
            *(drafts.load_discarded(draft_id) for draft_id in drafts.discarded_ids()),
        ]
    except DraftUnreadable:
        return None


def forms_needed_by_drafts(kit: UnlockedKit) -> set[tuple[str, int]] | None:
    """The (form id, version) of every unfinished and discarded draft; None if one cannot be read."""
    drafts = _kept_drafts(kit)
    return None if drafts is None else {(draft.form_id, draft.form_version) for draft in drafts}


def missing_forms(programme: Programme, needed: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    """The (form id, version) drafts need that the programme has no definition of, sorted.

    Empty when every draft can be finished with the form it started with; ``serve`` can
    say which drafts cannot (their form version is in no kept pack, shipped form or archive).
    """
    return sorted(key for key in set(needed) if key not in programme.forms)


def prune(kit_dir: Path, needed_versions: Iterable[int]) -> list[Path]:
    """Delete kept packs no draft needs; the newest pack of each hub always stays.

    ``needed_versions``: the ``pack_version`` of every unfinished (or restorable)
    draft. The newest of each hub stays so the next pack's version can be compared.
    """
    needed = set(needed_versions)
    kept = kept_packs(kit_dir)
    newest_of_hub = {p.hub_id: p for p in kept}  # oldest first, so the last one per hub wins
    removed = []
    with writer_lock(Path(kit_dir)):
        for applied in kept:
            if applied is newest_of_hub[applied.hub_id] or applied.version in needed:
                continue
            remove_durably(applied.path)
            removed.append(applied.path)
    return removed


def pack_translations(
    kit_dir: Path, programme: Programme, install: Path, kept: Sequence[AppliedPack] | None = None
) -> Path:
    """A translations folder for the programme's pack: the install's interface, the pack's form wording.

    Each language the install has an interface catalogue for gets that ``messages.po``
    and the pack's ``forms.po`` (the install's when the pack has none for it), in
    ``DATA/cache/pack-translations/<version>/``. With no pack: ``install`` itself.
    """
    if programme.pack_version is None:
        return install
    held = kept_packs(kit_dir) if kept is None else kept
    pack = next((p for p in held if (p.hub_id, p.version) == (programme.hub_id, programme.pack_version)), None)
    if pack is None:
        return install
    out = Path(kit_dir) / "cache" / "pack-translations" / str(programme.pack_version)
    if out.exists():
        shutil.rmtree(out)
    for language in catalogue_languages(install):
        messages = catalogue_path(install, language, "messages")
        if not messages.is_file():
            continue
        target = ensure_private_dir(out / language / "LC_MESSAGES")
        shutil.copyfile(messages, target / "messages.po")
        forms_text = pack.contents.translations.get(language)
        if forms_text is not None:
            write_atomic(target / "forms.po", forms_text.encode("utf-8"))
        elif catalogue_path(install, language, "forms").is_file():
            shutil.copyfile(catalogue_path(install, language, "forms"), target / "forms.po")
    ensure_private_dir(out)
    return out


def needed_by_drafts(kit: UnlockedKit) -> set[int] | None:
    """The pack versions unfinished and discarded drafts were started under; None if one cannot be read.

    A draft that cannot be opened could need any pack, so then nothing is pruned.
    """
    drafts = _kept_drafts(kit)
    return None if drafts is None else {draft.pack_version for draft in drafts if draft.pack_version is not None}


def prune_for_drafts(kit: UnlockedKit) -> list[Path]:
    """At serve start (the kit is unlocked): delete kept packs no draft needs any more."""
    needed = needed_by_drafts(kit)
    if needed is None:
        return []
    return prune(kit.data_dir, needed)


@dataclass(frozen=True)
class PackSummary:
    """What the operator page says about the pack a kit serves."""

    version: int
    hub_id: str
    made: str
    cycle: str | None  # the cycle's name, when the pack has one


def summary(applied: AppliedPack | None) -> PackSummary | None:
    if applied is None:
        return None
    contents = applied.contents
    return PackSummary(
        contents.version, contents.hub_id, contents.made, contents.cycle.name if contents.cycle else None
    )


def serving_summary(kit_dir: Path, kept: Sequence[AppliedPack] | None = None) -> PackSummary | None:
    """The newest applied pack (the one ``serve`` uses), or None when the kit has none."""
    kept = kept_packs(kit_dir) if kept is None else kept
    return summary(kept[-1] if kept else None)

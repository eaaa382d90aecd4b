"""Form packs for the tests: made as a hub makes them, signed with a real hub folder's receipt key.

``make_test_pack(hub_dir, version)`` packs the shipped forms (or the ones given) with a few
test centres; ``give_test_pack(kit_dir, passphrase)`` enrols a kit with a throwaway hub
in-process (as ``fieldkit demo`` does) and applies such a pack, so a served kit offers the
centre picker; ``pack_form`` turns a form's YAML text into the pack's entry, with the hash
the form engine computes, and ``retitled`` gives a shipped form a new title and version,
so a test sees a pack change what the phone offers.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from fieldkit.core import paths
from fieldkit.core.formengine.loader import load_form_text
from sync.hub.store import HubStore, load_hub_config
from sync.protocol.pack import PackCentre, PackContents, PackCycle, PackForm, make_pack
from tests.processes import start_until_ready, stop
from tests.test_degradation import Browser
from tests.webclient import csrf_token

TEST_CENTRES = (
    PackCentre("T-01", "NORTH", "residential"),
    PackCentre("T-02", "NORTH", "community"),
    PackCentre("T-03", "SOUTH", "specialised_outpatient"),
)


def shipped_text(form_id: str) -> str:
    return (paths.forms_dir() / f"{form_id}.yaml").read_text(encoding="utf-8")


def pack_form(text: str, form_id: str | None = None) -> PackForm:
    """The pack entry for a form's YAML text; the text must load without problems."""
    found = re.search(r"^id:\s*(\S+)", text, re.MULTILINE)
    name = form_id or (found.group(1) if found else "form")
    form, problems = load_form_text(text, Path(f"{name}.yaml"))
    assert form is not None and not problems, problems
    return PackForm(form.id, form.version, form.content_hash, text)


def shipped_version(form_id: str) -> int:
    """The version number of a shipped form, so that tests name the next one without hard-coding it."""
    found = re.search(r"^version: (\d+)$", shipped_text(form_id), re.MULTILINE)
    assert found, form_id
    return int(found.group(1))


# The shipped peer interview's version: packs in tests carry PEER + 1, PEER + 2...
PEER = shipped_version("peer-interview")


def retitled(form_id: str, title: str, version: int) -> str:
    """A shipped form's text with another title and version number."""
    text = shipped_text(form_id)
    text = re.sub(r"^title: .*$", f"title: {title}", text, count=1, flags=re.MULTILINE)
    return re.sub(r"^version: \d+$", f"version: {version}", text, count=1, flags=re.MULTILINE)


def shipped_pack_forms() -> tuple[PackForm, ...]:
    return tuple(pack_form(shipped_text(name)) for name in ("centre-assessment", "peer-interview"))


def cycle_over(forms: Iterable[PackForm], cycle_id: str = "2027-q1") -> PackCycle:
    return PackCycle(
        cycle_id, "First quarter 2027", datetime.date(2027, 1, 1), datetime.date(2027, 3, 31),
        tuple(form.form_id for form in forms),
    )  # fmt: skip


def make_test_pack(
    hub_dir: Path,
    version: int,
    *,
    forms: Iterable[PackForm] | None = None,
    centres: Iterable[PackCentre] = TEST_CENTRES,
    cycle: PackCycle | bool | None = True,
    translations: Mapping[str, str] | None = None,
    settings: Mapping[str, int] | None = None,
) -> bytes:
    """A pack signed with ``hub_dir``'s receipt key (``cycle=True``: a cycle over every form)."""
    packed = tuple(forms) if forms is not None else shipped_pack_forms()
    chosen = cycle_over(packed) if cycle is True else (cycle or None)
    contents = PackContents(
        hub_id=load_hub_config(hub_dir).hub_id,
        version=version,
        forms=packed,
        centres=tuple(centres),
        cycle=chosen,
        translations=dict(translations or {}),
        settings=dict(settings or {}),
    )
    with HubStore(hub_dir) as store:
        return make_pack(contents, store.receipt_signing_key)


def write_pack(folder: Path, data: bytes, name: str = "pack.json") -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def folder_state(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes, to show a refusal changed nothing."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def publish(hub_dir: Path, data: bytes, version: int) -> None:
    """Put a signed pack in the hub's ``packs`` table, as ``fieldkit hub pack`` does."""
    import hashlib

    from tests.hub_backend import hub_db

    with hub_db(hub_dir) as db:
        db.execute(
            "INSERT INTO packs(version, made, sha256, summary, body) VALUES (?, ?, ?, ?, ?)",
            (version, "2027-01-01T00:00:00Z", hashlib.sha256(data).hexdigest(), "test pack", data),
        )


@dataclass(frozen=True)
class GivenPack:
    """The throwaway hub a kit was enrolled with, and the pack it applied."""

    hub_dir: Path
    version: int


def _passphrase(passphrase: str | Path) -> str:
    if isinstance(passphrase, Path):
        return passphrase.read_text(encoding="utf-8").splitlines()[0]
    return passphrase


def give_test_pack(
    kit_dir: Path,
    passphrase: str | Path,
    *,
    centres: Iterable[PackCentre] = TEST_CENTRES,
    cycle: PackCycle | bool | None = True,
    hub_dir: Path | None = None,
    version: int | None = None,
    translations: Mapping[str, str] | None = None,
) -> GivenPack:
    """Enrol ``kit_dir`` with a throwaway test hub (made beside it, once) and apply a pack of the shipped forms.

    ``passphrase``: the kit's passphrase, or a file whose first line is it. Called again with
    the returned ``hub_dir``, it applies the next version (another centre list, say), as a
    kit does when the hub's registry changes. The pack carries the shipped form wording, so
    every language the install offers is offered with it.
    """
    from fieldkit.core.formengine.catalogue import load_directory
    from fieldkit.kit.config import unlock
    from fieldkit.kit.enrolment import apply_enrolment_response, make_enrolment_request
    from fieldkit.kit.packs import apply, kept_packs
    from sync.hub.enrolment import accept_enrolment, create_token
    from sync.hub.store import init_hub

    kit_dir = Path(kit_dir)
    if hub_dir is None:
        hub_dir = kit_dir.parent / f"{kit_dir.name}-test-hub"
        kit = unlock(kit_dir, _passphrase(passphrase))
        # The hub whose key the kit seals to: the one that opens the kit's records.
        init_hub(hub_dir, kit.config.recipients[0], hub_id="test-hub")
        with HubStore(hub_dir) as store:
            token = create_token(store, valid_days=1)
            response = accept_enrolment(store, make_enrolment_request(kit, token))
        apply_enrolment_response(kit, response)
    if version is None:
        version = max((p.version for p in kept_packs(kit_dir)), default=0) + 1
    wording = dict(translations) if translations is not None else shipped_form_wording()
    data = make_test_pack(hub_dir, version, centres=centres, cycle=cycle, translations=wording)
    apply(kit_dir, data, load_directory(paths.forms_dir()).values())
    return GivenPack(hub_dir, version)


def shipped_form_wording() -> dict[str, str]:
    """Each shipped language's ``forms.po`` text, as ``hub pack`` puts it in a pack."""
    from fieldkit.core.i18n.catalogues import catalogue_languages, catalogue_path

    folder = paths.translations_dir()
    return {
        language: catalogue_path(folder, language, "forms").read_text("utf-8")
        for language in catalogue_languages(folder)
        if catalogue_path(folder, language, "forms").is_file()
    }


def served_pages(kit: Path, passphrase_file: Path, *extra: str, language: str | None = None) -> tuple[str, str, str]:
    """Serve the kit (a real ``fieldkit serve`` with ``extra`` options) and pair a phone,
    switched to ``language`` first when given; what serve printed, the phone's home page
    and the operator page. The kit stops before this returns."""
    process, output = start_until_ready(
        "serve", "--data", str(kit), "--passphrase-file", str(passphrase_file), "--host", "127.0.0.1", "--port", "0",
        *extra,
    )  # fmt: skip
    try:
        port = re.search(r"http://127\.0\.0\.1:(\d+)/operator/", output)
        assert port, output
        base = f"http://127.0.0.1:{port.group(1)}"
        operator = Browser(base).get("/operator/")
        code = re.search(r'<p class="code"><bdi>([^<]+)</bdi>', operator)
        assert code, operator
        phone = Browser(base)
        page = phone.get("/pair")
        if language is not None:
            page = phone.post("/lang", {"csrf_token": csrf_token(page), "lang": language, "next": "/pair"})
        home = phone.post("/pair", {"csrf_token": csrf_token(page), "code": code.group(1), "interviewer": "P01"})
        return output, home, operator
    finally:
        stop(process)

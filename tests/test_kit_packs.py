"""The kit's pack store: a good pack is applied and kept; every bad pack is refused with its reason, nothing written."""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path

import pytest

from fieldkit.core import paths
from fieldkit.core.formengine.catalogue import load_serving_forms
from fieldkit.kit.config import unlock
from fieldkit.kit.drafts import Draft, DraftStore
from fieldkit.kit.packs import apply, kept_packs, load_programme, prune_for_drafts
from sync.hub.store import HubStore
from sync.protocol.pack import MAX_PACK_BYTES, PackError, PackForm
from sync.protocol.receipts import canonical_json
from tests.packs import PEER, folder_state, make_test_pack, pack_form, retitled, shipped_pack_forms, write_pack
from tests.sync_cli import PASSPHRASE, enrolled_pair, init_hub_folder, run


@pytest.fixture
def pair(tmp_path: Path, hub_keys: Path, passphrase_file: Path) -> tuple[Path, Path]:
    return enrolled_pair(tmp_path, hub_keys, passphrase_file)


def _shipped():
    return list(load_serving_forms(paths.forms_dir())[0].values())


def _refused(kit: Path, tmp_path: Path, data: bytes, reason: str) -> None:
    """``fieldkit pack apply`` refuses the file, says why, exits 1, and the packs folder is unchanged."""
    before = folder_state(kit / "packs")
    result = run("pack", "apply", "--data", kit, write_pack(tmp_path, data, "bad.pack"), expect=1)
    assert "refused" in result.output and reason in result.output, result.output
    assert "nothing changed" in result.output
    assert folder_state(kit / "packs") == before


def _signed(payload: dict, hub: Path) -> bytes:
    """A payload signed by the hub's key without make_pack's checks: what a hostile hub file could hold."""
    with HubStore(hub) as store:
        key = store.receipt_signing_key
    body = canonical_json(payload)
    return json.dumps(
        {"format": "fieldkit-signed/1", "payload": base64.b64encode(body).decode(),
         "signature": base64.b64encode(key.sign(body)).decode()}
    ).encode()  # fmt: skip


def test_a_good_pack_is_applied_listed_and_gives_the_programme(pair, tmp_path: Path) -> None:
    hub, kit = pair
    forms = (pack_form(retitled("peer-interview", "Peer interview (pack 1)", PEER + 1)),)
    result = run("pack", "apply", "--data", kit, write_pack(tmp_path, make_test_pack(hub, 1, forms=forms)))
    assert "pack 1 from hub" in result.output and f"peer-interview v{PEER + 1}" in result.output
    assert "3 centres" in result.output and "2027-q1" in result.output
    listed = run("pack", "list", "--data", kit).output
    assert "pack 1 from hub" in listed and "(serving)" in listed
    programme = load_programme(kit, {form.id: form for form in _shipped()})
    assert programme.pack_version == 1
    assert programme.current_forms()["peer-interview"].title == "Peer interview (pack 1)"
    assert [c.code for c in programme.centres] == ["T-01", "T-02", "T-03"]
    assert programme.cycle is not None and programme.cycle.cycle_id == "2027-q1"
    assert programme.form("peer-interview", PEER) is not None  # the shipped version, for older drafts


def test_no_pack_means_shipped_forms_and_no_centres(pair) -> None:
    _hub, kit = pair
    assert "No form pack applied" in run("pack", "list", "--data", kit).output
    programme = load_programme(kit, {form.id: form for form in _shipped()})
    assert programme.pack_version is None and programme.centres == ()


def test_a_kept_pack_edited_on_the_kits_disk_is_left_out(pair) -> None:
    """A seized kit's pack file with one more centre written in: never trusted, never served."""
    hub, kit = pair
    shipped = {form.id: form for form in _shipped()}
    apply(kit, make_test_pack(hub, 1), shipped.values())
    (kept,) = kept_packs(kit)
    envelope = json.loads(kept.path.read_bytes())
    payload = json.loads(base64.b64decode(envelope["payload"]))
    payload["centres"].append({"code": "X-99", "region": "NORTH", "kind": "residential"})
    envelope["payload"] = base64.b64encode(canonical_json(payload)).decode("ascii")
    kept.path.write_text(json.dumps(envelope), encoding="utf-8")
    assert kept_packs(kit) == []
    programme = load_programme(kit, shipped)
    assert programme.pack_version is None and programme.centres == ()


def test_older_and_same_versions_are_refused(pair, tmp_path: Path) -> None:
    hub, kit = pair
    run("pack", "apply", "--data", kit, write_pack(tmp_path, make_test_pack(hub, 5)))
    hub_id = kept_packs(kit)[0].hub_id
    _refused(kit, tmp_path, make_test_pack(hub, 4), f"this kit already has pack 5 from hub {hub_id}; pack 4 is older")
    _refused(kit, tmp_path, make_test_pack(hub, 5), "pack 5 is the same version")


def test_a_pack_from_another_hub_is_refused(pair, tmp_path: Path, hub_keys: Path) -> None:
    _hub, kit = pair
    other = init_hub_folder(tmp_path, hub_keys, "other-hub")
    _refused(kit, tmp_path, make_test_pack(other, 1), "which this kit is not enrolled with")


def test_a_wrong_signature_is_refused(pair, tmp_path: Path, hub_keys: Path) -> None:
    hub, kit = pair
    other = init_hub_folder(tmp_path, hub_keys, "other-hub")
    genuine = make_test_pack(other, 1)
    envelope = json.loads(genuine)
    payload = json.loads(base64.b64decode(envelope["payload"]))
    with HubStore(hub) as store:
        payload["hub_id"] = store.config.hub_id
    envelope["payload"] = base64.b64encode(canonical_json(payload)).decode()  # the other hub's signature stays
    _refused(kit, tmp_path, json.dumps(envelope).encode(), "signature does not verify")


def test_broken_form_yaml_is_refused(pair, tmp_path: Path) -> None:
    hub, kit = pair
    text = retitled("peer-interview", "Broken", PEER + 1).replace("sections:", "sections: [", 1)
    broken = PackForm("peer-interview", PEER, "sha256:" + "0" * 64, text)
    _refused(kit, tmp_path, make_test_pack(hub, 1, forms=(broken,)), "form peer-interview has problems")


def test_a_form_that_does_not_match_its_hash_is_refused(pair, tmp_path: Path) -> None:
    hub, kit = pair
    good = pack_form(retitled("peer-interview", "Changed", PEER + 1))
    changed = dataclasses.replace(good, yaml=good.yaml.replace("title: Changed", "title: Changed again"))
    _refused(kit, tmp_path, make_test_pack(hub, 1, forms=(changed,)), "does not match its content hash")


def test_a_known_form_version_with_other_content_is_refused(pair, tmp_path: Path) -> None:
    hub, kit = pair
    same_version = pack_form(retitled("peer-interview", "Same number, other words", PEER))
    _refused(kit, tmp_path, make_test_pack(hub, 1, forms=(same_version,)), "needs a new version number")


@pytest.mark.parametrize(
    ("where", "value", "reason"),
    [
        ("form", "../../etc/passwd", "unsafe id"),
        ("language", "../fr", "unsafe code"),
    ],
)
def test_traversal_in_a_name_is_refused(pair, tmp_path: Path, where: str, value: str, reason: str) -> None:
    hub, kit = pair
    payload = json.loads(base64.b64decode(json.loads(make_test_pack(hub, 1))["payload"]))
    if where == "form":
        payload["forms"][0]["id"] = value
    else:
        payload["translations"] = {value: {"forms": 'msgid ""\nmsgstr ""\n'}}
    _refused(kit, tmp_path, _signed(payload, hub), reason)


def test_a_too_large_file_is_refused(pair, tmp_path: Path) -> None:
    _hub, kit = pair
    _refused(kit, tmp_path, b" " * (MAX_PACK_BYTES + 1), "too large")


def test_a_nesting_bomb_is_refused(pair, tmp_path: Path) -> None:
    hub, kit = pair
    body = b'{"format": "fieldkit-pack/1", "settings": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    with HubStore(hub) as store:
        signature = store.receipt_signing_key.sign(body)
    envelope = json.dumps(
        {"format": "fieldkit-signed/1", "payload": base64.b64encode(body).decode(),
         "signature": base64.b64encode(signature).decode()}
    ).encode()  # fmt: skip
    _refused(kit, tmp_path, envelope, "damaged")


def test_a_broken_catalogue_is_refused(pair, tmp_path: Path) -> None:
    hub, kit = pair
    _refused(
        kit, tmp_path, make_test_pack(hub, 1, translations={"fr": 'msgid "x"\nmsgstr "y'}), "fr catalogue has errors"
    )


def test_not_enrolled_kit_trusts_no_pack(tmp_path: Path, hub_keys: Path, passphrase_file: Path) -> None:
    from tests.sync_cli import new_kit

    hub = init_hub_folder(tmp_path, hub_keys)
    kit = new_kit(tmp_path, hub_keys, passphrase_file)
    _refused(kit, tmp_path, make_test_pack(hub, 1), "not enrolled with a hub yet")


def test_an_older_pack_stays_while_a_draft_needs_it(pair, tmp_path: Path) -> None:
    hub, kit = pair
    shipped = _shipped()
    apply(kit, make_test_pack(hub, 1, forms=(pack_form(retitled("peer-interview", "One", PEER + 1)),)), shipped)
    apply(kit, make_test_pack(hub, 2, forms=(pack_form(retitled("peer-interview", "Two", PEER + 2)),)), shipped)
    unlocked = unlock(kit, PASSPHRASE)
    drafts = DraftStore(kit / "drafts", unlocked.draft_key)
    draft = Draft("peer-interview", PEER + 1, "en", "P01", "2027-01-02T10:00:00Z", pack_version=1)
    drafts.save(draft)
    assert prune_for_drafts(unlocked) == []
    programme = load_programme(kit, {form.id: form for form in shipped})
    assert programme.form("peer-interview", PEER + 1) is not None  # the draft's form, kept
    assert programme.current_forms()["peer-interview"].version == PEER + 2
    drafts.delete(draft.draft_id)
    removed = prune_for_drafts(unlocked)
    assert [path.name for path in removed] == [f"1-v1-{kept_packs(kit)[0].hub_id}.pack"]
    assert [p.version for p in kept_packs(kit)] == [2]
    assert load_programme(kit, {form.id: form for form in shipped}).form("peer-interview", PEER + 1) is None


def test_a_refused_pack_via_apply_raises_pack_error(pair) -> None:
    hub, kit = pair
    apply(kit, make_test_pack(hub, 2, forms=shipped_pack_forms()), _shipped())
    with pytest.raises(PackError, match="pack 1 is older"):
        apply(kit, make_test_pack(hub, 1), _shipped())

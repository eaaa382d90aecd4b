"""A seized kit's list of hubs: a hub added or changed in ``sync.json`` without the passphrase is refused.

Through real processes on real files: ``fieldkit serve`` as a subprocess with a phone and
the operator page as HTTP clients, ``fieldkit sync``/``pack`` commands, a real hub over
HTTP for the honest enrolment. Someone with the kit's disk (no passphrase) adds their hub
key to ``sync.json`` and drops a pack signed with it into ``DATA/packs/``: the kit must
keep serving the shipped forms (or its own hub's pack), say which hub it refused, and
never let that key's receipts cost a record.
"""

from __future__ import annotations

import json
from pathlib import Path

from fieldkit.kit.outbox import Outbox
from sync.hub.enrolment import create_token
from sync.hub.store import HubStore, init_hub, load_hub_config
from sync.protocol.bundle import Manifest, SourceRef
from sync.protocol.receipts import key_fingerprint, make_receipt
from tests.http_servers import running_hub
from tests.old_kits import as_before_hub_list_signing
from tests.packs import PEER, make_test_pack, pack_form, publish, retitled, served_pages, write_pack
from tests.sync_cli import PASSPHRASE, enrolled_pair, export, init_hub_folder, new_kit, run, simulate

HONEST_TITLE = "Peer interview from our hub"
FORGED_TITLE = "Please give your full name and address"


def _pack(hub: Path, version: int, title: str) -> bytes:
    return make_test_pack(hub, version, forms=(pack_form(retitled("peer-interview", title, version + PEER)),))


def _attacker_hub(tmp_path: Path, hub_keys: Path, hub_id: str = "hub-of-someone-else") -> Path:
    recipient = (hub_keys / "hub-recipient.txt").read_text().strip()
    return init_hub(tmp_path / "attacker-hub", recipient, hub_id=hub_id).data_dir


def _edit_sync_state(kit: Path, change) -> None:
    path = kit / "sync.json"
    state = json.loads(path.read_text())
    change(state)
    path.write_text(json.dumps(state))


def _drop_pack(kit: Path, hub: Path, order: int, version: int, title: str) -> None:
    """A pack signed with ``hub``'s key, put straight into the kit's packs folder as the kit names them."""
    folder = kit / "packs"
    folder.mkdir(mode=0o700, exist_ok=True)
    (folder / f"{order}-v{version}-{load_hub_config(hub).hub_id}.pack").write_bytes(_pack(hub, version, title))


def _assert_refused(output: str, operator: str, hub_id: str, key: str) -> None:
    line = next((line for line in output.splitlines() if "REFUSED" in line), "")
    assert f"hub {hub_id} (receipt key {key_fingerprint(key)}) is NOT trusted" in line, output
    assert "changed without the kit passphrase" in line
    assert "refused-hub" in operator and hub_id in operator and key_fingerprint(key) in operator
    assert "The kit serves the forms installed with it" in operator
    assert 'id="no-centres"' in operator  # no centre list, so no picker on the phone


def _add_hub_by_hand(kit: Path, entry: str, key: str) -> None:
    """What someone with the disk but not the passphrase can do: list a hub of their own in sync.json."""

    def add(state: dict) -> None:
        state["hubs"][entry] = {"hub_id": "hub-of-someone-else", "receipt_public_key": key,
                                "enrolled": "2027-01-01T00:00:00Z", "verified": "token-proof"}  # fmt: skip

    _edit_sync_state(kit, add)


def test_a_hub_added_by_hand_and_its_pack_are_not_served(tmp_path: Path, hub_keys: Path, passphrase_file: Path) -> None:
    _hub, kit = enrolled_pair(tmp_path, hub_keys, passphrase_file)
    attacker = _attacker_hub(tmp_path, hub_keys)
    key = load_hub_config(attacker).receipt_public_key

    _add_hub_by_hand(kit, "2", key)
    _drop_pack(kit, attacker, 1, 1, FORGED_TITLE)
    output, home, operator = served_pages(kit, passphrase_file)
    _assert_refused(output, operator, "hub-of-someone-else", key)
    assert FORGED_TITLE not in home and FORGED_TITLE not in operator
    assert "Peer interview" in home and 'value="centre-assessment"' in home  # the shipped forms
    assert "serving the forms installed with fieldkit" in output
    # The commands that do not unlock check the same signature.
    listed = run("pack", "list", "--data", kit)
    assert "No form pack applied" in listed.output
    stick = write_pack(tmp_path, _pack(attacker, 2, FORGED_TITLE))
    refused = run("pack", "apply", "--data", kit, stick, expect=1)
    assert "hub-of-someone-else" in refused.output and "changed without the kit passphrase" in refused.output
    assert "Listed but refused: hub hub-of-someone-else" in run("sync", "status", "--data", kit).output


def test_a_changed_receipt_key_of_the_enrolled_hub_is_refused_for_packs_receipts_and_prune(
    tmp_path: Path, hub_keys: Path, passphrase_file: Path
) -> None:
    hub, kit = enrolled_pair(tmp_path, hub_keys, passphrase_file)
    hub_id = load_hub_config(hub).hub_id
    assert run("pack", "apply", "--data", kit, write_pack(tmp_path, _pack(hub, 1, HONEST_TITLE))).exit_code == 0
    simulate(kit, passphrase_file, 2, seed=5)
    export(kit, tmp_path / "bundle.tar", passphrase_file)
    # Someone with the disk makes a hub under the same id, swaps its key in, and drops its pack.
    attacker = _attacker_hub(tmp_path, hub_keys, hub_id=hub_id)
    key = load_hub_config(attacker).receipt_public_key

    def swap(state: dict) -> None:
        for doc in state["hubs"].values():
            doc["receipt_public_key"] = key

    _edit_sync_state(kit, swap)
    _drop_pack(kit, attacker, 2, 2, FORGED_TITLE)
    output, home, operator = served_pages(kit, passphrase_file)
    _assert_refused(output, operator, hub_id, key)
    assert FORGED_TITLE not in home and HONEST_TITLE not in home  # the entry is refused, with all it signed
    # Its receipts mark nothing, so prune deletes nothing on its word.
    entries = Outbox(kit).state.load_outbox()["records"]
    config = json.loads((kit / "kit.json").read_text())
    manifest = Manifest(SourceRef("kit", config["kit_id"], config["epoch"]), "2027-01-01", 1, 2, ())
    with HubStore(attacker) as store:
        forged = make_receipt(store.receipt_signing_key, hub_id, manifest, "0" * 64,
                              records=[(rid, entry["sha256"]) for rid, entry in entries.items()])  # fmt: skip
    (tmp_path / "receipt.json").write_bytes(forged)
    refused = run("sync", "receipt", "--data", kit, tmp_path / "receipt.json", expect=1)
    assert "NOT trusted" in refused.output and "Nothing was marked as synced" in refused.output
    pruned = run("sync", "prune", "--data", kit)
    assert "Removed 0 acknowledged records" in pruned.output and "NOT trusted" in pruned.stderr
    assert len(list((kit / "records").rglob("*.age"))) == 2


def test_a_signature_deleted_or_a_mark_removed_after_signing_is_refused(
    tmp_path: Path, hub_keys: Path, passphrase_file: Path
) -> None:
    hub, kit = enrolled_pair(tmp_path, hub_keys, passphrase_file)
    key = load_hub_config(hub).receipt_public_key
    assert run("pack", "apply", "--data", kit, write_pack(tmp_path, _pack(hub, 1, HONEST_TITLE))).exit_code == 0
    _edit_sync_state(kit, lambda state: state.pop("hubs_signature"))
    output, home, operator = served_pages(kit, passphrase_file)
    _assert_refused(output, operator, load_hub_config(hub).hub_id, key)
    assert "signature over its hub list is missing" in output
    assert HONEST_TITLE not in home
    # Posing as a kit from before the list was signed: the mark and its seal entry removed too.
    config_path = kit / "kit.json"
    config = json.loads(config_path.read_text())
    del config["hub_list_signed"]
    del config["seal"]["fields"]["hub_list_signed"]
    config_path.write_text(json.dumps(config))
    refused = run("serve", "--data", kit, "--passphrase-file", passphrase_file, "--port", "0", expect=1)
    assert "'hub_list_signed' was removed" in refused.output and "not unlocked" in refused.output
    assert "hubs_signature" not in json.loads((kit / "sync.json").read_text())  # nothing was signed


def test_honest_enrolments_over_http_and_by_usb_are_trusted_and_their_packs_served(
    tmp_path: Path, hub_keys: Path, passphrase_file: Path
) -> None:
    hub, kit = enrolled_pair(tmp_path, hub_keys, passphrase_file)
    assert run("pack", "apply", "--data", kit, write_pack(tmp_path, _pack(hub, 1, HONEST_TITLE))).exit_code == 0
    output, home, operator = served_pages(kit, passphrase_file)
    assert "REFUSED" not in output and "refused-hub" not in operator
    assert HONEST_TITLE in home and "Form pack 1" in operator
    # Over HTTP: enrol with a typed token, then pull the hub's pack.
    other = new_kit(tmp_path, hub_keys, passphrase_file, name="kit-http")
    publish(hub, _pack(hub, 2, HONEST_TITLE + " over the air"), 2)
    with running_hub(hub) as server:
        token = create_token(server.store)
        enrolled = run("sync", "enrol", "--data", other, "--hub", server.url, "--token", token.display,
                       "--passphrase-file", passphrase_file)  # fmt: skip
        assert key_fingerprint(server.store.config.receipt_public_key) in enrolled.output
        pulled = run("sync", "pull", "--data", other, "--hub", server.url, "--passphrase-file", passphrase_file)
        assert "Applied pack 2" in pulled.output
    output, home, _operator = served_pages(other, passphrase_file)
    assert "REFUSED" not in output and HONEST_TITLE + " over the air" in home


def test_the_usb_response_needs_the_passphrase(tmp_path: Path, hub_keys: Path, passphrase_file: Path) -> None:
    hub = init_hub_folder(tmp_path, hub_keys)
    kit = new_kit(tmp_path, hub_keys, passphrase_file)
    token, request, response = tmp_path / "token.json", tmp_path / "request.json", tmp_path / "response.json"
    run("hub", "enrol", "--data", hub, "--out", token)
    run("sync", "enrol", "--data", kit, "--token-file", token, "--out", request, "--passphrase-file", passphrase_file)
    run("hub", "enrol", "--data", hub, "--accept", request, "--out", response)
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not the passphrase\n")
    refused = run("sync", "enrol", "--data", kit, "--response", response, "--passphrase-file", wrong, expect=1)
    assert "wrong passphrase" in refused.output
    assert "Not enrolled with any hub yet" in run("sync", "status", "--data", kit).output
    done = run("sync", "enrol", "--data", kit, "--response", response, "--passphrase-file", passphrase_file)
    assert key_fingerprint(load_hub_config(hub).receipt_public_key) in done.output


def test_a_kit_from_before_signs_its_hub_list_once_and_keeps_serving_its_pack(
    tmp_path: Path, hub_keys: Path, passphrase_file: Path
) -> None:
    hub, kit = enrolled_pair(tmp_path, hub_keys, passphrase_file)
    assert run("pack", "apply", "--data", kit, write_pack(tmp_path, _pack(hub, 1, HONEST_TITLE))).exit_code == 0
    as_before_hub_list_signing(kit, PASSPHRASE)
    assert "hub_list_signed" not in json.loads((kit / "kit.json").read_text())
    assert "(serving)" in run("pack", "list", "--data", kit).output  # trusted as an older kit trusted it
    output, home, _operator = served_pages(kit, passphrase_file)
    assert "now signs its list of hubs" in output
    hub_config = load_hub_config(hub)
    assert f"hub {hub_config.hub_id}: receipt key {key_fingerprint(hub_config.receipt_public_key)}" in output
    assert HONEST_TITLE in home and "REFUSED" not in output
    assert json.loads((kit / "kit.json").read_text())["hub_list_signed"] is True
    assert "hubs_signature" in json.loads((kit / "sync.json").read_text())
    output, home, _operator = served_pages(kit, passphrase_file)
    assert "now signs" not in output and HONEST_TITLE in home  # said once
    # From now on an added hub is refused.
    attacker = _attacker_hub(tmp_path, hub_keys)
    key = load_hub_config(attacker).receipt_public_key

    _add_hub_by_hand(kit, "9", key)
    _drop_pack(kit, attacker, 5, 1, FORGED_TITLE)
    output, home, _operator = served_pages(kit, passphrase_file)
    assert "REFUSED: hub hub-of-someone-else" in output
    assert HONEST_TITLE in home and FORGED_TITLE not in home  # its own hub's pack is still served

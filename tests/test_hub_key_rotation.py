"""The hub identity is not a single point of failure: rotation, the pack's recipient, the paper copy.

``fieldkit hub keygen --rotate`` writes the hub's next key beside the others and changes
no file; the newest identity file holds every key, so export and report open records
sealed before and after. ``fieldkit hub recipient`` makes the new key current at the hub,
its next form pack carries it, and a kit that applies that pack seals new interviews to
it (escrow unchanged) while the records it sealed before stay as they were.
"""

from __future__ import annotations

import csv
import random
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pyrage
import pytest

from benchmarks.phones import Phone
from fieldkit.core.crypto import age
from fieldkit.core.crypto.hubkeys import load_hub_identities, read_recipient_file, recipient_fingerprint
from fieldkit.core.formengine.catalogue import load_serving_forms
from fieldkit.core.paths import forms_dir
from fieldkit.core.storage.records import RecordStore
from fieldkit.kit.simulate import random_answers
from sync.hub.store import HubStore, load_hub_config
from sync.protocol.pack import PACK_FORMAT, PackContents, PackError, PackForm, read_pack
from sync.protocol.receipts import load_public_key, read_signed_document, sign_document
from tests.browser import serve
from tests.sync_cli import CHEAP_KDF, PASSPHRASE, enrol, run
from tests.test_programme_chain import decline, fieldkit, interview, paired_phone, stop_serving

CENTRES_CSV = "code,name,region,kind,location,active\nC01,Hope House,NORTH,residential,Lyon,yes\n"


def _bytes_of(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def _keys(identity_file: Path, passphrase: str | None = None) -> set[str]:
    return {identity.recipient().to_string() for identity in load_hub_identities(identity_file, passphrase)}


def test_rotation_writes_the_next_key_beside_the_others_and_changes_no_file(tmp_path: Path) -> None:
    passphrase = tmp_path / "pass.txt"
    passphrase.write_text(PASSPHRASE + "\n")
    keys = tmp_path / "keys"
    run("hub", "keygen", "--out", keys, "--passphrase-file", passphrase)
    first = read_recipient_file(keys / "hub-recipient.txt")
    before = _bytes_of(keys)

    made = run("hub", "keygen", "--out", keys, "--rotate", "--passphrase-file", passphrase).output
    second = read_recipient_file(keys / "hub-recipient-2.txt")
    assert f"Hub recipient (current, key 2): {second}" in made
    assert recipient_fingerprint(second) in made and "No earlier file was changed." in made
    assert {name: data for name, data in _bytes_of(keys).items() if name in before} == before
    assert sorted(set(_bytes_of(keys)) - set(before)) == ["hub-identity-2.age", "hub-recipient-2.txt"]
    # The newest file alone holds every key, protected like the first.
    assert _keys(keys / "hub-identity-2.age", PASSPHRASE) == {first, second}
    assert _keys(keys / "hub-identity.age", PASSPHRASE) == {first}

    run("hub", "keygen", "--out", keys, "--rotate", "--passphrase-file", passphrase)
    third = read_recipient_file(keys / "hub-recipient-3.txt")
    assert _keys(keys / "hub-identity-3.age", PASSPHRASE) == {first, second, third}
    assert len({first, second, third}) == 3

    # Without --rotate a folder with keys is refused, as before, and says what to do.
    refused = run("hub", "keygen", "--out", keys, "--passphrase-file", passphrase, expect=1).output
    assert "already exists" in refused and "--rotate" in refused


def test_a_wrong_passphrase_or_an_empty_folder_rotates_nothing(tmp_path: Path) -> None:
    passphrase, wrong = tmp_path / "pass.txt", tmp_path / "wrong.txt"
    passphrase.write_text(PASSPHRASE + "\n")
    wrong.write_text("not the passphrase at all\n")
    keys = tmp_path / "keys"
    run("hub", "keygen", "--out", keys, "--passphrase-file", passphrase)
    before = _bytes_of(keys)
    refused = run("hub", "keygen", "--out", keys, "--rotate", "--passphrase-file", wrong, expect=1).output
    assert refused.strip() == "Error: wrong passphrase for hub-identity.age (or the file is damaged)"
    assert _bytes_of(keys) == before

    empty = run("hub", "keygen", "--out", tmp_path / "none", "--rotate", "--no-passphrase", expect=1).output
    assert "holds no hub identity" in empty and "'fieldkit hub keygen --out FOLDER'" in empty
    assert "Traceback" not in empty


def test_the_paper_copy_is_armored_protected_and_gives_every_key_back(tmp_path: Path) -> None:
    passphrase = tmp_path / "pass.txt"
    passphrase.write_text(PASSPHRASE + "\n")
    keys = tmp_path / "keys"
    run("hub", "keygen", "--out", keys, "--no-passphrase")
    run("hub", "keygen", "--out", keys, "--rotate", "--no-passphrase")
    shown = run("hub", "keygen", "--out", keys, "--paper", "--passphrase-file", passphrase).output
    paper = keys / "hub-identity-2-paper.txt"
    assert f"Wrote {paper}" in shown
    text = paper.read_bytes()
    assert text.startswith(b"-----BEGIN AGE ENCRYPTED FILE-----\n") and b"AGE-SECRET-KEY" not in text
    assert all(len(line) <= 64 for line in text.splitlines()), "printable: 64 columns"
    # Another age implementation opens it with the passphrase: what a recovery would use.
    opened = pyrage.passphrase.decrypt(text, PASSPHRASE).decode("utf-8")
    assert {identity.recipient().to_string() for identity in age.parse_identities(opened)} == _keys(
        keys / "hub-identity-2.txt"
    )
    again = run("hub", "keygen", "--out", keys, "--paper", "--passphrase-file", passphrase, expect=1).output
    assert "already exists" in again and paper.read_bytes() == text
    assert "not both" in run("hub", "keygen", "--out", keys, "--paper", "--no-passphrase", expect=1).output


def _pack_payload(hub: Path, pack: Path) -> dict:
    """The signed payload of a pack, as it travels, after checking it with the hub's key as a kit does."""
    config = load_hub_config(hub)
    read_pack(pack.read_bytes(), {config.hub_id: load_public_key(config.receipt_public_key, "receipt key")})
    return read_signed_document(pack.read_bytes(), PACK_FORMAT, what="form pack").payload


def test_the_hub_keeps_its_earlier_recipients_and_packs_carry_the_current_one_only_after_a_rotation(
    tmp_path: Path, hub_keys: Path
) -> None:
    hub = tmp_path / "hub"
    run("hub", "init", "--data", hub, "--recipient-file", hub_keys / "hub-recipient.txt")
    first = load_hub_config(hub).recipient
    run("hub", "pack", "--data", hub, "--out", tmp_path / "pack-1.json")
    assert "recipient" not in _pack_payload(hub, tmp_path / "pack-1.json"), (
        "a hub that never rotated makes packs every kit version reads"
    )

    run("hub", "keygen", "--out", hub_keys, "--rotate", "--no-passphrase")
    second = read_recipient_file(hub_keys / "hub-recipient-2.txt")
    changed = run("hub", "recipient", "--data", hub, "--recipient-file", hub_keys / "hub-recipient-2.txt").output
    assert f"Current recipient: {recipient_fingerprint(second)}  {second}" in changed
    assert f"Earlier recipient: {recipient_fingerprint(first)}  {first}" in changed
    config = load_hub_config(hub)
    assert (config.recipient, config.earlier_recipients) == (second, (first,))
    assert "1 earlier one" in run("hub", "status", "--data", hub).output
    again = run("hub", "recipient", "--data", hub, "--recipient-file", hub_keys / "hub-recipient-2.txt", expect=1)
    assert "already this hub's current recipient; nothing was changed" in again.output

    run("hub", "pack", "--data", hub, "--out", tmp_path / "pack-2.json")
    assert _pack_payload(hub, tmp_path / "pack-2.json")["recipient"] == second
    listed = run("hub", "packs", "--data", hub).output
    assert f"hub recipient: {recipient_fingerprint(second)}" in listed


def test_a_kit_made_with_an_earlier_recipient_still_enrols(
    tmp_path: Path, hub_keys: Path, passphrase_file: Path
) -> None:
    hub = tmp_path / "hub"
    run("hub", "init", "--data", hub, "--recipient-file", hub_keys / "hub-recipient.txt")
    kit = tmp_path / "kit"
    run("init", "--data", kit, "--hub-recipient-file", hub_keys / "hub-recipient.txt",
        "--passphrase-file", passphrase_file, *CHEAP_KDF)  # fmt: skip
    run("hub", "keygen", "--out", hub_keys, "--rotate", "--no-passphrase")
    run("hub", "recipient", "--data", hub, "--recipient-file", hub_keys / "hub-recipient-2.txt")
    enrol(hub, kit, passphrase_file, tmp_path)  # refused if only the current recipient counted
    assert "kit" in run("hub", "kits", "--data", hub).output


def test_a_pack_whose_recipient_is_not_an_age_key_is_refused_clearly() -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    form = PackForm("f", 1, "sha256:" + "0" * 64, "id: f\n")
    payload = PackContents(hub_id="hub-a", version=1, forms=(form,), made="2027-01-01T00:00:00Z").to_payload()
    assert "recipient" not in payload
    for bad in ("age1notakey", 42, None):
        data = sign_document({**payload, "recipient": bad}, key)
        with pytest.raises(PackError, match="the form pack's hub recipient"):
            read_pack(data, {"hub-a": key.public_key()})
    good = age.X25519Identity.generate().recipient().to_string()
    read = read_pack(sign_document({**payload, "recipient": good}, key), {"hub-a": key.public_key()})
    assert read.contents.recipient == good


def _opens(ciphertext: bytes, identity_file: Path) -> bool:
    identities = [pyrage.x25519.Identity.from_str(line) for line in identity_file.read_text().splitlines()
                  if line.startswith("AGE-SECRET-KEY-")]  # fmt: skip
    try:
        pyrage.decrypt(ciphertext, identities)
    except pyrage.DecryptError:
        return False
    return True


def _sealed(kit: Path) -> dict[str, bytes]:
    store = RecordStore(kit)
    return {record_id: store.get(record_id) for record_id in store.ids()}


def _one_interview(kit: Path, passphrase: Path, form, seed: int, *, declined: bool = False) -> list[str]:
    """A whole interview from a phone on a real ``fieldkit serve`` (and a person who declines); what serve printed."""
    served, opened = serve(kit, passphrase), []
    try:
        phone: Phone = paired_phone(served.url, served.code, opened)
        interview(phone, form, random_answers(form, random.Random(seed)), "C01")
        if declined:
            decline(phone, form, "C01")
        port = re.search(r"operator page \(this computer only\): http://127\.0\.0\.1:(\d+)/", "\n".join(served.output))
        assert port, served.output
        with urllib.request.urlopen(f"http://127.0.0.1:{port.group(1)}/operator/", timeout=30) as response:
            operator_page = response.read().decode("utf-8")
    finally:
        stop_serving(served, opened)
    return [*served.output, operator_page]


def _rows(folder: Path, form_id: str) -> list[dict[str, str]]:
    with (folder / f"{form_id}.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_after_a_rotation_new_interviews_are_sealed_to_the_new_key_and_the_hub_exports_both(
    tmp_path: Path,
) -> None:
    passphrase = tmp_path / "pass.txt"
    passphrase.write_text(PASSPHRASE + "\n")
    hub, kit, keys = tmp_path / "hub", tmp_path / "kit", tmp_path / "hub-keys"
    escrow = age.X25519Identity.generate()
    (tmp_path / "centres.csv").write_text(CENTRES_CSV, encoding="utf-8")
    form = load_serving_forms(forms_dir())[0]["peer-interview"]

    # The hub, a kit sealed to the hub's first key and an escrow key, enrolled, with the first pack.
    fieldkit("hub", "keygen", "--out", keys, "--no-passphrase", cwd=tmp_path)
    fieldkit("hub", "init", "--data", hub, "--recipient-file", keys / "hub-recipient.txt", cwd=tmp_path)
    fieldkit("hub", "centres", "import", "--data", hub, tmp_path / "centres.csv", cwd=tmp_path)
    fieldkit(
        "init", "--data", kit, "--hub-recipient-file", keys / "hub-recipient.txt", "--passphrase-file", passphrase,
        "--escrow-recipient", escrow.recipient().to_string(), "--escrow-role", "national-network", *CHEAP_KDF,
        cwd=tmp_path,
    )  # fmt: skip
    kit_json = (kit / "kit.json").read_bytes()
    enrol(hub, kit, passphrase, tmp_path)
    fieldkit("hub", "pack", "--data", hub, "--out", tmp_path / "pack-1.json", cwd=tmp_path)
    fieldkit("pack", "apply", "--data", kit, tmp_path / "pack-1.json", cwd=tmp_path)
    first = read_recipient_file(keys / "hub-recipient.txt")
    shown = "\n".join(_one_interview(kit, passphrase, form, seed=1))
    assert f"records are sealed to hub (regional-team): {recipient_fingerprint(first)}" in shown
    assert "the hub rotated its key" not in shown
    ((old_id, old_record),) = _sealed(kit).items()

    # The hub rotates; its next pack reaches the kit (here by USB stick).
    fieldkit("hub", "keygen", "--out", keys, "--rotate", "--no-passphrase", cwd=tmp_path)
    second = read_recipient_file(keys / "hub-recipient-2.txt")
    fieldkit("hub", "recipient", "--data", hub, "--recipient-file", keys / "hub-recipient-2.txt", cwd=tmp_path)
    fieldkit("hub", "pack", "--data", hub, "--out", tmp_path / "pack-2.json", cwd=tmp_path)
    applied = fieldkit("pack", "apply", "--data", kit, tmp_path / "pack-2.json", cwd=tmp_path)
    assert f"hub key: {recipient_fingerprint(second)}  {second} (new records are sealed to it" in applied
    *served, operator_page = _one_interview(kit, passphrase, form, seed=2, declined=True)
    shown = "\n".join(served)
    assert f"records are sealed to hub (regional-team): {recipient_fingerprint(second)}  {second}" in shown
    escrow_key = escrow.recipient().to_string()
    assert f"records are sealed to escrow (national-network): {recipient_fingerprint(escrow_key)}" in shown
    assert f"comes from form pack 2 of hub {load_hub_config(hub).hub_id}: the hub rotated its key" in shown
    sealed_lines = [line for line in served if "records are sealed to" in line]
    assert len(sealed_lines) == 2 and not any(recipient_fingerprint(first) in line for line in sealed_lines)
    assert recipient_fingerprint(second) in operator_page and recipient_fingerprint(first) not in operator_page
    assert (kit / "kit.json").read_bytes() == kit_json, "the kit's sealed settings are not touched"

    records = _sealed(kit)
    assert records[old_id] == old_record, "a record sealed before stays as it was"
    ((new_id, new_record),) = ((i, c) for i, c in records.items() if i != old_id)
    # Opened with another age implementation: the new key opens the new record, the old one cannot.
    assert _opens(new_record, keys / "hub-identity-2.txt")
    assert not _opens(new_record, keys / "hub-identity.txt")
    assert _opens(old_record, keys / "hub-identity.txt")
    assert [stanza.type for stanza in age.recipient_stanzas(new_record)] == ["X25519", "X25519"]
    assert pyrage.decrypt(new_record, [pyrage.x25519.Identity.from_str(escrow.to_string())]), "escrow unchanged"

    # Both records reach the hub, which exports and reports them with the newest identity file.
    fieldkit("sync", "export", "--data", kit, "--out", tmp_path / "bundle.tar", "--passphrase-file", passphrase,
             cwd=tmp_path)  # fmt: skip
    fieldkit("hub", "import", "--data", hub, tmp_path / "bundle.tar", cwd=tmp_path)
    with HubStore(hub) as store:
        (tally,) = store.tallies()
    assert _opens(tally.ciphertext, keys / "hub-identity-2.txt"), "the count of declines is sealed like records"
    assert not _opens(tally.ciphertext, keys / "hub-identity.txt")
    both = tmp_path / "export"
    out = fieldkit("hub", "export", "--data", hub, "--identity", keys / "hub-identity-2.txt", "--out", both,
                   cwd=tmp_path)  # fmt: skip
    assert "Warning" not in out
    assert sorted(row["record_id"] for row in _rows(both, form.id)) == sorted([old_id, new_id])
    fieldkit("hub", "report", "--data", hub, "--identity", keys / "hub-identity-2.txt", "--out", tmp_path / "report",
             "--threshold", "3", cwd=tmp_path)  # fmt: skip

    # The first identity file alone: the old record opens, the new one is reported as today.
    done = subprocess.run(
        [sys.executable, "-m", "fieldkit", "hub", "export", "--data", str(hub),
         "--identity", str(keys / "hub-identity.txt"), "--out", str(tmp_path / "old-only")],
        capture_output=True, text=True, timeout=300, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 1 and "Traceback" not in output, output
    assert f"does not hold this hub's current key {second}" in output
    assert new_id in output and "1 of 2 records could not be exported" in output
    assert [row["record_id"] for row in _rows(tmp_path / "old-only", form.id)] == [old_id]

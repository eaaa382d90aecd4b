"""The hub: kit -> USB bundle -> hub import, two kits, order-free merging, revocation,
enrolment rules, and SIGKILL during import, through the real CLI and store."""

from __future__ import annotations

import base64
import dataclasses
import datetime
import itertools
import json
import random
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fieldkit.core.storage.records import RecordStore
from fieldkit.kit.config import load_config, unlock
from fieldkit.kit.enrolment import apply_enrolment_response, make_enrolment_request
from fieldkit.kit.outbox import Outbox, SyncState
from sync.hub.enrolment import accept_enrolment, create_token
from sync.hub.store import HubStore, init_hub
from sync.protocol.bundle import canonical_json
from sync.protocol.enrolment import EnrolmentError, EnrolmentToken, prove, token_keys
from sync.protocol.receipts import read_receipt
from tests.bundle_corpus import HUB_RECIPIENT, enrol_key, make_bundle, sealed_records
from tests.crash_trials import TrialBudget, WatchedChild, required_interrupted, seconds_budget, sleep_shortly_after
from tests.hub_backend import on_postgres
from tests.sync_cli import (
    PASSPHRASE,
    enrol,
    enrolled_pair,
    export,
    held,
    init_hub_folder,
    make_hub_keys,
    new_kit,
    run,
    simulate,
)


def kit_records(kit: Path) -> dict[str, bytes]:
    store = RecordStore(kit)
    return {record_id: store.get(record_id) for record_id in store.ids()}


# --- USB flow ------------------------------------------------------------------------


def test_kit_to_usb_bundle_to_hub_holds_exactly_the_records(
    tmp_path: Path, hub_keys: Path, passphrase_file: Path
) -> None:
    hub, kit = enrolled_pair(tmp_path, hub_keys, passphrase_file)
    simulate(kit, passphrase_file, 8, seed=21)
    usb = tmp_path / "usb"
    usb.mkdir()
    export(kit, usb / "bundle.tar", passphrase_file)
    result = run("hub", "import", "--data", hub, usb / "bundle.tar")
    assert "bundle.tar: accepted from kit" in result.output
    assert "8 new, 0 duplicates, 0 quarantined" in result.output
    assert held(hub) == kit_records(kit)
    # The hub folder holds a signing key: private, like the kit's.
    assert stat.S_IMODE(hub.stat().st_mode) == 0o700
    # (A PostgreSQL hub keeps its tables in its database, not in the folder.)
    database = {} if on_postgres() else {"hub.sqlite": 0o600}
    assert {path.name: stat.S_IMODE(path.stat().st_mode) for path in hub.iterdir()} == {
        "hub.json": 0o600,
        "receipt-key.pem": 0o600,
        **database,
    }

    config = load_config(kit)
    store = RecordStore(kit)
    with HubStore(hub) as hub_store:
        for record in hub_store.iter_records():
            metadata = store.metadata(record.record_id)
            assert record.kit_id == config.kit_id
            assert (record.form_id, record.form_version, record.day, record.size) == (
                metadata["form_id"], metadata["form_version"], metadata["day"], metadata["size"],
            )  # fmt: skip
        imported = hub_store.events(("imported",))
        assert len(imported) == 1 and "8 new" in imported[0].message

    # The receipt lands beside the bundle, and a second import is recognised as such
    # and returns the very same receipt.
    (receipt_path,) = usb.glob("receipt-*.json")
    first_receipt = receipt_path.read_bytes()
    receipt, _document = read_receipt(first_receipt)
    assert {rid for rid, _sha in receipt.records} == set(kit_records(kit))
    again = run("hub", "import", "--data", hub, usb / "bundle.tar")
    assert "already merged earlier" in again.output and "0 new, 8 duplicates" in again.output
    assert receipt_path.read_bytes() == first_receipt
    status = run("hub", "status", "--data", hub).output
    assert "Records: 8 accepted, 0 record ids in quarantine" in status
    assert "No bundle was refused." in status


def test_two_kits_merge_into_one_hub(tmp_path: Path, hub_keys: Path, passphrase_file: Path) -> None:
    hub = init_hub_folder(tmp_path, hub_keys)
    kits = [new_kit(tmp_path, hub_keys, passphrase_file, name) for name in ("kit-one", "kit-two")]
    bundles = []
    for seed, kit in enumerate(kits):
        enrol(hub, kit, passphrase_file, tmp_path)
        simulate(kit, passphrase_file, 4 + seed, seed=seed)
        bundle = tmp_path / f"{kit.name}.tar"
        export(kit, bundle, passphrase_file)
        bundles.append(bundle)
    receipts = tmp_path / "receipts"
    output = run("hub", "import", "--data", hub, "--receipt-out", receipts, *bundles).output
    assert "4 new" in output and "5 new" in output
    expected = {**kit_records(kits[0]), **kit_records(kits[1])}
    assert held(hub) == expected and len(expected) == 9
    with HubStore(hub) as store:
        owners = {record.record_id: record.kit_id for record in store.iter_records()}
    for kit in kits:
        kit_id = load_config(kit).kit_id
        assert {rid for rid, owner in owners.items() if owner == kit_id} == set(kit_records(kit))
    listing = run("hub", "kits", "--data", hub).output
    assert listing.count("active") == 2
    # Each kit accepts only its own receipt, and then has nothing left to send.
    for kit in kits:
        kit_id = load_config(kit).kit_id
        for path in sorted(receipts.iterdir()):
            receipt, _document = read_receipt(path.read_bytes())
            own = receipt.source.id == kit_id
            result = run("sync", "receipt", "--data", kit, path, expect=0 if own else 1)
            assert ("records marked as synced" in result.output) == own
        assert Outbox(kit).pending_ids() == []


# --- order-free merging --------------------------------------------------------------


@pytest.fixture(scope="module")
def overlapping(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    """A template hub with two kits enrolled, and four bundles: three overlapping ones
    from kit A, and one from kit B that reuses a record id of kit A (a re-send under
    another kit's name)."""
    root = tmp_path_factory.mktemp("overlap")
    init_hub(root / "hub", HUB_RECIPIENT, hub_id="hub-order")
    key_a, key_b = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    with HubStore(root / "hub") as store:
        enrol_key(store, key_a, "kit-a")
        enrol_key(store, key_b, "kit-b")
    a = sealed_records("kit-a", 12, seed=1)
    b = sealed_records("kit-b", 3, seed=2, first_seq=1)
    clash = dataclasses.replace(b[0], record_id=a[2].record_id)
    bundles = {
        "A": make_bundle(key_a, "kit-a", a[0:6]),
        "B": make_bundle(key_a, "kit-a", a[4:10]),
        "C": make_bundle(key_a, "kit-a", a[0:3] + a[8:12]),
        "D": make_bundle(key_b, "kit-b", [clash, *b[1:]]),
    }
    return root / "hub", bundles


def merged_digest(template: Path, workdir: Path, bundles: dict[str, bytes], order: str) -> str:
    hub = workdir / f"hub-{order}"
    shutil.copytree(template, hub)
    with HubStore(hub) as store:
        for name in order:
            result = store.import_bundle(bundles[name], label=name)
            assert not result.refused, result.summary()
        return store.state_digest()


def test_permutations_and_repeats_give_the_same_state(
    overlapping: tuple[Path, dict[str, bytes]], tmp_path: Path
) -> None:
    template, bundles = overlapping
    orders = ["".join(p) for p in itertools.permutations("ABCD")]
    orders += ["AABCDD", "DCBAABCD", "CCCABD", "BADBADC"]
    digests = {order: merged_digest(template, tmp_path, bundles, order) for order in orders}
    assert len(set(digests.values())) == 1, digests

    # 12 ids of kit A, 2 more of kit B. The id both sent stays with the kit it was held
    # from first (never displaced by another kit); the other kit's version is set aside.
    for order, first in (("ABCD", "kit-a"), ("DCBAABCD", "kit-b")):
        with HubStore(tmp_path / f"hub-{order}") as store:
            assert store.record_count() == 14 and store.quarantine() == []
            (aside,) = store.set_aside()
            held = {record.record_id: record.kit_id for record in store.iter_records()}
        assert held[aside.record.record_id] == first != aside.record.kit_id
        assert f"is held from kit {first}; set aside" in aside.reason
    status = run("hub", "status", "--data", tmp_path / "hub-ABCD").output
    assert "14 accepted, 0 record ids in quarantine, 1 version set aside" in status


def test_revoked_kit_is_refused(tmp_path: Path, hub_keys: Path, passphrase_file: Path) -> None:
    hub, kit = enrolled_pair(tmp_path, hub_keys, passphrase_file)
    simulate(kit, passphrase_file, 3, seed=31)
    bundle = tmp_path / "b.tar"
    export(kit, bundle, passphrase_file)
    kit_id = load_config(kit).kit_id
    assert f"Revoked {kit_id}" in run("hub", "revoke", "--data", hub, kit_id).output
    with HubStore(hub) as store:
        before = store.state_digest()
    result = run("hub", "import", "--data", hub, bundle, expect=1)
    assert "refused (revoked-source)" in result.output
    assert "1 of 1 bundles were refused" in result.output
    assert not list(tmp_path.glob("receipt-*.json"))
    with HubStore(hub) as store:
        assert store.state_digest() == before
        assert store.record_count() == 0
    status = run("hub", "status", "--data", hub).output
    assert "[revoked-source]" in status and "Enrolled: 1 kit (1 revoked)" in status
    assert "revoked" in run("hub", "kits", "--data", hub).output
    assert "already revoked" in run("hub", "revoke", "--data", hub, kit_id).output
    assert "no kit or hub" in run("hub", "revoke", "--data", hub, "kit-nobody", expect=1).output


# --- enrolment rules -----------------------------------------------------------------


def test_enrolment_tokens_are_one_time_and_checked(tmp_path: Path, hub_keys: Path, passphrase_file: Path) -> None:
    hub = init_hub_folder(tmp_path, hub_keys)
    kit_one = unlock(new_kit(tmp_path, hub_keys, passphrase_file, "one"), PASSPHRASE)
    kit_two = unlock(new_kit(tmp_path, hub_keys, passphrase_file, "two"), PASSPHRASE)
    with HubStore(hub) as store:
        token = create_token(store)
        request = make_enrolment_request(kit_one, token)
        response = accept_enrolment(store, request)
        # A lost response: the same request again gets a response and changes nothing.
        assert accept_enrolment(store, request) != b""
        with pytest.raises(EnrolmentError, match="already used by another kit"):
            accept_enrolment(store, make_enrolment_request(kit_two, token))
        with pytest.raises(EnrolmentError, match="not known"):
            accept_enrolment(store, make_enrolment_request(kit_two, EnrolmentToken.from_text("A" * 20)))
        past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=30)
        stale = create_token(store, valid_days=1, now=past)
        with pytest.raises(EnrolmentError, match="expired"):
            accept_enrolment(store, make_enrolment_request(kit_two, stale))
        with pytest.raises(EnrolmentError, match="not made with a token from this hub, or it was changed"):
            accept_enrolment(store, with_payload_changed(request, kit_id="kit-000000000bad"))
        # Even someone holding the token (who can prove the edited request) cannot pass
        # off another kit id under this kit's signature.
        with pytest.raises(EnrolmentError, match="signature does not verify"):
            accept_enrolment(store, with_payload_changed(request, token, kit_id="kit-000000000bad"))
        assert [source.source_id for source in store.sources()] == [kit_one.config.kit_id]

    # The response is for kit one only (proved with its token), and from the hub the token named.
    with pytest.raises(EnrolmentError, match="does not prove it comes from the hub"):
        apply_enrolment_response(kit_two, response)
    assert SyncState(kit_two.data_dir).hubs() == []
    recipient = (hub_keys / "hub-recipient.txt").read_text().strip()
    impostor = init_hub(tmp_path / "impostor", recipient, hub_id=token.hub_id)
    with HubStore(impostor.data_dir) as other:
        enrol_token = create_token(other)
        forged = accept_enrolment_for(other, kit_one, enrol_token)
    make_enrolment_request(kit_one, token)  # kit one is waiting for the real hub again
    with pytest.raises(EnrolmentError, match="does not prove it comes from the hub that made this kit's token"):
        apply_enrolment_response(kit_one, forged)
    assert SyncState(kit_one.data_dir).hubs() == []
    hub_entry = apply_enrolment_response(kit_one, response)
    assert hub_entry.hub_id == token.hub_id
    assert SyncState(kit_one.data_dir).pending_enrolment() is None


def with_payload_changed(message: bytes, token: EnrolmentToken | None = None, **changes: object) -> bytes:
    """The proved message with its signed payload edited and the original signature kept.

    The proof is kept too (so it no longer matches), or made again with ``token``.
    """
    outer = json.loads(message)
    envelope = json.loads(base64.b64decode(outer["signed"]))
    payload = json.loads(base64.b64decode(envelope["payload"]))
    payload.update(changes)
    envelope["payload"] = base64.b64encode(canonical_json(payload)).decode()
    signed = json.dumps(envelope).encode()
    if token is not None:
        return prove(signed, token_keys(token.token), role=outer["role"], kind=outer["kind"])
    outer["signed"] = base64.b64encode(signed).decode()
    return json.dumps(outer).encode()


def accept_enrolment_for(store: HubStore, kit, token: EnrolmentToken) -> bytes:
    """A response from ``store`` to a request the kit made with ``token``."""
    return accept_enrolment(store, make_enrolment_request(kit, token))


def test_enrolment_refuses_a_kit_sealing_to_another_hub(tmp_path: Path, hub_keys: Path, passphrase_file: Path) -> None:
    hub = init_hub_folder(tmp_path, hub_keys)
    other_keys = make_hub_keys(tmp_path / "elsewhere")
    kit = unlock(new_kit(tmp_path, other_keys, passphrase_file), PASSPHRASE)
    with HubStore(hub) as store:
        request = make_enrolment_request(kit, create_token(store))
        with pytest.raises(EnrolmentError, match="does not seal its records to this hub"):
            accept_enrolment(store, request)
        assert store.sources() == []


def test_revoked_kit_cannot_enrol_again(tmp_path: Path, hub_keys: Path, passphrase_file: Path) -> None:
    hub, kit_dir = enrolled_pair(tmp_path, hub_keys, passphrase_file)
    kit = unlock(kit_dir, PASSPHRASE)
    run("hub", "revoke", "--data", hub, kit.config.kit_id)
    with HubStore(hub) as store, pytest.raises(EnrolmentError, match="revoked"):
        accept_enrolment(store, make_enrolment_request(kit, create_token(store)))
    token_file = tmp_path / "token2.json"
    run("hub", "enrol", "--data", hub, "--out", token_file)
    request = tmp_path / "again.json"
    run("sync", "enrol", "--data", kit_dir, "--token-file", token_file, "--out", request,
        "--passphrase-file", passphrase_file)  # fmt: skip
    refused = run("hub", "enrol", "--data", hub, "--accept", request, expect=1)
    assert "cannot enrol again" in refused.output


# --- SIGKILL during import -----------------------------------------------------------


# "ready" once Python and fieldkit are loaded, just before the import starts: kills are
# aimed from there, so the start-up time (most of a run, and the part load slows most)
# need not be guessed.
IMPORTER = "from fieldkit.cli import main; print('ready', flush=True); main()"


def _import_command(hub: Path, receipts: Path, bundles: list[Path]) -> list[str]:
    return [
        sys.executable, "-c", IMPORTER,
        "hub", "import", "--data", str(hub), "--receipt-out", str(receipts),
        *map(str, bundles),
    ]  # fmt: skip


@pytest.mark.slow
def test_kill_during_import_then_import_again_completes(tmp_path: Path) -> None:
    template = tmp_path / "template"
    init_hub(template, HUB_RECIPIENT, hub_id="hub-kill")
    key = Ed25519PrivateKey.generate()
    with HubStore(template) as store:
        enrol_key(store, key, "kit-kill")
    records = sealed_records("kit-kill", 1500, seed=9)
    bundles = []
    for index, chunk in enumerate((records[0:600], records[500:1100], records[1000:1500])):
        path = tmp_path / f"bundle-{index}.tar"
        path.write_bytes(make_bundle(key, "kit-kill", chunk))
        bundles.append(path)

    reference = tmp_path / "reference"
    shutil.copytree(template, reference)
    subprocess.run(_import_command(reference, tmp_path / "r0", bundles), check=True, capture_output=True)
    with HubStore(reference) as store:
        expected = store.state_digest()
        assert store.record_count() == 1500

    rng = random.Random(20240607)
    interrupted = 0
    step = None  # how long the last bundle observed took to import
    budget = TrialBudget(20, seconds_budget(150))
    for trial in budget:
        hub = tmp_path / f"hub-{trial}"
        receipts = tmp_path / f"receipts-{trial}"
        shutil.copytree(template, hub)
        child = WatchedChild(subprocess.Popen(
            _import_command(hub, receipts, bundles), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        ))  # fmt: skip
        try:
            # Wait for the import to start and then for 0, 1 or 2 bundles to be merged
            # (each announced by its receipt line), then kill a random part of a
            # bundle's import time later: every stage gets hit at any machine speed.
            since, _ = child.wait_for(lambda line: line == "ready")
            for _ in range(rng.randrange(len(bundles))):
                done, _ = child.wait_for(lambda line: "receipt:" in line)
                step, since = done - since, done
            if step is None:  # the first trial's first bundle: measure one, then aim
                done, _ = child.wait_for(lambda line: "receipt:" in line)
                step, since = done - since, done
            sleep_shortly_after(rng, step)
        finally:
            lines = child.kill()
        # Killed, with a bundle still to be receipted: the kill interrupted the import.
        if child.process.returncode == -signal.SIGKILL and sum("receipt:" in line for line in lines) < len(bundles):
            interrupted += 1
        with HubStore(hub) as store:
            # Every receipt written names a bundle whose records are all durable.
            held_ids = {record.record_id for record in store.iter_records()}
            for receipt_file in receipts.glob("*.json") if receipts.exists() else []:
                receipt, _document = read_receipt(receipt_file.read_bytes())
                assert {rid for rid, _sha in receipt.records} <= held_ids
            for bundle in bundles:
                assert not store.import_bundle(bundle).refused
            assert store.state_digest() == expected, f"trial {trial}"
    print(budget.summary(interrupted))
    needed = required_interrupted(budget.run)
    assert interrupted >= needed, f"only {budget.summary(interrupted)}, need {needed}: the kills missed the import"


def test_a_damaged_or_newer_hub_json_is_one_clear_hub_error(tmp_path: Path) -> None:
    from sync.hub.store import HubStoreError, load_hub_config

    folder = tmp_path / "hub"
    init_hub(folder, HUB_RECIPIENT, hub_id="hub-settings")
    path = folder / "hub.json"
    settings = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**settings, "format": "fieldkit-hub/2"}), encoding="utf-8")
    with pytest.raises(HubStoreError, match=r"hub\.json is a hub settings file from a newer version of fieldkit"):
        load_hub_config(folder)
    path.write_text(json.dumps({**settings, "format": "fieldkit-kit/1"}), encoding="utf-8")
    with pytest.raises(HubStoreError, match="is not a hub settings file this version of fieldkit understands"):
        load_hub_config(folder)
    path.write_text("not json", encoding="utf-8")
    with pytest.raises(HubStoreError, match="cannot be read as a hub settings file: it is not JSON"):
        load_hub_config(folder)
    path.unlink()
    with pytest.raises(HubStoreError, match=r"is not a hub folder \(hub\.json is missing\); run 'fieldkit hub init'"):
        load_hub_config(folder)

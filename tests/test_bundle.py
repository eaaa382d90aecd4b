"""Bundles and the kit's outbox: build/read round trips, export from a simulated kit,
receipts (genuine, forged, for other records) and prune, through the real CLI."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fieldkit.core.storage.records import RecordStore
from fieldkit.kit.config import load_config
from fieldkit.kit.outbox import SYNC_STATE_FILE, Outbox
from sync.hub.store import HubStore
from sync.protocol.bundle import (
    BundleError,
    BundleReader,
    Manifest,
    SourceRef,
    build_bundle,
    read_bundle,
)
from sync.protocol.receipts import make_receipt
from tests.bundle_corpus import make_bundle, sealed_records
from tests.sync_cli import (
    enrolled_pair,
    export,
    kit_key_lookup,
    new_kit,
    run,
    simulate,
)

# --- format ------------------------------------------------------------------------


def test_build_and_read_round_trip() -> None:
    key = Ed25519PrivateKey.generate()
    records = sealed_records("kit-round", 5, first_seq=7)
    data = make_bundle(key, "kit-round", records)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        names = tar.getnames()
        assert all(member.isreg() and member.mode == 0o600 for member in tar.getmembers())
    assert names == ["manifest.json", "manifest.sig"] + [f"records/{r.record_id}.age" for r in records]
    bundle = read_bundle(data, lambda ref: key.public_key())
    assert bundle.records == {r.record_id: r.ciphertext for r in records}
    manifest = bundle.manifest
    assert manifest.source == SourceRef("kit", "kit-round", 1)
    assert (manifest.first_seq, manifest.last_seq, manifest.created) == (7, 11, "2025-03-10")
    for entry, record in zip(manifest.records, records, strict=True):
        assert entry.sha256 == hashlib.sha256(record.ciphertext).hexdigest()
        assert (entry.size, entry.form_id, entry.form_version, entry.day, entry.seq) == (
            len(record.ciphertext), record.form_id, record.form_version, record.day, record.seq,
        )  # fmt: skip
    # The same records give the same bytes (Ed25519 signatures are deterministic).
    assert make_bundle(key, "kit-round", list(reversed(records))) == data
    assert Manifest.parse(manifest.to_bytes()) == manifest


def test_builder_refuses_what_a_hub_would_refuse() -> None:
    key = Ed25519PrivateKey.generate()
    records = sealed_records("kit-a", 2)
    with pytest.raises(ValueError, match="names kit"):
        build_bundle(key, SourceRef("kit", "kit-b", 1), records)
    with pytest.raises(ValueError, match="at least one record"):
        build_bundle(key, SourceRef("kit", "kit-a", 1), [])


def test_records_are_read_only_after_the_signature_is_checked() -> None:
    key = Ed25519PrivateKey.generate()
    data = make_bundle(key, "kit-order", sealed_records("kit-order", 2))
    with BundleReader.open(data) as reader:
        with pytest.raises(RuntimeError):
            next(reader.iter_records())
        with pytest.raises(BundleError) as refused:
            reader.verify_signature(Ed25519PrivateKey.generate().public_key())
        assert refused.value.code == "bad-signature"


# --- export --------------------------------------------------------------------------


def test_export_from_a_simulated_kit(tmp_path: Path, hub_keys: Path, passphrase_file: Path) -> None:
    kit = new_kit(tmp_path, hub_keys, passphrase_file)
    ids = simulate(kit, passphrase_file, 6, seed=3)
    out = tmp_path / "usb" / "bundle.tar"
    out.parent.mkdir()
    result = export(kit, out, passphrase_file)
    assert "6 records (sequence 1-6)" in result.output
    assert "not enrolled" in result.output  # the warning, on stderr, mixed in by CliRunner
    bundle = read_bundle(out, kit_key_lookup(kit))
    store = RecordStore(kit)
    assert sorted(bundle.records) == sorted(ids) == list(store.ids())
    for entry in bundle.manifest.records:
        assert bundle.records[entry.record_id] == store.get(entry.record_id)
        metadata = store.metadata(entry.record_id)
        assert (entry.form_id, entry.form_version, entry.day, entry.size) == (
            metadata["form_id"], metadata["form_version"], metadata["day"], metadata["size"],
        )  # fmt: skip
    assert sorted(entry.seq for entry in bundle.manifest.records) == [1, 2, 3, 4, 5, 6]
    assert out.stat().st_mode & 0o777 == 0o600

    # Exported again without a receipt: the same records keep their sequence numbers.
    again = tmp_path / "again.tar"
    export(kit, again, passphrase_file)
    assert read_bundle(again, kit_key_lookup(kit)).manifest.records == bundle.manifest.records


def test_empty_outbox_writes_nothing(tmp_path: Path, hub_keys: Path, passphrase_file: Path) -> None:
    kit = new_kit(tmp_path, hub_keys, passphrase_file)
    out = tmp_path / "bundle.tar"
    result = export(kit, out, passphrase_file)
    assert "Nothing to export" in result.output
    assert not out.exists()


def test_export_of_a_missing_kit_is_one_clear_line(tmp_path: Path, passphrase_file: Path) -> None:
    result = export(tmp_path / "nokit", tmp_path / "b.tar", passphrase_file, expect=1)
    assert "not a kit folder" in result.output


# --- receipts ------------------------------------------------------------------------


def test_verified_receipt_marks_records_synced(tmp_path: Path, hub_keys: Path, passphrase_file: Path) -> None:
    hub, kit = enrolled_pair(tmp_path, hub_keys, passphrase_file)
    first = simulate(kit, passphrase_file, 4, seed=1)
    bundle = tmp_path / "b1.tar"
    export(kit, bundle, passphrase_file)
    receipts = tmp_path / "receipts"
    run("hub", "import", "--data", hub, "--receipt-out", receipts, bundle)
    (receipt,) = receipts.iterdir()
    assert sorted(Outbox(kit).pending_ids()) == sorted(first)

    applied = run("sync", "receipt", "--data", kit, receipt)
    assert "4 records marked as synced" in applied.output
    assert Outbox(kit).pending_ids() == []
    assert "Nothing to export" in export(kit, tmp_path / "none.tar", passphrase_file).output
    again = run("sync", "receipt", "--data", kit, receipt)
    assert "0 records marked as synced (4 already synced" in again.output

    # New records continue the sequence; acknowledged ones are not sent again.
    second = simulate(kit, passphrase_file, 2, seed=2)
    bundle2 = tmp_path / "b2.tar"
    export(kit, bundle2, passphrase_file)
    manifest = read_bundle(bundle2, kit_key_lookup(kit)).manifest
    assert sorted(entry.record_id for entry in manifest.records) == sorted(second)
    assert (manifest.first_seq, manifest.last_seq) == (5, 6)


def _hub_receipt(hub: Path, kit: Path, records: list[tuple[str, str]], *, key=None, kit_id=None) -> bytes:
    """A receipt as the hub would sign it (or with another key / for another kit)."""
    config = load_config(kit)
    with HubStore(hub) as store:
        signing_key = key or store.receipt_signing_key
        hub_id = store.config.hub_id
    manifest = Manifest(
        source=SourceRef("kit", kit_id or config.kit_id, config.epoch),
        created="2025-03-10",
        first_seq=1,
        last_seq=1,
        records=(),
    )
    return make_receipt(signing_key, hub_id, manifest, "0" * 64, records=records)


def _outbox_snapshot(kit: Path) -> tuple[bytes, list[str]]:
    return (kit / SYNC_STATE_FILE).read_bytes(), sorted(Outbox(kit).pending_ids())


def test_forged_or_foreign_receipts_change_nothing(tmp_path: Path, hub_keys: Path, passphrase_file: Path) -> None:
    hub, kit = enrolled_pair(tmp_path, hub_keys, passphrase_file)
    simulate(kit, passphrase_file, 3, seed=4)
    export(kit, tmp_path / "b.tar", passphrase_file)  # assigns sequence numbers and hashes
    store = RecordStore(kit)
    genuine = [(rid, hashlib.sha256(store.get(rid)).hexdigest()) for rid in store.ids()]
    before = _outbox_snapshot(kit)

    forged = tmp_path / "forged.json"
    forged.write_bytes(_hub_receipt(hub, kit, genuine, key=Ed25519PrivateKey.generate()))
    result = run("sync", "receipt", "--data", kit, forged, expect=1)
    assert "forged or damaged" in result.output
    assert _outbox_snapshot(kit) == before

    other_kit = tmp_path / "other-kit.json"
    other_kit.write_bytes(_hub_receipt(hub, kit, genuine, kit_id="kit-000000000000"))
    assert "not this kit" in run("sync", "receipt", "--data", kit, other_kit, expect=1).output
    assert _outbox_snapshot(kit) == before

    other_ids = tmp_path / "other-ids.json"
    strangers = [(r.record_id, hashlib.sha256(r.ciphertext).hexdigest()) for r in sealed_records("kit-x", 3)]
    other_ids.write_bytes(_hub_receipt(hub, kit, strangers))
    assert (
        "0 records marked as synced (0 already synced, 3 not recognised)"
        in run("sync", "receipt", "--data", kit, other_ids).output
    )
    assert _outbox_snapshot(kit) == before

    wrong_hash = tmp_path / "wrong-hash.json"
    wrong_hash.write_bytes(_hub_receipt(hub, kit, [(rid, "f" * 64) for rid, _sha in genuine]))
    assert "0 records marked" in run("sync", "receipt", "--data", kit, wrong_hash).output
    assert _outbox_snapshot(kit) == before

    # A genuine signature for one record, moved onto a payload that lists all three.
    tampered = tmp_path / "tampered.json"
    envelope = json.loads(_hub_receipt(hub, kit, genuine[:1]))
    envelope["payload"] = json.loads(_hub_receipt(hub, kit, genuine))["payload"]
    tampered.write_text(json.dumps(envelope))
    assert "forged or damaged" in run("sync", "receipt", "--data", kit, tampered, expect=1).output
    assert _outbox_snapshot(kit) == before

    not_a_receipt = tmp_path / "not.json"
    not_a_receipt.write_text("{}")
    assert "not a fieldkit signed file" in run("sync", "receipt", "--data", kit, not_a_receipt, expect=1).output


def test_prune_removes_only_acknowledged_records(tmp_path: Path, hub_keys: Path, passphrase_file: Path) -> None:
    hub, kit = enrolled_pair(tmp_path, hub_keys, passphrase_file)
    acknowledged = simulate(kit, passphrase_file, 3, seed=5)
    bundle = tmp_path / "b.tar"
    export(kit, bundle, passphrase_file)
    run("hub", "import", "--data", hub, bundle)  # receipt lands beside the bundle
    (receipt,) = tmp_path.glob("receipt-*.json")
    waiting = simulate(kit, passphrase_file, 2, seed=6)
    store = RecordStore(kit)
    waiting_bytes = {rid: store.get(rid) for rid in waiting}

    assert "Removed 0 acknowledged records; 5 records still wait" in run("sync", "prune", "--data", kit).output
    run("sync", "receipt", "--data", kit, receipt)
    result = run("sync", "prune", "--data", kit)
    assert "Removed 3 acknowledged records; 2 records still wait" in result.output
    assert sorted(store.ids()) == sorted(waiting)
    assert all(rid not in store for rid in acknowledged)
    assert {rid: store.get(rid) for rid in waiting} == waiting_bytes
    assert store.repair() == []  # nothing half-removed is left behind

    bundle2 = tmp_path / "b2.tar"
    export(kit, bundle2, passphrase_file)
    manifest = read_bundle(bundle2, kit_key_lookup(kit)).manifest
    assert sorted(entry.record_id for entry in manifest.records) == sorted(waiting)
    assert manifest.first_seq == 4  # numbers are never given out twice
    status = run("sync", "status", "--data", kit).output
    assert "2 held, 2 not yet acknowledged" in status

"""Enrolment that holds against an impostor hub and a stranger with a token (issue 17, points 2, 3, 5).

Real parts throughout: a real hub app on 127.0.0.1, an impostor server on 127.0.0.1,
real kit folders and the CLI.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import sqlite3
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fieldkit.kit.config import load_config
from fieldkit.kit.outbox import SyncState
from fieldkit.kit.push import HubLinks
from sync.hub.enrolment import accept_enrolment, create_token
from sync.hub.store import SCHEMA_VERSION, HubStore
from sync.protocol.enrolment import (
    REQUEST_FORMAT,
    RESPONSE_FORMAT,
    EnrolmentError,
    TokenKeys,
    prove,
    read_proved,
    token_keys,
)
from sync.protocol.receipts import public_key_text, sign_document
from tests.bundle_corpus import HUB_RECIPIENT, make_bundle, sealed_records
from tests.http_servers import ServerThread, impostor_hub, running_hub
from tests.hub_schemas import VERSIONS_BEFORE_6
from tests.old_kits import as_before_hub_list_signing
from tests.sync_cli import PASSPHRASE, enrolled_pair, init_hub_folder, new_kit, run, simulate


def _sync_enrol(kit: Path, url: str, token: str, passphrase_file: Path, expect: int = 0):
    return run(
        "sync", "enrol", "--data", kit, "--hub", url, "--token", token,
        "--passphrase-file", passphrase_file, expect=expect,
    )  # fmt: skip


# --- point 2: the token never travels, and only the hub that made it is trusted ----------------


def test_an_impostor_hub_never_learns_the_token_and_is_not_trusted(
    tmp_path: Path, hub_keys: Path, passphrase_file: Path
) -> None:
    hub = init_hub_folder(tmp_path, hub_keys)
    kit = new_kit(tmp_path, hub_keys, passphrase_file)
    impostor_key = Ed25519PrivateKey.generate()
    captured: list[bytes] = []
    lock = threading.Lock()
    with running_hub(hub) as real:
        token = create_token(real.store)
        hub_id = real.store.config.hub_id

        def answer(body: bytes) -> bytes:
            # The impostor's best try: a response naming the real hub id with its own key,
            # proved under a key it has to guess (it never saw the token).
            with lock:
                captured.append(body)
            request = read_proved(body, role="request", what="request")
            response = sign_document(
                {
                    "format": RESPONSE_FORMAT, "hub_id": hub_id,
                    "receipt_public_key": public_key_text(impostor_key.public_key()),
                    "kit_id": load_config(kit).kit_id, "epoch": 1, "token_id": request.token_id,
                    "accepted": "2026-01-01T00:00:00Z",
                },
                impostor_key,
            )  # fmt: skip
            return prove(response, TokenKeys(request.token_id, secrets.token_bytes(32)), role="response", kind="kit")

        impostor = ServerThread(impostor_hub(hub_id, public_key_text(impostor_key.public_key()), answer))
        try:
            refused = _sync_enrol(kit, impostor.url, token.display, passphrase_file, expect=1)
        finally:
            impostor.stop()
        assert "does not prove it comes from the hub that made this kit's token" in refused.output
        assert SyncState(kit).hubs() == []  # the impostor's key is not stored
        assert HubLinks(kit).get(hub_id) is None

        # The impostor saw one request, and nothing in it is the token in any spelling.
        assert len(captured) == 1
        seen = captured[0] + base64.b64decode(json.loads(captured[0])["signed"])
        seen += base64.b64decode(json.loads(base64.b64decode(json.loads(captured[0])["signed"]))["payload"])
        for spelling in (token.token, token.display, token.token.lower()):
            assert spelling.encode() not in seen
        # What it holds cannot enrol a kit of its own: an edited request fails the proof.
        outer = json.loads(captured[0])
        own = sign_document(
            {"format": REQUEST_FORMAT, "kind": "kit", "kit_id": "kit-0000000bad01", "epoch": 1,
             "public_key": public_key_text(impostor_key.public_key()), "recipients": [HUB_RECIPIENT],
             "token_id": outer["token_id"], "hub_id": hub_id, "created": "2026-01-01T00:00:00Z"},
            impostor_key,
        )  # fmt: skip
        outer["signed"] = base64.b64encode(own).decode()
        with pytest.raises(EnrolmentError, match="not made with a token from this hub"):
            accept_enrolment(real.store, json.dumps(outer).encode())
        assert real.store.sources() == []

        # The genuine hub proves the token, and the same token still works there.
        enrolled = _sync_enrol(kit, real.url, token.display, passphrase_file)
        assert f"Enrolled with hub {hub_id}" in enrolled.output
        (entry,) = SyncState(kit).hubs()
        assert entry.receipt_public_key == real.store.config.receipt_public_key
        assert entry.verified == "token-proof"


def test_prune_keeps_records_acknowledged_by_a_hub_whose_key_was_never_verified(
    tmp_path: Path, hub_keys: Path, passphrase_file: Path
) -> None:
    hub = init_hub_folder(tmp_path, hub_keys)
    kit = new_kit(tmp_path, hub_keys, passphrase_file)
    simulate(kit, passphrase_file, 3, seed=11)
    with running_hub(hub) as server:
        token = create_token(server.store)
        _sync_enrol(kit, server.url, token.display, passphrase_file)
        run("sync", "push", "--data", kit, "--passphrase-file", passphrase_file, "--once")
    # As an older version wrote the hub entry: no word on how its key was verified (and,
    # older still, no signature over the hub list).
    state = json.loads((kit / "sync.json").read_text())
    for doc in state["hubs"].values():
        doc.pop("verified")
    (kit / "sync.json").write_text(json.dumps(state))
    as_before_hub_list_signing(kit, PASSPHRASE)
    assert "its key was never verified" in run("sync", "status", "--data", kit).output
    pruned = run("sync", "prune", "--data", kit)
    assert "Removed 0 acknowledged records" in pruned.output
    assert "Kept 3 records acknowledged by a hub whose key was never verified" in pruned.output
    assert len(os.listdir(kit / "records")) >= 3
    # Enrolling again verifies the hub; what the old entry acknowledged waits again, goes
    # to the verified hub (as duplicates), and only then can be pruned.
    with running_hub(hub) as server:
        _sync_enrol(kit, server.url, create_token(server.store).display, passphrase_file)
        assert "3 records wait" in run("sync", "push", "--data", kit, "--passphrase-file", passphrase_file).output
    assert "Removed 3 acknowledged records" in run("sync", "prune", "--data", kit).output


def test_enrolment_files_of_the_first_version_are_refused_with_what_to_do(
    tmp_path: Path, hub_keys: Path, passphrase_file: Path
) -> None:
    hub = init_hub_folder(tmp_path, hub_keys)
    kit = new_kit(tmp_path, hub_keys, passphrase_file)
    old_token = tmp_path / "old-token.json"
    old_token.write_text(json.dumps({"format": "fieldkit-enrolment-token/1", "token": "A" * 20, "hub_id": None}))
    refused = run("sync", "enrol", "--data", kit, "--token-file", old_token, expect=1)
    assert "made by an older version of fieldkit" in refused.output and "ask the hub operator for a new token" in (
        refused.output
    )
    old_request = tmp_path / "old-request.json"
    payload = {"format": "fieldkit-enrolment-request/1", "token": "A" * 20}
    old_request.write_bytes(sign_document(payload, Ed25519PrivateKey.generate()))
    refused = run("hub", "enrol", "--data", hub, "--accept", old_request, expect=1)
    assert "older version of fieldkit (format fieldkit-signed/1)" in refused.output
    assert "Traceback" not in refused.output


# --- point 3: tokens are bound to what they enrol -----------------------------------------------


def _request_for(
    kit_id: str, epoch: int, key: Ed25519PrivateKey, token: str, hub_id: str, recipient: str = HUB_RECIPIENT
) -> bytes:
    """An enrolment request as an attacker with a token and a key of its own makes one."""
    keys = token_keys(token)
    payload = {
        "format": REQUEST_FORMAT, "kind": "kit", "kit_id": kit_id, "epoch": epoch,
        "public_key": public_key_text(key.public_key()), "recipients": [recipient],
        "token_id": keys.token_id, "hub_id": hub_id, "created": "2026-01-01T00:00:00Z",
    }  # fmt: skip
    return prove(sign_document(payload, key), keys, role="request", kind="kit")


def test_a_fresh_token_cannot_give_an_enrolled_kit_a_new_key_and_revoking_that_epoch_spares_the_kit(
    tmp_path: Path,
) -> None:
    hub = tmp_path / "hub"
    run("hub", "init", "--data", hub, "--recipient-file", _recipient_file(tmp_path))
    genuine, attacker = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    with HubStore(hub) as store:
        hub_id = store.config.hub_id
        accept_enrolment(store, _request_for("kit-00000000aaaa", 1, genuine, create_token(store).token, hub_id))
        with pytest.raises(EnrolmentError, match="a new key epoch needs the operator's approval"):
            accept_enrolment(store, _request_for("kit-00000000aaaa", 2, attacker, create_token(store).token, hub_id))
        # A token made for another kit id enrols only that id.
        other = create_token(store, for_source="kit-00000000bbbb").token
        with pytest.raises(EnrolmentError, match="made for kit kit-00000000bbbb only"):
            accept_enrolment(store, _request_for("kit-00000000aaaa", 2, attacker, other, hub_id))
        assert [(s.source_id, s.epoch) for s in store.sources()] == [("kit-00000000aaaa", 1)]
    # The operator approves a new epoch (say, the attacker fooled them): then revokes just it.
    approved = run("hub", "enrol", "--data", hub, "--for", "kit-00000000aaaa").output
    assert "It enrols a kit (kit-00000000aaaa only), once" in approved
    shown = approved.split(": ", 1)[1].split()[0]
    with HubStore(hub) as store:
        accept_enrolment(store, _request_for("kit-00000000aaaa", 2, attacker, shown, hub_id))
    revoked = run("hub", "revoke", "--data", hub, "kit-00000000aaaa", "--epoch", "2").output
    assert "Revoked kit-00000000aaaa key epoch 2" in revoked
    with HubStore(hub) as store:
        states = {s.epoch: s.status for s in store.sources()}
        assert states == {1: "active", 2: "revoked"}
        good = store.import_bundle(make_bundle(genuine, "kit-00000000aaaa", sealed_records("kit-00000000aaaa", 2)))
        bad = store.import_bundle(
            make_bundle(attacker, "kit-00000000aaaa", sealed_records("kit-00000000aaaa", 2, seed=5), epoch=2)
        )
    assert good.status == "accepted" and good.new == 2
    assert bad.refused and bad.code == "revoked-source"


def test_kit_tokens_and_hub_tokens_enrol_only_their_kind(tmp_path: Path, hub_keys: Path, passphrase_file: Path) -> None:
    upstream = init_hub_folder(tmp_path, hub_keys, "national")
    regional = init_hub_folder(tmp_path, hub_keys, "regional")
    kit = new_kit(tmp_path, hub_keys, passphrase_file)
    with running_hub(upstream) as server:
        kit_token = create_token(server.store)
        as_hub = run("hub", "enrol-upstream", "--data", regional, "--to", server.url,
                     "--token", kit_token.display, expect=1)  # fmt: skip
        assert "this token enrols a kit, not a hub" in as_hub.output
        hub_token = create_token(server.store, kind="hub")
        as_kit = _sync_enrol(kit, server.url, hub_token.display, passphrase_file, expect=1)
        assert "this token enrols a hub, not a kit" in as_kit.output
        assert server.store.sources() == []
        # Each still enrols its own kind.
        run("hub", "enrol-upstream", "--data", regional, "--to", server.url, "--token", hub_token.display)
        _sync_enrol(kit, server.url, kit_token.display, passphrase_file)
        assert sorted(s.kind for s in server.store.sources()) == ["hub", "kit"]


def _recipient_file(tmp_path: Path) -> Path:
    path = tmp_path / "hub-recipient.txt"
    path.write_text(HUB_RECIPIENT + "\n")
    return path


# --- point 5: revoking keeps what the kit sent before -------------------------------------------


def test_revoking_a_lost_kit_keeps_its_bundles_up_to_the_last_acknowledged_point(
    tmp_path: Path, hub_keys: Path, passphrase_file: Path
) -> None:
    hub, kit_dir = enrolled_pair(tmp_path, hub_keys, passphrase_file)
    kit_id = load_config(kit_dir).kit_id
    key = Ed25519PrivateKey.generate()
    with HubStore(hub) as store:
        # A second, test-held kit key lets the test sign bundles "from the lost kit".
        token = create_token(store)
        accept_enrolment(
            store, _request_for("kit-0000000105e1", 1, key, token.token, store.config.hub_id, store.config.recipient)
        )
        first = make_bundle(key, "kit-0000000105e1", sealed_records("kit-0000000105e1", 3, seed=21))
        assert store.import_bundle(first).status == "accepted"  # sequence 1-3 acknowledged
    revoked = run("hub", "revoke", "--data", hub, "kit-0000000105e1").output
    assert "bundles within sequence numbers 1-3 stay acceptable" in revoked
    on_stick = make_bundle(key, "kit-0000000105e1", sealed_records("kit-0000000105e1", 2, seed=22, first_seq=2))
    later = make_bundle(key, "kit-0000000105e1", sealed_records("kit-0000000105e1", 2, seed=23, first_seq=4))
    with HubStore(hub) as store:
        assert store.import_bundle(first).status == "already-merged"  # a re-send still gets its receipt
        assert store.import_bundle(on_stick).status == "accepted"
        refused = store.import_bundle(later)
        assert refused.refused and refused.code == "revoked-source"
        reason = refused.reason or ""
        assert "only bundles within sequence numbers 1-3 are still accepted (this one reaches 5)" in reason
    # The operator learns the kit's last bundle reached 5: the point moves there.
    moved = run("hub", "revoke", "--data", hub, "kit-0000000105e1", "--keep-up-to", "5").output
    assert "bundles within sequence numbers 1-5 stay acceptable" in moved
    beyond = make_bundle(key, "kit-0000000105e1", sealed_records("kit-0000000105e1", 1, seed=24, first_seq=6))
    with HubStore(hub) as store:
        assert store.import_bundle(later).status == "accepted"
        assert store.import_bundle(beyond).refused
    # The other kit of this hub is untouched by all this.
    with HubStore(hub) as store:
        assert {s.source_id: s.status for s in store.sources()}[kit_id] == "active"


@pytest.mark.sqlite_only  # an old release's SQLite file; PostgreSQL hubs began at schema 5
def test_a_hub_database_of_the_first_schema_is_brought_up_to_date(tmp_path: Path) -> None:
    hub = tmp_path / "hub"
    run("hub", "init", "--data", hub, "--recipient-file", _recipient_file(tmp_path))
    key = Ed25519PrivateKey.generate()
    with HubStore(hub) as store:
        token = create_token(store).token
        accept_enrolment(store, _request_for("kit-0000000001d1", 1, key, token, store.config.hub_id))
    # Make it what version 1 left: no new tables, no revocation point, schema "1".
    connection = sqlite3.connect(hub / "hub.sqlite")
    connection.executescript(
        "DROP TABLE enrolment_tokens; DROP TABLE sessions; ALTER TABLE sources DROP COLUMN valid_up_to;"
        "DROP TABLE centres; DROP TABLE cycles; DROP TABLE packs; DROP TABLE form_versions; DROP TABLE tallies;"
        "DROP TABLE audit; DELETE FROM meta WHERE key='audit_head'; DROP TABLE operators;"
        f"{VERSIONS_BEFORE_6} UPDATE meta SET value='1' WHERE key='schema';"
    )
    connection.close()
    with HubStore(hub) as store:
        (source,) = store.sources()
        assert source.source_id == "kit-0000000001d1" and source.valid_up_to is None
        create_token(store)  # the new tables exist
    connection = sqlite3.connect(hub / "hub.sqlite")
    assert connection.execute("SELECT value FROM meta WHERE key='schema'").fetchone() == (SCHEMA_VERSION,)
    tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"centres", "cycles", "packs", "form_versions", "tallies", "operators"} <= tables
    connection.close()

"""Hub to hub: a regional hub enrols at a national hub over HTTP and forwards its merged
ciphertext there, without decrypting; forwarding again changes nothing, new records go up
on the next run, and nothing counts as forwarded without a verified receipt."""

from __future__ import annotations

import dataclasses
import stat
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sync.hub.enrolment import create_token
from sync.hub.forward import FORWARD_DB_FILE, FORWARD_KEY_FILE, ForwardState
from sync.hub.store import HubStore, init_hub
from tests.bundle_corpus import HUB_RECIPIENT, enrol_key, make_bundle, sealed_records
from tests.http_servers import ServerThread, captive_portal, running_hub
from tests.hub_backend import hub_db
from tests.sync_cli import run


def versions(store: HubStore) -> dict[str, tuple]:
    """Every held record version with all its metadata and bytes."""
    return {record.record_id: dataclasses.astuple(record) for record in store.iter_records(include_quarantined=True)}


def regional_with_two_kits(tmp_path: Path) -> tuple[Path, dict[str, tuple[Ed25519PrivateKey, list]]]:
    hub = tmp_path / "regional"
    init_hub(hub, HUB_RECIPIENT, hub_id="hub-regional")
    kits = {}
    with HubStore(hub) as store:
        for index, kit_id in enumerate(("kit-north", "kit-south")):
            key = Ed25519PrivateKey.generate()
            enrol_key(store, key, kit_id, recipients=[HUB_RECIPIENT])  # the national hub shares it
            records = sealed_records(kit_id, 9, seed=40 + index)
            for part in (records[:5], records[5:]):
                assert store.import_bundle(make_bundle(key, kit_id, part)).status == "accepted"
            kits[kit_id] = (key, records)
        assert store.record_count() == 18
    return hub, kits


def national(tmp_path: Path) -> Path:
    hub = tmp_path / "national"
    init_hub(hub, HUB_RECIPIENT, hub_id="hub-national")
    return hub


def enrol_upstream(regional: Path, url: str, store: HubStore) -> None:
    token = create_token(store, kind="hub")
    result = run("hub", "enrol-upstream", "--data", regional, "--to", url, "--token", token.display)
    assert f"Enrolled at hub {store.config.hub_id} ({url})" in result.output


def test_forwarding_sends_the_same_ciphertext_and_metadata_once(tmp_path: Path) -> None:
    regional, kits = regional_with_two_kits(tmp_path)
    upstream_dir = national(tmp_path)
    with running_hub(upstream_dir) as server:
        enrol_upstream(regional, server.url, server.store)
        (source,) = server.store.sources()
        assert (source.kind, source.source_id, source.status) == ("hub", "hub-regional", "active")

        first = run("hub", "forward", "--data", regional, "--to", server.url, "--batch", 7)
        assert "Forwarded 18 records in 3 bundle(s) to hub hub-national." in first.output
        with HubStore(regional) as store:
            assert versions(server.store) == versions(store)  # ids, kit ids, metadata, bytes
        digest = server.store.state_digest()
        imported = len(server.store.events(("imported",)))

        again = run("hub", "forward", "--data", regional)  # the one upstream is the default
        assert "Nothing to forward" in again.output
        assert server.store.state_digest() == digest
        assert len(server.store.events(("imported",))) == imported

        # New records at the regional hub go up on the next run, and only they.
        key, _records = kits["kit-north"]
        fresh = sealed_records("kit-north", 4, seed=99, first_seq=50)
        with HubStore(regional) as store:
            assert store.import_bundle(make_bundle(key, "kit-north", fresh)).status == "accepted"
        third = run("hub", "forward", "--data", regional, "--to", server.url)
        assert "Forwarded 4 records in 1 bundle(s)" in third.output
        assert server.store.record_count() == 22
        with HubStore(regional) as store:
            assert versions(server.store) == versions(store)
        kit_ids = {record.kit_id for record in server.store.iter_records()}
        assert kit_ids == {"kit-north", "kit-south"}  # records keep their kits, not the forwarding hub
    for name in (FORWARD_KEY_FILE, FORWARD_DB_FILE):
        assert stat.S_IMODE((regional / name).stat().st_mode) == 0o600


def test_nothing_counts_as_forwarded_without_a_verified_receipt(tmp_path: Path) -> None:
    regional, _kits = regional_with_two_kits(tmp_path)
    upstream_dir = national(tmp_path)
    with running_hub(upstream_dir) as server:
        enrol_upstream(regional, server.url, server.store)
        url = server.url
        port = server.server.port
    # The national hub's address now answers like a captive portal.
    portal = ServerThread(captive_portal, port=port)
    try:
        result = run(
            "hub", "forward", "--data", regional, "--to", url, "--attempts", 2, "--max-wait", "0.05", expect=1
        )  # fmt: skip
    finally:
        portal.stop()
    assert "not as a fieldkit hub (a captive portal" in result.output
    with ForwardState(regional) as state:
        assert state.forwarded("hub-national") == set()
        (upstream,) = state.upstreams()
    assert upstream.failures == 2 and "captive portal" in upstream.last_error
    with hub_db(upstream_dir) as connection:
        assert connection.execute("SELECT COUNT(*) FROM versions").fetchone()[0] == 0


def test_a_revoked_regional_hub_is_refused_with_the_reason(tmp_path: Path) -> None:
    regional, _kits = regional_with_two_kits(tmp_path)
    upstream_dir = national(tmp_path)
    with running_hub(upstream_dir) as server:
        enrol_upstream(regional, server.url, server.store)
        server.store.revoke("hub-regional")
        result = run("hub", "forward", "--data", regional, expect=1)
        assert server.store.record_count() == 0
    error = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(error) == 1 and "(revoked-source, HTTP 403): hub hub-regional was revoked" in error[0]


def test_hub_enrolment_is_checked_like_a_kits(tmp_path: Path) -> None:
    regional, _kits = regional_with_two_kits(tmp_path)
    upstream_dir = national(tmp_path)
    with running_hub(upstream_dir) as server:
        # A made-up token is refused by the national hub, in one line.
        bogus = run(
            "hub", "enrol-upstream", "--data", regional, "--to", server.url,
            "--token", "AAAAA-BBBBB-CCCCC-DDDDD", expect=1,
        )  # fmt: skip
        assert "Error: the hub refused it (enrolment-refused, HTTP 403): the enrolment token is not known" in (
            bogus.output
        )
        # A token file naming another hub is refused before anything is sent.
        with HubStore(regional) as own:
            own_token = create_token(own, kind="hub")
        token_file = tmp_path / "token.json"
        token_file.write_bytes(own_token.to_file_bytes())
        wrong = run(
            "hub", "enrol-upstream", "--data", regional, "--to", server.url, "--token-file", token_file, expect=1
        )  # fmt: skip
        assert "is hub hub-national, but the token file is for hub hub-regional" in wrong.output
        assert server.store.sources() == []
        # Forwarding before enrolling says what to do.
        missing = run("hub", "forward", "--data", regional, "--to", server.url, expect=1)
        assert "run 'fieldkit hub enrol-upstream" in missing.output


def test_a_hub_cannot_enrol_at_itself(tmp_path: Path) -> None:
    regional, _kits = regional_with_two_kits(tmp_path)
    with running_hub(regional) as server:
        token = create_token(server.store, kind="hub")
        result = run(
            "hub", "enrol-upstream", "--data", regional, "--to", server.url, "--token", token.display, expect=1
        )  # fmt: skip
    assert "a hub cannot forward to itself" in result.output


def test_quarantined_records_stay_at_the_regional_hub(tmp_path: Path) -> None:
    regional, kits = regional_with_two_kits(tmp_path)
    key, records = kits["kit-south"]
    clash = dataclasses.replace(sealed_records("kit-south", 1, seed=7, first_seq=90)[0], record_id=records[0].record_id)
    with HubStore(regional) as store:
        assert store.import_bundle(make_bundle(key, "kit-south", [clash])).quarantined == 1
    upstream_dir = national(tmp_path)
    with running_hub(upstream_dir) as server:
        enrol_upstream(regional, server.url, server.store)
        run("hub", "forward", "--data", regional)
        held_upstream = {record.record_id for record in server.store.iter_records()}
    assert records[0].record_id not in held_upstream
    assert len(held_upstream) == 17

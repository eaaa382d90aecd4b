"""Roll-up: two regional hubs send their counts (signed, sealed, no record) to one upstream
hub, whose report then equals the report of one hub holding every record; suppression is
decided on the combined figures; bad, forged, replayed and half-imported roll-ups change
nothing; and ciphertext is forwarded only where the kits' consent script named the holder."""

from __future__ import annotations

import base64
import contextlib
import csv
import dataclasses
import json
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fieldkit.core.crypto import age
from fieldkit.core.crypto.hubkeys import generate_hub_keys
from sync.hub.enrolment import create_token
from sync.hub.forward import ForwardState, forward_signing_key
from sync.hub.reports.collect import OTHER_CYCLE, Collected
from sync.hub.reports.rollup import RollupTables, add_tables, count_records, read_tables, tables_payload
from sync.hub.rollup import ROLLUP_DB_FILE, ROLLUP_FORMAT, delivery, list_rollups, make_rollup
from sync.hub.store import HubStore, init_hub
from sync.protocol.bundle import OutgoingRecord, SourceRef, build_bundle
from sync.protocol.client import HubClient, TransportError
from sync.protocol.receipts import sign_document
from tests.bundle_corpus import enrol_key, make_bundle, sealed_records
from tests.http_servers import running_hub
from tests.hub_backend import copy_hub
from tests.sync_cli import run
from tests.test_scorecard_truth import NO_FLAGS, centre_records
from tests.test_scorecards import assessment, interview, push

THRESHOLD = 5
SHARED = "C-01"  # a centre both regions interviewed people of: three in each
CANARY = "canary words only a person typed 7Q2X"


def shared_records(region: str) -> list:
    """Three interviews at C-01, each reporting forced work: fewer than five in either region."""
    records: list[Any] = [assessment(SHARED, "c", access_hours="in_place")] if region == "a" else []
    for _ in range(3):
        records.append(interview(SHARED, **{**NO_FLAGS, "forced_work": "yes"}, staff_respect=4))
    return records


def region_of(record: tuple) -> str:
    _form, answers = record
    return "a" if str(answers.get("centre_code", "")).startswith("A-") else "b"


class Network:
    """One upstream hub, two regional hubs enrolled at it, and one hub holding every record."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.keys = {name: generate_hub_keys(root / f"keys-{name}", None) for name in ("global", "a", "b", "all")}
        self.hubs = {name: root / f"hub-{name}" for name in self.keys}
        for name, keys in self.keys.items():
            init_hub(self.hubs[name], keys.recipient, hub_id=f"hub-{name}")
        records = centre_records()
        by_region = {region: [r for r in records if region_of(r) == region] for region in ("a", "b")}
        for region in ("a", "b"):
            by_region[region] += shared_records(region)
        # A free-text answer, which must never leave the regional hub.
        by_region["a"].append(interview("A-01", **NO_FLAGS, staff_respect=5, what_to_change=CANARY))
        for region in ("a", "b"):
            push(self.hubs[region], self.keys[region].recipient, by_region[region])
        push(self.hubs["all"], self.keys["all"].recipient, by_region["a"] + by_region["b"])
        with running_hub(self.hubs["global"]) as server:
            for region in ("a", "b"):
                token = create_token(server.store, kind="hub")
                run("hub", "enrol-upstream", "--data", self.hubs[region], "--to", server.url, "--token", token.display)

    def identity(self, name: str) -> Path:
        return self.keys[name].identity_path

    def rollup(self, region: str, name: str = "rollup.age") -> Path:
        out = self.root / f"{region}-{name}"
        run("hub", "rollup", "--data", self.hubs[region], "--identity", self.identity(region), "--out", out)
        return out

    def import_(self, path: Path, expect: int = 0) -> str:
        result = run(
            "hub", "rollup-import", "--data", self.hubs["global"], "--identity", self.identity("global"), path,
            expect=expect,
        )  # fmt: skip
        return result.output

    def report(self, name: str, out: Path) -> dict[str, dict[str, str]]:
        run("hub", "report", "--data", self.hubs[name], "--identity", self.identity(name), "--out", out)
        with (out / "figures.csv").open(encoding="utf-8", newline="") as handle:
            return {row["figure"]: row for row in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Network:
    return Network(tmp_path_factory.mktemp("rollup"))


def held(network: Network) -> dict[str, tuple[str, str]]:
    return {one.hub_id: (one.made, one.sha256) for one in list_rollups(network.hubs["global"])}


def opened_payload(network: Network, sealed: Path) -> dict[str, Any]:
    signed = age.decrypt(sealed.read_bytes(), age.parse_identities(network.identity("global").read_text()))
    return json.loads(base64.b64decode(json.loads(signed)["payload"]))


def resealed(network: Network, payload: dict[str, Any], key: Ed25519PrivateKey, name: str) -> Path:
    """``payload`` signed with ``key`` and sealed to the upstream hub, as a file."""
    recipient = age.parse_recipient(network.keys["global"].recipient)
    path = network.root / name
    path.write_bytes(age.encrypt(sign_document(payload, key), [recipient]))
    return path


def cell(figures: dict[str, dict[str, str]], centre: str, measure: str) -> str:
    (found,) = [row["value"] for row in figures.values() if row["centre"] == centre and row["measure"] == measure]
    return found


FORCED_WORK = "red_flag:peer-interview/forced_work"
RESTRAINED = "red_flag:peer-interview/restrained_or_isolated"


def test_the_upstream_report_equals_the_report_on_every_record(network: Network, tmp_path: Path) -> None:
    for region in ("a", "b"):
        assert "Held the roll-up from hub hub-" in network.import_(network.rollup(region))
    assert set(held(network)) == {"hub-a", "hub-b"}
    combined = network.report("global", tmp_path / "global")
    everything = network.report("all", tmp_path / "all")
    # The same figures, every one, from counts alone: ratings, red flags, suppression, rates.
    assert combined.keys() == everything.keys()
    differ = {key for key in combined if combined[key] != everything[key]}
    # Only the period: a roll-up carries no day (the cycle is its finest time).
    assert differ == {"hub|period"}
    assert "2026" not in combined["hub|period"]["value"]
    assert len(combined) > 1000
    # Three people at C-01 in each region reported forced work: hidden in each region's own
    # report, shown once the upstream hub adds the regions up (suppression on the combined counts).
    regional = network.report("a", tmp_path / "a")
    assert cell(regional, SHARED, FORCED_WORK) == "<5"
    assert cell(combined, SHARED, FORCED_WORK) == "6"
    # One person at A-09 reported restraint: small combined too, so still hidden.
    assert cell(combined, "A-09", RESTRAINED) == "<5"


def test_bad_roll_ups_are_refused_and_change_nothing(network: Network, tmp_path: Path) -> None:
    first = network.rollup("a", "first.age")
    network.import_(first)
    time.sleep(0.01)
    newer = network.rollup("a", "newer.age")
    assert "replaces" in network.import_(newer)
    before = held(network)
    report_before = network.report("global", tmp_path / "before")
    payload = opened_payload(network, newer)
    regional_key = forward_signing_key(network.hubs["a"])
    outsider = network.hubs["a"].parent / "hub-x"
    init_hub(outsider, network.keys["a"].recipient, hub_id="hub-x")

    sealed = bytearray(newer.read_bytes())
    sealed[-20] ^= 1
    tampered_ciphertext = network.root / "tampered.age"
    tampered_ciphertext.write_bytes(bytes(sealed))
    cases = {
        # Changed after signing (a count raised), keeping the signature: it fails.
        "the roll-up's signature does not verify with the key hub hub-a enrolled with": network.root / "chg.age",
        "damaged or not an age file": tampered_ciphertext,
        "signature does not verify": resealed(network, payload, Ed25519PrivateKey.generate(), "forged.age"),
        "hub hub-x is not enrolled at this hub": resealed(
            network, {**payload, "hub_id": "hub-x"}, forward_signing_key(outsider), "unknown.age"
        ),
        "not a roll-up (fieldkit-rollup/1)": resealed(
            network, {**payload, "format": "fieldkit-report/1"}, regional_key, "format.age"
        ),
        "made for hub hub-elsewhere, not this hub (hub-global)": resealed(
            network, {**payload, "for_hub": "hub-elsewhere"}, regional_key, "elsewhere.age"
        ),
        "is not valid: a centre's code is not a code": resealed(
            network,
            {**payload, "tables": {**payload["tables"], "cycles": [{"cycle": None, "centres": [{}]}]}},
            regional_key,
            "tables.age",
        ),
        "an older roll-up never replaces a newer one": first,
        "sealed to another hub": network.root / "other-recipient.age",
    }
    # Signed properly, then one count changed in the envelope (sealed again, as anyone could).
    signed = json.loads(sign_document(payload, regional_key))
    changed = json.loads(base64.b64decode(signed["payload"]))
    changed["tables"]["read"] += 1
    signed["payload"] = base64.b64encode(json.dumps(changed).encode()).decode()
    recipient = age.parse_recipient(network.keys["global"].recipient)
    (network.root / "chg.age").write_bytes(age.encrypt(json.dumps(signed).encode(), [recipient]))
    (network.root / "unsigned.age").write_bytes(age.encrypt(json.dumps(payload).encode(), [recipient]))
    cases["the roll-up is not a fieldkit signed file"] = network.root / "unsigned.age"
    (network.root / "other-recipient.age").write_bytes(
        age.encrypt(sign_document(payload, regional_key), [age.parse_recipient(network.keys["b"].recipient)])
    )
    for message, path in cases.items():
        output = network.import_(Path(path), expect=1)
        assert message in output, (message, output)
        assert "Traceback" not in output
        assert held(network) == before
    assert "Already held" in network.import_(newer)
    assert held(network) == before
    assert network.report("global", tmp_path / "after") == report_before


def test_a_roll_up_holds_no_record_id_kit_id_free_text_or_day(network: Network) -> None:
    sealed = network.rollup("a", "canary.age")
    payload = opened_payload(network, sealed)
    assert payload["format"] == ROLLUP_FORMAT
    assert (payload["hub_id"], payload["for_hub"], payload["epoch"]) == ("hub-a", "hub-global", 1)
    text = json.dumps(payload)
    with HubStore(network.hubs["a"]) as store:
        record_ids = [record.record_id for record in store.iter_records()]
        kits = {record.kit_id for record in store.iter_records()}
    assert len(record_ids) > 50
    forbidden = [CANARY, "7Q2X", "PI07", "2026-03-02", "10:00", *record_ids, *kits]
    assert [word for word in forbidden if word in text] == []
    # The answer counts are there: forced work "yes" at C-01, three times in region a.
    (bucket,) = payload["tables"]["cycles"]
    assert [SHARED, "peer-interview", 4, "forced_work", "yes", 3] in bucket["answers"]
    assert not any(row[3] == "what_to_change" for row in bucket["answers"])
    # Nobody but the upstream hub can open it.
    with pytest.raises(age.DecryptionError):
        age.decrypt(sealed.read_bytes(), age.parse_identities(network.identity("a").read_text()))


PAUSE = """
import contextlib, sys, time
from sync.hub import rollup
original = rollup._RollupDb.transaction
@contextlib.contextmanager
def paused(self):
    with original(self) as db:
        yield db
        print("written, not committed", flush=True)
        time.sleep(120)
rollup._RollupDb.transaction = paused
from fieldkit.cli import cli
cli(sys.argv[1:])
"""


def test_a_kill_mid_import_leaves_the_older_roll_up(network: Network, tmp_path: Path) -> None:
    network.import_(network.rollup("b", "old.age"))
    before = held(network)
    time.sleep(0.01)
    newer = network.rollup("b", "new.age")
    args = ["hub", "rollup-import", "--data", network.hubs["global"], "--identity", network.identity("global"), newer]
    process = subprocess.Popen(
        [sys.executable, "-c", PAUSE, *map(str, args)], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[1]
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "written, not committed"
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        if process.stdout is not None:
            process.stdout.close()
    assert held(network) == before
    with sqlite3.connect(network.hubs["global"] / ROLLUP_DB_FILE) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert "replaces" in network.import_(newer)
    assert held(network)["hub-b"] != before["hub-b"]


def kit_records(kit_id: str, recipients: list[str], count: int) -> list[OutgoingRecord]:
    keys = [age.parse_recipient(recipient) for recipient in recipients]
    return [
        OutgoingRecord(str(uuid.uuid4()), kit_id, seq, "peer-interview", 4, "2026-03-02", age.encrypt(b"{}", keys))
        for seq in range(1, count + 1)
    ]


def test_ciphertext_goes_up_only_from_kits_whose_consent_script_names_the_upstream_holder(tmp_path: Path) -> None:
    regional_key = generate_hub_keys(tmp_path / "keys-regional", None).recipient
    national_key = generate_hub_keys(tmp_path / "keys-national", None).recipient
    regional, national = tmp_path / "regional", tmp_path / "national"
    init_hub(regional, regional_key, hub_id="hub-regional")
    init_hub(national, national_key, hub_id="hub-national")
    with HubStore(regional) as store:
        # kit-escrow seals to the national hub too (its escrow key): its consent script names
        # that holder. kit-local seals to the regional hub alone.
        for kit_id, recipients in (("kit-escrow", [regional_key, national_key]), ("kit-local", [regional_key])):
            key = Ed25519PrivateKey.generate()
            enrol_key(store, key, kit_id, recipients=recipients)
            result = store.import_bundle(make_bundle(key, kit_id, kit_records(kit_id, recipients, 4)))
            assert result.status == "accepted"
    with running_hub(national) as server:
        token = create_token(server.store, kind="hub")
        run("hub", "enrol-upstream", "--data", regional, "--to", server.url, "--token", token.display)
        refused = run("hub", "forward", "--data", regional, expect=1)
        assert "Forwarded 4 records in 1 bundle(s) to hub hub-national." in refused.output
        assert (
            "4 records not forwarded, from kits kit-local (4): those kits did not declare hub hub-national's key"
            in refused.output
        )
        assert "Send counts instead with 'fieldkit hub rollup'" in refused.output
        assert {record.kit_id for record in server.store.iter_records()} == {"kit-escrow"}
        digest = server.store.state_digest()
        again = run("hub", "forward", "--data", regional, expect=1)
        assert "Nothing to forward" in again.output and "kit-local (4)" in again.output
        assert server.store.state_digest() == digest


def test_a_roll_up_sent_over_http_is_held_and_a_replayed_or_forged_one_refused(
    network: Network, tmp_path: Path
) -> None:
    network.import_(network.rollup("b", "by-hand.age"))  # the other region's, carried by hand
    args = ("hub", "rollup", "--data", network.hubs["a"], "--identity", network.identity("a"))
    with running_hub(network.hubs["global"]) as server:
        with ForwardState(network.hubs["a"]) as state:  # the upstream hub is back, at another port
            (upstream,) = state.upstreams()
            state.save_upstream(dataclasses.replace(upstream, url=server.url))
        first = run(*args)
        assert "Sent the counts of" in first.output and "to hub hub-global" in first.output
        held_first = held(network)["hub-a"]
        time.sleep(0.01)
        assert "it replaces the older one" in run(*args).output
        before = held(network)
        client = HubClient(server.url)
        with HubStore(network.hubs["a"]) as store:
            made = make_rollup(store, count_records_of(network, "a"), upstream)
            old = dataclasses.replace(made, made="2020-01-01T00:00:00.000000Z")
            replayed = delivery(store, old)
        forged = sign_document(
            {**json.loads(base64.b64decode(json.loads(replayed)["payload"])), "made": "2099-01-01T00:00:00.000000Z"},
            Ed25519PrivateKey.generate(),
        )
        refusals = {
            replayed: (409, "an older roll-up never replaces a newer one"),
            forged: (403, "signature does not verify with the key hub hub-a enrolled with"),
            b'{"format": "nothing"}': (400, "not a fieldkit signed file"),
        }
        for body, (status, reason) in refusals.items():
            with pytest.raises(TransportError) as refused:
                client.post_rollup(body)
            assert refused.value.status == status and reason in str(refused.value), str(refused.value)
            assert held(network) == before
    assert held(network)["hub-a"] != held_first
    report = network.report("global", tmp_path / "report")
    assert cell(report, SHARED, FORCED_WORK) == "6"


def count_records_of(network: Network, region: str) -> RollupTables:
    from fieldkit.core import paths
    from fieldkit.core.formengine.catalogue import load_directory

    identities = age.parse_identities(network.identity(region).read_text())
    return count_records(network.hubs[region], identities, load_directory(paths.forms_dir()))


def test_a_revoked_hubs_roll_up_and_a_forwarding_hubs_are_left_out_and_named(network: Network, tmp_path: Path) -> None:
    for region in ("a", "b"):
        network.import_(network.rollup(region, "again.age"))
    upstream = tmp_path / "global"
    copy_hub(network.hubs["global"], upstream)
    with HubStore(upstream) as store:
        store.revoke("hub-b")
        # hub-a forwarded a record here too: its roll-up would count it a second time.
        bundle = build_bundle(
            forward_signing_key(network.hubs["a"]), SourceRef("hub", "hub-a", 1), sealed_records("kit-x", 1)
        )
        assert store.import_bundle(bundle).status == "accepted"
    args = ["hub", "report", "--data", upstream, "--identity", network.identity("global"), "--out", tmp_path / "out"]
    result = run(*args, expect=1)
    assert "roll-up from hub hub-b: not used in the report: roll-up refused: hub hub-b was revoked" in result.output
    assert "roll-up from hub hub-a: not used in the report: this hub also holds records forwarded by hub hub-a" in (
        result.output
    )
    # (The forwarded record is sealed to another key: it is named too.)
    assert "1 records could not be opened and 2 roll-ups could not be used (listed above)" in result.output
    assert "counted with the roll-ups of" not in result.output


def test_tables_read_back_the_same_and_a_cycle_report_takes_only_its_cycle(network: Network) -> None:
    tables = count_records_of(network, "a")
    written = tables_payload(tables)
    assert tables_payload(read_tables(json.loads(json.dumps(written)))) == written
    (bucket,) = tables.cycles.values()  # the test records name no cycle
    everything, one_cycle = Collected(), Collected(cycle="2027-q1")
    add_tables(everything, tables)
    add_tables(one_cycle, tables)
    assert everything.used == bucket.used > 50 and set(everything.centres) == set(bucket.centres)
    assert one_cycle.centres == {} and one_cycle.used == 0
    assert one_cycle.not_used[OTHER_CYCLE] == bucket.used
    assert one_cycle.read == everything.read == tables.read


def test_making_and_holding_a_roll_up_are_in_the_audit_trails(tmp_path: Path) -> None:
    network = Network(tmp_path)
    path = network.rollup("a")
    network.import_(path)
    network.import_(path)  # the same again: held already, no second entry
    with HubStore(network.hubs["a"]) as store:
        made = [entry for entry in store.audit_entries() if entry.action == "rollup.made"]
    with HubStore(network.hubs["global"]) as store:
        imported = [entry for entry in store.audit_entries() if entry.action == "rollup.imported"]
        assert store.verify_audit().ok
    assert [(entry.subject, entry.details["file"]) for entry in made] == [("hub-global", path.name)]
    assert made[0].details["records"] > 0 and str(tmp_path) not in json.dumps(made[0].details)
    assert [entry.subject for entry in imported] == ["hub-a"]

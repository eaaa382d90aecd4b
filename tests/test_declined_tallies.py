"""Declined interviews reach the hub, response rates, and reports per cycle (issue 18, points 6 and 7).

A kit counts declined interviews per form, centre and cycle and sends the counts sealed in
its bundles (``tally.age``, listed in the signed manifest); the hub keeps the newest tally
of each kit key epoch and the report sets it beside the completed peer interviews. A
report for one cycle uses that cycle's records only and compares each centre's rating
per principle with the cycle before it. Real kits and hubs made with ``fieldkit``, a real
``hub serve`` over HTTP on 127.0.0.1, real sealing and signatures.
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import io
import json
import tarfile
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fieldkit.cli import cli
from fieldkit.core import paths
from fieldkit.core.crypto import age
from fieldkit.core.crypto.hubkeys import generate_hub_keys
from fieldkit.core.formengine.answers import validate_record
from fieldkit.core.formengine.catalogue import load_directory
from fieldkit.core.formengine.model import CONSENT_DECLINED, Form
from fieldkit.core.storage.records import RecordStore
from fieldkit.kit.config import load_config
from fieldkit.kit.declined import count_declined, declined_cells, declined_totals
from fieldkit.kit.outbox import Outbox, SyncState
from fieldkit.kit.sealing import TranslationInfo, build_payload, seal
from sync.hub.cycles import add_cycle, cycle_by_id, previous_cycle
from sync.hub.store import HubStore, init_hub
from sync.protocol.bundle import (
    MANIFEST_NAME,
    SIGNATURE_NAME,
    TALLY_NAME,
    BundleReader,
    OutgoingRecord,
    OutgoingTally,
    SourceRef,
    build_bundle,
    canonical_json,
)
from sync.protocol.receipts import read_receipt
from sync.protocol.tally import TALLY_FORMAT
from tests.bundle_corpus import enrol_key
from tests.http_servers import OPERATOR_PASSWORD, start_hub_process
from tests.sync_cli import enrol, init_hub_folder, new_kit, run

FORMS = load_directory(paths.forms_dir())
CENTRE, PEER = FORMS["centre-assessment"], FORMS["peer-interview"]
THRESHOLD = 5


# --- Records as a kit under a pack makes them: centre and cycle in the payload ----------


def peer_answers(centre: str, **answers: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"consent": "given", **answers}
    if any(item.id == "centre_code" for item in PEER.items):  # older forms: the centre is an answer too
        found["centre_code"] = centre
    return found


def centre_answers(centre: str, region: str, **answers: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"consent": "given", **answers}
    if any(item.id == "centre_code" for item in CENTRE.items):  # older forms: typed codes too
        found.update(centre_code=centre, region_code=region)
    return found


def sealed_payload(
    form: Form, answers: dict[str, Any], kit_id: str, recipients: list, *, centre: str, cycle: str | None
) -> tuple[str, bytes]:
    kept = validate_record(form, answers)
    assert kept == answers, "answers a phone could send"
    record_id = str(uuid.uuid4())
    payload = build_payload(
        record_id=record_id, form=form, answers=kept, kit_id=kit_id, started="2027-01-10T10:00Z",
        finished="2027-01-10T11:00Z", translation=TranslationInfo("en"),
    )  # fmt: skip
    payload["centre"] = {"code": centre, "region": "NORTH"}
    if cycle is not None:
        payload["cycle"] = cycle
    return record_id, seal(payload, recipients)


def put_on_kit(kit: Path, form: Form, answers: dict[str, Any], *, centre: str, cycle: str | None) -> str:
    """A sealed record stored on a kit as finalise stores one (to the kit's own recipients)."""
    config = load_config(kit)
    record_id, ciphertext = sealed_payload(
        form, answers, config.kit_id, config.age_recipients(), centre=centre, cycle=cycle
    )
    metadata = {
        "record_id": record_id, "form_id": form.id, "form_version": form.version,
        "size": len(ciphertext), "day": "2027-01-10",
    }  # fmt: skip
    RecordStore(kit).put(record_id, ciphertext, metadata)
    return record_id


def figures(out: Path) -> dict[str, dict[str, str]]:
    with (out / "figures.csv").open(encoding="utf-8", newline="") as handle:
        return {row["figure"]: row for row in csv.DictReader(handle)}


def responses(out: Path) -> dict[tuple[str, str], dict[str, str]]:
    """(centre, measure kind) -> figure row, for the response-rate table."""
    found = {}
    for row in figures(out).values():
        kind = row["measure"].split(":")[0]
        if kind in ("interviews_completed", "interviews_declined", "response_rate"):
            found[(row["centre"], kind)] = row
    return found


def report(hub: Path, identity: Path, out: Path, *extra: object, expect: int = 0) -> Result:
    args = ["hub", "report", "--data", hub, "--identity", identity, "--out", out, *extra]
    result = CliRunner().invoke(cli, [str(arg) for arg in args])
    assert result.exit_code == expect, result.output
    assert "Traceback" not in result.output
    return result


# --- On the kit -------------------------------------------------------------------------


def test_a_decline_on_the_phone_is_counted_for_the_drafts_centre_and_cycle(client, app, kit) -> None:
    from tests.test_consent import _started

    services = app.extensions["fieldkit"]
    _interviewer, url, draft_id, _token = _started(client, app, "peer-interview")
    draft = services.drafts.load(draft_id)
    draft.centre, draft.cycle = "C01", "2027-q1"  # what helper C's centre picker sets
    services.drafts.save(draft)
    interviewer = _interviewer
    response = interviewer.submit(url, [("consent", CONSENT_DECLINED)])
    assert response.status_code == 200
    assert services.declined_counts() == {"peer-interview": 1}, "the operator page's totals"
    assert [(c.form, c.centre, c.cycle, c.count) for c in declined_cells(kit.data_dir)] == [
        ("peer-interview", "C01", "2027-q1", 1)
    ]


def test_declines_counted_before_cells_existed_are_kept_as_no_centre(tmp_path: Path) -> None:
    data = tmp_path / "kit"
    data.mkdir()
    # A counters.json as kits wrote it before issue 18: totals only.
    (data / "counters.json").write_text(json.dumps({"declined": {"1": {"peer-interview": 3}}}))
    count_declined(data, "peer-interview", "C02", None)
    assert declined_totals(data) == {"peer-interview": 4}
    assert [(c.form, c.centre, c.cycle, c.count) for c in declined_cells(data)] == [
        ("peer-interview", "C02", None, 1),
        ("peer-interview", None, None, 3),
    ]


# --- Kit to hub over HTTP, then the report -----------------------------------------------


def test_declines_for_two_centres_reach_a_real_hub_serve_and_the_report_shows_response_rates(
    tmp_path: Path, hub_keys: Path, passphrase_file: Path
) -> None:
    hub = init_hub_folder(tmp_path, hub_keys)
    kit = new_kit(tmp_path, hub_keys, passphrase_file)
    enrol(hub, kit, passphrase_file, tmp_path)
    for _ in range(6):
        put_on_kit(kit, PEER, peer_answers("C01"), centre="C01", cycle="2027-q1")
    for _ in range(2):
        put_on_kit(kit, PEER, peer_answers("C02"), centre="C02", cycle="2027-q1")
    for _ in range(5):
        count_declined(kit, "peer-interview", "C01", "2027-q1")
    count_declined(kit, "peer-interview", "C02", "2027-q1")

    password_file = tmp_path / "operator.txt"
    password_file.write_text(OPERATOR_PASSWORD + "\n")
    server = start_hub_process(hub, 0, password_file)
    try:
        pushed = run("sync", "push", "--data", kit, "--hub", server.url, "--passphrase-file", passphrase_file)
        assert "and the tally of declined interviews" in pushed.output
        assert "holds this kit's tally" in pushed.output
        assert SyncState(kit).tally()["acked_by"], "the receipt acknowledged the tally"
        assert not Outbox(kit).tally_waiting()
        again = run("sync", "push", "--data", kit, "--hub", server.url, "--passphrase-file", passphrase_file)
        assert "Nothing to push" in again.output, "an acknowledged tally is not sent again"

        out = tmp_path / "report"
        written = report(hub, hub_keys / "hub-identity.txt", out)
        assert "tallies of 1 kit key(s) read" in written.output
        found = responses(out)
        assert found[("C01", "interviews_completed")]["value"] == "6"
        assert found[("C01", "interviews_declined")]["value"] == "5"
        assert found[("C01", "response_rate")]["value"] in ("55%", "55 %", "55\u00a0%")
        # Two completed and one declined at C02: both counts hidden, and so the rate.
        assert found[("C02", "interviews_completed")]["value"] == "<5"
        assert found[("C02", "interviews_declined")]["value"] == "<5"
        assert found[("C02", "response_rate")]["value"] == "suppressed"
        page = (out / "report.html").read_text(encoding="utf-8")
        assert "Response rate" in page and "suppressed" in page

        # One more decline and no new record: a bundle of the tally alone carries it.
        count_declined(kit, "peer-interview", "C01", "2027-q1")
        assert Outbox(kit).tally_waiting()
        third = run("sync", "push", "--data", kit, "--hub", server.url, "--passphrase-file", passphrase_file)
        assert "Sending 0 records and the tally of declined interviews" in third.output
        out2 = tmp_path / "report2"
        report(hub, hub_keys / "hub-identity.txt", out2)
        again_found = responses(out2)
        assert again_found[("C01", "interviews_declined")]["value"] == "6"
        assert again_found[("C01", "response_rate")]["value"] in ("50%", "50 %", "50\u00a0%")
    finally:
        server.stop()
    with HubStore(hub) as store:
        tallies = store.tallies()
    assert len(tallies) == 1, "one tally per kit key epoch, the newest"
    # The hub holds ciphertext only: no count in clear.
    assert b"peer-interview" not in tallies[0].ciphertext and b"C01" not in tallies[0].ciphertext


# --- The protocol: signature, old bundles, the newest tally -------------------------------


@pytest.fixture
def hub_and_key(tmp_path: Path) -> tuple[Path, Ed25519PrivateKey, str, Path]:
    keys = generate_hub_keys(tmp_path / "keys", None)
    hub = tmp_path / "hub"
    init_hub(hub, keys.recipient, hub_id="hub-tally")
    key = Ed25519PrivateKey.generate()
    with HubStore(hub) as store:
        enrol_key(store, key, "kit-a")
    return hub, key, keys.recipient, keys.identity_path


def sealed_tally(recipient: str, counts: list[tuple[str, str | None, str | None, int]]) -> bytes:
    payload = {
        "format": TALLY_FORMAT, "kit_id": "kit-a", "epoch": 1, "as_of": "2027-01-31",
        "declined": [{"form": f, "centre": c, "cycle": y, "count": n} for f, c, y, n in counts],
    }  # fmt: skip
    return seal(payload, [age.parse_recipient(recipient)])


def a_record(recipient: str, seq: int) -> OutgoingRecord:
    record_id, ciphertext = sealed_payload(
        PEER, peer_answers("C01"), "kit-a", [age.parse_recipient(recipient)], centre="C01", cycle=None
    )
    return OutgoingRecord(record_id, "kit-a", seq, PEER.id, PEER.version, "2027-01-10", ciphertext)


def rebuilt(data: bytes, change) -> bytes:
    """The bundle's members, one changed by ``change(name, bytes) -> bytes``, in a new tar."""
    buffer = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(data), mode="r:") as source,
        tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar,
    ):
        for member in source.getmembers():
            content = source.extractfile(member).read()
            content = change(member.name, content)
            info = tarfile.TarInfo(member.name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def test_a_tally_edited_in_the_bundle_is_refused(hub_and_key) -> None:
    hub, key, recipient, _identity = hub_and_key
    tally = OutgoingTally(2, sealed_tally(recipient, [("peer-interview", "C01", None, 3)]))
    data = build_bundle(key, SourceRef("kit", "kit-a", 1), [a_record(recipient, 1)], tally=tally)
    other = sealed_tally(recipient, [("peer-interview", "C01", None, 300)])

    # The tally swapped, the manifest left alone: its SHA-256 no longer matches.
    swapped = rebuilt(data, lambda name, content: other if name == TALLY_NAME else content)

    # The manifest changed to match the new tally: the signature no longer verifies.
    def forge(name: str, content: bytes) -> bytes:
        if name == TALLY_NAME:
            return other
        if name == MANIFEST_NAME:
            manifest = json.loads(content)
            manifest["tally"] = {"seq": 2, "sha256": hashlib.sha256(other).hexdigest(), "size": len(other)}
            return canonical_json(manifest)
        return content

    forged = rebuilt(data, forge)
    with HubStore(hub) as store:
        assert store.import_bundle(swapped).code in ("hash-mismatch", "size-mismatch")
        assert store.import_bundle(forged).code == "bad-signature"
        assert store.tallies() == [] and store.record_count() == 0, "a refused bundle changes nothing"
        assert store.import_bundle(data).status == "accepted"
        assert len(store.tallies()) == 1


def test_old_bundles_without_a_tally_import_as_before(hub_and_key) -> None:
    hub, key, recipient, _identity = hub_and_key
    data = build_bundle(key, SourceRef("kit", "kit-a", 1), [a_record(recipient, 1), a_record(recipient, 2)])
    with BundleReader.open(data) as reader:
        assert b'"tally"' not in reader.manifest_bytes, "no tally key at all: the bytes are as before"
    with HubStore(hub) as store:
        result = store.import_bundle(data)
        assert result.status == "accepted" and result.new == 2
        receipt, _document = read_receipt(result.receipt)
        assert receipt.tally is None and b'"tally"' not in _document.payload_bytes
        assert store.tallies() == []


def test_the_hub_keeps_the_newest_tally_whatever_the_order_and_refuses_a_malformed_one(hub_and_key) -> None:
    hub, key, recipient, _identity = hub_and_key
    source = SourceRef("kit", "kit-a", 1)
    older = build_bundle(
        key,
        source,
        [a_record(recipient, 1)],
        tally=OutgoingTally(2, sealed_tally(recipient, [("peer-interview", "C01", None, 3)])),
    )
    newer = build_bundle(
        key, source, [], tally=OutgoingTally(3, sealed_tally(recipient, [("peer-interview", "C01", None, 4)]))
    )
    not_age = build_bundle(key, source, [], tally=OutgoingTally(4, b"this is not an age file at all"))
    with HubStore(hub) as store:
        assert store.import_bundle(newer).status == "accepted", "a bundle of a tally alone"
        assert store.import_bundle(older).status == "accepted"
        assert store.import_bundle(newer).status == "already-merged"
        [kept] = store.tallies()
        assert kept.last_seq == 3, "the older tally (lower last sequence number) did not replace the newer"
        refused = store.import_bundle(not_age)
        assert refused.code == "bad-tally" and "not as an age file" in (refused.reason or "")
        assert [t.last_seq for t in store.tallies()] == [3]
        digest = store.state_digest()
    # Another hub merging the same bundles in the other order ends in the same state.
    other = hub.parent / "other-hub"
    init_hub(other, recipient, hub_id="hub-tally")
    with HubStore(other) as store:
        enrol_key(store, key, "kit-a")
        assert store.import_bundle(older).status == "accepted"
        assert store.import_bundle(newer).status == "accepted"
        assert [t.last_seq for t in store.tallies()] == [3]
        assert store.state_digest() == digest


# --- Reports per cycle ----------------------------------------------------------------------


# Centre assessments rated by hand: "in_place" answers give a level; see test_scorecards.py.
def assessments_for(
    hub: Path, recipient: str, key: Ed25519PrivateKey, records: list[tuple[Form, dict, str, str | None]]
) -> None:
    outgoing = []
    recipients = [age.parse_recipient(recipient)]
    with HubStore(hub) as store:
        first = 1 + sum(1 for _ in store.iter_records())
    for seq, (form, answers, centre, cycle) in enumerate(records, start=first):
        record_id, ciphertext = sealed_payload(form, answers, "kit-a", recipients, centre=centre, cycle=cycle)
        outgoing.append(OutgoingRecord(record_id, "kit-a", seq, form.id, form.version, "2027-01-10", ciphertext))
    with HubStore(hub) as store:
        assert store.import_bundle(build_bundle(key, SourceRef("kit", "kit-a", 1), outgoing)).status == "accepted"


def rating_item() -> tuple[str, str, str, str]:
    """A centre-assessment item of P1 with a 'full' and a 'not initiated' answer, found from the form."""
    for item in CENTRE.items:
        if "P1" in item.tags and item.type == "select_one" and item.scoring:
            levels = {}
            for rule in item.scoring:
                if rule.condition is None:
                    for value in rule.values:
                        levels.setdefault(rule.level, value)
            if {"full", "partial", "not_initiated"} <= set(levels):
                return item.id, levels["full"], levels["partial"], levels["not_initiated"]
    raise AssertionError("the centre assessment has no P1 item with three levels")


def changes(out: Path) -> dict[tuple[str, str], dict[str, str]]:
    return {
        (row["centre"], row["area"]): row
        for row in figures(out).values()
        if row["measure"] == "change_from_previous_cycle"
    }


def add_cycle_row(hub: Path, cycle_id: str, name: str, start: datetime.date, end: datetime.date) -> None:
    """A cycle of the peer interview, added as ``fieldkit hub cycles add`` adds one."""
    with HubStore(hub) as store:
        forms = ("peer-interview", "centre-assessment")
        add_cycle(store, cycle_id, name=name, start=start, end=end, forms=forms, known_forms=forms)


def test_a_report_for_one_cycle_uses_its_records_and_compares_with_the_previous_cycle(hub_and_key, tmp_path) -> None:
    hub, key, recipient, identity = hub_and_key
    item, full, partial, low = rating_item()
    add_cycle_row(hub, "2026-q4", "Autumn 2026", datetime.date(2026, 10, 1), datetime.date(2026, 12, 31))
    add_cycle_row(hub, "2027-q1", "Winter 2027", datetime.date(2027, 1, 1), datetime.date(2027, 3, 31))
    add_cycle_row(hub, "2026-q3", "Summer 2026", datetime.date(2026, 7, 1), datetime.date(2026, 9, 30))
    records = [
        # A: partial -> full (improved). B: partial -> partial (same). C: full -> initiated-or-less (worse).
        (CENTRE, centre_answers("A", "north", **{item: partial}), "A", "2026-q4"),
        (CENTRE, centre_answers("A", "north", **{item: full}), "A", "2027-q1"),
        (CENTRE, centre_answers("B", "north", **{item: partial}), "B", "2026-q4"),
        (CENTRE, centre_answers("B", "north", **{item: partial}), "B", "2027-q1"),
        (CENTRE, centre_answers("C", "north", **{item: full}), "C", "2026-q4"),
        (CENTRE, centre_answers("C", "north", **{item: low}), "C", "2027-q1"),
        # D: assessed only in 2027-q1 (not comparable: not assessed before).
        (CENTRE, centre_answers("D", "north", **{item: full}), "D", "2027-q1"),
        # Records of no cycle and of an older cycle: not used in a 2027-q1 report.
        (CENTRE, centre_answers("A", "north", **{item: low}), "A", None),
        (CENTRE, centre_answers("A", "north", **{item: low}), "A", "2026-q3"),
    ]
    # E: peer interviews only, too few to publish (3 < 5) in 2027-q1, six in 2026-q4.
    # E answers a P2 question, so its 2026-q4 rating rests on six people (published).
    said = peer_answers("E", can_leave="leave_any_time")
    records += [(PEER, said, "E", "2027-q1")] * 3 + [(PEER, said, "E", "2026-q4")] * 6
    assessments_for(hub, recipient, key, records)
    with HubStore(hub) as store:
        count = OutgoingTally(100, sealed_tally(recipient, [("peer-interview", "E", "2027-q1", 2)]))
        assert (
            store.import_bundle(build_bundle(key, SourceRef("kit", "kit-a", 1), [], tally=count)).status == "accepted"
        )

    with HubStore(hub) as store:
        assert cycle_by_id(store, "2027-q1").name == "Winter 2027"
        assert previous_cycle(store, cycle_by_id(store, "2027-q1")).cycle_id == "2026-q4"
        assert previous_cycle(store, cycle_by_id(store, "2026-q3")) is None

    out = tmp_path / "q1"
    written = report(hub, identity, out, "--cycle", "2027-q1")
    assert "cycle 2027-q1 (Winter 2027); compared with the previous cycle: 2026-q4" in written.output
    rows = figures(out)
    assert rows["hub|cycle"]["value"] == "Winter 2027 (2027-01-01 to 2027-03-31)"
    assert rows["hub|previous_cycle"]["value"] == "Autumn 2026 (2026-10-01 to 2026-12-31)"
    assert rows["hub|unused|other_cycle"]["value"] == str(1 + 1 + 3 + 6), "no cycle, q3, q4"
    found = changes(out)
    assert found[("A", "P1")]["value"] == "improved"
    assert found[("B", "P1")]["value"] == "same"
    assert found[("C", "P1")]["value"] == "worse"
    assert found[("D", "P1")]["value"] == "not comparable"
    assert "not assessed" in found[("D", "P1")]["note"]
    # E's 2027-q1 rating rests on three peer interviews: suppressed, so no change is shown.
    assert found[("E", "P2")]["value"] == "not comparable"
    assert "too few answers" in found[("E", "P2")]["note"]
    assert all(row["value"] == "not comparable" for (centre, _area), row in found.items() if centre == "E")
    # A principle rated in neither cycle is left out, not listed as "not comparable".
    assert ("B", "P7") not in found
    # No difference of counts anywhere: a change is a word, never a number.
    assert all(not any(ch.isdigit() for ch in row["value"]) for row in found.values())
    # The response rate for E in 2027-q1: three completed, two declined: both hidden, no rate.
    answered = responses(out)
    assert answered[("E", "response_rate")]["value"] == "suppressed"
    assert answered[("E", "interviews_completed")]["value"] == "<5"
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Winter 2027" in page and "Change since the previous cycle" in page

    # Every cycle together: one row per centre, never split by cycle beside the centre's total
    # of peer interviews (9 = 3 + 6: a hidden 3 would come back as 9 - 6).
    every = tmp_path / "all"
    report(hub, identity, every)
    together = [row for row in figures(every).values() if row["measure"].startswith("interviews_completed")]
    assert [(row["centre"], row["value"]) for row in together] == [("E", "9")]
    assert responses(every)[("E", "interviews_declined")]["value"] == "<5"
    assert "hub|cycle" not in figures(every) and "hub|trend1" not in figures(every)

    # The first cycle has none before it: every change is not comparable.
    first = tmp_path / "q3"
    report(hub, identity, first, "--cycle", "2026-q3")
    assert figures(first)["hub|previous_cycle"]["value"].startswith("none")
    assert {row["value"] for row in changes(first).values()} == {"not comparable"}
    assert {row["note"] for row in changes(first).values()} == {"no previous cycle"}


def test_an_unknown_cycle_is_a_clear_error_and_writes_nothing(hub_and_key, tmp_path) -> None:
    hub, _key, _recipient, identity = hub_and_key
    out = tmp_path / "none"
    result = report(hub, identity, out, "--cycle", "2031-q9", expect=1)
    assert "--cycle '2031-q9': the hub has no cycle of that id" in result.output
    assert result.output.strip().count("\n") == 0
    assert not out.exists()


def test_by_usb_a_kit_with_only_new_declines_exports_its_tally_and_the_receipt_acknowledges_it(
    tmp_path: Path, hub_keys: Path, passphrase_file: Path
) -> None:
    hub = init_hub_folder(tmp_path, hub_keys)
    kit = new_kit(tmp_path, hub_keys, passphrase_file)
    enrol(hub, kit, passphrase_file, tmp_path)
    nothing = run("sync", "export", "--data", kit, "--out", tmp_path / "b0.tar", "--passphrase-file", passphrase_file)
    assert "Nothing to export" in nothing.output, "no record and nobody declined: no bundle"
    count_declined(kit, "peer-interview", "C07", None)
    waiting = run("sync", "status", "--data", kit)
    assert "Declined interviews: 1 counted on this kit; the latest counts wait for the hub." in waiting.output
    bundle = tmp_path / "usb" / "b1.tar"
    bundle.parent.mkdir()
    written = run("sync", "export", "--data", kit, "--out", bundle, "--passphrase-file", passphrase_file)
    assert "0 records and the tally of declined interviews" in written.output
    with BundleReader.open(bundle) as reader:
        names = [reader.manifest.tally is not None, len(reader.manifest.records)]
    assert names == [True, 0]
    imported = run("hub", "import", "--data", hub, bundle)
    assert "accepted" in imported.output
    [receipt] = list(bundle.parent.glob("receipt-*.json"))
    applied = run("sync", "receipt", "--data", kit, receipt)
    assert "the hub holds the tally of declined interviews" in applied.output
    assert not Outbox(kit).tally_waiting()
    status = run("sync", "status", "--data", kit)
    assert "Declined interviews: 1 counted on this kit; the latest counts are held by the hub" in status.output
    again = run("sync", "export", "--data", kit, "--out", tmp_path / "b2.tar", "--passphrase-file", passphrase_file)
    assert "Nothing to export" in again.output


def _signed_tar(key: Ed25519PrivateKey, manifest: dict[str, Any], members: list[tuple[str, bytes]]) -> bytes:
    """A bundle whose manifest is signed properly, with exactly these other members."""
    from tests.bundle_corpus import raw_tar, regular

    body = canonical_json(manifest)
    return raw_tar(
        [regular(MANIFEST_NAME, body), regular(SIGNATURE_NAME, key.sign(body))]
        + [regular(name, data) for name, data in members],
        fmt=tarfile.USTAR_FORMAT,
    )


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("tally-not-listed", "extra-record"),
        ("tally-listed-not-present", "missing-record"),
        ("tally-size-differs", "size-mismatch"),
        ("tally-seq-is-a-records", "bad-manifest"),
        ("tally-entry-with-extra-key", "bad-manifest"),
        ("tally-null", "bad-manifest"),
        ("tally-oversized", "bad-manifest"),
        ("no-record-no-tally", "bad-manifest"),
        ("tally-twice", "duplicate-member"),
    ],
)
def test_every_malformed_tally_refuses_the_bundle_with_its_reason(hub_and_key, case: str, code: str) -> None:
    hub, key, recipient, _identity = hub_and_key
    record = a_record(recipient, 1)
    sealed = sealed_tally(recipient, [("peer-interview", "C01", None, 3)])
    entry = {
        "record_id": record.record_id, "kit_id": "kit-a", "seq": 1,
        "sha256": hashlib.sha256(record.ciphertext).hexdigest(), "size": len(record.ciphertext),
        "form_id": record.form_id, "form_version": record.form_version, "day": record.day,
    }  # fmt: skip
    tally = {"seq": 2, "sha256": hashlib.sha256(sealed).hexdigest(), "size": len(sealed)}
    manifest: dict[str, Any] = {
        "format": "fieldkit-bundle/1", "source": {"kind": "kit", "id": "kit-a", "epoch": 1}, "created": "2027-01-31",
        "seq": {"first": 1, "last": 2}, "records": [entry], "tally": tally,
    }  # fmt: skip
    members = [(TALLY_NAME, sealed), (f"records/{record.record_id}.age", record.ciphertext)]
    if case == "tally-not-listed":
        del manifest["tally"]
        manifest["seq"]["last"] = 1
    elif case == "tally-listed-not-present":
        members = members[1:]
    elif case == "tally-size-differs":
        tally["size"] += 1
    elif case == "tally-seq-is-a-records":
        tally["seq"] = 1
        manifest["seq"]["last"] = 1
    elif case == "tally-entry-with-extra-key":
        tally["counts"] = 3
    elif case == "tally-null":
        manifest["tally"] = None
    elif case == "tally-oversized":
        tally["size"] = 2 * 1024 * 1024
    elif case == "no-record-no-tally":
        del manifest["tally"]
        manifest["records"] = []
        members = []
    elif case == "tally-twice":
        members = [(TALLY_NAME, sealed), *members]
    data = _signed_tar(key, manifest, members)
    with HubStore(hub) as store:
        result = store.import_bundle(data)
        assert result.code == code, result.reason
        assert result.reason and "\n" not in result.reason
        assert store.tallies() == [] and store.record_count() == 0, "a refused bundle changes nothing"

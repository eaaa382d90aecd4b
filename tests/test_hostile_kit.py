"""A hostile enrolled kit can neither censor nor forge (issue 17, point 4).

The signing kit's id is the truth: a record sealed by another kit is never exported or
counted under the kit that sent it; a record held from its kit is never displaced by a
re-send from another; quarantine and what is set aside are reviewed and resolved with
``fieldkit hub quarantine``. Real stores, real age ciphertext, the CLI and the export.
"""

from __future__ import annotations

import csv
import hashlib
import uuid
from pathlib import Path

from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fieldkit.cli import cli
from fieldkit.core.crypto import age
from fieldkit.core.crypto.hubkeys import generate_hub_keys
from fieldkit.kit.sealing import seal
from sync.hub.store import HubStore, init_hub
from sync.hub.web import HubSettings, create_hub_app
from sync.hub.web.password import OperatorPassword
from sync.protocol.bundle import OutgoingRecord, SourceRef
from tests.bundle_corpus import enrol_key, make_bundle
from tests.http_servers import OPERATOR_PASSWORD
from tests.sync_cli import run
from tests.webclient import csrf_token

GENUINE, HOSTILE = "kit-genuine", "kit-hostile"


class Hub:
    def __init__(self, root: Path) -> None:
        keys = generate_hub_keys(root / "hub-keys", None)
        self.identity = keys.identity_path
        self.recipient = keys.recipient
        self.dir = root / "hub"
        init_hub(self.dir, keys.recipient, hub_id="hub-hostile")
        self.keys = {GENUINE: Ed25519PrivateKey.generate(), HOSTILE: Ed25519PrivateKey.generate()}
        with HubStore(self.dir) as store:
            for kit_id, key in self.keys.items():
                enrol_key(store, key, kit_id)
        self.root = root

    def record(self, kit_id: str, seq: int, record_id: str | None = None, note: str = "") -> OutgoingRecord:
        """A record as kit ``kit_id`` seals one (the kit id sealed inside)."""
        record_id = record_id or str(uuid.uuid4())
        payload = {
            "format": "fieldkit-record/1", "record_id": record_id,
            "form": {"id": "peer-interview", "version": 2, "hash": "sha256:" + "5" * 64},
            "language": "en", "translation": {"catalogue_hash": None, "complete": True},
            "kit_id": kit_id, "started": "2025-03-01T09:00Z", "finished": "2025-03-01T10:00Z",
            "interviewer": "P07", "answers": {"consent": "given", "note": note},
        }  # fmt: skip
        sealed = seal(payload, [age.parse_recipient(self.recipient)])
        return OutgoingRecord(record_id, kit_id, seq, "peer-interview", 2, "2025-03-01", sealed)

    def send(self, kit_id: str, records: list[OutgoingRecord]):
        with HubStore(self.dir) as store:
            return store.import_bundle(make_bundle(self.keys[kit_id], kit_id, records))

    def export(self, name: str) -> tuple[Result, dict[str, str]]:
        """Run ``hub export``; the exported rows' kit id by record id."""
        out = self.root / name
        result = CliRunner().invoke(
            cli, ["hub", "export", "--data", str(self.dir), "--identity", str(self.identity), "--out", str(out)]
        )
        kits: dict[str, str] = {}
        for table in out.glob("peer-interview*.csv") if out.exists() else ():
            with table.open(encoding="utf-8", newline="") as handle:
                for row in csv.DictReader(handle):
                    kits[row["record_id"]] = row["kit_id"]
        return result, kits


def copy_as(record: OutgoingRecord, kit_id: str, seq: int) -> OutgoingRecord:
    """Another kit's ciphertext (from a USB bundle, say) re-sent under ``kit_id``."""
    return OutgoingRecord(
        record.record_id, kit_id, seq, record.form_id, record.form_version, record.day, record.ciphertext
    )


def test_a_re_send_under_another_kit_never_displaces_the_genuine_record(tmp_path: Path) -> None:
    hub = Hub(tmp_path)
    first, second = hub.record(GENUINE, 1), hub.record(GENUINE, 2)
    assert hub.send(GENUINE, [first, second]).new == 2
    own = hub.record(HOSTILE, 1)
    result = hub.send(HOSTILE, [copy_as(first, HOSTILE, 2), own])
    assert (result.status, result.new, result.quarantined) == ("accepted", 1, 1)
    with HubStore(hub.dir) as store:
        assert store.quarantine() == [] and store.record_count() == 3
        held = {record.record_id: record.kit_id for record in store.iter_records()}
        (aside,) = store.set_aside()
    assert held[first.record_id] == GENUINE  # still accepted, from its kit
    assert aside.record.kit_id == HOSTILE and f"held from kit {GENUINE}" in aside.reason
    exported, kits = hub.export("export-1")
    assert exported.exit_code == 0, exported.output
    assert kits == {first.record_id: GENUINE, second.record_id: GENUINE, own.record_id: HOSTILE}

    listed = run("hub", "quarantine", "list", "--data", hub.dir).output
    assert f"Set aside: record {first.record_id} version {first_sha(first)}@{HOSTILE}" in listed
    # What a revoked kit sent can go, and only then.
    assert "is not revoked: revoke it first" in run(
        "hub", "quarantine", "drop", "--data", hub.dir, "--from", HOSTILE, expect=1
    ).output
    run("hub", "revoke", "--data", hub.dir, HOSTILE)
    dropped = run("hub", "quarantine", "drop", "--data", hub.dir, "--from", HOSTILE).output
    assert "Dropped 2 record versions sent as revoked kit kit-hostile" in dropped
    with HubStore(hub.dir) as store:
        assert store.set_aside() == [] and store.record_count() == 2
    assert "Nothing is in quarantine" in run("hub", "quarantine", "list", "--data", hub.dir).output


def first_sha(record: OutgoingRecord) -> str:
    """How 'hub quarantine list' names a version: the start of its sha256."""
    return hashlib.sha256(record.ciphertext).hexdigest()[:12]


def test_a_copy_that_arrived_first_is_never_exported_and_the_operator_releases_the_genuine_one(
    tmp_path: Path,
) -> None:
    hub = Hub(tmp_path)
    genuine = hub.record(GENUINE, 1)
    assert hub.send(HOSTILE, [copy_as(genuine, HOSTILE, 1)]).new == 1  # the copy got there first
    assert hub.send(GENUINE, [genuine]).quarantined == 1
    exported, kits = hub.export("export-1")
    assert exported.exit_code == 1
    assert f"record {genuine.record_id}: not exported: sealed by {GENUINE} but sent by kit {HOSTILE}" in (
        exported.output
    )
    assert kits == {}  # never under the hostile kit's name
    version = f"{first_sha(genuine)}@{GENUINE}"
    assert version in run("hub", "quarantine", "list", "--data", hub.dir).output
    released = run("hub", "quarantine", "release", "--data", hub.dir, genuine.record_id, version).output
    assert "is accepted; 1 other version set aside" in released
    exported, kits = hub.export("export-2")
    assert exported.exit_code == 0, exported.output
    assert kits == {genuine.record_id: GENUINE}
    listed = run("hub", "quarantine", "list", "--data", hub.dir).output
    assert f"{first_sha(genuine)}@{HOSTILE}" in listed and "set aside by the operator" in listed


def test_quarantine_from_one_kit_is_resolved_by_release_or_drop_with_clear_errors(tmp_path: Path) -> None:
    hub = Hub(tmp_path)
    one = hub.record(GENUINE, 1, note="first")
    other = hub.record(GENUINE, 2, record_id=one.record_id, note="second")
    hub.send(GENUINE, [one])
    assert hub.send(GENUINE, [other]).quarantined == 1
    with HubStore(hub.dir) as store:
        assert [item.record_id for item in store.quarantine()] == [one.record_id]
        assert store.record_count() == 0
    for bad, message in (
        ("abc", "at least 8 characters"),
        ("0" * 12, "has no version"),
        ("zzzzzzzzzz", "at least 8 characters"),
    ):
        refused = run("hub", "quarantine", "release", "--data", hub.dir, one.record_id, bad, expect=1)
        assert message in refused.output and "Traceback" not in refused.output
    run("hub", "quarantine", "drop", "--data", hub.dir, one.record_id, first_sha(other))
    with HubStore(hub.dir) as store:
        assert store.quarantine() == [] and store.record_count() == 1
        assert [event.code for event in store.events(("resolved",))] == ["drop"]
    missing = run("hub", "quarantine", "drop", "--data", hub.dir, expect=1)
    assert "give RECORD_ID and VERSION, or --from KIT" in missing.output


def _form(page: str, record_id: str, version: str, action: str) -> dict[str, str]:
    return {"csrf_token": csrf_token(page), "record_id": record_id, "version": version, "action": action}


def test_the_hub_page_shows_what_is_set_aside_and_resolves_it(tmp_path: Path) -> None:
    hub = Hub(tmp_path)
    genuine = hub.record(GENUINE, 1)
    hub.send(HOSTILE, [copy_as(genuine, HOSTILE, 1)])
    hub.send(GENUINE, [genuine])
    OperatorPassword.for_hub(hub.dir).set(OPERATOR_PASSWORD, work_factor=10)
    with HubStore(hub.dir) as store:
        client = create_hub_app(HubSettings(), store).test_client()
        page = client.get("/login").get_data(as_text=True)
        client.post("/login", data={"csrf_token": csrf_token(page), "name": "admin", "password": OPERATOR_PASSWORD})
        page = client.get("/operator/").get_data(as_text=True)
        assert "Set aside" in page and f"is held from kit {HOSTILE}; set aside" in page
        version = f"{hashlib.sha256(genuine.ciphertext).hexdigest()[:16]}@{GENUINE}"
        assert f'value="{version}"' in page
        bad = client.post(
            "/operator/resolve",
            data=_form(page, genuine.record_id, "nonsense\n", "release"),
        )
        assert bad.status_code == 302
        assert "Nothing was changed: name a version" in client.get("/operator/").get_data(as_text=True)
        client.post(
            "/operator/resolve",
            data=_form(page, genuine.record_id, version, "release"),
        )
        page = client.get("/operator/").get_data(as_text=True)
        assert f"version <bdi>{version}</bdi> accepted; 1 other version set aside" in page
        assert {r.record_id: r.kit_id for r in store.iter_records()} == {genuine.record_id: GENUINE}
        # A kit that is not revoked keeps what it sent; once revoked, its copies can go.
        store.revoke(HOSTILE)
        page = client.get("/operator/").get_data(as_text=True)
        assert "Drop what it sent" in page
        client.post("/operator/drop-source", data={"csrf_token": csrf_token(page), "kit_id": HOSTILE})
        dropped = client.get("/operator/").get_data(as_text=True)
        assert "Dropped 1 record version sent as revoked kit <bdi>kit-hostile</bdi>" in dropped
        assert store.set_aside() == []


# --- A kit sealing to keys its enrolment did not approve (issue 17, point 1, the hub's side) ---


def test_records_sealed_to_a_key_the_enrolment_did_not_approve_are_set_aside(tmp_path: Path) -> None:
    from fieldkit.kit.config import init_kit, unlock
    from fieldkit.kit.enrolment import make_enrolment_request
    from sync.hub.enrolment import accept_enrolment, create_token
    from sync.protocol.enrolment import EnrolmentToken

    hub = Hub(tmp_path)
    config = init_kit(tmp_path / "kit", hub.recipient, "a kit passphrase", work_factor=10)
    kit = unlock(config.data_dir, "a kit passphrase")
    with HubStore(hub.dir) as store:
        token = create_token(store)
        accept_enrolment(store, make_enrolment_request(kit, EnrolmentToken.from_text(token.token)))
        assert store.approved_recipients(SourceRef("kit", config.kit_id, config.epoch)) == (hub.recipient,)
    extra = age.X25519Identity.generate().recipient().to_string()  # a key someone added on a seized disk

    def record(seq: int, recipients: list[str]) -> OutgoingRecord:
        record_id = str(uuid.uuid4())
        payload = {"format": "fieldkit-record/1", "record_id": record_id, "kit_id": config.kit_id, "answers": {}}
        sealed = seal(payload, [age.parse_recipient(text) for text in recipients])
        return OutgoingRecord(record_id, config.kit_id, seq, "peer-interview", 2, "2025-03-01", sealed)

    fine, leaking = record(1, [hub.recipient]), record(2, [hub.recipient, extra])
    passphrase_only = OutgoingRecord(
        str(uuid.uuid4()), config.kit_id, 3, "peer-interview", 2, "2025-03-01",
        age.encrypt(b"{}", [age.ScryptRecipient("a passphrase", work_factor=10)]),
    )  # fmt: skip
    bundle = make_bundle(kit.signing_key, config.kit_id, [fine, leaking, passphrase_only], epoch=config.epoch)
    with HubStore(hub.dir) as store:
        result = store.import_bundle(bundle)
        assert result.status == "accepted" and (result.new, result.quarantined) == (1, 2)
        assert [held.record_id for held in store.iter_records()] == [fine.record_id]
        reasons = {item.record.record_id: item.reason for item in store.set_aside()}
        assert set(reasons) == {leaking.record_id, passphrase_only.record_id}
        assert "sealed to 2 key(s) (X25519)" in reasons[leaking.record_id]
        assert "approved 1 X25519 key(s)" in reasons[leaking.record_id]
        assert "sealed to 1 key(s) (scrypt)" in reasons[passphrase_only.record_id]
        codes = [event.code for event in store.events() if event.kind == "conflict"]
        assert codes.count("unapproved-recipients") == 2

"""The hub's audit trail: every operator action leaves an entry (who, when, what, never an
answer), the entries are chained by hash, and 'fieldkit hub audit --verify' finds what
someone with the seized disk did to them with sqlite3 (deleted, edited, moved, cut off)."""

from __future__ import annotations

import base64
import getpass
import json
import sqlite3
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fieldkit.cli import cli
from sync.hub import audit
from sync.hub.database import Database
from sync.hub.enrolment import create_token
from sync.hub.store import DB_FILE, SCHEMA_VERSION, HubStore
from sync.hub.web import HubSettings, create_hub_app
from sync.protocol.bundle import OutgoingRecord
from tests.bundle_corpus import enrol_key, make_bundle, sealed_records
from tests.http_servers import HUB_RECIPIENT, OPERATOR_PASSWORD, hub_with_operator, running_hub
from tests.hub_backend import copy_hub, hub_db
from tests.hub_schemas import VERSIONS_BEFORE_6
from tests.sync_cli import (
    enrol,
    export,
    init_hub_folder,
    make_hub_keys,
    new_kit,
    run,
    write_passphrase_file,
)
from tests.webclient import csrf_token

CANARY = f"AUDIT-CANARY-{uuid.uuid4().hex}"
WRONG_PASSWORD = f"wrong-{uuid.uuid4().hex}"


def invoke(*args: object) -> Result:
    return CliRunner().invoke(cli, [str(arg) for arg in args])


def cli_actor() -> str:
    return "cli:" + getpass.getuser()


def rows(hub: Path) -> list[tuple]:
    """The audit table as someone with the disk reads it."""
    with hub_db(hub) as connection:
        return connection.execute("SELECT * FROM audit ORDER BY seq").fetchall()


def actions(hub: Path) -> list[tuple[str, str, str]]:
    return [(row[2], row[3], row[4]) for row in rows(hub)]


def tamper(hub: Path, sql: str, parameters: tuple = ()) -> None:
    """Change the tables directly, as with the sqlite3 tool on a seized disk (or psql on the server)."""
    with hub_db(hub) as connection:
        connection.execute(sql, parameters)


def verify(hub: Path, *extra: object) -> Result:
    return invoke("hub", "audit", "--data", hub, "--verify", *extra)


# --- A hub that did everything once -------------------------------------------------------


class World:
    """A hub (CLI) with one kit whose interviews hold the canary, and every action done once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.passphrase_file = write_passphrase_file(root)
        self.keys = make_hub_keys(root)
        self.hub = init_hub_folder(root, self.keys)
        self.kit = new_kit(root, self.keys, self.passphrase_file, "kit-audit")
        enrol(self.hub, self.kit, self.passphrase_file, root)
        run(
            "simulate", "--data", self.kit, "--responses", 6, "--seed", 3, "--text-answer", CANARY,
            "--passphrase-file", self.passphrase_file,
        )  # fmt: skip
        usb = root / "usb"
        usb.mkdir()
        self.bundle = usb / "kit-audit.tar"
        export(self.kit, self.bundle, self.passphrase_file)
        run("hub", "import", "--data", self.hub, self.bundle)
        run("hub", "import", "--data", self.hub, self.bundle)  # again: already merged, nothing written
        garbage = usb / "not-a-bundle.tar"
        garbage.write_bytes(b"not a bundle at all")
        run("hub", "import", "--data", self.hub, garbage, expect=1)
        # A conflict to resolve: a second kit sends two versions of one record id.
        key = Ed25519PrivateKey.generate()
        with HubStore(self.hub) as store:
            enrol_key(store, key, "kit-0000000000c1")
            self.recipient = store.config.recipient
        first = sealed_records("kit-0000000000c1", 1, seed=1)[0]
        second = OutgoingRecord(
            first.record_id, first.kit_id, 2, first.form_id, first.form_version, first.day,
            sealed_records("kit-0000000000c1", 1, seed=2)[0].ciphertext,
        )  # fmt: skip
        (usb / "c1-a.tar").write_bytes(make_bundle(key, "kit-0000000000c1", [first]))
        (usb / "c1-b.tar").write_bytes(make_bundle(key, "kit-0000000000c1", [second]))
        run("hub", "import", "--data", self.hub, usb / "c1-a.tar", usb / "c1-b.tar")
        self.conflicted = first.record_id
        with HubStore(self.hub) as store:
            (item,) = store.quarantine()
        versions = [f"{version.sha256[:12]}@{version.kit_id}" for version in item.versions]
        run("hub", "quarantine", "release", "--data", self.hub, self.conflicted, versions[0])
        run("hub", "quarantine", "drop", "--data", self.hub, self.conflicted, versions[1])
        run("hub", "revoke", "--data", self.hub, "kit-0000000000c1")
        run("hub", "quarantine", "drop", "--data", self.hub, "--from", "kit-0000000000c1")
        identity = self.keys / "hub-identity.txt"
        run("hub", "export", "--data", self.hub, "--identity", identity, "--out", root / "export-out", "--format",
            "json")  # fmt: skip
        run("hub", "report", "--data", self.hub, "--identity", identity, "--out", root / "report-out",
            "--threshold", 5)  # fmt: skip
        password_file = root / "operator-password.txt"
        password_file.write_text(OPERATOR_PASSWORD + "\n")
        run("hub", "password", "--data", self.hub, "--passphrase-file", password_file)
        run("hub", "password", "--data", self.hub, "--passphrase-file", password_file)
        run("hub", "unlock-login", "--data", self.hub)
        run("hub", "centres", "add", "--data", self.hub, "C01", "--name", "Hillside", "--region", "NORTH",
            "--kind", "residential")  # fmt: skip
        run("hub", "centres", "edit", "--data", self.hub, "C01", "--name", "Hillside House")
        run("hub", "cycles", "add", "--data", self.hub, "2027-q1", "--name", "Round one", "--start", "2027-01-01",
            "--end", "2027-03-31", "--forms", "peer-interview")  # fmt: skip
        run("hub", "pack", "--data", self.hub, "--out", root / "pack-1.json")
        run("hub", "cycles", "close", "--data", self.hub, "2027-q1")
        run("hub", "centres", "retire", "--data", self.hub, "C01")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FIELDKIT_CHROMIUM", "no-such-chromium-here")  # the report without its PDF: faster
        return World(tmp_path_factory.mktemp("audit-world"))


@pytest.fixture
def hub(world: World, tmp_path: Path) -> Path:
    """A copy of the world's hub for a test to change."""
    copy = tmp_path / "hub"
    copy_hub(world.hub, copy)
    return copy


def test_every_cli_action_leaves_an_entry_with_actor_action_and_subject(world: World) -> None:
    me = cli_actor()
    with HubStore(world.hub) as store:
        hub_id = store.config.hub_id
        kit_id = next(s.source_id for s in store.sources() if s.source_id != "kit-0000000000c1")
    found = actions(world.hub)
    expected = [
        (me, "hub.created", hub_id),
        (me, "token.created", ""),
        (me, "kit.enrolled", kit_id),
        (me, "bundle.imported", kit_id),
        (me, "bundle.imported", ""),
        (me, "token.created", ""),
        (me, "kit.enrolled", "kit-0000000000c1"),
        (me, "bundle.imported", "kit-0000000000c1"),
        (me, "bundle.imported", "kit-0000000000c1"),
        (me, "quarantine.released", world.conflicted),
        (me, "quarantine.dropped", world.conflicted),
        (me, "kit.revoked", "kit-0000000000c1"),
        (me, "quarantine.dropped-kit", "kit-0000000000c1"),
        (me, "export.written", hub_id),
        (me, "report.written", "scorecards"),
        (me, "operator.added", "admin"),
        (me, "password.changed", "admin"),
        (me, "login.unlocked", ""),
        (me, "centre.added", "C01"),
        (me, "centre.changed", "C01"),
        (me, "cycle.added", "2027-q1"),
        (me, "pack.made", "1"),
        (me, "cycle.closed", "2027-q1"),
        (me, "centre.retired", "C01"),
    ]
    assert found == expected
    details = [json.loads(row[5]) for row in rows(world.hub)]
    imports = [detail for (_a, action, _s), detail in zip(found, details, strict=True) if action == "bundle.imported"]
    assert [detail["result"] for detail in imports] == [
        "accepted", "refused", "accepted", "accepted",
    ]  # fmt: skip
    first = imports[0]
    assert first["file"] == "kit-audit.tar" and first["records"] == 6 and first["new"] == 6
    assert len(first["bundle_sha256"]) == 64 and first["kind"] == "kit" and first["epoch"] == 1
    assert imports[1]["code"] and imports[3]["quarantined"] == 1
    by_action = {action: detail for (_a, action, _s), detail in zip(found, details, strict=True)}
    exported = by_action["export.written"]
    assert exported["format"] == "json" and exported["out"] == "export-out" and exported["exported"] == 6
    assert "peer-interview.json" in exported["files"]
    assert all("/" not in name for name in exported["files"])
    reported = by_action["report.written"]
    assert reported["threshold"] == 5 and reported["out"] == "report-out" and reported["result"] == "written"
    assert by_action["centre.changed"] == {"fields": ["name"]}
    assert by_action["password.changed"] == {"sessions_ended": 0}
    # Every timestamp is UTC, to the second.
    assert all(row[1].endswith("Z") and len(row[1]) == 20 for row in rows(world.hub))


def test_no_answer_ciphertext_password_or_centre_name_reaches_the_trail(world: World) -> None:
    dump = json.dumps(rows(world.hub))
    # The canary was typed into every interview's free text, sealed and merged.
    assert CANARY not in dump
    with HubStore(world.hub) as store:
        held = [record.ciphertext for record in store.iter_records(include_quarantined=True)]
    assert held
    for ciphertext in held:
        for text in (ciphertext.hex()[:32], base64.b64encode(ciphertext[40:64]).decode()):
            assert text not in dump
    assert "age-encryption.org" not in dump
    assert OPERATOR_PASSWORD not in dump and "Hillside" not in dump
    # The canary is really in the hub (decrypted, in the export), so the test can fail.
    assert any(CANARY in path.read_text() for path in (world.root / "export-out").glob("*.json"))


def test_the_chain_verifies_and_the_command_prints_it_readably(world: World) -> None:
    result = verify(world.hub)
    assert result.exit_code == 0, result.output
    count = len(rows(world.hub))
    assert f"The audit trail verifies: {count} entries" in result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:1] == ["1"] and "hub.created" in lines[0]
    assert "pack.made" in result.output and "result=accepted" in result.output
    head = next(line for line in lines if line.startswith("Head: "))
    last = rows(world.hub)[-1]
    assert head.startswith(f"Head: {last[0]}:{last[7]}")
    limited = invoke("hub", "audit", "--data", world.hub, "--limit", 2, "--json")
    assert limited.exit_code == 0, limited.output
    entries = [json.loads(line) for line in limited.output.splitlines()]
    assert [entry["seq"] for entry in entries] == [count - 1, count]
    assert entries[-1]["action"] == "centre.retired" and entries[-1]["hash"] == last[7]
    checked = invoke("hub", "audit", "--data", world.hub, "--verify", "--json", "--limit", 1)
    assert json.loads(checked.output.splitlines()[-1]) == {
        "verified": True, "entries": count, "broken_seq": None, "problem": None,
    }  # fmt: skip


def _refused(hub: Path, *extra: object) -> str:
    result = verify(hub, *extra)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    return result.output.strip().splitlines()[-1]


def test_a_deleted_middle_entry_is_detected(hub: Path) -> None:
    tamper(hub, "DELETE FROM audit WHERE seq=5")
    assert _refused(hub) == "Error: The audit trail is broken at entry 5: entry 5 missing (deleted)"


def test_an_edited_detail_is_detected(hub: Path) -> None:
    tamper(hub, "UPDATE audit SET detail=? WHERE seq=4", ('{"records":0,"result":"refused"}',))
    message = _refused(hub)
    assert message.startswith("Error: The audit trail is broken at entry 4: its content was changed")


def test_an_edited_actor_is_detected(hub: Path) -> None:
    tamper(hub, "UPDATE audit SET actor='cli:someone-else' WHERE seq=15")
    assert "broken at entry 15: its content was changed" in _refused(hub)


def test_deleting_the_newest_entries_is_detected(hub: Path) -> None:
    count = len(rows(hub))
    tamper(hub, "DELETE FROM audit WHERE seq=?", (count,))
    assert _refused(hub) == (
        f"Error: The audit trail is broken at entry {count}: the newest entry {count} missing: the head names "
        f"entry {count}, the last one present is {count - 1} (deleted)"
    )
    tamper(hub, "DELETE FROM audit WHERE seq>?", (count - 3,))
    assert f"the newest entries {count - 2}-{count} missing" in _refused(hub)


def test_deleting_the_tail_and_the_head_is_detected(hub: Path) -> None:
    count = len(rows(hub))
    tamper(hub, "DELETE FROM audit WHERE seq=?", (count,))
    tamper(hub, "DELETE FROM meta WHERE key='audit_head'")
    assert "the head row ('audit_head' in meta) is missing" in _refused(hub)
    # The hub goes on (an import must not stop); the next entry does not hide the cut.
    run("hub", "unlock-login", "--data", hub)
    assert f"broken at entry {count}: it does not chain" in _refused(hub)


def test_moved_entries_are_detected(hub: Path) -> None:
    # Two entries swapped: each keeps its hash, but no longer chains to the one before.
    tamper(hub, "UPDATE audit SET seq=-1 WHERE seq=6")
    tamper(hub, "UPDATE audit SET seq=6 WHERE seq=7")
    tamper(hub, "UPDATE audit SET seq=7 WHERE seq=-1")
    assert "broken at entry 6: it does not chain to the entry before it" in _refused(hub)


def _rewrite_without_the_fourth(connection: Database, entries: list[tuple]) -> None:
    """Delete entry 4 and recompute every later hash and the head, as a careful forger would."""
    connection.execute("DELETE FROM audit WHERE seq=4")
    prev = audit.GENESIS
    for seq, (_old, at, actor, action, subject, detail, _p, _h) in enumerate(
        [entry for entry in entries if entry[0] != 4], start=1
    ):
        digest = audit.entry_hash(seq, at, actor, action, subject, detail, prev)
        connection.execute("DELETE FROM audit WHERE seq=?", (_old,))
        connection.execute("INSERT INTO audit VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
                           (seq, at, actor, action, subject, detail, prev, digest))  # fmt: skip
        prev = digest
    connection.execute("UPDATE meta SET value=? WHERE key='audit_head'", (f"{len(entries) - 1}:{prev}",))


def test_a_rewritten_chain_passes_alone_and_fails_against_a_head_copied_out(hub: Path) -> None:
    """What the chain cannot prove: a rewrite with every hash recomputed. A head kept elsewhere can."""
    kept = invoke("hub", "audit", "--data", hub).output.splitlines()[-1].split()[1]
    with hub_db(hub) as connection:
        entries = connection.execute("SELECT * FROM audit ORDER BY seq").fetchall()
        _rewrite_without_the_fourth(connection, entries)
    assert verify(hub).exit_code == 0  # honest: alone, a full rewrite is not seen
    seq = kept.split(":")[0]
    assert f"broken at entry {seq}: it was copied out earlier, but the trail ends" in _refused(hub, "--head", kept)
    early = f"3:{rows(hub)[2][7]}"
    assert verify(hub, "--head", early).exit_code == 0
    fourth_before = f"4:{entries[3][7]}"
    assert "broken at entry 4: its hash is not the one copied out earlier" in _refused(hub, "--head", fourth_before)


def test_bad_audit_arguments_are_refused_plainly(hub: Path) -> None:
    before = rows(hub)
    for args, said in (
        (("--verify", "--head", "12"), "--head must be SEQ:HASH"),
        (("--verify", "--head", "x:" + "0" * 64), "--head must be SEQ:HASH"),
        (("--head", "1:" + "0" * 64), "--head goes with --verify"),
    ):
        result = invoke("hub", "audit", "--data", hub, *args)
        assert result.exit_code != 0 and said in result.output and "Traceback" not in result.output
    assert invoke("hub", "audit", "--data", hub, "--limit", 0).exit_code == 2
    assert rows(hub) == before


@pytest.mark.sqlite_only  # an old release's SQLite file; PostgreSQL hubs began at schema 5
def test_a_schema_3_hub_upgrades_and_starts_its_chain(tmp_path: Path) -> None:
    keys = make_hub_keys(tmp_path)
    hub = init_hub_folder(tmp_path, keys)
    # Make it what the version before the audit trail left: no audit table, schema "3".
    connection = sqlite3.connect(hub / DB_FILE)
    connection.executescript(
        f"{VERSIONS_BEFORE_6} DROP TABLE audit; DELETE FROM meta WHERE key='audit_head'; DROP TABLE operators;"
        "ALTER TABLE sessions DROP COLUMN operator_name; UPDATE meta SET value='3' WHERE key='schema';"
    )
    connection.close()
    run("hub", "enrol", "--data", hub)
    connection = sqlite3.connect(hub / DB_FILE)
    assert connection.execute("SELECT value FROM meta WHERE key='schema'").fetchone() == (SCHEMA_VERSION,)
    connection.close()
    assert actions(hub) == [(cli_actor(), "store.upgraded", ""), (cli_actor(), "token.created", "")]
    assert json.loads(rows(hub)[0][5]) == {"from_schema": "3", "to_schema": SCHEMA_VERSION}
    result = verify(hub)
    assert result.exit_code == 0 and "verifies: 2 entries" in result.output


def test_the_first_entry_chains_to_the_fixed_genesis(world: World) -> None:
    first = rows(world.hub)[0]
    assert first[0] == 1 and first[6] == audit.GENESIS
    assert first[7] == audit.entry_hash(1, first[1], first[2], first[3], first[4], first[5], audit.GENESIS)


# --- The hub's pages -----------------------------------------------------------------------


@pytest.fixture
def web_hub(tmp_path: Path) -> Path:
    return hub_with_operator(tmp_path / "web-hub", "hub-audit")


def _client(store: HubStore):
    return create_hub_app(HubSettings(testing=True), store).test_client()


def _login(client, password: str):
    page = client.get("/login").get_data(as_text=True)
    return client.post(
        "/login", data={"csrf_token": csrf_token(page), "name": "admin", "password": password, "next": "/operator/"},
        environ_base={"REMOTE_ADDR": "192.0.2.7"},
    )  # fmt: skip


def test_logins_pages_and_api_actions_are_logged_with_their_actor(web_hub: Path) -> None:
    with HubStore(web_hub) as store:
        client = _client(store)
        assert _login(client, WRONG_PASSWORD).status_code == 401
        assert _login(client, OPERATOR_PASSWORD).status_code == 302
        page = client.get("/operator/").get_data(as_text=True)
        made = client.post("/operator/token", data={"csrf_token": csrf_token(page), "valid_days": "3"})
        assert made.status_code == 200
        key = Ed25519PrivateKey.generate()
        enrol_key(store, key, "kit-00000000web1")
        pushed = client.post(
            "/api/v1/bundles", data=make_bundle(key, "kit-00000000web1", sealed_records("kit-00000000web1", 2)),
            content_type="application/x-tar",
        )  # fmt: skip
        assert pushed.status_code == 200, pushed.get_data(as_text=True)
        page = client.get("/operator/").get_data(as_text=True)
        form = {"csrf_token": csrf_token(page), "source_id": "kit-00000000web1"}
        revoked = client.post("/operator/revoke", data=form)
        assert revoked.status_code == 302
        page = client.get("/operator/audit").get_data(as_text=True)
        client.post("/logout", data={"csrf_token": csrf_token(page)})
        entries = store.audit_entries()
    found = [(entry.actor, entry.action, entry.subject) for entry in entries]
    assert found == [
        (cli_actor(), "hub.created", "hub-audit"),
        # The hub's single operator password of before becomes operator admin when the app starts.
        (cli_actor(), "operator.added", "admin"),
        ("anonymous", "login.failed", ""),
        ("admin", "login", ""),
        ("admin", "token.created", ""),
        (cli_actor(), "token.created", ""),
        (cli_actor(), "kit.enrolled", "kit-00000000web1"),
        ("api", "bundle.imported", "kit-00000000web1"),
        ("admin", "kit.revoked", "kit-00000000web1"),
        ("admin", "logout", ""),
    ]
    # The name tried is never logged, only whether it is an operator's (a password typed
    # into the name field would stay in an append-only log for good).
    assert entries[2].details == {"address": "192.0.2.7", "name_known": True}
    assert entries[4].details["kind"] == "kit"
    assert entries[7].details["file"] == "HTTP push" and entries[7].details["new"] == 2
    dump = json.dumps(rows(web_hub))
    assert WRONG_PASSWORD not in dump and OPERATOR_PASSWORD not in dump


def test_throttled_login_attempts_are_not_logged(web_hub: Path) -> None:
    with HubStore(web_hub) as store:
        client = create_hub_app(HubSettings(testing=True, login_failures_per_address=2), store).test_client()
        statuses = [_login(client, WRONG_PASSWORD).status_code for _ in range(6)]
        assert statuses == [401, 401, 429, 429, 429, 429]
        assert [entry.action for entry in store.audit_entries()] == [
            "hub.created", "operator.added", "login.failed", "login.failed",
        ]  # fmt: skip


def test_the_audit_page_lists_entries_and_says_whether_the_chain_verifies(web_hub: Path) -> None:
    with HubStore(web_hub) as store:
        client = _client(store)
        assert client.get("/operator/audit").status_code == 302  # behind the login
        _login(client, OPERATOR_PASSWORD)
        page = client.get("/operator/audit").get_data(as_text=True)
        assert 'id="chain-state">The chain verifies: 3 entries' in page
        assert "Hub created" in page and "Logged in" in page and "address=192.0.2.7" in page
        assert page.index("Logged in") < page.index("Hub created")  # newest first
        head = store.audit_head()
        assert head is not None and f"{head[0]}:{head[1]}" in page
    tamper(web_hub, "UPDATE audit SET detail='{}' WHERE seq=1")
    with HubStore(web_hub) as store:
        client = _client(store)
        _login(client, OPERATOR_PASSWORD)
        page = client.get("/operator/audit").get_data(as_text=True)
    assert 'class="error">The chain is broken at entry 1:' in page


def test_forwarding_backup_and_a_new_hub_key_are_in_the_trail(tmp_path: Path) -> None:
    keys = make_hub_keys(tmp_path)
    regional = init_hub_folder(tmp_path, keys, "regional")
    key = Ed25519PrivateKey.generate()
    upstream_dir = hub_with_operator(tmp_path / "national", "hub-national")
    with HubStore(regional) as store:
        # The kit's consent script names the national hub too, so its records may go up.
        enrol_key(store, key, "kit-0000000000f1", recipients=[HUB_RECIPIENT])
        assert store.import_bundle(make_bundle(key, "kit-0000000000f1", sealed_records("kit-0000000000f1", 3))).new == 3
    with running_hub(upstream_dir) as server:
        token = create_token(server.store, kind="hub")
        run("hub", "enrol-upstream", "--data", regional, "--to", server.url, "--token", token.display)
        run("hub", "forward", "--data", regional)
        run("hub", "forward", "--data", regional)  # nothing left to send: nothing to record
        upstream = [(entry.actor, entry.action, entry.subject) for entry in server.store.audit_entries()]
    run("hub", "backup", "--data", regional, "--out", tmp_path / "regional-backup.tar")
    # The backup holds the trail up to it; the restored hub's goes on from there.
    run("hub", "restore", "--from", tmp_path / "regional-backup.tar", "--data", tmp_path / "restored")
    restored = actions(tmp_path / "restored")
    assert restored[:-1] == actions(regional)[:-1] and restored[-1] == (cli_actor(), "backup.restored", restored[0][2])
    assert verify(tmp_path / "restored").exit_code == 0
    run("hub", "keygen", "--out", keys, "--rotate", "--no-passphrase")
    run("hub", "recipient", "--data", regional, "--recipient-file", keys / "hub-recipient-2.txt")
    me = cli_actor()
    found = actions(regional)
    assert found[-4:] == [
        (me, "upstream.enrolled", "hub-national"),
        (me, "records.forwarded", "hub-national"),
        (me, "backup.written", found[0][2]),
        (me, "recipient.changed", found[0][2]),
    ]
    details = [json.loads(row[5]) for row in rows(regional)[-4:]]
    assert details[1] == {"result": "done", "records": 3, "bundles": 1, "remaining": 0}
    assert details[2]["file"] == "regional-backup.tar"
    assert details[3]["from"] != details[3]["to"] and all("age1" not in value for value in details[3].values())
    # At the upstream hub the regional hub enrolled and pushed through the API.
    assert upstream[-2:] == [("api", "hub.enrolled", found[0][2]), ("api", "bundle.imported", found[0][2])]
    assert verify(regional).exit_code == 0

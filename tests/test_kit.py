"""Hub keys, kit creation and unlock, sealed records, drafts, simulate and wipe, via the CLI."""

from __future__ import annotations

import json
import stat
import subprocess
from collections import Counter
from pathlib import Path

import pyrage
import pytest
from click.testing import CliRunner

from fieldkit.cli import cli
from fieldkit.core import paths
from fieldkit.core.crypto import age
from fieldkit.core.crypto.hubkeys import load_hub_identities
from fieldkit.core.errors import FieldkitError
from fieldkit.core.formengine.catalogue import load_directory
from fieldkit.core.storage.records import RecordStore
from fieldkit.kit.config import KEYS_FILE, unlock
from fieldkit.kit.drafts import Draft, DraftStore, DraftUnreadable
from fieldkit.kit.simulate import World
from tests.conftest import require_tool, scan_for

CHEAP_KDF = ["--kdf-work-factor", "10"]
CANARY = "CANARY-7f3a-do-not-store-in-clear"


def run(*args: str, expect: int = 0):
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == expect, result.output
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def hub_dir(tmp_path: Path) -> Path:
    out = tmp_path / "hub-keys"
    run("hub", "keygen", "--out", str(out), "--no-passphrase")
    return out


@pytest.fixture
def kit_dir(tmp_path: Path, hub_dir: Path, passphrase_file: Path) -> Path:
    data = tmp_path / "kit"
    recipient = (hub_dir / "hub-recipient.txt").read_text().strip()
    run(
        "init", "--data", str(data), "--hub-recipient", recipient, "--passphrase-file", str(passphrase_file), *CHEAP_KDF
    )
    return data


def test_keygen_plain_identity_works_with_the_age_cli(hub_dir: Path, tmp_path: Path) -> None:
    age_cli = require_tool("age")
    recipient = (hub_dir / "hub-recipient.txt").read_text().strip()
    assert recipient.startswith("age1")
    identity = hub_dir / "hub-identity.txt"
    assert stat.S_IMODE(identity.stat().st_mode) == 0o600
    assert stat.S_IMODE(hub_dir.stat().st_mode) == 0o700
    sealed = age.encrypt(b"hello hub", [age.parse_recipient(recipient)])
    (tmp_path / "m.age").write_bytes(sealed)
    out = subprocess.run([age_cli, "-d", "-i", str(identity), str(tmp_path / "m.age")], capture_output=True, check=True)
    assert out.stdout == b"hello hub"


def test_keygen_protected_identity_is_age_scrypt(tmp_path: Path, passphrase_file: Path) -> None:
    out = tmp_path / "keys"
    run("hub", "keygen", "--out", str(out), "--passphrase-file", str(passphrase_file))
    protected = out / "hub-identity.age"
    assert not (out / "hub-identity.txt").exists()
    # pyrage, an independent implementation, opens it with the passphrase.
    text = pyrage.passphrase.decrypt(protected.read_bytes(), "correct horse battery staple").decode()
    assert "AGE-SECRET-KEY-1" in text
    assert b"AGE-SECRET-KEY" not in protected.read_bytes()
    identities = load_hub_identities(protected, "correct horse battery staple")
    assert identities[0].recipient().to_string() == (out / "hub-recipient.txt").read_text().strip()
    refused = run("hub", "keygen", "--out", str(out), "--no-passphrase", expect=1)
    assert "already exists" in refused.output


def test_wrong_hub_passphrase_is_one_clear_line(tmp_path: Path, passphrase_file: Path) -> None:
    out = tmp_path / "keys"
    run("hub", "keygen", "--out", str(out), "--passphrase-file", str(passphrase_file))
    with pytest.raises(FieldkitError, match=r"wrong passphrase for hub-identity\.age"):
        load_hub_identities(out / "hub-identity.age", "not the passphrase")


def test_init_writes_private_files_and_refuses_bad_input(kit_dir: Path, tmp_path: Path, passphrase_file: Path) -> None:
    assert stat.S_IMODE(kit_dir.stat().st_mode) == 0o700
    for path in kit_dir.iterdir():
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    config = json.loads((kit_dir / "kit.json").read_text())
    assert config["kit_id"].startswith("kit-") and config["epoch"] == 1
    bad = run(
        "init",
        "--data",
        str(tmp_path / "k2"),
        "--hub-recipient",
        "age1notakey",
        "--passphrase-file",
        str(passphrase_file),
        expect=1,
    )
    assert "not a valid age recipient" in bad.output
    again = run(
        "init",
        "--data",
        str(kit_dir),
        "--hub-recipient",
        config["recipients"][0],
        "--passphrase-file",
        str(passphrase_file),
        expect=1,
    )
    assert "already holds a kit" in again.output


def test_wrong_kit_passphrase_is_a_clear_error(kit_dir: Path, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not the passphrase\n")
    result = run("simulate", "--data", str(kit_dir), "--responses", "1", "--passphrase-file", str(wrong), expect=1)
    assert result.output.strip().splitlines()[-1] == "Error: wrong passphrase for this kit"


def test_no_passphrase_and_no_terminal_is_a_clear_error(kit_dir: Path) -> None:
    result = run("simulate", "--data", str(kit_dir), "--responses", "1", expect=1)
    assert "--passphrase-file" in result.output


def test_simulated_records_decrypt_at_the_hub_and_hold_no_clear_canary(
    kit_dir: Path, hub_dir: Path, passphrase_file: Path
) -> None:
    result = run(
        "simulate",
        "--data",
        str(kit_dir),
        "--responses",
        "6",
        "--seed",
        "3",
        "--text-answer",
        CANARY,
        "--passphrase-file",
        str(passphrase_file),
    )
    record_ids = result.output.split()
    assert len(record_ids) == 6
    store = RecordStore(kit_dir)
    assert sorted(store.ids()) == sorted(record_ids)
    identities = load_hub_identities(hub_dir / "hub-identity.txt", None)
    canaries = 0
    for record_id in record_ids:
        meta = store.metadata(record_id)
        assert set(meta) == {"record_id", "form_id", "form_version", "size", "day"}
        payload = json.loads(age.decrypt(store.get(record_id), identities))
        assert payload["record_id"] == record_id
        assert payload["format"] == "fieldkit-record/1"
        assert payload["started"].endswith(":00Z") and payload["finished"].endswith(":00Z")
        canaries += sum(1 for value in payload["answers"].values() if value == CANARY)
        # pyrage, independently, decrypts the same record.
        plain = pyrage.decrypt(store.get(record_id), [pyrage.x25519.Identity.from_str(identities[0].to_string())])
        assert json.loads(plain) == payload
    assert canaries > 0
    assert scan_for(CANARY, kit_dir) == []
    assert list(DraftStore(kit_dir / "drafts", b"\0" * 32).ids()) == []


def test_simulated_interviews_are_about_a_fixed_world_with_abusive_and_rarely_visited_centres(
    kit_dir: Path, hub_dir: Path, passphrase_file: Path
) -> None:
    result = run(
        "simulate", "--data", str(kit_dir), "--responses", "240", "--seed", "8",
        "--centres", "8", "--regions", "2", "--passphrase-file", str(passphrase_file),
    )  # fmt: skip
    store = RecordStore(kit_dir)
    identities = load_hub_identities(hub_dir / "hub-identity.txt", None)
    forms = load_directory(paths.forms_dir())
    world = World.make(8, 2)
    assert world.codes("abusive") == ["C04", "C08"] and world.codes("rarely-visited") == ["C07"]
    interviews: Counter[str] = Counter()
    flags: Counter[str] = Counter()
    asked: Counter[str] = Counter()
    for record_id in result.output.split():
        payload = json.loads(age.decrypt(store.get(record_id), identities))
        answers = payload["answers"]
        # Every record names a centre of the world and its region, as picked from a centre list.
        centre = payload["centre"]["code"]
        assert payload["centre"]["region"] == next(c.region for c in world.centres if c.code == centre)
        assert "centre_code" not in answers and "region_code" not in answers
        interviews[centre] += 1
        for item in forms[payload["form"]["id"]].items:
            if item.is_red_flag and answers.get(item.id) in ("yes", "no"):
                asked[centre] += 1
                flags[centre] += answers[item.id] == "yes"
    assert sum(interviews.values()) == 240 and set(interviews) <= {c.code for c in world.centres}
    assert interviews["C07"] < min(interviews[c] for c in ("C01", "C02", "C03", "C05")) / 4
    rate = {centre: flags[centre] / asked[centre] for centre in asked}
    assert min(rate["C04"], rate["C08"]) > 4 * max(rate[c] for c in ("C01", "C02", "C03", "C05", "C06"))
    # The same options give the same world whatever the seed; contradictory ones are refused.
    refused = run(
        "simulate", "--data", str(kit_dir), "--responses", "1", "--centres", "2", "--regions", "3",
        "--passphrase-file", str(passphrase_file), expect=2,
    )  # fmt: skip
    assert "3 regions need at least 3 centres" in refused.output
    assert sorted(store.ids()) == sorted(result.output.split())


def test_drafts_are_encrypted_and_bound_to_the_kit_key(kit_dir: Path) -> None:
    kit = unlock(kit_dir, "correct horse battery staple")
    drafts = DraftStore(kit_dir / "drafts", kit.draft_key)
    draft = Draft(form_id="peer-interview", form_version=1, language="en", owner="s", started="2026-01-01T10:00Z")
    draft.answers = {"what_change": CANARY}
    drafts.save(draft)
    assert drafts.load(draft.draft_id).answers == {"what_change": CANARY}
    assert scan_for(CANARY, kit_dir) == []
    with pytest.raises(DraftUnreadable):
        DraftStore(kit_dir / "drafts", b"\1" * 32).load(draft.draft_id)
    # A draft file moved to another id does not open.
    other = Draft(form_id="x", form_version=1, language="en", owner="s", started="")
    (kit_dir / "drafts" / f"{other.draft_id}.draft").write_bytes(
        (kit_dir / "drafts" / f"{draft.draft_id}.draft").read_bytes()
    )
    with pytest.raises(DraftUnreadable):
        drafts.load(other.draft_id)


def test_wipe_destroys_keys_and_drafts_after_confirmation(kit_dir: Path, passphrase_file: Path) -> None:
    kit = unlock(kit_dir, "correct horse battery staple")
    drafts = DraftStore(kit_dir / "drafts", kit.draft_key)
    drafts.save(Draft(form_id="peer-interview", form_version=1, language="en", owner="s", started=""))
    refused = run("wipe", "--data", str(kit_dir), "--confirm", "kit-wrong", expect=1)
    assert "nothing was wiped" in refused.output
    assert (kit_dir / KEYS_FILE).exists()
    no_tty = run("wipe", "--data", str(kit_dir), expect=1)
    assert "--confirm" in no_tty.output
    run("wipe", "--data", str(kit_dir), "--confirm", kit.config.kit_id)
    assert not (kit_dir / KEYS_FILE).exists()
    assert not (kit_dir / "drafts").exists()
    gone = run(
        "simulate", "--data", str(kit_dir), "--responses", "1", "--passphrase-file", str(passphrase_file), expect=1
    )
    assert "wiped" in gone.output


def test_init_reads_the_hub_recipient_from_its_file(hub_dir: Path, tmp_path: Path, passphrase_file: Path) -> None:
    data = tmp_path / "kit-from-file"
    recipient_file = hub_dir / "hub-recipient.txt"
    run(
        "init", "--data", str(data), "--hub-recipient-file", str(recipient_file),
        "--passphrase-file", str(passphrase_file), *CHEAP_KDF,
    )  # fmt: skip
    config = json.loads((data / "kit.json").read_text())
    assert config["recipients"] == [recipient_file.read_text().strip()]


def _bad_recipient_inputs(hub_dir: Path, tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    recipient_file = hub_dir / "hub-recipient.txt"
    recipient = recipient_file.read_text().strip()
    empty = tmp_path / "empty.txt"
    empty.write_text("# a comment and nothing else\n\n")
    several = tmp_path / "several.txt"
    several.write_text(f"{recipient}\n{recipient}\n")
    damaged = tmp_path / "damaged.txt"
    damaged.write_text(recipient[:-3] + "\n")
    return {
        "path given as the key": (
            ["--hub-recipient", str(recipient_file)],
            f"looks like a file: give --hub-recipient-file {recipient_file}",
        ),
        "both options": (
            ["--hub-recipient", recipient, "--hub-recipient-file", str(recipient_file)],
            "give --hub-recipient or --hub-recipient-file, not both",
        ),
        "neither option": ([], "give the hub's public key: --hub-recipient-file"),
        "file without a key": (
            ["--hub-recipient-file", str(empty)],
            f"{empty} must hold exactly one age1... recipient line, found none",
        ),
        "file with several keys": (
            ["--hub-recipient-file", str(several)],
            f"{several} must hold exactly one age1... recipient line, found 2 lines",
        ),
        "file with a damaged key": (["--hub-recipient-file", str(damaged)], f"{damaged}: not a valid age recipient '"),
        "missing file": (["--hub-recipient-file", str(tmp_path / "nowhere.txt")], "cannot read"),
        "damaged key": (["--hub-recipient", recipient[:-3]], "not a valid age recipient '"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "path given as the key",
        "both options",
        "neither option",
        "file without a key",
        "file with several keys",
        "file with a damaged key",
        "missing file",
        "damaged key",
    ],
)
def test_init_refuses_a_bad_hub_recipient_clearly_and_writes_nothing(
    case: str, hub_dir: Path, tmp_path: Path, passphrase_file: Path
) -> None:
    options, message = _bad_recipient_inputs(hub_dir, tmp_path)[case]
    data = tmp_path / "kit-refused"
    result = CliRunner().invoke(
        cli, ["init", "--data", str(data), *options, "--passphrase-file", str(passphrase_file), *CHEAP_KDF]
    )
    assert result.exit_code == 1, result.output
    [line] = result.output.strip().splitlines()
    assert line.startswith("Error: ") and message in line, line
    assert line.count("not a valid age recipient") <= 1
    assert "Traceback" not in result.output
    assert not data.exists()


@pytest.mark.parametrize("name", ["kit.json", KEYS_FILE])
def test_a_damaged_or_newer_kit_file_is_one_clear_error(kit_dir: Path, name: str) -> None:
    from fieldkit.kit.config import load_config

    path = kit_dir / name
    settings = json.loads(path.read_text(encoding="utf-8"))
    what = "kit settings file" if name == "kit.json" else "kit keys file"
    path.write_text(json.dumps({**settings, "format": "fieldkit-kit/3"}), encoding="utf-8")
    with pytest.raises(FieldkitError, match=rf"{name} is a {what} from a newer version of fieldkit"):
        unlock(kit_dir, "correct horse battery staple")
    path.write_text(json.dumps({**settings, "format": "fieldkit-hub/1"}), encoding="utf-8")
    with pytest.raises(FieldkitError, match=rf"{name} is not a {what} this version of fieldkit understands"):
        unlock(kit_dir, "correct horse battery staple")
    path.write_text("{", encoding="utf-8")
    with pytest.raises(FieldkitError, match=rf"{name} cannot be read as a {what}: it is not JSON .*restore it"):
        unlock(kit_dir, "correct horse battery staple")
    if name == "kit.json":
        path.unlink()
        with pytest.raises(FieldkitError, match=r"is not a kit folder \(kit\.json is missing\); run 'fieldkit init'"):
            load_config(kit_dir)

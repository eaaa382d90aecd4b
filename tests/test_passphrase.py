"""``fieldkit passphrase`` and ``fieldkit handover``: a kit passes hands, and the scrypt cost chosen for the machine.

Through the real CLI (click's runner, or a real process where one must be killed or a
real ``fieldkit serve`` must hold the kit), with drafts made through the kit's web app.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from fieldkit.cli import cli
from fieldkit.core.errors import FieldkitError
from fieldkit.core.storage.locks import IN_USE_FILE_NAME
from fieldkit.kit.config import (
    DEFAULT_WORK_FACTOR,
    KEYS_FILE,
    KIT_FILE,
    MAX_PARALLEL,
    WRAPPED_KEYS_FORMAT,
    load_config,
    unlock,
)
from fieldkit.kit.drafts import DraftStore
from fieldkit.kit.operator_password import load_verifier
from sync.hub.store import load_hub_config
from sync.protocol.receipts import key_fingerprint
from tests.conftest import PASSPHRASE, KitFixture
from tests.old_kits import as_before_hub_list_signing
from tests.processes import start_until_ready, stop
from tests.sync_cli import PASSPHRASE as CLI_PASSPHRASE
from tests.sync_cli import enrolled_pair
from tests.webclient import Interviewer

NEW = "a new passphrase for the next holder"
CHEAP = ["--kdf-work-factor", "10"]


def run(*args: str, expect: int = 0) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == expect, result.output
    assert "Traceback" not in result.output
    return result.output


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text + "\n", encoding="utf-8")
    return path


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    return write(tmp_path, "old.txt", PASSPHRASE), write(tmp_path, "new.txt", NEW)


def make_drafts(kit: KitFixture, client, app, count: int = 2) -> dict[str, bytes]:
    """Unfinished interviews started through the kit's pages; their draft files, by id."""
    interviewer = Interviewer(client, app)
    interviewer.pair()
    for _ in range(count):
        interviewer.start("peer-interview")
    drafts = kit.data_dir / "drafts"
    found = {path.stem: path.read_bytes() for path in drafts.glob("*.draft")}
    assert len(found) == count
    return found


def change(kit_dir: Path, old: Path, new: Path, *more: str, expect: int = 0) -> str:
    return run("passphrase", "--data", str(kit_dir), "--passphrase-file", str(old),
               "--new-passphrase-file", str(new), *more, expect=expect)  # fmt: skip


def test_a_new_passphrase_opens_the_same_drafts_and_settings_and_the_old_one_stops(
    kit: KitFixture, client, app, files: tuple[Path, Path]
) -> None:
    old_file, new_file = files
    drafts = make_drafts(kit, client, app)
    before = unlock(kit.data_dir, PASSPHRASE)
    keys_path = kit.data_dir / KEYS_FILE
    old_inode = keys_path.stat().st_ino
    kit_json = (kit.data_dir / KIT_FILE).read_bytes()

    output = change(kit.data_dir, old_file, new_file, *CHEAP)
    assert "the old one no longer opens it" in output
    assert "scrypt N=2^10, r=8, p=1" in output

    # One new file put in place by a rename; nothing else in the folder changed.
    assert keys_path.stat().st_ino != old_inode
    assert (kit.data_dir / KIT_FILE).read_bytes() == kit_json
    assert {p.stem: p.read_bytes() for p in (kit.data_dir / "drafts").glob("*.draft")} == drafts
    assert not [p.name for p in kit.data_dir.iterdir() if p.name.startswith(".") and "tmp" in p.name]
    keys = json.loads(keys_path.read_text())
    assert keys["format"] == WRAPPED_KEYS_FORMAT and set(keys) == {"format", "kdf", "signing_key", "wrapped_keys"}
    assert keys["kdf"]["work_factor"] == 10 and keys["kdf"]["p"] == 1

    with pytest.raises(FieldkitError, match="wrong passphrase"):
        unlock(kit.data_dir, PASSPHRASE)
    after = unlock(kit.data_dir, NEW)  # the sealed settings checked out: unlock checks the seal
    assert after.draft_key == before.draft_key
    assert after.config == before.config
    assert after.signing_key.public_key().public_bytes_raw() == before.signing_key.public_key().public_bytes_raw()
    store = DraftStore(kit.data_dir / "drafts", after.draft_key)
    assert sorted(store.load(draft_id).draft_id for draft_id in drafts) == sorted(drafts)

    # A second change, from the wrapped layout: the newest passphrase only.
    third = write(kit.data_dir.parent, "third.txt", "a third passphrase, for later")
    change(kit.data_dir, new_file, third, *CHEAP)
    for gone in (PASSPHRASE, NEW):
        with pytest.raises(FieldkitError, match="wrong passphrase"):
            unlock(kit.data_dir, gone)
    assert unlock(kit.data_dir, "a third passphrase, for later").draft_key == before.draft_key


def test_a_kit_from_before_the_signed_hub_list_is_brought_up_to_date_then_changed(
    tmp_path: Path, hub_keys: Path, passphrase_file: Path
) -> None:
    hub, kit_dir = enrolled_pair(tmp_path, hub_keys, passphrase_file)
    as_before_hub_list_signing(kit_dir, CLI_PASSPHRASE)
    new_file = write(tmp_path, "new.txt", NEW)
    output = change(kit_dir, passphrase_file, new_file, *CHEAP)
    hub_config = load_hub_config(hub)
    assert "now signs its list of hubs" in output
    assert f"hub {hub_config.hub_id}: receipt key {key_fingerprint(hub_config.receipt_public_key)}" in output
    assert json.loads((kit_dir / KIT_FILE).read_text())["hub_list_signed"] is True
    with pytest.raises(FieldkitError, match="wrong passphrase"):
        unlock(kit_dir, CLI_PASSPHRASE)
    unlocked = unlock(kit_dir, NEW)
    assert unlocked.hubs_vouched_now is None and not unlocked.sealed_now  # nothing left to bring up to date
    status = run("sync", "status", "--data", str(kit_dir))
    assert f"Enrolled with hub {hub_config.hub_id}" in status and "refused" not in status.lower()


def test_wrong_same_or_short_passphrases_change_nothing(kit: KitFixture, files: tuple[Path, Path]) -> None:
    old_file, new_file = files
    keys_path = kit.data_dir / KEYS_FILE
    before = keys_path.read_bytes()
    folder = kit.data_dir.parent
    cases = [
        (write(folder, "wrong.txt", "not the passphrase at all"), new_file, "wrong passphrase for this kit"),
        (old_file, old_file, "the new passphrase is the same as the old one; nothing was changed"),
        (old_file, write(folder, "short.txt", "short"), "choose a passphrase of at least 8 characters"),
        (old_file, write(folder, "empty.txt", ""), "the passphrase is empty"),
    ]
    for old, new, message in cases:
        output = change(kit.data_dir, old, new, *CHEAP, expect=1)
        assert message in output
        assert output.count("\n") == 1, output  # one line: the error
        assert keys_path.read_bytes() == before
    assert unlock(kit.data_dir, PASSPHRASE)
    missing = run("passphrase", "--data", str(folder / "nowhere"), "--passphrase-file", str(old_file), expect=1)
    assert "is not a kit folder" in missing
    assert not (folder / "nowhere").exists()


def test_passphrase_refuses_while_serve_has_the_kit_open(kit: KitFixture, files: tuple[Path, Path]) -> None:
    old_file, new_file = files
    before = (kit.data_dir / KEYS_FILE).read_bytes()
    process, _ = start_until_ready("serve", "--data", str(kit.data_dir), "--host", "127.0.0.1", "--port", "0",
                                   "--passphrase-file", str(old_file))  # fmt: skip
    try:
        for command in ("passphrase", "handover"):
            output = run(command, "--data", str(kit.data_dir), "--passphrase-file", str(old_file),
                         "--new-passphrase-file", str(new_file), *CHEAP, expect=1)  # fmt: skip
            assert "is open in another fieldkit process ('fieldkit serve')" in output
            assert "Stop it first" in output and "Nothing was changed" in output
        assert (kit.data_dir / KEYS_FILE).read_bytes() == before
    finally:
        stop(process)
    assert (kit.data_dir / IN_USE_FILE_NAME).exists()
    change(kit.data_dir, old_file, new_file, *CHEAP)  # serve gone: the change goes through
    assert unlock(kit.data_dir, NEW)


def test_wipe_after_a_passphrase_change_still_erases(kit: KitFixture, client, app, files: tuple[Path, Path]) -> None:
    old_file, new_file = files
    make_drafts(kit, client, app, count=1)
    change(kit.data_dir, old_file, new_file, *CHEAP)
    config_id = unlock(kit.data_dir, NEW).config.kit_id
    # What a change killed before its rename leaves: a second copy of the keys, which wipe must erase too.
    leftover = kit.data_dir / f".{KEYS_FILE}.{'0' * 16}.tmp"
    leftover.write_bytes((kit.data_dir / KEYS_FILE).read_bytes())
    run("wipe", "--data", str(kit.data_dir), "--confirm", config_id)
    assert not (kit.data_dir / KEYS_FILE).exists()
    assert not leftover.exists()
    assert not (kit.data_dir / "drafts").exists()
    for passphrase in (PASSPHRASE, NEW):
        with pytest.raises(FieldkitError, match="keys were wiped"):
            unlock(kit.data_dir, passphrase)


def test_a_tampered_wrapped_layout_does_not_open(kit: KitFixture, files: tuple[Path, Path]) -> None:
    old_file, new_file = files
    change(kit.data_dir, old_file, new_file, *CHEAP)
    keys_path = kit.data_dir / KEYS_FILE
    good = keys_path.read_text()
    keys = json.loads(good)
    # The format is bound in: the wrapped layout read as the old one opens nothing.
    keys_path.write_text(json.dumps({**keys, "format": "fieldkit-kit/1"}))
    with pytest.raises(FieldkitError, match="wrong passphrase"):
        unlock(kit.data_dir, NEW)
    broken = dict(keys, wrapped_keys={"nonce": keys["wrapped_keys"]["nonce"], "wrapped": "AAAA"})
    keys_path.write_text(json.dumps(broken))
    with pytest.raises(FieldkitError, match="wrong passphrase"):
        unlock(kit.data_dir, NEW)
    keys_path.write_text(json.dumps({k: v for k, v in keys.items() if k != "wrapped_keys"}))
    with pytest.raises(FieldkitError, match=r"kit-keys\.json is damaged .*restore it from a backup"):
        unlock(kit.data_dir, NEW)
    keys_path.write_text(json.dumps({**keys, "kdf": {**keys["kdf"], "p": 99}}))
    with pytest.raises(FieldkitError, match="unreasonable scrypt cost"):
        unlock(kit.data_dir, NEW)
    keys_path.write_text(good)
    assert unlock(kit.data_dir, NEW)


def _which_opens(kit_dir: Path, passphrases: tuple[str, str]) -> list[str]:
    opened = []
    for passphrase in passphrases:
        try:
            unlock(kit_dir, passphrase)
        except FieldkitError as error:
            assert "wrong passphrase" in str(error), error
        else:
            opened.append(passphrase)
    return opened


@pytest.mark.slow
def test_a_passphrase_change_killed_at_any_moment_leaves_a_kit_that_opens(
    kit: KitFixture, client, app, tmp_path: Path
) -> None:
    drafts = make_drafts(kit, client, app, count=1)
    draft_key = unlock(kit.data_dir, PASSPHRASE).draft_key
    pair = (PASSPHRASE, NEW)
    files = {text: write(tmp_path, f"p{index}.txt", text) for index, text in enumerate(pair)}
    env = dict(os.environ, PYTHONUNBUFFERED="1")

    def command(current: str) -> list[str]:
        other = pair[1 - pair.index(current)]
        return [sys.executable, "-m", "fieldkit", "passphrase", "--data", str(kit.data_dir),
                "--passphrase-file", str(files[current]), "--new-passphrase-file", str(files[other]),
                "--kdf-work-factor", "14"]  # fmt: skip

    started = time.monotonic()
    subprocess.run(command(PASSPHRASE), check=True, capture_output=True, env=env)
    whole = time.monotonic() - started
    current = NEW
    rng = random.Random(20)
    outcomes = set()
    for _ in range(8):
        process = subprocess.Popen(command(current), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        time.sleep(rng.uniform(0.3, 1.1) * whole)
        process.send_signal(signal.SIGKILL)
        process.wait(30)
        opened = _which_opens(kit.data_dir, pair)
        assert len(opened) == 1, "exactly one passphrase opens the kit after a kill"
        outcomes.add(opened[0] == current)
        current = opened[0]
        assert unlock(kit.data_dir, current).draft_key == draft_key
        store = DraftStore(kit.data_dir / "drafts", draft_key)
        assert [store.load(draft_id).draft_id for draft_id in drafts] == list(drafts)
    assert outcomes, "the kills happened"
    # A kill between writing the new keys and renaming them may leave a temporary file:
    # the next change removes it, so no second copy of the keys outlives a wipe.
    subprocess.run(command(current), check=True, capture_output=True, env=env)
    assert not [p.name for p in kit.data_dir.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.slow
def test_init_and_passphrase_choose_the_scrypt_cost_for_this_machine(
    tmp_path: Path, hub_keys: Path, files: tuple[Path, Path]
) -> None:
    old_file, new_file = files
    kit_dir = tmp_path / "measured"
    output = run("init", "--data", str(kit_dir), "--hub-recipient-file", str(hub_keys / "hub-recipient.txt"),
                 "--passphrase-file", str(old_file))  # fmt: skip
    chosen = re.search(r"scrypt N=2\^(\d+), r=8, p=(\d+) \(128 MiB\), about ([\d.]+) s per unlock", output)
    assert chosen, output
    kdf = json.loads((kit_dir / KEYS_FILE).read_text())["kdf"]
    assert (kdf["work_factor"], kdf["p"]) == (int(chosen[1]), int(chosen[2]))
    assert kdf["work_factor"] == DEFAULT_WORK_FACTOR  # never below today's strength; 2**18 would not fit the unit
    assert 1 <= kdf["p"] <= MAX_PARALLEL and kdf["r"] == 8
    output = change(kit_dir, old_file, new_file)
    chosen = re.search(r"scrypt N=2\^(\d+), r=8, p=(\d+) \(128 MiB\), about [\d.]+ s per unlock", output)
    assert chosen, output
    kdf = json.loads((kit_dir / KEYS_FILE).read_text())["kdf"]
    assert (kdf["work_factor"], kdf["p"]) == (DEFAULT_WORK_FACTOR, int(chosen[2]))
    assert unlock(kit_dir, NEW)


def test_handover_dry_run_shows_the_state_and_changes_nothing(
    kit: KitFixture, client, app, files: tuple[Path, Path]
) -> None:
    make_drafts(kit, client, app, count=2)
    run("simulate", "--data", str(kit.data_dir), "--responses", "3", "--seed", "1",
        "--passphrase-file", str(files[0]))  # fmt: skip
    before = {p.name: p.read_bytes() for p in kit.data_dir.iterdir() if p.is_file()}
    output = run("handover", "--data", str(kit.data_dir), "--dry-run")  # no passphrase asked
    assert "sealed records held: 3; waiting for the hub: 3" in output
    assert "unfinished interviews (drafts): 2" in output
    assert "no hub address is set" in output
    assert "Dry run: nothing was changed" in output
    assert "change the kit passphrase" in output and "change the operator credential" in output
    assert "Checklist" in output and "certificate fingerprint card" in output
    assert {p.name: p.read_bytes() for p in kit.data_dir.iterdir() if p.is_file()} == before
    assert unlock(kit.data_dir, PASSPHRASE)


def test_handover_changes_the_passphrase_and_prints_the_checklist(
    kit: KitFixture, client, app, files: tuple[Path, Path]
) -> None:
    old_file, new_file = files
    drafts = make_drafts(kit, client, app, count=1)
    draft_key = unlock(kit.data_dir, PASSPHRASE).draft_key
    operator_file = write(old_file.parent, "operator.txt", "the new holder's operator password")
    same_file = write(old_file.parent, "same.txt", NEW)
    # An operator password equal to the new passphrase is refused before anything changes.
    refused = run("handover", "--data", str(kit.data_dir), "--passphrase-file", str(old_file),
                  "--new-passphrase-file", str(new_file), "--operator-password-file", str(same_file), *CHEAP,
                  expect=1)  # fmt: skip
    assert "operator password" in refused.lower()
    assert unlock(kit.data_dir, PASSPHRASE).draft_key == draft_key  # the old passphrase still opens
    output = run("handover", "--data", str(kit.data_dir), "--passphrase-file", str(old_file),
                 "--new-passphrase-file", str(new_file), "--operator-password-file", str(operator_file),
                 *CHEAP)  # fmt: skip
    verifier = load_verifier(load_config(kit.data_dir))
    assert verifier is not None and verifier.check("the new holder's operator password")
    assert f"Kit {unlock(kit.data_dir, NEW).config.kit_id}" in output
    assert "sealed records held: 0; waiting for the hub: 0" in output
    assert "unfinished interviews (drafts): 1" in output
    assert "The kit passphrase of" in output and "the old one no longer opens it" in output
    assert "operator password of" in output and "no longer logs in" in output
    assert "The old holder keeps nothing" in output
    with pytest.raises(FieldkitError, match="wrong passphrase"):
        unlock(kit.data_dir, PASSPHRASE)
    store = DraftStore(kit.data_dir / "drafts", unlock(kit.data_dir, NEW).draft_key)
    assert store.load(next(iter(drafts))).draft_id in drafts
    assert unlock(kit.data_dir, NEW).draft_key == draft_key
    # A wrong current passphrase: the state is shown, nothing changes, one clear error.
    again = run("handover", "--data", str(kit.data_dir), "--passphrase-file", str(old_file),
                "--new-passphrase-file", str(new_file), "--operator-password-file", str(operator_file), *CHEAP,
                expect=1)  # fmt: skip
    assert again.rstrip().splitlines()[-1] == "Error: wrong passphrase for this kit"
    assert unlock(kit.data_dir, NEW)

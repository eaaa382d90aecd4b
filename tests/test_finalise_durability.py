"""Finalising survives SIGKILL at any instant, a full disk and a failing fsync."""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from fieldkit.core import paths
from fieldkit.core.crypto import age
from fieldkit.core.crypto.hubkeys import generate_hub_keys, load_hub_identities
from fieldkit.core.formengine.catalogue import load_directory
from fieldkit.core.storage.atomic import StorageError
from fieldkit.core.storage.records import RecordStore
from fieldkit.kit.config import init_kit, unlock
from fieldkit.kit.drafts import Draft, DraftStore
from fieldkit.kit.sealing import Finaliser
from fieldkit.kit.simulate import random_answers
from tests.crash_trials import (
    ForkServer,
    TrialBudget,
    WatchedChild,
    required_interrupted,
    seconds_budget,
    sleep_shortly_after,
)

PASSPHRASE = "a kit passphrase for tests"

# Imported once by the fork server, so each trial's child starts at once (tests/crash_trials.py).
CHILD_IMPORTS = """
import sys
from pathlib import Path
from fieldkit.core import paths
from fieldkit.cli.kit import finaliser_for
from fieldkit.core.formengine.catalogue import load_directory
from fieldkit.kit.config import unlock
from fieldkit.kit.simulate import simulate
"""
CHILD = CHILD_IMPORTS + """
kit = unlock(Path(sys.argv[1]), sys.argv[2])
forms = load_directory(paths.forms_dir())
records = simulate(finaliser_for(kit), forms, 10_000, seed=int(sys.argv[3]))
print("ready", flush=True)
while True:
    # "begin" before each interview is made and sealed, its record id once it is durable:
    # a kill after a "begin" with no id after it interrupted a finalise under way.
    print("begin", flush=True)
    print(next(records), flush=True)
"""
TRIALS = 100
SECONDS = 180


@pytest.fixture
def kit_and_hub(tmp_path: Path):
    hub = generate_hub_keys(tmp_path / "hub", None)
    config = init_kit(tmp_path / "kit", hub.recipient, PASSPHRASE, work_factor=10)
    return config.data_dir, load_hub_identities(hub.identity_path, None)


@pytest.mark.slow
def test_sigkill_while_finalising_never_loses_a_printed_record(kit_and_hub) -> None:
    data_dir, identities = kit_and_hub
    rng = random.Random(1234)
    printed: list[str] = []
    checked: set[str] = set()
    interrupted = 0
    budget = TrialBudget(TRIALS, seconds_budget(SECONDS))
    children = ForkServer(CHILD_IMPORTS, text=True)
    for trial in budget:
        child = WatchedChild(children.spawn(CHILD, [str(data_dir), PASSPHRASE, str(trial)]))
        try:
            # The child unlocked the kit and started: the kit opens after every kill.
            child.wait_for(lambda line: line == "ready")
            # Kill only after seeing a record sealed, a random part of the time that very
            # record took later: that lands inside the next finalise at any machine speed.
            began, _ = child.wait_for(lambda line: line == "begin")
            sealed, _ = child.wait_for(lambda line: line != "begin")
            sleep_shortly_after(rng, sealed - began)
        finally:
            lines = child.kill()
        assert child.process.returncode == -signal.SIGKILL, f"trial {trial}: the child stopped by itself"
        if lines[-1] == "begin":
            interrupted += 1  # it had started a record it had not acknowledged
        printed.extend(line for line in lines if line not in ("ready", "begin"))
        store = RecordStore(data_dir)  # opens after every kill
        held = set(store.ids())
        missing = [record_id for record_id in printed if record_id not in held]
        assert not missing, f"trial {trial}: acknowledged records lost: {missing}"
        # Nothing torn: every complete record, acknowledged or not, opens with the hub key.
        for record_id in held - checked:
            ciphertext = store.get(record_id)
            assert store.metadata(record_id)["size"] == len(ciphertext), f"trial {trial}: {record_id} torn"
            payload = json.loads(age.decrypt(ciphertext, identities))
            assert payload["record_id"] == record_id
            checked.add(record_id)
    children.close()
    print(f"{budget.summary(interrupted)}; {len(printed)} records acknowledged")
    needed = required_interrupted(budget.run)
    assert interrupted >= needed, (
        f"only {budget.summary(interrupted)}, need {needed}: the kills missed the finalising"
    )
    store = RecordStore(data_dir)
    store.repair()
    assert set(printed) <= set(store.ids())
    # A draft left by a kill between put() and delete() still opens with the kit key.
    kit = unlock(data_dir, PASSPHRASE)
    drafts = DraftStore(data_dir / "drafts", kit.draft_key)
    for draft_id in drafts.ids():
        drafts.load(draft_id)


def _draft(form, rng: random.Random) -> Draft:
    draft = Draft(form_id=form.id, form_version=form.version, language="en", owner="t", started="2026-01-01T10:00Z")
    draft.answers = random_answers(form, rng)
    return draft


def test_failing_fsync_during_finalise_is_a_clear_error_and_keeps_the_draft(kit_and_hub) -> None:
    data_dir, identities = kit_and_hub
    kit = unlock(data_dir, PASSPHRASE)
    form = load_directory(paths.forms_dir())["peer-interview"]
    drafts = DraftStore(data_dir / "drafts", kit.draft_key)
    rng = random.Random(5)
    earlier = Finaliser(kit, RecordStore(data_dir), drafts).finalise(form, _draft(form, rng))

    def failing_fsync(fd: int) -> None:
        raise OSError(errno.EIO, "injected fsync failure")

    draft = _draft(form, rng)
    drafts.save(draft)
    broken = Finaliser(kit, RecordStore(data_dir, fsync=failing_fsync), drafts)
    with pytest.raises(StorageError, match="write error"):
        broken.finalise(form, draft)
    assert drafts.load(draft.draft_id).answers == draft.answers
    store = RecordStore(data_dir)
    assert list(store.ids()) == [earlier]
    json.loads(age.decrypt(store.get(earlier), identities))
    retried = Finaliser(kit, store, drafts).finalise(form, draft)
    assert set(store.ids()) == {earlier, retried}


@pytest.mark.skipif(sys.platform != "linux", reason="tmpfs is Linux-only")
def test_full_disk_during_finalise_is_a_clear_error_and_keeps_earlier_records(tmp_path: Path) -> None:
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=320k", "tmpfs", str(mount_point)], capture_output=True
    )
    if mounted.returncode != 0:
        reason = f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        hub = generate_hub_keys(tmp_path / "hub", None)
        config = init_kit(mount_point / "kit", hub.recipient, PASSPHRASE, work_factor=10)
        kit = unlock(config.data_dir, PASSPHRASE)
        form = load_directory(paths.forms_dir())["centre-assessment"]
        drafts = DraftStore(config.data_dir / "drafts", kit.draft_key)
        finaliser = Finaliser(kit, RecordStore(config.data_dir), drafts)
        rng = random.Random(9)
        saved = []
        ballast = mount_point / "ballast"
        with pytest.raises(StorageError, match="disk is full"):
            for _ in range(10_000):
                draft = _draft(form, rng)
                drafts.save(draft)
                saved.append(finaliser.finalise(form, draft))
                with ballast.open("ab") as handle:
                    handle.write(b"\0" * 8192)
        store = RecordStore(config.data_dir)
        assert set(saved) <= set(store.ids())
        identities = load_hub_identities(hub.identity_path, None)
        for record_id in saved:
            json.loads(age.decrypt(store.get(record_id), identities))
        ballast.unlink()
        pending = [draft_id for draft_id in drafts.ids()]
        for draft_id in pending:
            saved.append(finaliser.finalise(form, drafts.load(draft_id)))
        assert set(saved) == set(store.ids())
    finally:
        subprocess.run(["umount", str(mount_point)], check=False)

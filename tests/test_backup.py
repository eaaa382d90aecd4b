"""Backups that restore (kit and hub), SIGKILL during a backup, a read-only data folder, and
``wipe`` that will not strand unsent records: through the real CLI, real files, real processes."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fieldkit.core.storage.atomic import ensure_private_dir, is_temp_file_name
from fieldkit.core.storage.backup import MANIFEST_NAME
from fieldkit.core.storage.records import RecordStore
from fieldkit.kit.config import unlock
from fieldkit.kit.drafts import Draft, DraftStore
from sync.hub.store import HubStore, HubStoreError, init_hub
from tests.bundle_corpus import HUB_RECIPIENT, enrol_key, make_bundle, sealed_records
from tests.conftest import scan_for
from tests.hub_backend import on_postgres
from tests.sync_cli import PASSPHRASE, enrolled_pair, export, held, run, simulate

CANARY = "CANARY-backup-7f3a1c"


def file_hashes(root: Path, *, leave_out: tuple[str, ...] = ()) -> dict[str, str]:
    """Relative path -> SHA-256 of every file a backup should hold (no hidden names, no cache)."""
    found = {}
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        hidden = any(part.startswith(".") for part in relative.parts)
        side_file = str(relative).endswith(("-wal", "-shm"))
        if path.is_file() and not hidden and not side_file and relative.parts[0] not in leave_out:
            found[relative.as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def leftovers(folder: Path) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.startswith("."))


# --- Kit ---------------------------------------------------------------------------------


@pytest.fixture
def kit_with_records(tmp_path: Path, hub_keys: Path, passphrase_file: Path) -> tuple[Path, Path]:
    hub, kit = enrolled_pair(tmp_path, hub_keys, passphrase_file)
    run(
        "simulate", "--data", kit, "--responses", 4, "--seed", 3, "--text-answer", CANARY,
        "--passphrase-file", passphrase_file,
    )  # fmt: skip
    unlocked = unlock(kit, PASSPHRASE)
    drafts = DraftStore(kit / "drafts", unlocked.draft_key)
    draft = Draft(form_id="peer-interview", form_version=1, language="en", owner="s", started="")
    draft.answers = {"what_change": CANARY}
    drafts.save(draft)
    (kit / "cache").mkdir()
    (kit / "cache" / "compiled.mo").write_bytes(b"rebuilt at start")
    return hub, kit


def test_a_kit_backup_restores_the_same_kit_and_holds_no_plaintext(
    tmp_path: Path, kit_with_records: tuple[Path, Path], passphrase_file: Path
) -> None:
    _hub, kit = kit_with_records
    assert scan_for(CANARY, kit) == []  # the premise: nothing in clear on the kit's disk
    backups = tmp_path / "backups"
    backups.mkdir()
    out = backups / "kit.tar"
    result = run("backup", "--data", kit, "--out", out)
    assert "the backup of kit" in result.output
    data = out.read_bytes()
    for pattern in (CANARY.encode("utf-8"), CANARY.encode("utf-16-le")):
        assert pattern not in data
    assert leftovers(backups) == []
    with tarfile.open(out) as tar:
        names = tar.getnames()
    assert names[-1] == MANIFEST_NAME
    assert not any(name.startswith("cache") or name.startswith(".") for name in names)
    assert "kit-keys.json" in names and "sync.json" in names

    restored = tmp_path / "restored"
    run("restore", "--from", out, "--data", restored)
    assert file_hashes(restored) == file_hashes(kit, leave_out=("cache",))
    assert oct(restored.stat().st_mode & 0o777) == "0o700"
    assert run("sync", "status", "--data", restored).output == run("sync", "status", "--data", kit).output
    # The restored kit unlocks with the passphrase, and its draft opens with the derived key.
    again = unlock(restored, PASSPHRASE)
    restored_drafts = DraftStore(restored / "drafts", again.draft_key)
    assert [restored_drafts.load(draft_id).answers for draft_id in restored_drafts.ids()] == [{"what_change": CANARY}]
    # Both export the same records.
    first = export(kit, tmp_path / "a.bundle", passphrase_file).output
    second = export(restored, tmp_path / "b.bundle", passphrase_file).output
    assert first.split(":")[1] == second.split(":")[1]
    assert "4 records" in first


def test_a_kit_backup_while_interviews_are_finalised_is_consistent(
    tmp_path: Path, hub_keys: Path, passphrase_file: Path
) -> None:
    _hub, kit = enrolled_pair(tmp_path, hub_keys, passphrase_file)
    simulate(kit, passphrase_file, 2, seed=1)
    writer = _start("simulate", "--data", kit, "--responses", 40, "--seed", 9, "--passphrase-file", passphrase_file)
    outs: list[Path] = []
    with _closed(writer):
        while writer.poll() is None and len(outs) < 8:
            out = tmp_path / f"during-{len(outs)}.tar"
            run("backup", "--data", kit, "--out", out)
            outs.append(out)
        writer.wait(120)
    assert writer.returncode == 0 and outs
    counts_seen = set()
    for out in outs:
        restored = tmp_path / f"restored-{out.stem}"
        run("restore", "--from", out, "--data", restored)
        store = RecordStore(restored)
        assert store.repair() == []  # no record half written: the copy was made under the writer lock
        by_form: dict[str, int] = {}
        for record_id in store.ids():
            metadata = store.metadata(record_id)
            assert len(store.get(record_id)) == metadata["size"]
            by_form[metadata["form_id"]] = by_form.get(metadata["form_id"], 0) + 1
        assert store.counts() == by_form  # the kept counts agree with the records copied
        counts_seen.add(store.count())
    assert min(counts_seen) >= 2 and max(counts_seen) <= 42


def test_restore_refuses_a_folder_that_is_not_empty(tmp_path: Path, kit_with_records: tuple[Path, Path]) -> None:
    _hub, kit = kit_with_records
    out = tmp_path / "kit.tar"
    run("backup", "--data", kit, "--out", out)
    refused = run("restore", "--from", out, "--data", kit, expect=1)
    assert "is not empty" in refused.output and "Nothing was restored" in refused.output
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    run("restore", "--from", out, "--data", other, expect=1)
    assert os.listdir(other) == ["notes.txt"]
    # A hub backup is not restored as a kit.
    hub_out = tmp_path / "hub.tar"
    run("hub", "backup", "--data", tmp_path / "hub", "--out", hub_out)
    wrong = run("restore", "--from", hub_out, "--data", tmp_path / "new", expect=1)
    assert "fieldkit hub restore" in wrong.output
    assert not (tmp_path / "new").exists()


def _manifest_offset(data: bytes) -> int:
    """Where the manifest's header starts: a backup cut there was killed before writing it."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
        return next(member.offset for member in archive if member.name == MANIFEST_NAME)


def _tar(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def _member(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _manifest_for(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> tuple[tarfile.TarInfo, bytes]:
    import json

    files = [
        {"path": info.name, "size": len(data or b""), "sha256": hashlib.sha256(data or b"").hexdigest()}
        for info, data in members
    ]
    document = {"format": "fieldkit-backup-1", "kind": "kit", "id": "kit-x", "created": "2026", "files": files}
    return _member(MANIFEST_NAME, json.dumps(document).encode())


@pytest.mark.parametrize(
    "case",
    ["truncated", "bit-flip", "no-manifest", "dot-dot", "absolute", "symlink", "unlisted", "gzip", "temp-file"],
)
def test_restore_refuses_a_damaged_or_crafted_archive_and_writes_nothing(
    tmp_path: Path, kit_with_records: tuple[Path, Path], case: str
) -> None:
    _hub, kit = kit_with_records
    good = tmp_path / "good.tar"
    run("backup", "--data", kit, "--out", good)
    data = good.read_bytes()
    bad = tmp_path / "bad.tar"
    if case == "truncated":
        bad.write_bytes(data[: len(data) // 2])
    elif case == "bit-flip":
        with tarfile.open(good) as tar:
            member = tar.getmember("kit-keys.json")
        flipped = bytearray(data)
        flipped[member.offset_data + 10] ^= 1
        bad.write_bytes(bytes(flipped))
    elif case == "no-manifest":
        bad.write_bytes(_tar([_member("kit.json", b"{}")]))
    elif case in ("dot-dot", "absolute", "unlisted"):
        name = {"dot-dot": "../escaped.txt", "absolute": "/tmp/escaped.txt", "unlisted": "kit.json"}[case]
        members: list[tuple[tarfile.TarInfo, bytes | None]] = [_member(name, b"x")]
        manifest = _manifest_for([] if case == "unlisted" else members)
        bad.write_bytes(_tar([*members, manifest]))
    elif case == "symlink":
        link = tarfile.TarInfo("kit.json")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        bad.write_bytes(_tar([(link, None), _manifest_for([])]))
    elif case == "gzip":
        import gzip

        bad.write_bytes(gzip.compress(data))
    elif case == "temp-file":
        bad = tmp_path / f".good.tar.{'0' * 16}.tmp"
        bad.write_bytes(data[: _manifest_offset(data)])  # a backup killed before its manifest
    target = tmp_path / "restored"
    before = sorted(os.listdir(tmp_path))
    refused = run("restore", "--from", bad, "--data", target, expect=1)
    assert "Nothing was restored" in refused.output or "nothing was restored" in refused.output
    assert sorted(os.listdir(tmp_path)) == before  # no target, no hidden staging folder
    assert not Path("/tmp/escaped.txt").exists() and not (tmp_path / "escaped.txt").exists()


# --- Hub ---------------------------------------------------------------------------------


def test_a_hub_backup_restores_the_same_records_and_export(
    tmp_path: Path, hub_keys: Path, passphrase_file: Path
) -> None:
    hub, kit = enrolled_pair(tmp_path, hub_keys, passphrase_file)
    simulate(kit, passphrase_file, 5, seed=11)
    export(kit, tmp_path / "one.bundle", passphrase_file)
    run("hub", "import", "--data", hub, tmp_path / "one.bundle")
    out = tmp_path / "hub.tar"
    result = run("hub", "backup", "--data", hub, "--out", out)
    assert "receipt-key.pem" in result.output  # warned: the signing key is in the backup as stored
    with tarfile.open(out) as tar:
        names = tar.getnames()
    assert "hub.sqlite" in names and not any(name.endswith(("-wal", "-shm")) for name in names)
    assert not any("identity" in name for name in names)
    restored = tmp_path / "hub-restored"
    run("hub", "restore", "--from", out, "--data", restored)
    with HubStore(hub) as original, HubStore(restored) as copy:
        assert copy.record_count() == original.record_count() == 5
        assert copy.state_digest() == original.state_digest()
    assert held(restored) == held(hub)
    identity = hub_keys / "hub-identity.txt"
    run("hub", "export", "--data", hub, "--identity", identity, "--out", tmp_path / "export-a")
    run("hub", "export", "--data", restored, "--identity", identity, "--out", tmp_path / "export-b")
    tables_a, tables_b = file_hashes(tmp_path / "export-a"), file_hashes(tmp_path / "export-b")
    assert tables_a.pop("datapackage.json") and tables_b.pop("datapackage.json")  # it says when it was made
    assert tables_a == tables_b and len(tables_a) > 1


def _big_hub(tmp_path: Path, bundles: int = 4, per_bundle: int = 500, size: int = 16_000) -> Path:
    """A hub holding bundles * per_bundle records of about ``size`` bytes each (tens of MB)."""
    hub = tmp_path / "big-hub"
    init_hub(hub, HUB_RECIPIENT)
    key = Ed25519PrivateKey.generate()
    with HubStore(hub) as store:
        enrol_key(store, key, "kit-big")
        for index in range(bundles):
            records = sealed_records("kit-big", per_bundle, first_seq=1 + index * per_bundle, seed=index, size=size)
            store.import_bundle(make_bundle(key, "kit-big", records))
    return hub


def _start(*args: object) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "fieldkit", *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def _kill_once_writing(process: subprocess.Popen, folder: Path, seconds: float = 60.0) -> str:
    """SIGKILL ``process`` once a hidden temporary file of its backup exists in ``folder`` and has bytes."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for name in os.listdir(folder):
            path = folder / name
            if name.startswith(".") and name.endswith(".tmp"):
                try:
                    files = [path] if path.is_file() else list(path.iterdir())
                    grown = any(file.stat().st_size > 0 for file in files)
                except FileNotFoundError:  # renamed or removed between the listing and the look
                    continue
                if grown and process.poll() is None:
                    process.send_signal(signal.SIGKILL)
                    process.wait(10)
                    return name
        if process.poll() is not None:
            break
    output = process.stdout.read().decode() if process.stdout else ""
    raise AssertionError(f"the backup finished (or never began) before it could be killed:\n{output}")


@contextlib.contextmanager
def _closed(process: subprocess.Popen) -> Iterator[subprocess.Popen]:
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["hub", "kit"])
def test_sigkill_during_a_backup_leaves_the_previous_backup_and_nothing_restorable(
    tmp_path: Path, hub_keys: Path, passphrase_file: Path, kind: str
) -> None:
    if kind == "hub":
        folder = _big_hub(tmp_path)
        command: tuple[object, ...] = ("hub", "backup", "--data", folder)
        restore: tuple[object, ...] = ("hub", "restore")
    else:
        _hub, folder = enrolled_pair(tmp_path, hub_keys, passphrase_file)
        # Many records, put through the real store (its fsyncs skipped only to fill it quickly).
        store = RecordStore(folder, fsync=lambda fd: None)
        for record in sealed_records("kit-big", 1200, size=12_000):
            metadata = {
                "record_id": record.record_id, "form_id": record.form_id, "form_version": record.form_version,
                "size": len(record.ciphertext), "day": record.day,
            }  # fmt: skip
            store.put(record.record_id, record.ciphertext, metadata)
        command = ("backup", "--data", folder)
        restore = ("restore",)
    backups = tmp_path / "backups"
    backups.mkdir()
    out = backups / "backup.tar"
    # A first, small backup: the one that must survive the killed run untouched.
    small = tmp_path / "small"
    shutil.copytree(folder, small)
    for extra in ("records",) if kind == "kit" else ():
        shutil.rmtree(small / extra)
    run(*command[:-1], small, "--out", out)
    previous = out.read_bytes()

    with _closed(_start(*command, "--out", out)) as process:
        killed_at = _kill_once_writing(process, backups)
    assert process.returncode == -signal.SIGKILL, killed_at
    assert out.read_bytes() == previous  # the previous complete backup, untouched
    for name in leftovers(backups):  # what the kill left is never taken for a backup
        leftover = backups / name
        assert is_temp_file_name(name) or name.endswith(".copy.tmp")
        if leftover.is_file():
            refused = run(*restore, "--from", leftover, "--data", tmp_path / "never", expect=1)
            assert "not a complete fieldkit backup" in refused.output
            assert not (tmp_path / "never").exists()
    # A new backup works, removes what the killed one left, and restores the folder.
    run(*command, "--out", out)
    assert leftovers(backups) == []
    restored = tmp_path / "restored"
    run(*restore, "--from", out, "--data", restored)
    assert file_hashes(restored) == file_hashes(folder) or kind == "hub"
    if kind == "hub":
        with HubStore(folder) as original, HubStore(restored) as copy:
            assert copy.state_digest() == original.state_digest()
            assert copy.record_count() == 2000


def test_a_backup_while_the_hub_merges_restores_a_consistent_database(tmp_path: Path) -> None:
    hub = _big_hub(tmp_path, bundles=1, per_bundle=200, size=2_000)
    key = Ed25519PrivateKey.generate()
    with HubStore(hub) as store:
        enrol_key(store, key, "kit-late")
        before = store.record_count()
    bundles = []
    for index in range(3):
        records = sealed_records("kit-late", 2000, first_seq=1 + index * 2000, seed=100 + index, size=4_000)
        path = tmp_path / f"late-{index}.bundle"
        path.write_bytes(make_bundle(key, "kit-late", records))
        bundles.append(path)
    possible = {before + 2000 * n for n in range(4)}
    with _closed(_start("hub", "import", "--data", hub, *bundles)) as importer:
        outs = []
        while importer.poll() is None and len(outs) < 6:
            out = tmp_path / f"during-{len(outs)}.tar"
            run("hub", "backup", "--data", hub, "--out", out)
            outs.append(out)
        importer.wait(120)
    assert importer.returncode == 0
    assert outs, "the import ended before a backup began"
    for out in outs:
        restored = tmp_path / f"restored-{out.stem}"
        run("hub", "restore", "--from", out, "--data", restored)
        if not on_postgres():  # (restored into PostgreSQL in that pass: FIELDKIT_HUB_DATABASE)
            connection = sqlite3.connect(restored / "hub.sqlite")
            try:
                assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            finally:
                connection.close()
        with HubStore(restored) as copy:
            assert copy.record_count() in possible


# --- Failing hardware: a read-only data folder ------------------------------------------


@contextlib.contextmanager
def read_only_view(folder: Path) -> Iterator[Path]:
    """``folder`` seen through a read-only bind mount: writes fail with EROFS even for root."""
    view = folder.parent / f"{folder.name}-ro"
    view.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        reason = "a read-only bind mount needs root and the mount command"
        if os.environ.get("CI") == "true" and os.geteuid() == 0:
            pytest.fail(reason)
        pytest.skip(reason)
    mounted = subprocess.run(["mount", "--bind", str(folder), str(view)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"bind mount refused: {mounted.stderr.strip()}")
    try:
        remount = subprocess.run(
            ["mount", "-o", "remount,ro,bind", str(view)], capture_output=True, text=True, check=False
        )
        if remount.returncode != 0:
            pytest.skip(f"read-only remount refused: {remount.stderr.strip()}")
        yield view
    finally:
        if subprocess.run(["umount", str(view)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(view)], check=True)  # still busy: detach it anyway


def test_a_read_only_kit_can_be_inspected_exported_and_backed_up(
    tmp_path: Path, kit_with_records: tuple[Path, Path], passphrase_file: Path
) -> None:
    _hub, kit = kit_with_records
    shutil.rmtree(kit / "cache")
    (kit / "records" / "counts.json").unlink()  # the counts must be counted, since none can be saved
    before = file_hashes(kit)
    with read_only_view(kit) as view:
        with pytest.raises(OSError):
            (view / "probe").write_bytes(b"")
        status = run("sync", "status", "--data", view)
        assert "4 held, 4 not yet acknowledged" in status.output
        assert "No form pack applied" in run("pack", "list", "--data", view).output
        refused = run("sync", "prune", "--data", view, expect=1)  # a writing command says what is wrong
        assert "the disk is read-only" in refused.output and "do not restore a backup over it" in refused.output
        exported = export(view, tmp_path / "rescue.bundle", passphrase_file)
        assert "4 records" in exported.output and "read-only" in exported.output
        run("backup", "--data", view, "--out", tmp_path / "rescue.tar")
        assert RecordStore(view).counts()
    assert file_hashes(kit) == before
    run("restore", "--from", tmp_path / "rescue.tar", "--data", tmp_path / "rescued")
    assert file_hashes(tmp_path / "rescued") == before


def test_ensure_private_dir_leaves_a_private_folder_alone(tmp_path: Path) -> None:
    folder = tmp_path / "private"
    folder.mkdir(mode=0o500)
    folder.chmod(0o500)  # made read-only, as a rescued copy is: already private, so no chmod
    ensure_private_dir(folder)
    assert folder.stat().st_mode & 0o777 == 0o500
    with read_only_view(tmp_path / "private") as view:
        assert ensure_private_dir(view) == view  # a chmod here would fail with EROFS
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    ensure_private_dir(shared)
    assert shared.stat().st_mode & 0o777 == 0o700


@pytest.mark.sqlite_only  # a read-only disk under hub.sqlite; a PostgreSQL server has its own
def test_a_read_only_hub_says_what_is_wrong_and_never_to_restore_over_it(
    tmp_path: Path, hub_keys: Path, passphrase_file: Path
) -> None:
    hub, kit = enrolled_pair(tmp_path, hub_keys, passphrase_file)
    simulate(kit, passphrase_file, 2, seed=5)
    export(kit, tmp_path / "late.bundle", passphrase_file)
    with read_only_view(hub) as view:
        assert "Records: 0 accepted" in run("hub", "status", "--data", view).output
        refused = run("hub", "import", "--data", view, tmp_path / "late.bundle", expect=1)
        assert "read-only" in refused.output and "do not restore a backup over it" in refused.output
        assert "copy the whole hub folder to another disk" in refused.output
        run("hub", "backup", "--data", view, "--out", tmp_path / "hub.tar")
    with pytest.raises(HubStoreError) as missing:
        HubStore(tmp_path / "nowhere")
    assert "restore the hub folder from a backup" not in str(missing.value)


# --- wipe --------------------------------------------------------------------------------


def test_wipe_refuses_while_records_wait_and_needs_their_exact_count(
    tmp_path: Path, hub_keys: Path, passphrase_file: Path
) -> None:
    _hub, kit = enrolled_pair(tmp_path, hub_keys, passphrase_file)
    simulate(kit, passphrase_file, 3, seed=2)
    kit_id = unlock(kit, PASSPHRASE).config.kit_id
    refused = run("wipe", "--data", kit, "--confirm", kit_id, expect=1)
    assert "3 records on this kit no hub has acknowledged" in refused.output
    assert "fieldkit sync export" in refused.output and "--abandon-unsent 3" in refused.output
    assert (kit / "kit-keys.json").exists()
    wrong = run("wipe", "--data", kit, "--confirm", kit_id, "--abandon-unsent", 2, expect=1)
    assert "does not match" in wrong.output and "Nothing was wiped" in wrong.output
    assert (kit / "kit-keys.json").exists()
    # Written to a bundle but never acknowledged: still refused, and it says why.
    export(kit, tmp_path / "one.bundle", passphrase_file)
    still = run("wipe", "--data", kit, "--confirm", kit_id, expect=1)
    assert "3 of them went into a bundle already" in still.output
    run("wipe", "--data", kit, "--confirm", kit_id, "--abandon-unsent", 3)
    assert not (kit / "kit-keys.json").exists()


def test_wipe_proceeds_once_a_hub_acknowledged_every_record(
    tmp_path: Path, hub_keys: Path, passphrase_file: Path
) -> None:
    hub, kit = enrolled_pair(tmp_path, hub_keys, passphrase_file)
    simulate(kit, passphrase_file, 2, seed=4)
    export(kit, tmp_path / "one.bundle", passphrase_file)
    receipts = tmp_path / "receipts"
    run("hub", "import", "--data", hub, "--receipt-out", receipts, tmp_path / "one.bundle")
    (receipt,) = receipts.iterdir()
    run("sync", "receipt", "--data", kit, receipt)
    kit_id = unlock(kit, PASSPHRASE).config.kit_id
    run("wipe", "--data", kit, "--confirm", kit_id)
    assert not (kit / "kit-keys.json").exists()

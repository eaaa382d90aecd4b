"""Durable storage: atomic writes, TinyDB on them, the writer lock, the record store.

Everything runs on real files in a temporary folder; the lock test uses a second,
real process holding a real flock.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
import subprocess
import sys
import tempfile
import threading
import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tinydb import Query, TinyDB

from fieldkit.core.errors import FieldkitError
from fieldkit.core.storage import (
    AtomicJSONStorage,
    RecordStore,
    StorageError,
    ensure_private_dir,
    fsync_dir,
    open_db,
    remove_durably,
    remove_temp_files,
    write_atomic,
    writer_lock,
)
from fieldkit.core.storage.atomic import is_temp_file_name
from tests.hypothesis_profiles import examples

REPO_ROOT = Path(__file__).resolve().parents[1]


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def temp_files_in(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*") if is_temp_file_name(p.name)]


def new_id() -> str:
    return str(uuid.uuid4())


def meta_for(record_id: str, ciphertext: bytes, /, **changes: object) -> dict[str, object]:
    metadata: dict[str, object] = {
        "record_id": record_id,
        "form_id": "centre-assessment",
        "form_version": 3,
        "size": len(ciphertext),
        "day": "2024-05-17",
    }
    metadata.update(changes)
    return metadata


# -- atomic writes ---------------------------------------------------------------------


def test_write_atomic_creates_and_replaces_content(tmp_path: Path) -> None:
    target = tmp_path / "answers.bin"
    write_atomic(target, b"first")
    assert target.read_bytes() == b"first"
    write_atomic(target, b"second, longer than the first")
    assert target.read_bytes() == b"second, longer than the first"
    write_atomic(target, b"")
    assert target.read_bytes() == b""
    assert temp_files_in(tmp_path) == []


def test_write_atomic_mode_is_exact_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        write_atomic(tmp_path / "a", b"x")
        write_atomic(tmp_path / "b", b"x", mode=0o640)
    finally:
        os.umask(previous)
    assert mode_of(tmp_path / "a") == 0o600
    assert mode_of(tmp_path / "b") == 0o640


def test_write_atomic_replacing_a_wider_file_narrows_it(tmp_path: Path) -> None:
    target = tmp_path / "settings.json"
    target.write_bytes(b"old")
    target.chmod(0o644)
    write_atomic(target, b"new")
    assert mode_of(target) == 0o600


def test_write_atomic_into_missing_folder_is_a_clear_storage_error(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "answers.bin"
    with pytest.raises(StorageError) as caught:
        write_atomic(target, b"data")
    error = caught.value
    assert isinstance(error, FieldkitError)
    assert error.errno == errno.ENOENT
    assert error.path == target
    assert "folder does not exist" in str(error)
    assert "Nothing was saved" in str(error)
    assert isinstance(error.__cause__, OSError)


def test_storage_error_wording_for_full_disk_and_write_error(tmp_path: Path) -> None:
    path = tmp_path / "x"
    full = StorageError.from_os_error(OSError(errno.ENOSPC, "No space left on device"), path)
    assert "the disk is full" in str(full) and "Nothing was saved" in str(full)
    assert "free some space" in str(full)
    assert full.disk_full and full.errno == errno.ENOSPC
    too_big = StorageError.from_os_error(OSError(errno.EFBIG, "File too large"), path)
    assert "the disk is full" in str(too_big) and too_big.disk_full
    broken = StorageError.from_os_error(OSError(errno.EIO, "Input/output error"), path)
    assert "the disk reported a write error" in str(broken) and not broken.disk_full


def test_fsync_dir_and_remove_durably(tmp_path: Path) -> None:
    fsync_dir(tmp_path)
    target = tmp_path / "gone"
    target.write_bytes(b"x")
    remove_durably(target)
    assert not target.exists()
    remove_durably(target)  # already gone is fine
    remove_durably(tmp_path / "never" / "there")
    with pytest.raises(StorageError):
        fsync_dir(tmp_path / "no-such-folder")


def test_remove_temp_files_removes_only_leftovers_of_that_target(tmp_path: Path) -> None:
    target = tmp_path / "db.json"
    leftover = tmp_path / ".db.json.0123456789abcdef.tmp"
    other_target_leftover = tmp_path / ".db.json.x.0123456789abcdef.tmp"
    for path in (target, leftover, other_target_leftover):
        path.write_bytes(b"x")
    assert remove_temp_files(target) == [leftover]
    assert target.exists() and other_target_leftover.exists() and not leftover.exists()


def test_ensure_private_dir_creates_nested_folders_0700(tmp_path: Path) -> None:
    deep = tmp_path / "data" / "drafts" / "ab"
    assert ensure_private_dir(deep) == deep
    for folder in (tmp_path / "data", tmp_path / "data" / "drafts", deep):
        assert folder.is_dir() and mode_of(folder) == 0o700


def test_ensure_private_dir_tightens_an_existing_folder(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    ensure_private_dir(folder)
    assert mode_of(folder) == 0o700


@settings(max_examples=examples(60), deadline=None)
@given(st.binary(max_size=20_000))
def test_write_atomic_round_trips_any_bytes(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "blob"
        target.write_bytes(b"previous")
        write_atomic(target, data)
        assert target.read_bytes() == data
        assert temp_files_in(Path(folder)) == []


# -- TinyDB on atomic writes -----------------------------------------------------------


def test_tinydb_insert_update_search_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "data" / "kit.json"
    db = open_db(path)
    assert isinstance(db.storage, AtomicJSONStorage)
    settings_table = db.table("settings")
    settings_table.insert({"key": "language", "value": "fr"})
    settings_table.insert({"key": "kit_name", "value": "Kit Nord"})
    settings_table.update({"value": "ar"}, Query().key == "language")
    db.table("outbox").insert({"sequence": 1})
    db.close()

    reopened = open_db(path)
    found = reopened.table("settings").search(Query().key == "language")
    assert [doc["value"] for doc in found] == ["ar"]
    assert len(reopened.table("settings")) == 2
    assert reopened.table("outbox").all() == [{"sequence": 1}]
    reopened.close()

    assert mode_of(path) == 0o600
    assert mode_of(path.parent) == 0o700
    raw = path.read_text(encoding="utf-8")
    assert " " not in raw.replace("Kit Nord", "")  # compact separators
    parsed = json.loads(raw)
    assert raw == json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert temp_files_in(tmp_path) == []


def test_tinydb_storage_keeps_non_ascii_text(tmp_path: Path) -> None:
    db = TinyDB(tmp_path / "kit.json", storage=AtomicJSONStorage)
    db.insert({"centre": "مركز العلاج", "note": "centre de traitement"})
    db.close()
    assert TinyDB(tmp_path / "kit.json", storage=AtomicJSONStorage).all()[0]["centre"] == (
        "مركز العلاج"
    )


def test_tinydb_storage_missing_or_empty_file_reads_as_empty(tmp_path: Path) -> None:
    storage = AtomicJSONStorage(tmp_path / "none.json")
    assert storage.read() is None
    assert not (tmp_path / "none.json").exists()  # reading does not create the file
    (tmp_path / "empty.json").write_bytes(b"")
    assert AtomicJSONStorage(tmp_path / "empty.json").read() is None


def test_tinydb_storage_refuses_a_file_it_did_not_write(tmp_path: Path) -> None:
    broken = tmp_path / "kit.json"
    broken.write_bytes(b'{"_default": {"1": {"a"')
    with pytest.raises(StorageError, match="not valid JSON"):
        AtomicJSONStorage(broken).read()
    broken.write_bytes(b"[1, 2]")
    with pytest.raises(StorageError, match="does not hold a TinyDB database"):
        AtomicJSONStorage(broken).read()


# -- writer lock -----------------------------------------------------------------------

LOCK_HOLDER = """
import sys
from pathlib import Path
from fieldkit.core.storage import writer_lock

with writer_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    sys.stdin.read()  # hold until the parent closes our stdin
"""


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def test_writer_lock_excludes_another_process(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=child_env(),
    )
    try:
        assert holder.stdout is not None and holder.stdin is not None
        assert holder.stdout.readline() == b"locked\n"
        with pytest.raises(StorageError, match="busy"), writer_lock(tmp_path, timeout=0.3):
            pass
        holder.stdin.close()
        assert holder.wait(timeout=10) == 0
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    with writer_lock(tmp_path, timeout=5):
        pass
    assert mode_of(tmp_path / ".lock") == 0o600


def test_writer_lock_is_released_when_its_holder_is_killed(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=child_env(),
    )
    assert holder.stdout is not None and holder.stdin is not None
    assert holder.stdout.readline() == b"locked\n"
    holder.kill()
    holder.wait()
    holder.stdout.close()
    holder.stdin.close()
    with writer_lock(tmp_path, timeout=5):
        pass


def test_writer_lock_is_reentrant_within_a_thread(tmp_path: Path) -> None:
    with writer_lock(tmp_path), writer_lock(tmp_path, timeout=1):
        store = RecordStore(tmp_path)  # put() takes the same lock inside
        record_id = new_id()
        store.put(record_id, b"sealed", meta_for(record_id, b"sealed"))
    assert record_id in store


def test_writer_lock_serialises_threads_doing_read_modify_write(tmp_path: Path) -> None:
    db = open_db(tmp_path / "kit.json")
    counters = db.table("counters")
    counters.insert({"name": "sequence", "value": 0})
    per_thread = 40

    def bump() -> None:
        for _ in range(per_thread):
            with writer_lock(tmp_path):
                current = counters.get(Query().name == "sequence")
                assert current is not None
                counters.update({"value": current["value"] + 1}, Query().name == "sequence")

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final = open_db(tmp_path / "kit.json").table("counters").get(Query().name == "sequence")
    assert final is not None and final["value"] == 4 * per_thread


def test_writer_lock_times_out_against_another_thread(tmp_path: Path) -> None:
    taken = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with writer_lock(tmp_path):
            taken.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert taken.wait(10)
        with pytest.raises(StorageError, match="busy"), writer_lock(tmp_path, timeout=0.1):
            pass
    finally:
        release.set()
        holder.join()


# -- record store ----------------------------------------------------------------------


def test_record_store_put_get_metadata_ids_count(tmp_path: Path) -> None:
    store = RecordStore(tmp_path)
    assert store.count() == 0 and list(store.ids()) == []
    stored: dict[str, bytes] = {}
    for n in range(12):
        record_id = new_id()
        ciphertext = hashlib.sha256(record_id.encode()).digest() * (n + 1)
        store.put(record_id, ciphertext, meta_for(record_id, ciphertext))
        stored[record_id] = ciphertext

    assert store.count() == 12
    assert list(store.ids()) == sorted(stored)
    for record_id, ciphertext in stored.items():
        assert record_id in store
        assert store.get(record_id) == ciphertext
        assert store.metadata(record_id) == meta_for(record_id, ciphertext)

    reopened = RecordStore(tmp_path)
    assert set(reopened.ids()) == set(stored)


def test_record_store_layout_and_permissions(tmp_path: Path) -> None:
    store = RecordStore(tmp_path / "data")
    record_id = "3f2a9c1e-0b7d-4e55-9a31-6c2d8e4f1a00"
    store.put(record_id, b"age-bytes", meta_for(record_id, b"age-bytes"))
    shard = tmp_path / "data" / "records" / "3f"
    assert sorted(p.name for p in shard.iterdir()) == [f"{record_id}.age", f"{record_id}.json"]
    for folder in (tmp_path / "data", tmp_path / "data" / "records", shard):
        assert mode_of(folder) == 0o700
    for file in shard.iterdir():
        assert mode_of(file) == 0o600
    sidecar = json.loads((shard / f"{record_id}.json").read_text(encoding="utf-8"))
    assert set(sidecar) == {"record_id", "form_id", "form_version", "size", "day"}


def test_record_store_put_is_idempotent_and_refuses_different_content(tmp_path: Path) -> None:
    store = RecordStore(tmp_path)
    record_id = new_id()
    store.put(record_id, b"sealed once", meta_for(record_id, b"sealed once"))
    store.put(record_id, b"sealed once", meta_for(record_id, b"sealed once"))  # retry: no-op
    with pytest.raises(StorageError, match="record already exists"):
        store.put(record_id, b"other bytes", meta_for(record_id, b"other bytes"))
    with pytest.raises(StorageError, match="record already exists"):
        store.put(record_id, b"sealed once", meta_for(record_id, b"sealed once", form_version=4))
    assert store.get(record_id) == b"sealed once"
    assert store.count() == 1


def test_record_store_unknown_id_is_a_key_error(tmp_path: Path) -> None:
    store = RecordStore(tmp_path)
    record_id = new_id()
    assert record_id not in store
    with pytest.raises(KeyError):
        store.get(record_id)
    with pytest.raises(KeyError):
        store.metadata(record_id)


@pytest.mark.parametrize(
    "bad_id",
    [
        "../x",
        "../../etc/passwd",
        "/tmp/x",
        "3F2A9C1E-0B7D-4E55-9A31-6C2D8E4F1A00",  # uppercase
        "3f2a9c1e0b7d4e559a316c2d8e4f1a00",  # no dashes
        "3f2a9c1e-0b7d-4e55-9a31-6c2d8e4f1a00\n",
        "3f2a9c1e-0b7d-4e55-9a31-6c2d8e4f1a0/",
        "",
    ],
)
def test_record_store_refuses_ids_that_are_not_lowercase_uuids(
    tmp_path: Path, bad_id: str
) -> None:
    store = RecordStore(tmp_path / "data")
    with pytest.raises(ValueError, match="lowercase UUID"):
        store.put(bad_id, b"x", meta_for(bad_id, b"x"))
    with pytest.raises(ValueError):
        store.get(bad_id)
    assert bad_id not in store
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"centre_name": "Centre A"}, "exactly"),
        ({"respondent_age": 34}, "exactly"),
        ({"record_id": str(uuid.UUID(int=1))}, "does not match"),
        ({"size": 999}, "ciphertext length"),
        ({"size": True}, "ciphertext length"),
        ({"day": "17/05/2024"}, "YYYY-MM-DD"),
        ({"day": "2024-02-30"}, "not a real date"),
        ({"form_version": "3"}, "whole number"),
        ({"form_id": ""}, "form_id"),
    ],
)
def test_record_store_enforces_the_clear_metadata_key_set(
    tmp_path: Path, changes: dict[str, object], message: str
) -> None:
    store = RecordStore(tmp_path)
    record_id = new_id()
    metadata = meta_for(record_id, b"sealed", **changes)
    with pytest.raises(ValueError, match=message):
        store.put(record_id, b"sealed", metadata)
    assert record_id not in store


def test_record_store_refuses_missing_metadata_keys(tmp_path: Path) -> None:
    store = RecordStore(tmp_path)
    record_id = new_id()
    metadata = meta_for(record_id, b"sealed")
    del metadata["day"]
    with pytest.raises(ValueError, match="missing: \\['day'\\]"):
        store.put(record_id, b"sealed", metadata)


def test_record_store_repair_removes_incomplete_writes_only(tmp_path: Path) -> None:
    store = RecordStore(tmp_path)
    complete = "ab000000-0000-4000-8000-000000000001"
    store.put(complete, b"complete", meta_for(complete, b"complete"))
    shard = tmp_path / "records" / "ab"
    # What a kill between the two renames leaves: a ciphertext without sidecar.
    incomplete = "ab000000-0000-4000-8000-000000000002"
    (shard / f"{incomplete}.age").write_bytes(b"half-done")
    # What a kill before a rename leaves: a temporary file.
    (shard / f".{complete}.json.0123456789abcdef.tmp").write_bytes(b"{")
    (shard / "README").write_bytes(b"not ours")

    assert list(store.ids()) == [complete]
    assert incomplete not in store
    with pytest.raises(KeyError):
        store.get(incomplete)

    removed = store.repair()
    assert removed == [
        f"records/ab/.{complete}.json.0123456789abcdef.tmp",
        f"records/ab/{incomplete}.age",
    ]
    assert sorted(p.name for p in shard.iterdir()) == [
        "README",
        f"{complete}.age",
        f"{complete}.json",
    ]
    assert store.repair() == []
    assert store.get(complete) == b"complete"


def test_record_store_reports_a_sidecar_changed_outside_fieldkit(tmp_path: Path) -> None:
    store = RecordStore(tmp_path)
    record_id = new_id()
    store.put(record_id, b"sealed", meta_for(record_id, b"sealed"))
    (tmp_path / "records" / record_id[:2] / f"{record_id}.json").write_bytes(b"{")
    with pytest.raises(StorageError, match="changed outside fieldkit"):
        store.metadata(record_id)


def test_record_store_put_completes_an_earlier_incomplete_write(tmp_path: Path) -> None:
    store = RecordStore(tmp_path)
    record_id = new_id()
    shard = ensure_private_dir(tmp_path / "records" / record_id[:2])
    (shard / f"{record_id}.age").write_bytes(b"half")
    store.put(record_id, b"whole record", meta_for(record_id, b"whole record"))
    assert store.get(record_id) == b"whole record"


@settings(max_examples=examples(40), deadline=None)
@given(record_uuid=st.uuids(), ciphertext=st.binary(min_size=0, max_size=5000))
def test_record_store_round_trips_random_bytes(record_uuid: uuid.UUID, ciphertext: bytes) -> None:
    record_id = str(record_uuid)
    with tempfile.TemporaryDirectory() as folder:
        store = RecordStore(Path(folder))
        store.put(record_id, ciphertext, meta_for(record_id, ciphertext))
        assert store.get(record_id) == ciphertext
        assert RecordStore(Path(folder)).metadata(record_id)["size"] == len(ciphertext)
        assert list(store.ids()) == [record_id]


# --- versioned JSON settings files ---------------------------------------------------------------


def _settings(path: Path, **hints: object):
    from fieldkit.core.storage.settings import read_settings

    return read_settings(path, expected_format="fieldkit-test/2", what="test settings file", missing="no such", **hints)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "^no such$"),
        (b"\xff{}", r"cannot be read as a test settings file: it is not UTF-8 text .*; restore it from a backup$"),
        (b'{"format": "fieldkit-test/2",', r"cannot be read as a test settings file: it is not JSON \(.*line 1"),
        (b'["fieldkit-test/2"]', "is not a test settings file this version of fieldkit understands$"),
        (b'{"kit_id": "x"}', "is not a test settings file this version of fieldkit understands$"),
        (b'{"format": "fieldkit-other/2"}', "is not a test settings file this version of fieldkit understands$"),
        (b'{"format": "fieldkit-test/1"}', "is not a test settings file this version of fieldkit understands$"),
        (b'{"format": "fieldkit-test/3"}', r"from a newer version of fieldkit \(fieldkit-test/3\); upgrade fieldkit"),
    ],
    ids=["missing", "not-utf8", "not-json", "not-an-object", "no-format", "other-kind", "older", "newer"],
)
def test_a_settings_file_that_cannot_be_used_is_one_clear_error(tmp_path: Path, content, message: str) -> None:
    path = tmp_path / "test.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(FieldkitError, match=message) as raised:
        _settings(path)
    assert content is None or str(path) in str(raised.value)


def test_an_unreadable_settings_file_names_the_file_and_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "test.json").mkdir()  # a folder where the file should be: reading it fails as root too
    with pytest.raises(FieldkitError, match=r"test\.json cannot be read as a test settings file: .*; check that"):
        _settings(tmp_path / "test.json")


def test_a_settings_file_is_read_with_the_callers_hint_and_error_class(tmp_path: Path) -> None:
    class OwnError(FieldkitError):
        pass

    path = tmp_path / "test.json"
    path.write_text('{"format": "fieldkit-test/2", "id": "a"}', encoding="utf-8")
    assert _settings(path) == {"format": "fieldkit-test/2", "id": "a"}
    path.write_text("{", encoding="utf-8")
    with pytest.raises(OwnError, match=r"; run the repair$"):
        _settings(path, damaged="run the repair", error=OwnError)

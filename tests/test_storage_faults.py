"""Storage under real faults: a failing fsync, a full disk, and a kill at any instant.

- fsync failures are injected by wrapping the real ``os.fsync`` (the OS call, not our
  code) and are the only simulated part.
- The full disk is a real one: a 256 KiB tmpfs mounted for the test (needs root). A
  per-file size limit (RLIMIT_FSIZE, errno EFBIG) gives a second real "no room" path
  that works without root.
- The crash test SIGKILLs a real writer process at random instants and checks that
  every acknowledged record survives intact and nothing is torn.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tinydb import Query, TinyDB

from fieldkit.core.storage import (
    RecordStore,
    StorageError,
    open_db,
    remove_temp_files,
    write_atomic,
)
from fieldkit.core.storage.atomic import is_temp_file_name
from fieldkit.core.storage.tinydb_storage import AtomicJSONStorage
from tests.crash_trials import TrialBudget, WatchedChild, required_interrupted, seconds_budget, sleep_shortly_after

REPO_ROOT = Path(__file__).resolve().parents[1]


def temp_files_in(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*") if is_temp_file_name(p.name)]


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def meta_for(record_id: str, ciphertext: bytes) -> dict[str, object]:
    return {
        "record_id": record_id,
        "form_id": "centre-assessment",
        "form_version": 1,
        "size": len(ciphertext),
        "day": "2024-05-17",
    }


def fsync_failing_on(calls: set[int], code: int = errno.EIO) -> Callable[[int], None]:
    """The real fsync, except that the listed calls (1-based) report a disk error."""
    count = 0

    def fsync(fd: int) -> None:
        nonlocal count
        count += 1
        os.fsync(fd)
        if count in calls:
            raise OSError(code, os.strerror(code))

    return fsync


# -- (1) failing fsync -----------------------------------------------------------------


def test_failing_file_fsync_keeps_old_content_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "answers.bin"
    write_atomic(target, b"old answers")

    with pytest.raises(StorageError) as caught:
        write_atomic(target, b"new answers", fsync=fsync_failing_on({1}))
    error = caught.value
    assert error.errno == errno.EIO
    assert "the disk reported a write error" in str(error)
    assert "Nothing was saved" in str(error)
    assert str(target) in str(error)
    assert isinstance(error.__cause__, OSError)
    assert target.read_bytes() == b"old answers"
    assert temp_files_in(tmp_path) == []

    write_atomic(target, b"new answers")  # the retry, without the fault
    assert target.read_bytes() == b"new answers"
    assert temp_files_in(tmp_path) == []


def test_failing_folder_fsync_is_not_reported_as_saved(tmp_path: Path) -> None:
    target = tmp_path / "answers.bin"
    write_atomic(target, b"old answers")
    # Call 1 flushes the file, call 2 the folder after the rename.
    with pytest.raises(StorageError, match="may not survive a power cut") as caught:
        write_atomic(target, b"new answers", fsync=fsync_failing_on({2}))
    assert caught.value.errno == errno.EIO
    assert temp_files_in(tmp_path) == []
    write_atomic(target, b"new answers")
    assert target.read_bytes() == b"new answers"


def test_failing_fsync_during_put_saves_nothing_and_retry_succeeds(tmp_path: Path) -> None:
    record_id = str(uuid.uuid4())
    ciphertext = b"sealed response" * 10
    # Fail the ciphertext's fsync, then (second store) the sidecar's.
    for failing_call in (1, 3):
        store = RecordStore(tmp_path, fsync=fsync_failing_on({failing_call}))
        with pytest.raises(StorageError, match="write error"):
            store.put(record_id, ciphertext, meta_for(record_id, ciphertext))
        assert record_id not in store
        assert store.count() == 0
        assert temp_files_in(tmp_path) == []
        assert store.repair() == []  # put tidied its own incomplete write

    RecordStore(tmp_path).put(record_id, ciphertext, meta_for(record_id, ciphertext))
    assert RecordStore(tmp_path).get(record_id) == ciphertext


def test_failing_fsync_in_tinydb_keeps_the_previous_state(tmp_path: Path) -> None:
    path = tmp_path / "kit.json"
    db = open_db(path)
    db.insert({"answer": "kept"})
    before = path.read_bytes()

    faulty = TinyDB(path, storage=AtomicJSONStorage, fsync=fsync_failing_on({1}))
    with pytest.raises(StorageError, match="write error"):
        faulty.insert({"answer": "lost, and the interviewer is told so"})
    assert path.read_bytes() == before
    assert open_db(path).all() == [{"answer": "kept"}]
    assert temp_files_in(tmp_path) == []


# -- (2) full disk ---------------------------------------------------------------------


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 256 KiB tmpfs, mounted for the test and unmounted afterwards."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    reason = None
    if os.geteuid() != 0:
        reason = "mounting a small tmpfs needs root"
    elif shutil.which("mount") is None:
        reason = "the mount command is not installed"
    else:
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", str(mount_point)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            reason = f"mounting a tmpfs was refused: {result.stderr.strip()}"
    if reason is not None:
        message = f"full-disk test needs a real small filesystem; {reason}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def fill_disk(folder: Path) -> Path:
    """Write a filler file until the filesystem refuses more; return its path."""
    filler = folder / "filler"
    chunk = b"\0" * 4096
    with open(filler, "wb", buffering=0) as handle:
        while True:
            try:
                handle.write(chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
    return filler


def test_full_disk_is_a_clear_error_and_loses_nothing(tiny_disk: Path) -> None:
    store = RecordStore(tiny_disk / "data")
    db = open_db(tiny_disk / "data" / "kit.json")
    db.insert({"outbox_sequence": 7})
    db_before = (tiny_disk / "data" / "kit.json").read_bytes()
    earlier: dict[str, bytes] = {}
    for _ in range(5):
        record_id = str(uuid.uuid4())
        earlier[record_id] = os.urandom(3000)
        store.put(record_id, earlier[record_id], meta_for(record_id, earlier[record_id]))

    filler = fill_disk(tiny_disk)

    record_id = str(uuid.uuid4())
    ciphertext = os.urandom(6000)
    with pytest.raises(StorageError) as caught:
        store.put(record_id, ciphertext, meta_for(record_id, ciphertext))
    error = caught.value
    assert error.errno == errno.ENOSPC and error.disk_full
    assert "the disk is full" in str(error)
    assert "Nothing was saved" in str(error)
    assert record_id not in store

    with pytest.raises(StorageError, match="the disk is full"):
        db.insert({"outbox_sequence": 8})
    target = tiny_disk / "data" / "kit.json"
    with pytest.raises(StorageError, match="the disk is full"):
        write_atomic(target, b"x" * 20_000)

    # Everything acknowledged before the disk filled up is intact; nothing half-written.
    assert target.read_bytes() == db_before
    assert open_db(target).all() == [{"outbox_sequence": 7}]
    for earlier_id, earlier_bytes in earlier.items():
        assert store.get(earlier_id) == earlier_bytes
    assert store.count() == len(earlier)
    assert temp_files_in(tiny_disk) == []
    assert store.repair() == []

    filler.unlink()
    store.put(record_id, ciphertext, meta_for(record_id, ciphertext))
    assert store.get(record_id) == ciphertext
    db.insert({"outbox_sequence": 8})
    assert len(open_db(target).all()) == 2


FILE_SIZE_LIMITED_WRITER = """
import json, resource, signal, sys
from pathlib import Path
from fieldkit.core.storage import StorageError, write_atomic

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))
try:
    write_atomic(Path(sys.argv[1]), b"n" * 200_000)
    print(json.dumps({"saved": True}))
except StorageError as error:
    print(json.dumps({"saved": False, "errno": error.errno, "message": str(error),
                      "disk_full": error.disk_full}))
"""


def test_file_size_limit_counts_as_a_full_disk(tmp_path: Path) -> None:
    target = tmp_path / "answers.bin"
    write_atomic(target, b"old answers")
    result = subprocess.run(
        [sys.executable, "-c", FILE_SIZE_LIMITED_WRITER, str(target)],
        capture_output=True,
        env=child_env(),
        check=True,
        timeout=30,
    )
    outcome = json.loads(result.stdout)
    assert outcome["saved"] is False
    assert outcome["errno"] == errno.EFBIG
    assert outcome["disk_full"] is True
    assert "the disk is full" in outcome["message"]
    assert target.read_bytes() == b"old answers"
    assert temp_files_in(tmp_path) == []


# -- (3) kill at a random instant ------------------------------------------------------

# The child derives each record's bytes from its id exactly as content_for() does, so
# the parent can tell an intact record from a torn or mixed-up one.
RECORD_WRITER = """
import hashlib, random, sys, uuid
from pathlib import Path
from fieldkit.core.storage import RecordStore

def content_for(record_id):
    digest = hashlib.sha256(record_id.encode()).digest()
    return digest * (1 + digest[0] * 32)

store = RecordStore(Path(sys.argv[1]))
rng = random.Random(int(sys.argv[2]))
print("ready", flush=True)
while True:
    record_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    data = content_for(record_id)
    print("begin", flush=True)  # a kill after this and before the id interrupted a put()
    store.put(record_id, data, {"record_id": record_id, "form_id": "crash-test",
                                "form_version": 1, "size": len(data), "day": "2024-05-17"})
    print(record_id, flush=True)
"""


def content_for(record_id: str) -> bytes:
    digest = hashlib.sha256(record_id.encode()).digest()
    return digest * (1 + digest[0] * 32)


def run_and_kill(script: str, args: list[str], rng: random.Random) -> tuple[list[str], bool]:
    """Start a writer, SIGKILL it at a random instant shortly after it acknowledged a
    write; return the lines it had completely printed (its acknowledgements) and
    whether the kill interrupted a write it had begun.

    The kill waits for observed progress, not a fixed time, and its delay is scaled by
    how long that acknowledged write took, so it lands in the next write or so
    whatever the machine's speed.
    """
    process = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE, env=child_env())
    child = WatchedChild(process)
    try:
        child.wait_for(lambda line: line == "ready")
        began, _ = child.wait_for(lambda line: line == "begin")
        acknowledged, _ = child.wait_for(lambda line: line != "begin")
        sleep_shortly_after(rng, acknowledged - began)
    finally:
        lines = child.kill()
    assert child.process.returncode == -signal.SIGKILL, "the writer stopped before it was killed"
    return [line for line in lines if line not in ("ready", "begin")], lines[-1] == "begin"


@pytest.mark.slow
def test_records_survive_sigkill_at_random_instants(tmp_path: Path) -> None:
    seed = random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    root = tmp_path / "data"
    RecordStore(root)
    checked: set[str] = set()
    interrupted = 0
    tidied_total = 0

    budget = TrialBudget(100, seconds_budget(120))
    for trial in budget:
        where = f"(seed {seed}, trial {trial})"
        acknowledged, cut = run_and_kill(RECORD_WRITER, [str(root), str(rng.randrange(2**63))], rng)
        interrupted += cut

        store = RecordStore(root)  # the store opens after any kill
        for record_id in acknowledged:
            assert record_id in store, f"acknowledged record {record_id} lost {where}"
            assert store.get(record_id) == content_for(record_id), f"{record_id} {where}"

        removed = store.repair()
        tidied_total += len(removed)
        removed_ids = {Path(p).name.lstrip(".").split(".")[0] for p in removed}
        assert not removed_ids & set(acknowledged), f"repair removed a saved record {where}"
        assert store.repair() == [], where

        # Every complete record (acknowledged or killed just before printing) is whole.
        for record_id in set(store.ids()) - checked:
            ciphertext = store.get(record_id)
            assert len(ciphertext) == store.metadata(record_id)["size"], f"torn {where}"
            assert ciphertext == content_for(record_id), f"{record_id} mixed up {where}"
            checked.add(record_id)
        assert set(acknowledged) <= checked

    observed = f"{budget.summary(interrupted)}, {tidied_total} left files for repair() (seed {seed})"
    print(observed)
    needed = required_interrupted(budget.run)
    assert interrupted >= needed, f"only {observed}, need {needed}: the kills missed the writes"
    # Kills landing inside put() must have left half-written files, or the crash window
    # was never hit.
    assert tidied_total > 0, f"no kill left a half-written record: {observed}"
    assert RecordStore(root).count() == len(checked)


TINYDB_WRITER = """
import random, sys
from pathlib import Path
from tinydb import Query, TinyDB
from fieldkit.core.storage import open_db, writer_lock

path = Path(sys.argv[1])
rng = random.Random(int(sys.argv[2]))
db = open_db(path)
current = db.get(Query().name == "counter")
n = current["n"] if current else 0
print("ready", flush=True)
while True:
    n += 1
    print("begin", flush=True)  # a kill after this and before the number interrupted a write
    with writer_lock(path.parent):
        db.upsert({"name": "counter", "n": n, "pad": "x" * rng.randrange(50_000)},
                  Query().name == "counter")
    print(n, flush=True)
"""


@pytest.mark.slow
def test_tinydb_file_survives_sigkill_at_random_instants(tmp_path: Path) -> None:
    seed = random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    path = tmp_path / "data" / "kit.json"
    open_db(path)
    last_acknowledged = 0
    interrupted = 0
    budget = TrialBudget(30, seconds_budget(60))
    for trial in budget:
        where = f"(seed {seed}, trial {trial})"
        printed, cut = run_and_kill(TINYDB_WRITER, [str(path), str(rng.randrange(2**63))], rng)
        interrupted += cut
        if printed:
            last_acknowledged = int(printed[-1])
        json.loads(path.read_bytes())  # never torn: the file always parses
        counter = open_db(path).get(Query().name == "counter")
        n = counter["n"] if counter else 0
        # The last acknowledged state, or the one after it if the kill came between
        # the write and the print.
        assert n in (last_acknowledged, last_acknowledged + 1), where
        last_acknowledged = n
        remove_temp_files(path)
        assert temp_files_in(path.parent) == [], where
    observed = f"{budget.summary(interrupted)} (seed {seed})"
    print(observed)
    needed = required_interrupted(budget.run)
    assert interrupted >= needed, f"only {observed}, need {needed}: the kills missed the writes"

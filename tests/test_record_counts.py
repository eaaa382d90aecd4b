"""The record store's kept counts: right after every put and delete, after a kill at any
step of either, and rebuilt from the records when the counts file is missing or edited."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest

from fieldkit.core.storage.checksummed import read_checksummed
from fieldkit.core.storage.records import COUNTS_FILE_NAME, RecordStore

FORMS = ("centre-assessment", "peer-interview")


def _metadata(record_id: str, ciphertext: bytes, form_id: str) -> dict[str, object]:
    return {"record_id": record_id, "form_id": form_id, "form_version": 1, "size": len(ciphertext), "day": "2026-05-17"}


def _fill(store: RecordStore, count: int, start: int = 0) -> list[str]:
    ids = []
    for number in range(start, start + count):
        record_id = str(uuid.UUID(int=number + 1))
        ciphertext = f"sealed {number}".encode()
        store.put(record_id, ciphertext, _metadata(record_id, ciphertext, FORMS[number % 2]))
        ids.append(record_id)
    return ids


def _truth(root: Path) -> dict[str, int]:
    """Counted the slow way: every sidecar on disk."""
    store = RecordStore(root)
    return dict(sorted(Counter(store.metadata(record_id)["form_id"] for record_id in store.ids()).items()))


def _counts_file(root: Path) -> Path:
    return root / "records" / COUNTS_FILE_NAME


def test_counts_follow_puts_retries_and_deletes(tmp_path: Path) -> None:
    store = RecordStore(tmp_path)
    assert store.counts() == {}
    ids = _fill(store, 7)
    assert store.counts() == {"centre-assessment": 4, "peer-interview": 3} == _truth(tmp_path)
    ciphertext = b"sealed 0"
    store.put(ids[0], ciphertext, _metadata(ids[0], ciphertext, FORMS[0]))  # a retry counts nothing
    assert store.delete([ids[0], ids[0], ids[1], str(uuid.UUID(int=999))]) == 2
    assert store.counts() == {"centre-assessment": 3, "peer-interview": 2} == _truth(tmp_path)
    assert store.delete(ids) == 5
    assert store.counts() == {} == _truth(tmp_path)
    assert read_checksummed(_counts_file(tmp_path)) is not None  # kept, never rebuilt


def test_a_missing_counts_file_is_rebuilt_from_the_records(tmp_path: Path) -> None:
    store = RecordStore(tmp_path)
    _fill(store, 5)
    _counts_file(tmp_path).unlink()
    assert RecordStore(tmp_path).counts() == {"centre-assessment": 3, "peer-interview": 2}
    assert read_checksummed(_counts_file(tmp_path)) is not None
    _counts_file(tmp_path).unlink()
    _fill(store, 1, start=5)  # a put rebuilds first, then counts its own record
    assert store.counts() == {"centre-assessment": 3, "peer-interview": 3} == _truth(tmp_path)


@pytest.mark.parametrize(
    "edit",
    [
        lambda text: text.replace('"peer-interview":2', '"peer-interview":2000'),  # digest no longer matches
        lambda text: text.replace('"centre-assessment":3', '"centre-assessment":0'),
        lambda text: text[: len(text) // 2],  # torn
        lambda text: "",
        lambda text: "[1, 2, 3]",
        lambda text: json.dumps({"sha256": "0" * 64, "doc": {"format": 1, "forms": {}, "journal": {}}}),
    ],
)
def test_an_edited_or_damaged_counts_file_is_rebuilt(tmp_path: Path, edit) -> None:
    store = RecordStore(tmp_path)
    _fill(store, 5)
    path = _counts_file(tmp_path)
    edited = edit(path.read_text())
    assert edited != path.read_text()
    path.write_text(edited)
    assert RecordStore(tmp_path).counts() == {"centre-assessment": 3, "peer-interview": 2}
    assert read_checksummed(path) is not None


def test_counts_with_a_valid_digest_but_impossible_values_are_rebuilt(tmp_path: Path) -> None:
    from fieldkit.core.storage.checksummed import write_checksummed

    store = RecordStore(tmp_path)
    _fill(store, 3)
    for doc in (
        {"format": 1, "forms": {"peer-interview": -4}, "journal": {}},
        {"format": 1, "forms": {"peer-interview": True}, "journal": {}},
        {"format": 1, "forms": {}, "journal": {"../x": ["peer-interview", 1]}},
        {"format": 1, "forms": {}, "journal": {str(uuid.UUID(int=1)): ["peer-interview", 5]}},
        {"format": 2, "forms": {}, "journal": {}},
    ):
        write_checksummed(_counts_file(tmp_path), doc)
        assert store.counts() == {"centre-assessment": 2, "peer-interview": 1}, doc


# A child that stores records through a RecordStore whose fsync kills the process at
# the N-th call: a SIGKILL at each step of put() and delete() in turn, the counts file
# write included, exactly where it lands, whatever the machine's speed.
CHILD = """
import os, signal, sys, uuid
from pathlib import Path
from fieldkit.core.storage.records import RecordStore

root, operation, kill_at = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
calls = 0

def fsync(fd):
    global calls
    calls += 1
    if calls == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    os.fsync(fd)

store = RecordStore(root, fsync=fsync)
if operation == "put":
    record_id = str(uuid.uuid4())
    store.put(record_id, b"new", {"record_id": record_id, "form_id": "peer-interview", "form_version": 1,
                                  "size": 3, "day": "2026-05-17"})
else:
    store.delete(sorted(store.ids())[:2])
print("done", flush=True)
"""


@pytest.mark.parametrize("operation", ["put", "delete"])
def test_counts_stay_right_after_a_kill_at_every_step(tmp_path: Path, operation: str) -> None:
    root = tmp_path / "kit"
    _fill(RecordStore(root), 4)
    killed = 0
    for kill_at in range(1, 20):
        finished = subprocess.run(
            [sys.executable, "-c", CHILD, str(root), operation, str(kill_at)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        if finished.returncode == 0:
            assert finished.stdout == "done\n"
            break  # the operation made fewer fsyncs than kill_at: every step was tried
        assert finished.returncode == -signal.SIGKILL, finished.stderr
        killed += 1
        # Read as the next kit start reads it: the file kept its digest (no rebuild needed),
        # and the journal makes it right whether or not the record reached the disk.
        assert read_checksummed(_counts_file(root)) is not None, f"killed at fsync {kill_at}"
        assert RecordStore(root).counts() == _truth(root), f"killed at fsync {kill_at}"
        if operation == "delete":
            _fill(RecordStore(root), 4 - sum(_truth(root).values()), start=100 + 10 * kill_at)
    assert killed >= 4, f"only {killed} kills landed inside {operation}"
    assert RecordStore(root).counts() == _truth(root)


def test_the_operator_summary_agrees_with_the_full_status(kit) -> None:
    from fieldkit.kit.outbox import Outbox

    _fill(RecordStore(kit.data_dir), 5)
    status = Outbox(kit.data_dir).status()
    assert Outbox(kit.data_dir).held_and_waiting() == (status.records, status.pending) == (5, 5)

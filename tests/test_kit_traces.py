"""What a sealed interview leaves behind on the kit beyond its ciphertext (issue 17, point 9).

Real finalise path, real files: a "yes" and a "no" seal to the same size, record files
carry only the day in their times, and acknowledgements in ``sync.json`` only the day.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import random
import re
from pathlib import Path

from fieldkit.core.crypto import age
from fieldkit.core.storage.records import RecordStore
from fieldkit.kit.config import load_config
from fieldkit.kit.drafts import Draft, DraftStore
from fieldkit.kit.outbox import SYNC_STATE_FILE
from fieldkit.kit.sealing import Finaliser
from fieldkit.kit.simulate import random_answers
from sync.hub.opening import open_record
from sync.hub.store import StoredRecord
from sync.protocol.sealed_record import padded_size
from tests.sync_cli import enrolled_pair, export, run, simulate

NOON = datetime.datetime.now(datetime.UTC).replace(hour=12, minute=34, second=56, microsecond=0)


def _seal_with(kit, form, answers: dict) -> str:
    drafts = DraftStore(kit.data_dir / "drafts", kit.unlock().draft_key)
    draft = Draft(form_id=form.id, form_version=form.version, language="en", owner="s",
                  started="2026-03-04T12:00Z", answers=dict(answers))  # fmt: skip
    drafts.save(draft)
    finaliser = Finaliser(kit.unlock(), RecordStore(kit.data_dir), drafts)
    record_id = finaliser.finalise(form, draft, now=NOON)
    assert draft.answers == {}  # the sealed answers are dropped from the draft in memory
    return record_id


def _stored(record_id: str, ciphertext: bytes, kit_id: str = "kit-x") -> StoredRecord:
    """A record as the hub holds it, sent by ``kit_id`` (the hub opens it only under the kit that sealed it)."""
    sha256 = hashlib.sha256(ciphertext).hexdigest()
    return StoredRecord(record_id, kit_id, "f", 1, "2026-03-04", len(ciphertext), sha256, ciphertext)


def test_a_yes_and_a_no_seal_to_the_same_size(kit, shipped_forms) -> None:
    form = shipped_forms["centre-assessment"]
    answers = random_answers(form, random.Random(5))
    yes_no = next(item.id for item in form.items if item.type == "yes_no" and answers.get(item.id) in ("yes", "no"))
    records = RecordStore(kit.data_dir)
    sizes = {}
    for value in ("yes", "no"):
        record_id = _seal_with(kit, form, dict(answers, **{yes_no: value}))
        sizes[value] = records.metadata(record_id)["size"]
        stored = _stored(record_id, records.get(record_id), load_config(kit.data_dir).kit_id)
        assert open_record(stored, kit.identities())["answers"][yes_no] == value
    assert sizes["yes"] == sizes["no"], sizes


def test_padding_buckets_and_old_unpadded_records_still_open(kit) -> None:
    assert [padded_size(n) for n in (0, 1024, 1025, 40_000, 65_536, 65_537, 200_000)] == [
        1024, 1024, 2048, 65_536, 65_536, 131_072, 262_144,
    ]  # fmt: skip
    record_id = "0b6c1f63-8d3c-4c6e-9b7a-3f1d2e4c5a6b"
    old = {"format": "fieldkit-record/1", "record_id": record_id, "form": {"id": "f", "version": 1, "hash": "h"},
           "answers": {"q": "no"}}  # fmt: skip
    ciphertext = age.encrypt(json.dumps(old).encode(), [age.parse_recipient(kit.hub_recipient)])
    assert open_record(_stored(record_id, ciphertext), kit.identities()) == old


def test_record_file_times_say_only_the_day(kit, shipped_forms) -> None:
    form = shipped_forms["peer-interview"]
    record_id = _seal_with(kit, form, random_answers(form, random.Random(2)))
    midnight = NOON.replace(hour=0, minute=0, second=0).timestamp()
    files = list((kit.data_dir / "records").rglob(f"{record_id}.*"))
    assert len(files) == 2
    records = kit.data_dir / "records"
    for path in [*files, files[0].parent, records, records / "counts.json"]:  # the kept counts too
        assert path.stat().st_mtime == midnight, path  # atime moves on every read unless mounted noatime


def test_acknowledgement_times_in_sync_json_say_only_the_day(
    tmp_path: Path, hub_keys: Path, passphrase_file: Path
) -> None:
    hub, kit = enrolled_pair(tmp_path, hub_keys, passphrase_file)
    simulate(kit, passphrase_file, 2, seed=1)
    bundle = tmp_path / "bundle.tar"
    export(kit, bundle, passphrase_file)
    run("hub", "import", "--data", hub, bundle)
    receipt = next(tmp_path.glob("receipt-*.json"))
    run("sync", "receipt", "--data", kit, receipt)
    text = (kit / SYNC_STATE_FILE).read_text()
    acked = [entry["acked"] for entry in json.loads(text)["outbox"]["1"]["records"].values()]
    assert len(acked) == 2
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", moment) for moment in acked), acked

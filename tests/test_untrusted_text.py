"""Text a hostile kit or a careless hand chooses: formulas in CSV, look-alike centre codes (issue 17, point 10).

The export goes through the real CLI, the real hub store and real age files; the
codes through the kit's own answer parsing and the hub's report code.
"""

from __future__ import annotations

import csv
import json
import uuid
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fieldkit.core import paths
from fieldkit.core.crypto import age
from fieldkit.core.formengine.answers import parse_answer
from fieldkit.core.formengine.loader import load_form_text
from fieldkit.kit.sealing import seal
from fieldkit.kit.web.centres import search_key
from sync.hub.export.writers import FORMULA_TRIGGERS
from sync.hub.reports.facts import normalise_code
from sync.hub.store import HubStore
from sync.protocol.bundle import OutgoingRecord
from tests.bundle_corpus import enrol_key, make_bundle
from tests.sync_cli import init_hub_folder, run

HOSTILE = ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "\uff1dHYPERLINK(1)", "\uff0b1", "\uff0d1", "\uff20A1"]


def _record(recipient: str, kit_id: str, seq: int, answers: dict[str, Any]) -> OutgoingRecord:
    record_id = str(uuid.uuid4())
    payload = {
        "format": "fieldkit-record/1", "record_id": record_id,
        "form": {"id": "peer-interview", "version": 2, "hash": "sha256:" + "5" * 64},
        "language": "en", "translation": {"catalogue_hash": None, "complete": True},
        "kit_id": kit_id, "started": "2025-03-01T09:00Z", "finished": "2025-03-01T10:00Z", "answers": answers,
    }  # fmt: skip
    sealed = seal(payload, [age.parse_recipient(recipient)])
    return OutgoingRecord(record_id, kit_id, seq, "peer-interview", 2, "2025-03-01", sealed)


def test_answer_keys_and_cells_that_start_like_formulas_are_guarded_in_csv(tmp_path: Path, hub_keys: Path) -> None:
    hub = init_hub_folder(tmp_path, hub_keys)
    recipient = (hub_keys / "hub-recipient.txt").read_text().strip()
    key = Ed25519PrivateKey.generate()
    # A hostile kit picks the answer keys (they become header cells) and the values.
    answers = {"consent": "given", **{text: text for text in HOSTILE}, "what_change": "\uff1dcmd|' /C calc'!A0"}
    with HubStore(hub) as store:
        enrol_key(store, key, "kit-hostile")
        assert store.import_bundle(make_bundle(key, "kit-hostile", [_record(recipient, "kit-hostile", 1, answers)])
                                   ).status == "accepted"  # fmt: skip
    out = tmp_path / "export"
    run("hub", "export", "--data", hub, "--identity", hub_keys / "hub-identity.txt", "--out", out)
    table = out / "peer-interview.csv"
    with table.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    header, cells = rows[0], [cell for row in rows for cell in row]
    assert len(rows) == 2
    for cell in cells:
        assert not cell.startswith(FORMULA_TRIGGERS), repr(cell)
    for text in HOSTILE:
        assert "'" + text in header  # the key itself, guarded, and undoable by dropping one apostrophe
    # The descriptor names the same columns as the header, so the package still validates.
    descriptor = json.loads((out / "datapackage.json").read_text(encoding="utf-8"))
    resource = next(item for item in descriptor["resources"] if item["path"] == table.name)
    assert [field["name"] for field in resource["schema"]["fields"]] == header
    codebook = (out / "codebook.csv").read_text(encoding="utf-8")
    assert "starts like a spreadsheet formula" in codebook


def test_centre_codes_with_invisible_or_fullwidth_characters_are_one_code(shipped_forms) -> None:
    # Codes are picked from the pack's list now; drafts of the older version, which asked
    # for a typed code, are still cleaned at entry.
    archived = paths.forms_dir() / "archive" / "centre-assessment.v1.yaml"
    old_form, problems = load_form_text(archived.read_text(encoding="utf-8"), Path("centre-assessment.yaml"))
    assert old_form is not None and not problems, problems
    item = old_form.item("centre_code")
    assert "centre_code" not in {i.id for i in shipped_forms["centre-assessment"].items}
    typed = ["C01", "C\u200b01", "\ufeffC01", "C\u200d0\u20601", "\uff23\uff10\uff11", " C01\u200e "]
    assert {parse_answer(item, text) for text in typed} == {"C01"}  # the kit, at entry
    assert parse_answer(item, "\u200b\u200b") is None  # nothing visible is no answer
    peer = shipped_forms["peer-interview"]
    text_item = next(item for item in peer.items if item.type == "text" and item.id != "centre_code")
    assert parse_answer(text_item, "a\u200bb") == "a\u200bb"  # other free text is kept as typed
    # The hub, for records sealed before the kit cleaned codes.
    assert {normalise_code(text) for text in [*typed, "c\u200b01"]} == {"C01"}
    # The centre picker's search folds the same way (and the kit's script does too).
    assert {search_key(text) for text in typed} == {"c01"}

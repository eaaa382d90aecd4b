"""Form versions across data: archived versions, the item-meaning lock, and records of
every version exported and scored together by item id.

The forms here are small test forms written into temporary folders (never the shipped
ones): version 1 asks ``kept`` and ``removed``, version 2 keeps ``kept``, drops
``removed`` and adds ``added``. Records are sealed to a real hub key and merged through
a real signed bundle; the export and the report read them through the hub's store.
"""

from __future__ import annotations

import csv
import html
import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fieldkit.cli import cli
from fieldkit.core.crypto import age
from fieldkit.core.crypto.hubkeys import generate_hub_keys, load_hub_identities
from fieldkit.core.formengine.answers import validate_record
from fieldkit.core.formengine.archive import load_archived_forms
from fieldkit.core.formengine.catalogue import LOCK_NAME, check_directory, load_directory, read_lock
from fieldkit.core.formengine.loader import FormDefinitionError, load_form_text
from fieldkit.core.formengine.model import Form
from fieldkit.kit.config import unlock
from fieldkit.kit.drafts import Draft, DraftStore
from fieldkit.kit.packs import apply, forms_needed_by_drafts, load_programme, missing_forms
from fieldkit.kit.sealing import RecordCentre, TranslationInfo, build_payload, seal
from sync.hub.export.run import plan_export, run_export
from sync.hub.packing import PackingError, make_hub_pack
from sync.hub.reports.collect import OLDER_VERSION, OWN_DEFINITION, collect
from sync.hub.reports.run import write_report
from sync.hub.store import HubStore, init_hub
from sync.protocol.bundle import OutgoingRecord
from tests.bundle_corpus import enrol_key, make_bundle
from tests.hub_backend import copy_hub
from tests.packs import make_test_pack, pack_form
from tests.sync_cli import PASSPHRASE, enrolled_pair
from tests.test_export import assert_valid_package, read_rows

FORM_ID = "centre-assessment"  # a centre form: its counts are not about people, so none is suppressed

# --- Small test forms ------------------------------------------------------------------

WAIT = {"same_day": "The same day", "within_week": "Within a week", "longer": "Longer"}
ITEMS = {
    "consent": "{id: consent, type: consent, label: May we note what we see?, tags: [rights]}",
    "centre_code": "{id: centre_code, type: text, label: Centre code, tags: [P1]}",
    "kept": ("{id: kept, type: yes_no, label: Are people greeted kindly?, tags: [P1], "
             "scoring: {full: [yes], not_initiated: ['no']}}"),
    "removed": ("{id: removed, type: yes_no, label: Is the waiting room open?, tags: [P2], "
                "scoring: {full: [yes], not_initiated: ['no']}}"),
    "added": ("{id: added, type: yes_no, label: Is there a private room to talk?, tags: [P3], "
              "scoring: {full: [yes], not_initiated: ['no']}}"),
    "wait": "{id: wait, type: select_one, choices: wait, label: How long is the wait?, tags: [P2]}",
}  # fmt: skip
V1_ITEMS = ("consent", "centre_code", "kept", "removed", "wait")
V2_ITEMS = ("consent", "centre_code", "kept", "added", "wait")


def form_text(
    version: int,
    items: tuple[str, ...],
    *,
    form_id: str = FORM_ID,
    title: str = "Centre visit",
    wait: dict[str, str] = WAIT,
    replace: dict[str, str] | None = None,
) -> str:
    """A small form's YAML; ``replace`` gives some items another definition."""
    chosen = {**ITEMS, **(replace or {})}
    choices = ", ".join(f"{{id: {key}, label: {label}}}" for key, label in wait.items())
    lines = [
        f"id: {form_id}", f"version: {version}", f"title: {title}",
        "choice_lists:", f"  wait: [{choices}]",
        "sections:", "  - id: visit", "    title: The visit", "    items:",
        *(f"      - {chosen[name]}" for name in items),
    ]  # fmt: skip
    return "\n".join(lines) + "\n"


def loaded(text: str) -> Form:
    form, problems = load_form_text(text, Path(f"{FORM_ID}.yaml"))
    assert form is not None and not problems, problems
    return form


V1, V2 = loaded(form_text(1, V1_ITEMS)), loaded(form_text(2, V2_ITEMS))


def forms_folder(root: Path, current: str, archived: dict[str, str] | None = None) -> Path:
    folder = root / "forms"
    (folder / "archive").mkdir(parents=True, exist_ok=True)
    (folder / f"{FORM_ID}.yaml").write_text(current, encoding="utf-8")
    for name, text in (archived or {}).items():
        (folder / "archive" / name).write_text(text, encoding="utf-8")
    return folder


def forms_check(folder: Path, *extra: str) -> Result:
    result = CliRunner().invoke(cli, ["forms", "check", "--forms-dir", str(folder), *extra])
    assert "Traceback" not in result.output
    return result


def locked(folder: Path) -> Path:
    """A forms folder whose current and archived versions are recorded in its lock."""
    result = forms_check(folder, "--update-lock")
    assert result.exit_code == 0, result.output
    return folder / LOCK_NAME


# --- 1. Archived versions: the loader -------------------------------------------------


def test_archived_versions_load_by_their_file_name(tmp_path: Path) -> None:
    folder = forms_folder(tmp_path, form_text(2, V2_ITEMS), {f"{FORM_ID}.v1.yaml": form_text(1, V1_ITEMS)})
    (archived,) = load_archived_forms(folder)
    assert (archived.id, archived.version, archived.content_hash) == (FORM_ID, 1, V1.content_hash)
    assert archived.path == folder / "archive" / f"{FORM_ID}.v1.yaml"
    assert load_archived_forms(tmp_path / "no-such-folder") == []
    # The current forms are read as before: the archive is not a current form.
    assert list(load_directory(folder)) == [FORM_ID] and load_directory(folder)[FORM_ID].version == 2


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (f"{FORM_ID}.v3.yaml", form_text(1, V1_ITEMS), "the file is named for version 3 but holds version 1; "
                                                        f"name it {FORM_ID}.v1.yaml"),
        (f"{FORM_ID}-old.yaml", form_text(1, V1_ITEMS), "must be named <form id>.v<version>.yaml"),
        ("peer-talk.v1.yaml", form_text(1, V1_ITEMS), f"form id '{FORM_ID}' does not match the file name "
                                                       "peer-talk.v1.yaml"),
        (f"{FORM_ID}.v1.yaml", "id: [broken", "archive/"),
    ],
)  # fmt: skip
def test_an_archived_file_that_does_not_say_what_it_holds_is_refused(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    folder = forms_folder(tmp_path, form_text(2, V2_ITEMS), {name: text})
    with pytest.raises(FormDefinitionError) as raised:
        load_archived_forms(folder)
    assert message in str(raised.value)
    assert f"archive/{name}" in str(raised.value)
    refused = forms_check(folder)
    assert refused.exit_code == 1 and message in refused.output


def test_an_archived_version_must_be_older_than_the_current_one_and_unchanged(tmp_path: Path) -> None:
    folder = forms_folder(tmp_path, form_text(2, V2_ITEMS), {f"{FORM_ID}.v1.yaml": form_text(1, V1_ITEMS)})
    lock = locked(folder)
    ok = forms_check(folder)
    assert ok.exit_code == 0 and f"ok  {FORM_ID}@1  archived" in ok.output
    # Edited after it was published: refused, the lock is not touched.
    archived = folder / "archive" / f"{FORM_ID}.v1.yaml"
    archived.write_text(form_text(1, V1_ITEMS, title="Centre visit, edited"), encoding="utf-8")
    before = lock.read_bytes()
    for extra in ((), ("--update-lock",)):
        refused = forms_check(folder, *extra)
        assert refused.exit_code == 1 and "archived version 1 differs from the version forms.lock recorded" in (
            refused.output
        )
    assert lock.read_bytes() == before
    # An "archived" version as new as the current one is not an older version.
    archived.unlink()
    (folder / "archive" / f"{FORM_ID}.v2.yaml").write_text(form_text(2, V2_ITEMS), encoding="utf-8")
    refused = forms_check(folder)
    assert refused.exit_code == 1 and "archived version 2 is not older than the current version 2" in refused.output


# --- 2. The item-meaning lock ---------------------------------------------------------


def test_the_lock_records_each_items_meaning_sorted_and_stable(tmp_path: Path) -> None:
    folder = forms_folder(tmp_path, form_text(2, V2_ITEMS), {f"{FORM_ID}.v1.yaml": form_text(1, V1_ITEMS)})
    lock = locked(folder)
    data = json.loads(lock.read_text(encoding="utf-8"))
    assert sorted(data[FORM_ID]) == ["1", "2"]
    v1 = data[FORM_ID]["1"]
    assert v1["hash"] == V1.content_hash
    assert v1["items"] == {
        "centre_code": {"type": "text"},
        "consent": {"type": "consent"},
        "kept": {"type": "yes_no"},
        "removed": {"type": "yes_no"},
        "wait": {"type": "select_one", "choices": ["longer", "same_day", "within_week"]},
    }
    assert "added" in data[FORM_ID]["2"]["items"] and "removed" not in data[FORM_ID]["2"]["items"]
    # Deterministic: written again, byte for byte the same; an older hash-only entry is still read.
    text = lock.read_text(encoding="utf-8")
    assert forms_check(folder, "--update-lock").exit_code == 0
    assert lock.read_text(encoding="utf-8") == text
    lock.write_text(json.dumps({FORM_ID: {"1": V1.content_hash, "2": V2.content_hash}}), encoding="utf-8")
    assert read_lock(lock)[FORM_ID]["1"].items is None
    filled = forms_check(folder, "--update-lock")
    assert filled.exit_code == 0 and f"{FORM_ID}@1 items" in filled.output
    assert lock.read_text(encoding="utf-8") == text


@pytest.mark.parametrize(
    ("replace", "wait", "change"),
    [
        ({"kept": "{id: kept, type: text, label: Are people greeted kindly?, tags: [P1]}"}, WAIT,
         "item kept of form centre-assessment changed meaning between version 1 and version 2: "
         "its type changed from yes_no to text"),
        ({}, {"same_day": "The same day", "within_week": "Within a week"},
         "item wait of form centre-assessment changed meaning between version 1 and version 2: "
         "choice value longer removed"),
        ({}, {"same_day": "The same day", "within_week": "Within a week", "over_week": "Longer"},
         "choice value longer removed (and over_week added: renaming a value is removing it)"),
    ],
)  # fmt: skip
def test_an_item_id_that_changes_meaning_is_refused(
    tmp_path: Path, replace: dict[str, str], wait: dict[str, str], change: str
) -> None:
    folder = forms_folder(tmp_path, form_text(1, V1_ITEMS))
    lock = locked(folder)
    before = lock.read_bytes()
    (folder / "archive" / f"{FORM_ID}.v1.yaml").write_text(form_text(1, V1_ITEMS), encoding="utf-8")
    (folder / f"{FORM_ID}.yaml").write_text(form_text(2, V2_ITEMS, replace=replace, wait=wait), encoding="utf-8")
    for extra in ((), ("--update-lock",)):
        refused = forms_check(folder, *extra)
        assert refused.exit_code == 1, refused.output
        assert change in refused.output
        assert "give the changed question a new id" in refused.output
        assert f"forms/{FORM_ID}.yaml" in refused.output  # named at the later version's file
    assert lock.read_bytes() == before, "nothing recorded"
    # The same check holds against a version known only from the lock (its file gone).
    (folder / "archive" / f"{FORM_ID}.v1.yaml").unlink()
    only_locked = check_directory(folder, archive=True).problems
    assert any(change in str(problem) for problem in only_locked)


@pytest.mark.parametrize(
    ("replace", "wait"),
    [
        ({"kept": "{id: kept, type: yes_no, label: Were people greeted warmly?, hint: At the door., tags: [P1, P2], "
                  "scoring: {full: [yes]}}"}, WAIT),
        ({}, {**WAIT, "not_known": "Nobody could say"}),
        ({"wait": "{id: wait, type: select_one, choices: wait, label: How long did people wait?, tags: [P2]}"},
         {"same_day": "On the same day", "within_week": "Within seven days", "longer": "Longer than that"}),
    ],
    ids=["label-hint-tags-scoring", "a-choice-added", "choice-labels-reworded"],
)  # fmt: skip
def test_rewording_and_adding_choices_or_items_keep_the_meaning(
    tmp_path: Path, replace: dict[str, str], wait: dict[str, str]
) -> None:
    folder = forms_folder(tmp_path, form_text(1, V1_ITEMS))
    locked(folder)
    (folder / "archive" / f"{FORM_ID}.v1.yaml").write_text(form_text(1, V1_ITEMS), encoding="utf-8")
    (folder / f"{FORM_ID}.yaml").write_text(form_text(2, V2_ITEMS, replace=replace, wait=wait), encoding="utf-8")
    recorded = forms_check(folder, "--update-lock")
    assert recorded.exit_code == 0, recorded.output
    assert f"recorded {FORM_ID}@2" in recorded.output
    assert forms_check(folder).exit_code == 0


def test_the_shipped_lock_records_the_meaning_of_every_shipped_item() -> None:
    from fieldkit.core import paths

    lock = read_lock(paths.forms_dir() / LOCK_NAME)
    for form in load_directory(paths.forms_dir()).values():
        entry = lock[form.id][str(form.version)]
        assert entry.hash == form.content_hash
        assert entry.items is not None
        assert set(entry.items) == {item.id for item in form.items if item.takes_answer}


# --- The hub: packing refuses a conflicting version ----------------------------------


def _hub(root: Path) -> tuple[Path, list[age.X25519Identity], str]:
    keys = generate_hub_keys(root / "hub-keys", None)
    hub = root / "hub"
    init_hub(hub, keys.recipient, hub_id="hub-versions")
    return hub, load_hub_identities(keys.identity_path, None), keys.recipient


def _packed_rows(hub: Path) -> tuple[list[tuple], list[tuple]]:
    with HubStore(hub) as store, store.transaction() as db:
        packs = db.execute("SELECT version, sha256 FROM packs ORDER BY version").fetchall()
        versions = db.execute("SELECT form_id, version, content_hash FROM form_versions ORDER BY 1, 2").fetchall()
    return packs, versions


def test_hub_pack_refuses_a_version_that_changes_an_items_meaning(tmp_path: Path) -> None:
    hub, _identities, _recipient = _hub(tmp_path)
    translations = tmp_path / "translations"
    translations.mkdir()
    first = forms_folder(tmp_path / "one", form_text(1, V1_ITEMS))
    with HubStore(hub) as store:
        make_hub_pack(store, forms_dir=first, translations_dir=translations)
    before = _packed_rows(hub)
    assert before[1] == [(FORM_ID, 1, V1.content_hash)]
    changed = forms_folder(
        tmp_path / "two", form_text(2, V2_ITEMS, wait={"same_day": "The same day", "within_week": "Within a week"})
    )
    with HubStore(hub) as store, pytest.raises(PackingError) as refused:
        make_hub_pack(store, forms_dir=changed, translations_dir=translations)
    message = str(refused.value)
    assert "no pack was made" in message
    assert "item wait of form centre-assessment changed meaning between version 1 and version 2" in message
    assert "choice value longer removed" in message and "give the changed question a new id" in message
    assert _packed_rows(hub) == before, "nothing written"
    # Through the command: the reason, exit status 1, nothing written.
    result = CliRunner().invoke(
        cli, ["hub", "pack", "--data", str(hub), "--forms", str(changed), "--translations", str(translations),
              "--out", str(tmp_path / "refused.pack")],
    )  # fmt: skip
    assert result.exit_code == 1 and "give the changed question a new id" in result.output, result.output
    assert "Traceback" not in result.output and not (tmp_path / "refused.pack").exists()
    assert _packed_rows(hub) == before
    # A version that keeps every meaning is packed.
    good = forms_folder(tmp_path / "three", form_text(2, V2_ITEMS))
    with HubStore(hub) as store:
        make_hub_pack(store, forms_dir=good, translations_dir=translations)
    assert _packed_rows(hub)[1] == [(FORM_ID, 1, V1.content_hash), (FORM_ID, 2, V2.content_hash)]


# --- Records of two versions: export and report ---------------------------------------


def _sealed(
    form: Form, answers: dict[str, Any], recipient: str, *, form_hash: str | None = None, centre: str | None = None
) -> OutgoingRecord:
    kept = validate_record(form, answers)
    assert kept == answers, "answers a phone could send"
    record_id = str(uuid.uuid4())
    payload = build_payload(
        record_id=record_id, form=form, answers=kept, kit_id="kit-versions", started="2027-01-05T10:00Z",
        finished="2027-01-05T10:00Z", translation=TranslationInfo("en"), interviewer="PI03",
        centre=RecordCentre(centre, "NORTH") if centre else None,
    )  # fmt: skip
    if form_hash is not None:
        payload["form"]["hash"] = form_hash
    data = seal(payload, [age.parse_recipient(recipient)])
    return OutgoingRecord(record_id, "kit-versions", 0, form.id, form.version, "2027-01-05", data)


def _push(hub: Path, records: list[OutgoingRecord]) -> None:
    key = Ed25519PrivateKey.generate()
    numbered = [
        OutgoingRecord(r.record_id, r.kit_id, seq, r.form_id, r.form_version, r.day, r.ciphertext)
        for seq, r in enumerate(records, start=1)
    ]
    with HubStore(hub) as store:
        enrol_key(store, key, "kit-versions")
        assert store.import_bundle(make_bundle(key, "kit-versions", numbered)).status == "accepted"


class TwoVersions:
    """A hub holding records of version 1 and version 2 of the test form, and one of an unknown version 7."""

    def __init__(self, root: Path) -> None:
        self.hub, self.identities, recipient = _hub(root)
        v7 = loaded(form_text(7, V2_ITEMS))
        self.records = {
            "v1-a": _sealed(V1, {"consent": "given", "centre_code": "C-1", "kept": "yes", "removed": "no",
                                 "wait": "longer"}, recipient),
            "v1-b": _sealed(V1, {"consent": "given", "centre_code": "C-1", "kept": "no", "removed": "yes",
                                 "wait": "same_day"}, recipient),
            "v2-a": _sealed(V2, {"consent": "given", "centre_code": "C-1", "kept": "yes", "added": "yes",
                                 "wait": "within_week"}, recipient),
            "v7": _sealed(v7, {"consent": "given", "centre_code": "C-2", "kept": "yes"}, recipient,
                          form_hash="sha256:" + "7" * 64),
        }  # fmt: skip
        _push(self.hub, list(self.records.values()))

    def id_of(self, name: str) -> str:
        return self.records[name].record_id


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory: pytest.TempPathFactory) -> TwoVersions:
    return TwoVersions(tmp_path_factory.mktemp("two-versions"))


@pytest.mark.parametrize("table_format", ["csv", "json"])
def test_export_puts_every_version_in_one_table_by_item_id(
    two_versions: TwoVersions, tmp_path: Path, table_format: str
) -> None:
    out = tmp_path / "export"
    plan = plan_export(two_versions.hub, out, table_format=table_format, forms={FORM_ID: V2}, archived=[V1])
    report = run_export(plan, two_versions.identities)
    assert report.exported == 4 and not report.problems
    descriptor = assert_valid_package(out, table_format)
    resources = {resource["name"]: resource for resource in descriptor["resources"]}
    assert set(resources) == {FORM_ID, f"{FORM_ID}-v7", "codebook", "versions"}

    # One table for versions 1 and 2: the items of both, by id; what a version did not ask is empty.
    table = resources[FORM_ID]
    names = [field["name"] for field in table["schema"]["fields"]]
    assert names[names.index("form_hash") + 1 :] == ["consent", "centre_code", "kept", "added", "wait", "removed"]
    assert "versions 1, 2" in table["title"] and "form_version says which" in table["description"]
    fields = {field["name"]: field for field in table["schema"]["fields"]}
    assert "asked in version 1 only" in fields["removed"]["description"]
    _header, rows = read_rows(out, table)
    by_id = {row["record_id"]: row for row in rows}
    assert set(by_id) == {two_versions.id_of(name) for name in ("v1-a", "v1-b", "v2-a")}
    empty = None if table_format == "json" else ""
    one, two = by_id[two_versions.id_of("v1-a")], by_id[two_versions.id_of("v2-a")]
    assert str(one["form_version"]) == "1" and str(two["form_version"]) == "2"
    assert (one["kept"], one["removed"], one["added"], one["wait"]) == ("yes", "no", empty, "longer")
    assert (two["kept"], two["removed"], two["added"], two["wait"]) == ("yes", empty, "yes", "within_week")
    assert {row["form_hash"] for row in rows} == {empty}, "each made with the definition of its own version"

    # The unknown version: its own table, columns from its answers, clearly marked.
    unknown = resources[f"{FORM_ID}-v7"]
    assert "labels unavailable" in unknown["description"]
    _header, unknown_rows = read_rows(out, unknown)
    assert [row["record_id"] for row in unknown_rows] == [two_versions.id_of("v7")]

    # The codebook says which versions asked each item; the version table, item by version.
    _header, codebook = read_rows(out, resources["codebook"])
    items = {row["column"]: row for row in codebook if row["table"] == FORM_ID and row["kind"] == "item"}
    assert str(items["removed"]["first_version"]) == "1" and str(items["removed"]["last_version"]) == "1"
    assert items["kept"]["versions"] == "1;2" and items["added"]["versions"] == "2"
    assert "asked in version 1 only; empty in the rows of the others" in items["removed"]["note"]
    _header, versions = read_rows(out, resources["versions"])
    version_rows = {(row["form_id"], str(row["form_version"])): row for row in versions if row["kind"] == "version"}
    assert {key: (row["definition"], str(row["records"])) for key, row in version_rows.items()} == {
        (FORM_ID, "1"): ("archive", "2"),
        (FORM_ID, "2"): ("shipped", "1"),
        (FORM_ID, "7"): ("none", "1"),
    }
    asked = {
        (str(row["form_version"]), row["item"]): str(row["asked"]).lower() for row in versions if row["kind"] == "item"
    }
    assert asked[("1", "removed")] == "true" and asked[("2", "removed")] == "false"
    assert asked[("1", "added")] == "false" and asked[("2", "added")] == "true"
    assert asked[("1", "kept")] == asked[("2", "kept")] == "true"


def test_export_reads_a_version_the_hub_packed_by_its_own_definition(two_versions: TwoVersions, tmp_path: Path) -> None:
    hub = tmp_path / "hub"
    copy_hub(two_versions.hub, hub)
    translations = tmp_path / "translations"
    translations.mkdir()
    with HubStore(hub) as store:  # the hub packed version 1 once: it keeps its YAML
        make_hub_pack(store, forms_dir=forms_folder(tmp_path / "old", form_text(1, V1_ITEMS)),
                      translations_dir=translations)  # fmt: skip
    out = tmp_path / "export"
    report = run_export(plan_export(hub, out, forms={FORM_ID: V2}, archived=[]), two_versions.identities)
    assert report.exported == 4
    assert_valid_package(out, "csv")
    with (out / "versions.csv").open(encoding="utf-8", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["kind"] == "version"]
    assert {row["form_version"]: row["definition"] for row in rows} == {"1": "packed", "2": "shipped", "7": "none"}


def test_records_of_two_versions_are_scored_together_by_item_id(two_versions: TwoVersions, tmp_path: Path) -> None:
    collected = collect(two_versions.hub, two_versions.identities, {FORM_ID: V2})
    centre = collected.centres["C-1"]
    assert centre.assessments == 3, "every version of the form counts for its centre"
    # kept (P1) is asked in both versions: two "full", one "not_initiated", from every record.
    assert centre.areas["P1"].assessments == 3
    assert dict(centre.areas["P1"].assessment_levels) == {"full": 2, "not_initiated": 1}
    # added (P3) is only in version 2, so only that record gives it a level.
    assert dict(centre.areas["P3"].assessment_levels) == {"full": 1}
    # removed (P2) is not in the current version: read by item id with it, it is not scored.
    assert "P2" not in centre.areas
    assert collected.versions[(FORM_ID, "1", OLDER_VERSION)] == 2
    assert collected.versions[(FORM_ID, "7", OLDER_VERSION)] == 1
    # With version 1's own definition (archived or packed), its records are scored with its
    # own questions and rules: removed (P2) counts in the two records that asked it.
    known = {(FORM_ID, 1): V1, (FORM_ID, 2): V2}
    collected = collect(two_versions.hub, two_versions.identities, {FORM_ID: V2}, definitions=known)
    centre = collected.centres["C-1"]
    assert centre.areas["P2"].assessments == 2
    assert dict(centre.areas["P1"].assessment_levels) == {"full": 2, "not_initiated": 1}
    assert dict(centre.areas["P3"].assessment_levels) == {"full": 1}
    assert collected.versions[(FORM_ID, "1", OWN_DEFINITION)] == 2
    assert collected.versions[(FORM_ID, "7", OLDER_VERSION)] == 1, "no definition of version 7 anywhere"
    # The whole report runs over them.
    result = write_report(
        two_versions.hub, tmp_path / "report", two_versions.identities, forms={FORM_ID: V2}, threshold=3
    )
    assert result.collected.used == 4
    page = (tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    assert "C-1" in page


# --- The kit: a draft of an older version is finished with it --------------------------


@pytest.fixture
def pair(tmp_path: Path, hub_keys: Path, passphrase_file: Path) -> tuple[Path, Path]:
    return enrolled_pair(tmp_path, hub_keys, passphrase_file)


def test_a_draft_resolves_to_its_version_after_a_newer_one_becomes_current(pair, tmp_path: Path) -> None:
    hub, kit = pair
    unlocked = unlock(kit, PASSPHRASE)
    drafts = DraftStore(kit / "drafts", unlocked.draft_key)
    draft = Draft(FORM_ID, 1, "en", "P01", "2027-01-02T10:00:00Z", answers={"consent": "given"})
    drafts.save(draft)
    needed = forms_needed_by_drafts(unlocked)
    assert needed == {(FORM_ID, 1)}

    # fieldkit was upgraded: version 2 ships, version 1 is in the archive.
    programme = load_programme(kit, {FORM_ID: V2}, archived=[V1])
    assert programme.current == {FORM_ID: 2}
    assert programme.form(FORM_ID) is V2 and programme.form(FORM_ID, 1) is V1
    assert missing_forms(programme, needed) == []
    # Without the archive the draft could not be finished, and the kit can say so.
    assert missing_forms(load_programme(kit, {FORM_ID: V2}), needed) == [(FORM_ID, 1)]

    # A pack then brings version 3: it becomes current, versions 1 and 2 still resolve.
    v3 = form_text(3, V2_ITEMS, title="Centre visit (pack)")
    apply(kit, make_test_pack(hub, 1, forms=(pack_form(v3),)), [V2, V1])
    programme = load_programme(kit, {FORM_ID: V2}, archived=[V1])
    assert programme.pack_version == 1 and programme.current == {FORM_ID: 3}
    assert programme.form(FORM_ID).title == "Centre visit (pack)"
    assert programme.form(FORM_ID, 1) is V1 and programme.form(FORM_ID, 2) is V2
    assert missing_forms(programme, needed) == []
    # An archived version never becomes the current one, even with no current form of its id.
    alone = load_programme(tmp_path / "no-packs", {}, archived=[V1])
    assert alone.current == {} and alone.form(FORM_ID, 1) is V1


def test_the_shipped_archive_if_any_loads_and_is_older_than_each_current_form() -> None:
    from fieldkit.core import paths

    current = load_directory(paths.forms_dir())
    for form in load_archived_forms(paths.forms_dir()):
        assert form.id in current and form.version < current[form.id].version
        assert re.fullmatch(rf"{form.id}\.v{form.version}\.yaml", form.path.name if form.path else "")


def test_a_red_flag_only_an_older_version_asked_still_makes_its_centre_critical(tmp_path: Path) -> None:
    flag = "{id: locked_in, type: yes_no, sensitive: true, label: Were people locked in their rooms?, tags: [rights]}"
    older = loaded(form_text(1, ("consent", "centre_code", "kept", "removed"), replace={"removed": flag}))
    current = loaded(form_text(2, ("consent", "centre_code", "kept")))
    hub, identities, recipient = _hub(tmp_path)
    answers = {"consent": "given", "centre_code": "C-9", "kept": "yes", "locked_in": "yes"}
    _push(hub, [_sealed(older, answers, recipient)])

    result = write_report(hub, tmp_path / "report", identities, forms={FORM_ID: current}, archived=[older], threshold=3)
    assert result.collected.versions[(FORM_ID, "1", OWN_DEFINITION)] == 1
    page = (tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    assert "Were people locked in their rooms?" in page, "named with the words of the version that asked it"
    figures = (tmp_path / "report" / "figures.csv").read_text(encoding="utf-8")
    assert "C-9" in figures and "Critical" in figures


def test_records_of_the_shipped_peer_interview_v3_still_score_after_the_revision(tmp_path: Path) -> None:
    """Version 4 split "refused a doctor or medicine" (denied_medical_care) in two and removed
    it: people who answered it under version 3 still count, with version 3's own question and
    rule, beside the version 4 answers to the new halves."""
    from fieldkit.core import paths

    shipped = load_directory(paths.forms_dir())
    archived = {form.key: form for form in load_archived_forms(paths.forms_dir())}
    v3, current = archived["peer-interview@3"], shipped["peer-interview"]
    assert "denied_medical_care" not in {item.id for item in current.items}
    hub, identities, recipient = _hub(tmp_path)
    old = [_sealed(v3, {"consent": "given", "denied_medical_care": "yes"}, recipient, centre="C-3") for _ in range(5)]
    new = [_sealed(current, {"consent": "given", "refused_doctor": "yes"}, recipient, centre="C-4") for _ in range(5)]
    _push(hub, old + new)

    result = write_report(hub, tmp_path / "report", identities, forms=shipped, archived=archived.values(), threshold=5)
    assert result.collected.versions[("peer-interview", "3", OWN_DEFINITION)] == 5
    with (tmp_path / "report" / "figures.csv").open(encoding="utf-8") as handle:
        figures = {(row["centre"], row["measure"]): row["value"] for row in csv.DictReader(handle)}
    assert figures[("C-3", "rights_status")] == "Critical" and figures[("C-4", "rights_status")] == "Critical"
    page = html.unescape((tmp_path / "report" / "report.html").read_text(encoding="utf-8"))
    assert " ".join(v3.item("denied_medical_care").label.split()) in page  # named as version 3 asked it
    assert "(asked by version 3 only)" in page  # and listed among the questions behind the rating


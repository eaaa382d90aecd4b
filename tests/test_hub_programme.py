"""The hub's programme (issue 18, points 1-3): the centre registry, cycles and 'hub pack'.

Every command runs as a real ``fieldkit`` process on a real hub folder made with
``fieldkit hub init``; packs are checked with the kit's own reader (``read_pack``)
against the receipt key in the hub's hub.json.
"""

from __future__ import annotations

import base64
import csv
import datetime
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fieldkit.core import paths
from sync.hub.cycles import current_cycle, cycle_by_id, previous_cycle
from sync.hub.packing import latest_pack
from sync.hub.store import HubStore, load_hub_config
from sync.protocol.pack import VerifiedPack, read_pack
from sync.protocol.receipts import load_public_key
from tests.sync_cli import init_hub_folder


def fieldkit(*args: object, expect: int = 0) -> subprocess.CompletedProcess:
    """Run ``fieldkit ARGS`` as a process; check its exit status and that no traceback shows."""
    result = subprocess.run(
        [sys.executable, "-m", "fieldkit", *map(str, args)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == expect, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result


def refused(*args: object) -> str:
    """The one-line error of a command that must fail."""
    result = fieldkit(*args, expect=1)
    assert result.stderr.startswith("Error: "), result.stderr
    return result.stderr


@pytest.fixture
def hub(tmp_path: Path, hub_keys: Path) -> Path:
    return init_hub_folder(tmp_path, hub_keys)


def add(hub: Path, code: str, *, name: str = "A centre", region: str = "NORTH", kind: str = "residential",
        location: str | None = None, expect: int = 0) -> subprocess.CompletedProcess:  # fmt: skip
    extra = ["--location", location] if location is not None else []
    return fieldkit(
        "hub", "centres", "add", "--data", hub, code, "--name", name, "--region", region, "--kind", kind, *extra,
        expect=expect,
    )  # fmt: skip


def listed(hub: Path, *extra: str) -> list[dict]:
    return json.loads(fieldkit("hub", "centres", "list", "--data", hub, "--json", *extra).stdout)


def exported(hub: Path) -> str:
    return fieldkit("hub", "centres", "export", "--data", hub).stdout


def verified(hub: Path, pack_file: Path) -> VerifiedPack:
    config = load_hub_config(hub)
    return read_pack(pack_file.read_bytes(), {config.hub_id: load_public_key(config.receipt_public_key)})


def payload_text(pack_file: Path) -> str:
    return base64.b64decode(json.loads(pack_file.read_bytes())["payload"]).decode("utf-8")


# --- the registry -------------------------------------------------------------------------


def test_centres_are_added_edited_retired_and_listed(hub: Path) -> None:
    made = add(hub, "C01", name="Hope House", location="Lyon")
    assert "Added centre C01 Hope House (residential, region NORTH, Lyon)" in made.stdout
    add(hub, "C02", name="Harbour Clinic", region="SOUTH", kind="community")
    table = fieldkit("hub", "centres", "list", "--data", hub).stdout.splitlines()
    assert table[0].split() == ["code", "region", "kind", "status", "location", "name"]
    assert [line.split()[0] for line in table[1:]] == ["C01", "C02"]

    fieldkit("hub", "centres", "edit", "--data", hub, "c01", "--name", "Hope House East", "--kind", "primary_care")
    fieldkit("hub", "centres", "edit", "--data", hub, "C01", "--no-location")
    assert "nothing to change" in refused("hub", "centres", "edit", "--data", hub, "C01", "--name", "Hope House East")
    assert "not both" in refused(
        "hub", "centres", "edit", "--data", hub, "C01", "--location", "Lyon", "--no-location"
    )
    assert "is not a kind of centre" in refused("hub", "centres", "edit", "--data", hub, "C01", "--kind", "clinic")
    (first,) = [c for c in listed(hub) if c["code"] == "C01"]
    assert (first["name"], first["kind"], first["location"], first["active"]) == (
        "Hope House East", "primary_care", None, True,
    )  # fmt: skip

    retired = fieldkit("hub", "centres", "retire", "--data", hub, "C02")
    assert "code stays reserved" in retired.stdout
    assert "already retired" in refused("hub", "centres", "retire", "--data", hub, "C02")
    assert [c["code"] for c in listed(hub)] == ["C01"]
    assert [(c["code"], c["active"]) for c in listed(hub, "--all")] == [("C01", True), ("C02", False)]
    # A retired code is never given to another centre...
    assert "retired: its code stays reserved" in add(hub, "c02", name="New place", expect=1).stderr
    # ...but the same centre can be assessed again.
    fieldkit("hub", "centres", "edit", "--data", hub, "C02", "--reactivate")
    assert [c["code"] for c in listed(hub)] == ["C01", "C02"]
    assert "no centre 'C09'" in refused("hub", "centres", "retire", "--data", hub, "C09")


@pytest.mark.parametrize(
    "look_alike",
    ["c01", "Ｃ０１", "C\u200b01", "\u200dC01\ufeff", " C01 "],
    ids=["lower-case", "fullwidth", "zero-width-space", "joiner-and-bom", "spaces"],
)
def test_look_alike_codes_are_the_same_centre(hub: Path, look_alike: str) -> None:
    add(hub, "C01")
    error = add(hub, look_alike, name="Another", expect=1).stderr
    assert "C01" in error and ("same code" in error or "already in the registry" in error)
    assert [c["code"] for c in listed(hub, "--all")] == ["C01"]


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("С01", "only Latin letters"),  # a Cyrillic Es
        ("C 01", "no spaces"),
        ("C01/../x", "only Latin letters"),
        ("_C01", "starting with a letter or digit"),
        ("C" * 33, "too long"),
        ("\u200b", "is empty"),
    ],
)
def test_bad_codes_are_refused(hub: Path, code: str, words: str) -> None:
    assert words in add(hub, code, expect=1).stderr
    assert listed(hub, "--all") == []


def test_fullwidth_code_is_stored_plain(hub: Path) -> None:
    assert "(written C07)" in add(hub, "Ｃ０７").stdout
    assert [c["code"] for c in listed(hub)] == ["C07"]


def test_unknown_kind_lists_the_kinds_the_forms_define(hub: Path) -> None:
    error = add(hub, "C01", kind="rehab", expect=1).stderr
    assert "'rehab' is not a kind of centre; the kinds are: community, primary_care" in error
    assert "prison_closed" in error


@pytest.mark.parametrize(
    "location",
    ["45.7640, 4.8357", "45,7640 4,8357", "45°45'N 4°50'E", "https://maps.example.org/?q=Lyon",
     "geo:45.76,4.83", "8FQ6QV4F+6X", "Lyon, 45.76 4.83"],
)  # fmt: skip
def test_coordinates_are_refused_as_a_location(hub: Path, location: str) -> None:
    assert "looks like coordinates or a map link; give only the city or district" in add(
        hub, "C01", location=location, expect=1
    ).stderr
    assert listed(hub, "--all") == []


def test_a_city_or_district_is_a_location(hub: Path) -> None:
    add(hub, "C01", location="Lyon 3e arrondissement")
    add(hub, "C02", location="District 5")
    assert [c["location"] for c in listed(hub)] == ["Lyon 3e arrondissement", "District 5"]


def test_region_codes_keep_the_registry_spelling(hub: Path) -> None:
    add(hub, "C01", region="NORTH")
    add(hub, "C02", region="north")
    add(hub, "C03", region="Ｎｏｒｔｈ")
    assert {c["region"] for c in listed(hub)} == {"NORTH"}


# --- import and export ----------------------------------------------------------------------


def write_csv(path: Path, *lines: str) -> Path:
    path.write_text("code,name,region,kind,location,active\n" + "".join(line + "\n" for line in lines))
    return path


def test_import_with_bad_lines_changes_nothing_and_names_each_line(hub: Path, tmp_path: Path) -> None:
    add(hub, "C01", name="Hope House")
    before = exported(hub)
    bad = write_csv(
        tmp_path / "centres.csv",
        "C02,Harbour Clinic,SOUTH,community,,yes",  # line 2: good
        "C03,Riverside,SOUTH,rehab,,yes",  # line 3: no such kind
        "C04,Hill Centre,EAST,residential,\"45.76, 4.83\",yes",  # line 4: coordinates
        "c02,Harbour again,SOUTH,community,,yes",  # line 5: line 2 in another case
        "C05,Too few,EAST",  # line 6: fields missing
        "c01,Hope House,NORTH,residential,,yes",  # line 7: C01 written in another case
        "C06,Gate,EAST,residential,,maybe",  # line 8: not yes or no
        "C07,,EAST,residential,,yes",  # line 9: no name
    )
    error = refused("hub", "centres", "import", "--data", hub, bad)
    assert "7 bad line(s), so nothing was imported" in error
    for number, words in [(3, "not a kind of centre"), (4, "coordinates"), (5, "already on line 2"),
                          (6, "3 fields"), (7, "write it C01"), (8, "yes or no"), (9, "needs a name")]:  # fmt: skip
        assert f"line {number}: " in error and words in error.split(f"line {number}: ")[1].splitlines()[0], number
    assert "line 2:" not in error
    assert exported(hub) == before

    header = tmp_path / "header.csv"
    header.write_text("code;name;region\nC02;x;y\n")
    assert "line 1: the header must be code,name,region,kind,location,active" in refused(
        "hub", "centres", "import", "--data", hub, header
    )
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes(b"code,name,region,kind,location,active\nC02,Caf\xe9,S,community,,yes\n")
    assert "line 2 is not UTF-8" in refused("hub", "centres", "import", "--data", hub, latin1)
    assert exported(hub) == before


def test_import_adds_and_updates_and_says_how_many(hub: Path, tmp_path: Path) -> None:
    add(hub, "C01", name="Hope House")
    add(hub, "C02", name="Harbour Clinic", kind="community")
    good = write_csv(
        tmp_path / "centres.csv",
        "C01,Hope House (new wing),NORTH,residential,Lyon,yes",
        "C02,Harbour Clinic,NORTH,community,,yes",
        "Ｃ０３,Riverside,SOUTH,primary_care,,yes",
        "C04,Old Mill,SOUTH,other,,no",
    )
    # A spreadsheet's UTF-8 CSV starts with a byte-order mark
    good.write_bytes(b"\xef\xbb\xbf" + good.read_bytes())
    result = fieldkit("hub", "centres", "import", "--data", hub, good)
    assert "2 centres added, 1 updated, 1 unchanged" in result.stdout
    found = {c["code"]: c for c in listed(hub, "--all")}
    assert set(found) == {"C01", "C02", "C03", "C04"}
    assert (found["C01"]["name"], found["C01"]["location"]) == ("Hope House (new wing)", "Lyon")
    assert found["C04"]["active"] is False


def test_export_round_trips_and_is_guarded_against_formulas(hub: Path, tmp_path: Path, hub_keys: Path) -> None:
    names = ["=HYPERLINK(\"http://x\")", "+1 Clinic", "-Minus", "@SUM(A1)", "'Quoted'", "＝Fullwidth",
             "Plain, with comma", "Ünïcödé \"quoted\""]  # fmt: skip
    for number, name in enumerate(names, start=1):
        add(hub, f"C{number:02}", name=name, location="Lyon" if number % 2 else None)
    fieldkit("hub", "centres", "retire", "--data", hub, "C03")
    out = tmp_path / "registry.csv"
    fieldkit("hub", "centres", "export", "--data", hub, "--out", out)
    text = out.read_text(encoding="utf-8")
    assert text == exported(hub)  # --out and stdout write the same file
    cells = [row[1] for row in csv.reader(io.StringIO(text))][1:]
    assert cells[:6] == ["'" + name for name in names[:6]]  # no cell a spreadsheet would run
    assert cells[6:] == names[6:]
    assert "C03,'-Minus,NORTH,residential,Lyon,no" in text

    # Into the same hub: nothing changes; into a new hub: the same registry.
    assert "0 centres added, 0 updated, 8 unchanged" in fieldkit("hub", "centres", "import", "--data", hub, out).stdout
    other = init_hub_folder(tmp_path, hub_keys, "other-hub")
    assert "8 centres added" in fieldkit("hub", "centres", "import", "--data", other, out).stdout
    assert exported(other) == text
    assert [(c["name"], c["active"]) for c in listed(other, "--all")] == [
        (name, number != 3) for number, name in enumerate(names, start=1)
    ]


# --- cycles ---------------------------------------------------------------------------------


def add_cycle(hub: Path, cycle_id: str, start: str, end: str, *extra: str, expect: int = 0,
              forms: str = "peer-interview,centre-assessment") -> subprocess.CompletedProcess:  # fmt: skip
    return fieldkit(
        "hub", "cycles", "add", "--data", hub, cycle_id, "--name", f"Round {cycle_id}", "--start", start,
        "--end", end, "--forms", forms, *extra, expect=expect,
    )  # fmt: skip


def test_cycles_are_checked_added_closed_and_listed(hub: Path) -> None:
    add(hub, "C01")
    add(hub, "C02")
    add_cycle(hub, "2027-q1", "2027-01-01", "2027-03-31", "--centres", "c01,C02")
    cases = [
        (("2027-q2", "2027-03-31", "2027-06-30"), "overlap open cycle 2027-q1"),
        (("2027-q2", "2027-06-30", "2027-04-01"), "ends (2027-04-01) before it starts (2027-06-30)"),
        (("2027-q2", "2027-4-1", "2027-06-30"), "not a day written YYYY-MM-DD"),
        (("2027-q2", "2027-02-30", "2027-06-30"), "not a day written YYYY-MM-DD"),
        (("../q2", "2027-04-01", "2027-06-30"), "the cycle id '../q2' may hold only"),
        (("2027-Q1", "2028-01-01", "2028-03-31"), "already a cycle 2027-q1"),
    ]
    for args, words in cases:
        assert words in add_cycle(hub, *args, expect=1).stderr, args
    assert "no form nope" in add_cycle(hub, "2027-q2", "2027-04-01", "2027-06-30", forms="nope", expect=1).stderr
    assert "centre C09 is not an active centre" in add_cycle(
        hub, "2027-q2", "2027-04-01", "2027-06-30", "--centres", "C09", expect=1
    ).stderr
    fieldkit("hub", "centres", "retire", "--data", hub, "C02")
    assert "centre C02 is not an active centre" in add_cycle(
        hub, "2027-q2", "2027-04-01", "2027-06-30", "--centres", "C02", expect=1
    ).stderr
    cycles = json.loads(fieldkit("hub", "cycles", "list", "--data", hub, "--json").stdout)
    assert [(c["id"], c["centres"], c["closed"]) for c in cycles] == [("2027-q1", ["C01", "C02"], None)]

    fieldkit("hub", "cycles", "close", "--data", hub, "2027-q1")
    assert "already closed" in refused("hub", "cycles", "close", "--data", hub, "2027-q1")
    assert "no cycle 'nope'" in refused("hub", "cycles", "close", "--data", hub, "nope")
    # A closed cycle no longer blocks its days.
    add_cycle(hub, "2027-q1b", "2027-03-01", "2027-04-30", forms="peer-interview")
    lines = fieldkit("hub", "cycles", "list", "--data", hub).stdout.splitlines()
    assert lines[0].startswith("2027-q1 'Round 2027-q1': 2027-01-01 to 2027-03-31") and "closed" in lines[0]
    assert lines[1].startswith("2027-q1b") and lines[1].endswith("every active centre; open")


def test_cycle_read_api(hub: Path) -> None:
    add_cycle(hub, "2026-q4", "2026-10-01", "2026-12-31")
    add_cycle(hub, "2027-q1", "2027-01-01", "2027-03-31")
    add_cycle(hub, "2027-q2", "2027-04-01", "2027-06-30")
    fieldkit("hub", "cycles", "close", "--data", hub, "2026-q4")
    with HubStore(hub) as store:
        q1 = cycle_by_id(store, "2027-q1")
        assert q1 is not None and q1.forms == ("peer-interview", "centre-assessment") and q1.is_open
        assert cycle_by_id(store, "2027-q3") is None
        previous = previous_cycle(store, q1)
        assert previous is not None and previous.cycle_id == "2026-q4" and not previous.is_open
        q4 = cycle_by_id(store, "2026-q4")
        assert q4 is not None and previous_cycle(store, q4) is None
        current = current_cycle(store, datetime.date(2027, 3, 31))
        assert current is not None and current.cycle_id == "2027-q1"
        assert current_cycle(store, datetime.date(2026, 11, 1)) is None  # 2026-q4 is closed
        assert current_cycle(store, datetime.date(2027, 7, 1)) is None


# --- packs ----------------------------------------------------------------------------------


def test_a_pack_verifies_and_carries_only_codes_regions_and_kinds(hub: Path, tmp_path: Path) -> None:
    add(hub, "C01", name="Zebrafinch Recovery House", location="Quillborough")
    add(hub, "C02", name="Marigold Harbour Clinic", region="SOUTH", kind="community", location="Westmarch")
    add(hub, "C03", name="Old Tannery Centre", kind="other", location="Eastfold")
    fieldkit("hub", "centres", "retire", "--data", hub, "C03")
    today = datetime.datetime.now(datetime.UTC).date()
    add_cycle(hub, "now", (today - datetime.timedelta(days=10)).isoformat(),
              (today + datetime.timedelta(days=10)).isoformat(), forms="peer-interview")  # fmt: skip
    out = tmp_path / "usb" / "fieldkit.pack"
    out.parent.mkdir()
    made = fieldkit("hub", "pack", "--data", hub, "--out", out, "--setting", "idle_minutes=20")
    assert "Made pack 1" in made.stdout and "cycle: now" in made.stdout
    assert "centres: 2 active (codes, regions and kinds only)" in made.stdout
    assert "languages: ar, es, fr, pt, ru" in made.stdout

    pack = verified(hub, out).contents
    assert pack.version == 1 and pack.hub_id == load_hub_config(hub).hub_id
    assert [(c.code, c.region, c.kind) for c in pack.centres] == [("C01", "NORTH", "residential"),
                                                                  ("C02", "SOUTH", "community")]  # fmt: skip
    assert {f.form_id for f in pack.forms} == {"peer-interview", "centre-assessment"}
    assert sorted(pack.translations) == ["ar", "es", "fr", "pt", "ru"]
    assert pack.cycle is not None and (pack.cycle.cycle_id, pack.cycle.forms) == ("now", ("peer-interview",))
    assert pack.settings == {"idle_minutes": 20}
    raw, text = out.read_bytes(), payload_text(out)
    for secret in ["Zebrafinch", "Marigold", "Tannery", "Quillborough", "Westmarch", "Eastfold", "C03"]:
        assert secret.encode() not in raw and secret not in text, secret
    with HubStore(hub) as store:
        assert latest_pack(store) == raw
        with store.transaction() as db:
            held = db.execute("SELECT form_id, version, source FROM form_versions ORDER BY form_id").fetchall()
    shipped = {f.form_id: f for f in pack.forms}
    assert [(form_id, version) for form_id, version, _ in held] == sorted(
        (f.form_id, f.version) for f in pack.forms
    )
    assert all(source == shipped[form_id].yaml for form_id, _, source in held)


def test_versions_go_up_and_a_retired_centre_leaves_the_next_pack(hub: Path, tmp_path: Path) -> None:
    add(hub, "C01")
    add(hub, "C02")
    first, second = tmp_path / "1.pack", tmp_path / "2.pack"
    fieldkit("hub", "pack", "--data", hub, "--out", first)
    assert [c.code for c in verified(hub, first).contents.centres] == ["C01", "C02"]
    fieldkit("hub", "centres", "retire", "--data", hub, "C02")
    made = fieldkit("hub", "pack", "--data", hub, "--out", second)
    assert "Made pack 2" in made.stdout and "cycle: none" in made.stdout
    assert "Warning" not in made.stderr
    assert verified(hub, second).contents.version == 2
    assert [c.code for c in verified(hub, second).contents.centres] == ["C01"]

    lines = fieldkit("hub", "packs", "--data", hub).stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [["pack", "1"], ["pack", "2"]]
    assert lines[1].endswith("centres: 1; cycle: none")
    again = tmp_path / "again.pack"
    fieldkit("hub", "packs", "--data", hub, "--out", again, "--version", "1")
    assert again.read_bytes() == first.read_bytes()
    fieldkit("hub", "packs", "--data", hub, "--out", again)
    assert again.read_bytes() == second.read_bytes()
    assert "give --out FILE too" in refused("hub", "packs", "--data", hub, "--version", "1")
    assert "no such pack" in refused("hub", "packs", "--data", hub, "--out", again, "--version", "9")


def test_a_changed_form_under_a_packed_version_is_refused(hub: Path, tmp_path: Path) -> None:
    forms = tmp_path / "forms"
    shutil.copytree(paths.forms_dir(), forms)
    fieldkit("hub", "pack", "--data", hub, "--out", tmp_path / "1.pack", "--forms", forms)
    path = forms / "peer-interview.yaml"
    text = path.read_text(encoding="utf-8")
    changed = text.replace("label:", "label: ", 1)  # same content: layout only
    path.write_text(changed, encoding="utf-8")
    fieldkit("hub", "pack", "--data", hub, "--out", tmp_path / "2.pack", "--forms", forms)

    title = next(line for line in text.splitlines() if line.startswith("title:"))
    path.write_text(changed.replace(title, title + " (local)", 1), encoding="utf-8")
    out = tmp_path / "3.pack"
    error = refused("hub", "pack", "--data", hub, "--out", out, "--forms", forms)
    assert "form peer-interview version" in error and "packed before with other content" in error
    assert "raise its version" in error
    assert not out.exists()
    assert len(fieldkit("hub", "packs", "--data", hub).stdout.splitlines()) == 2

    version = next(line for line in text.splitlines() if line.startswith("version:"))
    number = int(version.split(":")[1])
    path.write_text(path.read_text().replace(version, f"version: {number + 1}", 1), encoding="utf-8")
    fieldkit("hub", "pack", "--data", hub, "--out", out, "--forms", forms)
    held = {f.form_id: f.version for f in verified(hub, out).contents.forms}
    assert held["peer-interview"] == number + 1


def test_pack_refusals_change_nothing(hub: Path, tmp_path: Path) -> None:
    add(hub, "C01")
    add_cycle(hub, "old", "2020-01-01", "2020-03-31")
    add_cycle(hub, "later", "2020-04-01", "2020-06-30")
    fieldkit("hub", "cycles", "close", "--data", hub, "old")
    out = tmp_path / "p.pack"
    cases = [
        (["--cycle", "old"], "cycle old was closed"),
        (["--cycle", "nope"], "no cycle 'nope'"),
        (["--setting", "idle_minutes=1"], "idle_minutes must be a whole number from 5 to 240"),
        (["--setting", "idle_minutes=ten"], "idle_minutes must be a whole number"),
        (["--setting", "debug=1"], "'debug' is not a kit setting a pack may set"),
        (["--setting", "idle_minutes"], "write it NAME=VALUE"),
        (["--setting", "idle_minutes=10", "--setting", "idle_minutes=20"], "given twice"),
    ]
    for args, words in cases:
        assert words in refused("hub", "pack", "--data", hub, "--out", out, *args), args
    forms = tmp_path / "forms"
    forms.mkdir()
    shutil.copy(paths.forms_dir() / "centre-assessment.yaml", forms)
    assert "cycle later uses form peer-interview, which is not in the forms folder" in refused(
        "hub", "pack", "--data", hub, "--out", out, "--forms", forms, "--cycle", "later"
    )
    assert "is a directory" in fieldkit("hub", "pack", "--data", hub, "--out", tmp_path, expect=2).stderr
    assert "does not exist; nothing was done" in refused("hub", "pack", "--data", hub, "--out", tmp_path / "no" / "p")
    assert not out.exists()
    assert fieldkit("hub", "packs", "--data", hub).stdout.startswith("No pack yet")
    # An open cycle named with --cycle is carried even when today is outside it.
    fieldkit("hub", "pack", "--data", hub, "--out", out, "--cycle", "later")
    cycle = verified(hub, out).contents.cycle
    assert cycle is not None and cycle.cycle_id == "later"


def test_a_catalogue_with_errors_is_left_out_with_its_reason(hub: Path, tmp_path: Path) -> None:
    translations = tmp_path / "translations"
    shutil.copytree(paths.translations_dir(), translations)
    broken = translations / "fr" / "LC_MESSAGES" / "forms.po"
    broken.write_text(broken.read_text(encoding="utf-8") + '\nmsgid "unterminated\n', encoding="utf-8")
    out = tmp_path / "p.pack"
    made = fieldkit("hub", "pack", "--data", hub, "--out", out, "--translations", translations)
    assert "Warning: the registry has no active centre, so kits that apply this pack cannot start" in made.stderr
    assert "languages: ar, es, pt, ru" in made.stdout
    assert "left out fr: line" in made.stderr
    assert sorted(verified(hub, out).contents.translations) == ["ar", "es", "pt", "ru"]


def test_a_cycles_retired_centres_are_left_out_of_its_pack(hub: Path, tmp_path: Path) -> None:
    for code in ("C01", "C02", "C03"):
        add(hub, code)
    add_cycle(hub, "round", "2020-01-01", "2020-03-31", "--centres", "C01,C02")
    fieldkit("hub", "centres", "retire", "--data", hub, "C02")
    out = tmp_path / "p.pack"
    made = fieldkit("hub", "pack", "--data", hub, "--out", out, "--cycle", "round")
    assert "the cycle's retired centres left out: C02" in made.stdout
    pack = verified(hub, out).contents
    assert pack.cycle is not None and pack.cycle.centres == ("C01",)
    assert [c.code for c in pack.centres] == ["C01", "C03"]
    fieldkit("hub", "centres", "retire", "--data", hub, "C01")
    error = refused("hub", "pack", "--data", hub, "--out", out, "--cycle", "round")
    assert "every centre cycle round covers has been retired (C01, C02)" in error
    assert verified(hub, out).contents.version == 1  # the file and the hub's packs are as they were
    assert len(fieldkit("hub", "packs", "--data", hub).stdout.splitlines()) == 1

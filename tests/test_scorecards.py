"""Scorecards: records with known answers -> a hub -> `fieldkit hub report` -> the ratings,
counts, red flags and suppression an advocate reads, checked figure by figure.

The world: three centres in two regions. Answers are written by hand (checked by the
form engine as a phone's would be), sealed with the kit's own code to a real hub key,
and merged through a signed bundle. Every expected rating below is worked out by hand
in the comment beside it, from the rules in docs/scorecards.md.
"""

from __future__ import annotations

import base64
import csv
import datetime
import html.parser
import re
import stat
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fieldkit.cli import cli
from fieldkit.core import paths
from fieldkit.core.crypto import age
from fieldkit.core.crypto.hubkeys import generate_hub_keys
from fieldkit.core.formengine.answers import validate_record
from fieldkit.core.formengine.catalogue import load_directory
from fieldkit.core.formengine.model import Form
from fieldkit.kit.sealing import RecordCentre, TranslationInfo, build_payload, seal
from sync.hub.reports.facts import answers_by_item_id, facts_of, item_level, place_of
from sync.hub.reports.score import level_of
from sync.hub.reports.svg import Bar, Series, centre_chart, region_chart
from sync.hub.store import HubStore, init_hub
from sync.hub.web import HubSettings, create_hub_app
from sync.hub.web.auth import OperatorPassword
from sync.protocol.bundle import OutgoingRecord
from tests.bundle_corpus import enrol_key, make_bundle
from tests.sync_cli import (
    enrol,
    export,
    init_hub_folder,
    make_hub_keys,
    new_kit,
    write_passphrase_file,
)
from tests.sync_cli import (
    run as run_cli,
)
from tests.test_suppression import _consistent_tables
from tests.webclient import csrf_token

FORMS = load_directory(paths.forms_dir())


def opening(form_id: str, item_id: str, words: int = 6) -> str:
    """The first words of a shipped question, as a report prints them (rewording never breaks a test)."""
    return " ".join(FORMS[form_id].item(item_id).label.split()[:words])
CENTRE, PEER = FORMS["centre-assessment"], FORMS["peer-interview"]
PEER_FLAGS = [item.id for item in PEER.items if item.sensitive and "rights" in item.tags and item.type == "yes_no"]
AREAS = ("P1", "P2", "P3", "P4", "P5", "P6", "P7", "harm_reduction", "rights")
OPERATOR_PASSWORD = "an operator password for the report tests"


# --- Records with known answers --------------------------------------------------------


# The region each test centre has in the kit's centre list: peer interviews carry it too.
REGIONS = {"N-1": "north", "n-2 ": "NORTH", "N-2": "North", "S-1": " south "}
# Written here as answers for brevity; ``sealed`` puts them where the kit does, in the
# payload's ``centre`` (picked from the list), as the current forms ask for no codes.
PLACE_KEYS = ("centre_code", "region_code")


def assessment(centre: str, region: str, **answers: Any) -> tuple[Form, dict[str, Any]]:
    return CENTRE, {"consent": "given", "centre_code": centre, "region_code": region, **answers}


def interview(centre: str, **answers: Any) -> tuple[Form, dict[str, Any]]:
    return PEER, {"consent": "given", "centre_code": centre, **answers}


def world_records() -> list[tuple[Form, dict[str, Any]]]:
    records = [
        # N-1, region NORTH: one visit and six peer interviews (enough to use).
        assessment(
            "N-1",
            "north",
            access_hours="in_place",
            access_transport="no",
            consent_informed="partly",
            hr_drug_checking="not_legal",
            rf_beatings="yes",
            rf_forced_labour="no",
            visit_sources=["observation", "staff_talk"],
        ),
        # N-2, NORTH: two visits, three peer interviews (too few: never used, counts hidden).
        assessment("n-2 ", "NORTH", access_hours="being_set_up", rf_no_way_to_leave="yes", visit_sources=["documents"]),
        assessment("N-2", "North", access_hours="not_in_place", rf_no_way_to_leave="yes"),
        # S-1, SOUTH: one visit and exactly five peer interviews.
        assessment(
            "S-1",
            " south ",
            access_hours="in_place",
            access_transport="yes",
            access_welcoming=4,
            visit_sources=["observation"],
        ),
        # A peer interview that names no centre, and one made with an older form version (below).
        interview("prefer_not", staff_respect=5),
    ]
    for index in range(6):  # N-1's people
        records.append(
            interview(
                "N-1",
                staff_respect=5,
                could_say_no="yes" if index < 3 else "no",
                physically_hurt="yes" if index in (0, 3) else "no",
                stopped_from_leaving="yes",
                forced_work="yes" if index < 5 else "no",
                **(
                    {"health_offers": ["naloxone", "hiv_test", "hepatitis_test", "tb_check", "condoms"]}
                    if index == 0
                    else {}
                ),
            )
        )
    records += [
        interview("N-2", staff_respect=1, physically_hurt="yes", forced_work="yes"),
        interview("N-2", staff_respect=1, physically_hurt="no"),
        interview("N-2", staff_respect=1, physically_hurt="no"),
    ]
    for index in range(5):  # S-1's people
        extra = {"physically_hurt": "prefer_not", "health_offers": ["none_of_these"]} if index == 4 else {}
        records.append(interview("S-1", staff_respect=2, family_pressed_to_pay="yes", **extra))
    return records


# The ratings a person works out from the answers above (score: full 4, partial 3,
# initiated 2, not initiated 1; mean >= 3.5 full, >= 2.5 partial, >= 1.5 initiated).
EXPECTED_RATINGS = {
    # P1: in_place 4 + no transport 1 = 2.5 -> partial. P2: visit 3; people: respect 6x4,
    # could say no 3x4+3x1, hurt 2x1+4x4, stopped 6x1, forced work 5x1+4, and the record made
    # with form version 1 (read by item id): respect 1 -> 76/32 = 2.38, from 1 + 7 records.
    # Rights: visit beatings 1 + labour 4; people 18 + 6 + 9 -> 38/20 = 1.9, "initiated" on
    # average; but six people report being stopped from leaving (and the visit saw beatings):
    # red flags decide, so "not initiated".
    # Harm reduction: the visit's only answer is "not legal"; one person's answer is too few.
    ("N-1", "P1"): ("Achieved partially", "1"),
    ("N-1", "P2"): ("Achievement initiated", "8"),
    ("N-1", "harm_reduction"): ("Not applicable", "1"),
    ("N-1", "rights"): ("Not initiated", "7"),
    # P1: 2 + 1 = 1.5 -> initiated. Rights: two visits saw locked doors -> 1.
    # P2 only from its three people: not used, so no data.
    ("N-2", "P1"): ("Achievement initiated", "2"),
    ("N-2", "P2"): ("No data", "0"),
    ("N-2", "rights"): ("Not initiated", "2"),
    # P1: 4, 4, 4 -> full. P2: respect 5x2 + pressed to pay 5x1 = 15/10 = 1.5 -> initiated.
    ("S-1", "P1"): ("Achieved in full", "1"),
    ("S-1", "P2"): ("Achievement initiated", "5"),
    ("S-1", "rights"): ("Not initiated", "5"),
}


def sealed(form: Form, answers: dict[str, Any], recipient: str, *, version: int | None = None) -> tuple[str, bytes]:
    """A record as a kit seals it; with ``version``, one of an older form version whose answers held the codes."""
    answers = dict(answers)
    place = {key: answers.pop(key) for key in PLACE_KEYS if key in answers and version is None}
    kept = validate_record(form, answers) if version is None else answers
    assert kept == answers, "the test answers are ones a phone could send"
    code = place.get("centre_code")
    centre = None
    if code is not None and code != "prefer_not":
        centre = RecordCentre(code, place.get("region_code") or REGIONS.get(code, ""))
    record_id = str(uuid.uuid4())
    payload = build_payload(
        record_id=record_id,
        form=form,
        answers=kept,
        kit_id="kit-report",
        started="2026-03-02T10:00Z",
        finished="2026-03-02T10:00Z",
        translation=TranslationInfo("en"),
        interviewer="PI07",
        centre=centre,
    )
    if version is not None:  # made by a kit before centre lists: no centre, cycle or pack in the payload
        payload["form"]["version"] = version
        for key in ("centre", "cycle", "pack"):
            del payload[key]
    return record_id, seal(payload, [age.parse_recipient(recipient)])


def push(hub: Path, recipient: str, records: list[tuple[Form, dict[str, Any]]], *, extra: list | None = None) -> None:
    key = Ed25519PrivateKey.generate()
    outgoing = []
    for seq, (form, answers) in enumerate(records, start=1):
        record_id, ciphertext = sealed(form, answers, recipient)
        outgoing.append(OutgoingRecord(record_id, "kit-report", seq, form.id, form.version, "2026-03-02", ciphertext))
    for record_id, form_id, version, ciphertext in extra or []:
        outgoing.append(
            OutgoingRecord(record_id, "kit-report", len(outgoing) + 1, form_id, version, "2026-03-02", ciphertext)
        )
    with HubStore(hub) as store:
        enrol_key(store, key, "kit-report")
        assert store.import_bundle(make_bundle(key, "kit-report", outgoing)).status == "accepted"


class World:
    def __init__(self, root: Path) -> None:
        keys = generate_hub_keys(root / "hub-keys", None)
        self.root = root
        self.identity = keys.identity_path
        self.hub = root / "hub"
        init_hub(self.hub, keys.recipient, hub_id="hub-report")
        old = sealed(PEER, {"consent": "given", "centre_code": "N-1", "staff_respect": 1}, keys.recipient, version=1)
        push(self.hub, keys.recipient, world_records(), extra=[(old[0], "peer-interview", 1, old[1])])

    def report(self, out: Path, *extra: object, expect: int = 0) -> Result:
        args = ["hub", "report", "--data", self.hub, "--identity", self.identity, "--out", out, *extra]
        result = CliRunner().invoke(cli, [str(arg) for arg in args])
        assert result.exit_code == expect, result.output
        assert "Traceback" not in result.output
        return result


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(tmp_path_factory.mktemp("scorecards"))


@pytest.fixture(scope="module")
def english(world: World, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report-en") / "out"
    world.report(out)
    return out


@pytest.fixture(scope="module")
def arabic(world: World, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report-ar") / "out"
    world.report(out, "--lang", "ar")
    return out


# --- Reading a report back -------------------------------------------------------------


def figures(out: Path) -> dict[str, dict[str, str]]:
    with (out / "figures.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len({row["figure"] for row in rows}) == len(rows), "one row per figure"
    return {row["figure"]: row for row in rows}


def ratings(out: Path) -> dict[tuple[str, str], tuple[str, str]]:
    return {
        (row["centre"], row["area"]): (row["value"], row["respondents"])
        for row in figures(out).values()
        if row["measure"] == "rating"
    }


class _Marked(html.parser.HTMLParser):
    """The text of every element carrying data-fig, data-note, data-respondents or data-sources."""

    ATTRIBUTES = ("data-fig", "data-note", "data-respondents", "data-sources")

    def __init__(self) -> None:
        super().__init__()
        self.open: list[tuple[str, str, str, list[str]]] = []  # (tag, attribute, key, text)
        self.found: dict[str, dict[str, set[str]]] = {name: {} for name in self.ATTRIBUTES}
        self.svgs: list[dict[str, str]] = []
        self.svg_parts: list[tuple[str, str]] = []  # (tag, id) inside SVGs

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "svg":
            self.svgs.append(values)
        if tag in ("title", "desc") and self.svgs:
            self.svg_parts.append((tag, values.get("id", "")))
        for name in self.ATTRIBUTES:
            if name in values:
                self.open.append((tag, name, values[name], []))

    def handle_data(self, data: str) -> None:
        for _tag, _name, _key, text in self.open:
            text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self.open and self.open[-1][0] == tag:
            _tag, name, key, text = self.open.pop()
            self.found[name].setdefault(key, set()).add("".join(text).strip())


def marked(out: Path) -> _Marked:
    parser = _Marked()
    parser.feed((out / "report.html").read_text(encoding="utf-8"))
    parser.close()
    assert not parser.open, "every marked element is closed"
    return parser


# --- Ratings ------------------------------------------------------------------------------


def test_ratings_per_centre_and_area_are_the_ones_worked_out_by_hand(english: Path) -> None:
    found = ratings(english)
    for key, expected in EXPECTED_RATINGS.items():
        assert found[key] == expected, key
    assert {centre for centre, _area in found} == {"N-1", "N-2", "S-1"}
    assert {area for _centre, area in found} == set(AREAS)
    for centre in ("N-1", "N-2", "S-1"):
        for area in ("P3", "P5", "P6"):
            assert found[(centre, area)] == ("No data", "0")


def test_each_rating_names_its_sources_and_peer_interviews_too_few_to_use(english: Path) -> None:
    rows = {(row["centre"], row["area"]): row for row in figures(english).values() if row["measure"] == "rating"}
    assert rows[("N-1", "P2")]["sources"] == (
        "centre assessments: 1 (observation, staff or manager); peer interviews (people in treatment): 7"
    )
    # Six people, but only one answered a harm reduction question that scores.
    assert rows[("N-1", "harm_reduction")]["sources"] == (
        "centre assessments: 1 (observation, staff or manager); peer interviews: <5, not used"
    )
    assert rows[("N-2", "P2")]["sources"] == "peer interviews: <5, not used"
    assert rows[("N-2", "P1")]["sources"] == "centre assessments: 2 (documents)"
    assert rows[("S-1", "rights")]["sources"] == "peer interviews (people in treatment): 5"
    assert rows[("S-1", "P4")]["sources"] == "none"


def test_counts_of_people_below_the_threshold_are_hidden(english: Path) -> None:
    rows = figures(english)
    by_centre = {(row["centre"], row["measure"]): row for row in rows.values()}
    assert by_centre[("N-1", "peer_interviews")]["value"] == "7"
    assert by_centre[("N-2", "peer_interviews")]["value"] == "<5"
    assert by_centre[("N-2", "peer_interviews")]["note"] == "too few to use in any rating"
    assert by_centre[("S-1", "peer_interviews")]["value"] == "5"
    # Centre assessments describe centres, not people: shown as they are.
    assert by_centre[("N-2", "centre_assessments")]["value"] == "2"
    assert by_centre[("", "records_without_centre:peer-interview")]["value"] == "<5"
    # The record made with form version 1 is used, read by item id, and counted as such.
    assert by_centre[("", "records_not_used:unknown_form")]["value"] == "0"
    assert rows["hub|version|peer-interview|1|other_version"]["value"] == "1"
    assert rows[f"hub|version|peer-interview|{FORMS['peer-interview'].version}|current"]["value"] == "15"


def test_no_respondent_detail_reaches_the_report(english: Path) -> None:
    text = (english / "report.html").read_text(encoding="utf-8") + (english / "figures.csv").read_text()
    # The day the records were made appears once for the whole report, as the period covered,
    # and nowhere else: never beside a centre or an answer.
    period = figures(english)["hub|period"]["value"]
    assert period == "2026-03-02 to 2026-03-02"
    text = text.replace(period, "")
    for detail in ("PI07", "kit-report", "2026-03-02", "10:00"):
        assert detail not in text


# --- Red flags ----------------------------------------------------------------------------


def _flag_table(rows: dict[str, dict[str, str]], region: str, form_id: str, centres: list[str], items: list[str]):
    """(cells, row totals, column totals, grand) as published, None where hidden."""

    def value(row: dict[str, str]) -> int | None:
        return None if row["value"].startswith("<") else int(row["value"])

    flags = [row for row in rows.values() if row["region"] == region and row["measure"].startswith("red_flag")]
    cell = {(row["centre"], row["measure"]): row for row in flags}
    cells = [[value(cell[(c, f"red_flag:{form_id}/{item}")]) for item in items] for c in centres]
    row_totals = [value(cell[(c, f"red_flag_reports:{form_id}")]) for c in centres]
    column_totals = [value(cell[("", f"red_flag:{form_id}/{item}")]) for item in items]
    grand = value(cell[("", f"red_flag_reports:{form_id}")])
    reported = [[cell[(c, f"red_flag:{form_id}/{item}")]["note"] == "reported" for item in items] for c in centres]
    return (cells, row_totals, column_totals, grand), reported


def _flag_columns(rows: dict[str, dict[str, str]], region: str, form_id: str, centres: list[str], items: list[str]):
    """A peer-interview red-flag table as published: cells (text) and each question's region total."""
    cell = {(row["centre"], row["measure"]): row["value"] for row in rows.values() if row["region"] == region}
    cells = [[cell[(c, f"red_flag:{form_id}/{item}")] for item in items] for c in centres]
    totals = [cell[("", f"red_flag:{form_id}/{item}")] for item in items]
    return cells, totals


def test_critical_centres_come_first_with_the_flags_that_caused_it(english: Path) -> None:
    page = (english / "report.html").read_text(encoding="utf-8")
    assert page.index('id="critical"') < page.index('id="red-flags"') < page.index('id="ratings"')
    rows = figures(english)
    status = {row["centre"]: row["value"] for row in rows.values() if row["measure"] == "rights_status"}
    # N-1: six people stopped from leaving, five made to work; N-2: the visits saw locked doors;
    # S-1: five families pressed to pay.
    assert status == {"N-1": "Critical", "N-2": "Critical", "S-1": "Critical"}
    critical = page.split('id="critical"', 1)[1].split("</section>", 1)[0]
    assert critical.count("<table") == 3
    assert opening("peer-interview", "stopped_from_leaving") in critical
    assert "Are doors, gates or windows locked" in critical
    # N-1's one report of physical harm and N-2's from three interviews are not a reason shown.
    assert "hit, beaten" not in critical.split("Centre N-2", 1)[1].split("Centre S-1", 1)[0]


def test_a_red_flag_from_fewer_people_than_the_threshold_is_never_shown_for_a_centre(english: Path) -> None:
    rows = figures(english)
    cells, totals = _flag_columns(rows, "NORTH", "peer-interview", ["N-1", "N-2"], PEER_FLAGS)
    names = ("physically_hurt", "stopped_from_leaving", "forced_work")
    hurt, stopped, work = (PEER_FLAGS.index(name) for name in names)
    assert cells[1] == ["<5"] * len(PEER_FLAGS), "three interviews: the whole row is hidden"
    # Two reports of harm at N-1 look exactly like the questions nobody answered "yes".
    assert cells[0][hurt] == "<5" == cells[0][PEER_FLAGS.index("sexual_violence")]
    # Six and five at N-1 are hidden with the other mark: shown, N-2's 0 and 1 would be the
    # difference from the region's totals.
    assert cells[0][stopped] == cells[0][work] == "‡"
    assert totals[stopped] == "6" and totals[work] == "6"
    assert totals[hurt] == "<5", "three reports in the whole region: below the threshold there too"
    # No "reported" mark anywhere, for any centre.
    assert not any(row["note"] == "reported" for row in rows.values())
    in_region = {row["measure"] for row in rows.values() if row["measure"].startswith("red_flag_in_region:peer")}
    assert in_region == {
        "red_flag_in_region:peer-interview/stopped_from_leaving",
        "red_flag_in_region:peer-interview/forced_work",
        "red_flag_in_region:peer-interview/family_pressed_to_pay",
    }
    # No per-centre total of red-flag reports from interviews: it would only give counts away.
    assert not any(row["measure"] == "red_flag_reports:peer-interview" for row in rows.values())
    south, _south_totals = _flag_columns(rows, "SOUTH", "peer-interview", ["S-1"], PEER_FLAGS)
    assert south[0][PEER_FLAGS.index("family_pressed_to_pay")] == "5"
    # Centre visits are counted as they are.
    visit_flags = [i.id for i in CENTRE.items if i.sensitive and i.type == "yes_no"]
    visits, _ = _flag_columns(rows, "NORTH", "centre-assessment", ["N-1", "N-2"], visit_flags)
    assert all(value.isdigit() for row in visits for value in row)
    assert rows["r1|flags1|reports"]["value"] == "3"  # N-1 saw beatings once; N-2 locked doors twice


def test_no_hidden_red_flag_count_can_be_worked_out_from_the_published_table(english: Path) -> None:
    rows = figures(english)
    cells, totals = _flag_columns(rows, "NORTH", "peer-interview", ["N-1", "N-2"], PEER_FLAGS)
    true = [[0] * len(PEER_FLAGS) for _ in range(2)]
    for name, counts in (("physically_hurt", (2, 1)), ("stopped_from_leaving", (6, 0)), ("forced_work", (5, 1))):
        true[0][PEER_FLAGS.index(name)], true[1][PEER_FLAGS.index(name)] = counts

    def number(text: str) -> int | None:
        return int(text) if text.isdigit() else None

    published = ([[number(v) for v in row] for row in cells], [None, None], [number(t) for t in totals], None)
    marks = [["primary" if v == "<5" else "secondary" if v == "‡" else "shown" for v in row] for row in cells]
    # The attacker from tests/test_suppression.py, reading the marks too ("<5" below 5, "‡" 5 or
    # more). One column at a time: no total links the columns.
    for c in range(len(PEER_FLAGS)):
        column = ([[row[c]] for row in published[0]], [None, None], [published[2][c]], None)
        possible: dict[int, set[int]] = {}
        for candidate in _consistent_tables(*column, marks=[[m[c]] for m in marks], threshold=5):
            for r in range(2):
                possible.setdefault(r, set()).add(candidate[r][0])
        for r in range(2):
            if column[0][r][0] is None:
                assert len(possible[r]) > 1, f"{PEER_FLAGS[c]} at centre {r} ({true[r][c]}) can be worked out"
            else:
                assert column[0][r][0] == true[r][c]


def test_the_arithmetic_of_every_published_red_flag_table_holds(english: Path) -> None:
    rows = figures(english)
    for region, centres in (("NORTH", ["N-1", "N-2"]), ("SOUTH", ["S-1"])):
        cells, totals = _flag_columns(rows, region, "peer-interview", centres, PEER_FLAGS)
        for c, total in enumerate(totals):
            if not total.isdigit():
                continue
            column = [row[c] for row in cells]
            shown = sum(int(v) for v in column if v.isdigit())
            others = sum(1 for v in column if v == "‡")
            small = sum(1 for v in column if v == "<5")
            assert int(total) >= shown + 5 * others
            if not others:
                assert int(total) <= shown + 4 * small


# --- Region, threshold, files ---------------------------------------------------------


def test_region_restricts_the_report_to_its_centres(world: World, tmp_path: Path) -> None:
    out = tmp_path / "north"
    world.report(out, "--region", "north")
    assert {centre for centre, _area in ratings(out)} == {"N-1", "N-2"}
    assert all(row["region"] in ("NORTH", "") for row in figures(out).values())
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "S-1" not in page and "SOUTH" not in page


def test_a_threshold_below_three_is_refused_in_one_line(world: World, tmp_path: Path) -> None:
    result = world.report(tmp_path / "out", "--threshold", "2", expect=1)
    assert result.output.strip().count("\n") == 0
    assert "--threshold must be at least 3" in result.output
    assert not (tmp_path / "out").exists()


def test_a_higher_threshold_hides_more(world: World, tmp_path: Path) -> None:
    out = tmp_path / "strict"
    world.report(out, "--threshold", "6")
    found = ratings(out)
    assert found[("S-1", "P2")] == ("No data", "0"), "five people are too few at threshold 6"
    assert found[("N-1", "P2")] == EXPECTED_RATINGS[("N-1", "P2")]
    status = {row["centre"]: row["value"] for row in figures(out).values() if row["measure"] == "rights_status"}
    # Five families pressed to pay are too few at threshold 6; six stopped from leaving are not.
    assert status["S-1"] != "Critical" and status["N-1"] == "Critical"


def test_every_figure_in_the_page_is_in_figures_csv_and_the_same(english: Path, arabic: Path) -> None:
    for out in (english, arabic):
        rows = figures(out)
        found = marked(out)
        assert set(found.found["data-fig"]) == set(rows), "the page and the CSV list the same figures"
        for key, texts in found.found["data-fig"].items():
            assert texts == {rows[key]["value"]}, key
        for key, texts in found.found["data-note"].items():
            assert texts == {rows[key]["note"]}, key
        noted = {key for key, row in rows.items() if row["note"]}
        assert noted == set(found.found["data-note"]), "every note in the CSV is shown"
        for name, column in (("data-respondents", "respondents"), ("data-sources", "sources")):
            for key, texts in found.found[name].items():
                assert texts == {rows[key][column]}, key
        assert {key for key, row in rows.items() if row["measure"] == "rating"} == set(found.found["data-sources"])


def test_the_page_is_self_contained_and_every_chart_has_a_text_alternative(english: Path, arabic: Path) -> None:
    for out in (english, arabic):
        page = (out / "report.html").read_text(encoding="utf-8")
        assert not re.search(r"https?://", page), "nothing is fetched from anywhere"
        assert "<script" not in page.lower() and not re.search(r"<[^>]+\son\w+=", page)
        assert not re.search(r"<(link|img|iframe|object|embed)\b", page)
        assert "style=" not in page, "one stylesheet, no inline styles (the hub's CSP)"
        parser = marked(out)
        assert len(parser.svgs) == 3 + 2, "one chart per centre, one per region"
        ids = {identifier for _tag, identifier in parser.svg_parts}
        for svg in parser.svgs:
            assert svg["role"] == "img"
            title, desc = svg["aria-labelledby"].split()
            assert title in ids and desc in ids
        assert [tag for tag, _id in parser.svg_parts] == ["title", "desc"] * len(parser.svgs)
    assert '<html lang="en" dir="ltr">' in (english / "report.html").read_text(encoding="utf-8")
    arabic_page = (arabic / "report.html").read_text(encoding="utf-8")
    assert '<html lang="ar" dir="rtl">' in arabic_page
    assert 'direction="rtl"' in arabic_page and "<bdi" in arabic_page


def test_the_arabic_report_is_in_arabic(arabic: Path) -> None:
    page = (arabic / "report.html").read_text(encoding="utf-8")
    text = re.sub(r"<[^>]+>", " ", page.split("<main>", 1)[1])
    arabic_letters = len(re.findall(r"[\u0600-\u06ff]", text))
    latin_letters = len(re.findall(r"[A-Za-z]", text))
    assert arabic_letters > 5 * latin_letters, "the report's words are translated"


def test_the_report_is_private_and_copied_for_the_hub_page(world: World, english: Path) -> None:
    for folder in (english, world.hub / "reports" / "latest"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        for name in ("report.html", "figures.csv"):
            assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    latest = world.hub / "reports" / "latest"
    assert {p.name for p in latest.iterdir()} == {
        "report.html",
        "figures.csv",
        "hub-view.html",
        "report.css",
        "about.json",
        "README.txt",
    }
    assert "aggregate" in (latest / "README.txt").read_text()
    linked = (latest / "hub-view.html").read_text(encoding="utf-8")
    assert '<link rel="stylesheet" href="report.css">' in linked and "<style>" not in linked


def test_the_hub_page_shows_the_latest_report_behind_the_login(world: World, english: Path) -> None:
    from sync.hub.reports.web import reports_pages

    OperatorPassword.for_hub(world.hub).set(OPERATOR_PASSWORD, work_factor=10)
    with HubStore(world.hub) as store:
        client = create_hub_app(HubSettings(), store, pages=[reports_pages()]).test_client()
        assert client.get("/operator/reports/").status_code == 302
        assert client.get("/operator/reports/latest/").status_code == 302
        page = client.get("/login").get_data(as_text=True)
        client.post("/login", data={"csrf_token": csrf_token(page), "name": "admin", "password": OPERATOR_PASSWORD})
        index = client.get("/operator/reports/")
        assert index.status_code == 200
        assert "Open the report" in index.get_data(as_text=True)
        view = client.get("/operator/reports/latest/")
        assert view.status_code == 200 and view.mimetype == "text/html"
        assert "style-src 'self'" in view.headers["Content-Security-Policy"]
        assert "N-1" in view.get_data(as_text=True)
        assert client.get("/operator/reports/latest/report.css").mimetype == "text/css"
        download = client.get("/operator/reports/latest/figures.csv")
        assert download.headers["Content-Disposition"].startswith("attachment")
        assert download.data == (world.hub / "reports" / "latest" / "figures.csv").read_bytes()


def test_unreadable_records_are_listed_and_the_report_still_written(tmp_path: Path) -> None:
    keys = generate_hub_keys(tmp_path / "keys", None)
    hub = tmp_path / "hub"
    init_hub(hub, keys.recipient, hub_id="hub-unreadable")
    stranger = age.X25519Identity.generate().recipient().to_string()
    record_id, ciphertext = sealed(*interview("C-9", staff_respect=3), stranger)
    push(hub, keys.recipient, [interview("C-9", staff_respect=4)], extra=[(record_id, "peer-interview", 2, ciphertext)])
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli, ["hub", "report", "--data", str(hub), "--identity", str(keys.identity_path), "--out", str(out)]
    )
    assert result.exit_code == 1
    assert f"record {record_id}: not used in the report: the identity does not open it" in result.output
    assert figures(out)["hub|unused|unreadable"]["value"] == "1"


def test_simulated_interviews_go_through_the_report(tmp_path: Path) -> None:
    passphrase = write_passphrase_file(tmp_path)
    keys = make_hub_keys(tmp_path)
    hub = init_hub_folder(tmp_path, keys)
    kit = new_kit(tmp_path, keys, passphrase)
    enrol(hub, kit, passphrase, tmp_path)
    run_cli(
        "simulate",
        "--data",
        kit,
        "--responses",
        24,
        "--seed",
        8,
        "--centres",
        1,
        "--regions",
        1,
        "--passphrase-file",
        passphrase,
    )
    export(kit, tmp_path / "kit.tar", passphrase)
    run_cli("hub", "import", "--data", hub, tmp_path / "kit.tar")
    out = tmp_path / "out"
    result = run_cli("hub", "report", "--data", hub, "--identity", keys / "hub-identity.txt", "--out", out)
    used = int(re.search(r"(\d+) records used of 24\n", result.output).group(1))
    # Every record is accounted for: used for the centre, or counted as naming no centre.
    assert used == 24 or "records not used: peer-interview without a centre code" in result.output
    shown = figures(out)
    assert int(shown["c1|interviews"]["value"]) + int(shown["c1|assessments"]["value"]) == used
    found = ratings(out)
    assert {centre for centre, _area in found} == {"C01"}
    assert set(marked(out).found["data-fig"]) == set(figures(out))


# --- The parts ----------------------------------------------------------------------------


def test_combined_levels_use_the_half_steps() -> None:
    assert level_of(["full", "not_initiated"]) == "partial"  # 2.5
    assert level_of(["initiated", "not_initiated"]) == "initiated"  # 1.5
    assert level_of(["full", "full", "partial", "partial"]) == "full"  # 3.5
    assert level_of(["partial", "partial", "initiated"]) == "partial"  # 2.67
    assert level_of(["not_initiated", "not_initiated", "initiated"]) == "not_initiated"  # 1.33
    assert level_of(["not_applicable", "full"]) == "full"
    assert level_of(["not_applicable"]) == "not_applicable"
    assert level_of([]) == "no_data"


def test_a_record_of_another_form_version_is_read_by_item_id() -> None:
    # Made with another version: one answer fits the shipped item, one no longer does (a
    # likert answered in words), one item is gone, and a red flag is answered as it is now.
    answers = {
        "consent": "given",
        "centre_code": "N-1",
        "staff_respect": 5,
        "could_say_no": "sometimes",
        "question_removed_since": "yes",
        "forced_work": "yes",
    }
    assert answers_by_item_id(PEER, answers) == {
        "consent": "given",
        "staff_respect": 5,
        "forced_work": "yes",
    }, "the typed centre code is no item of the current form"
    facts = facts_of(PEER, answers, same_definition=False)
    # Its centre still counts: read from the typed answer, as records of older versions give it.
    assert facts.centre == "N-1" and facts.region is None and facts.red_flags == frozenset({"forced_work"})
    placed = facts_of(PEER, answers, same_definition=False, place=place_of({"centre": {"code": "n-1", "region": "x"}}))
    assert (placed.centre, placed.region) == ("N-1", "X"), "a payload's centre wins over typed answers"
    assert sorted(facts.levels["P2"]) == ["full", "not_initiated"], "respect 5 and forced work; nothing else"
    # Read as the shipped definition, the answer that no longer fits would count: it does not here.
    assert facts_of(PEER, {**answers, "staff_respect": "very"}, same_definition=False).levels["P2"] == (
        "not_initiated",
    )


def test_item_levels_follow_values_and_conditions() -> None:
    offers, leave, respect = PEER.item("health_offers"), PEER.item("can_leave"), PEER.item("staff_respect")
    assert item_level(offers, ["naloxone", "condoms"], {}) == "partial"
    assert item_level(offers, ["none_of_these"], {}) == "not_initiated"
    assert item_level(leave, "leave_with_conditions", {}) == "partial"
    assert item_level(leave, "prefer_not", {}) is None
    assert item_level(respect, 4, {}) == "full"
    assert item_level(respect, True, {}) is None, "a boolean is not the likert answer 1"
    assert item_level(PEER.item("oat_offered"), "not_relevant_to_me", {}) == "not_applicable"


def test_charts_mirror_for_right_to_left_and_escape_their_text() -> None:
    bars = [Bar("P1 <b>", "full", "Achieved in full", "k1"), Bar("P2", "no_data", "No data", "k2")]
    left = str(centre_chart("c", bars, title="T & t", desc="D"))
    right = str(centre_chart("c", bars, title="T & t", desc="D", rtl=True))
    assert "P1 &lt;b&gt;" in left and "<b>" not in left and "T &amp; t" in left
    assert 'x="10"' in left and 'x="630"' in right and 'direction="rtl"' in right
    assert "url(#c-solid)" in left and 'data-fig="k2"' in left
    levels = {"no_data": "No data", "not_applicable": "Not applicable"}
    chart = str(
        region_chart("r", ["P1"], [Series("A", ["full"]), Series("B", ["no_data"])], levels, title="t", desc="d")
    )
    assert chart.count("<rect") == 1 + 2, "one bar, and one tile for each centre's pattern"
    assert "B: No data" in chart


# --- Looking at it ------------------------------------------------------------------------


@pytest.mark.slow
def test_screenshots_and_a4_printout(english: Path, arabic: Path, artifacts_dir: Path) -> None:
    from selenium.webdriver.common.print_page_options import PrintOptions

    from tests.browser import chromium

    a4 = PrintOptions()
    a4.page_width, a4.page_height = 21.0, 29.7
    driver = chromium(size=(794, 1123))  # A4 at 96 dpi
    try:
        for name, out in (("en", english), ("ar", arabic)):
            driver.get((out / "report.html").as_uri())
            height = driver.execute_script("return document.documentElement.scrollHeight")
            driver.set_window_size(794, min(height + 40, 14000))
            path = artifacts_dir / f"scorecards-{name}.png"
            driver.save_screenshot(str(path))
            assert path.stat().st_size > 50_000
            pdf = base64.b64decode(driver.print_page(a4))
            (artifacts_dir / f"scorecards-{name}.pdf").write_bytes(pdf)
            pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
            assert pages >= 3 + 2, "a page for each centre, after the red flags and the ratings"
            assert driver.execute_script("return document.dir") == ("rtl" if name == "ar" else "ltr")
            driver.set_window_size(794, 1123)
    finally:
        driver.quit()


def test_dates_are_days_only(english: Path) -> None:
    page = (english / "report.html").read_text(encoding="utf-8")
    assert datetime.date.today().isoformat() in page
    assert not re.search(r"\d{4}-\d{2}-\d{2}T", page)

"""Scorecards that tell the truth, tried as an advocate would: 20 centres in two regions,
five of them abusive, one with three interviews and one report of restraint, one with a
single visit, and one whose people were interviewed but which no assessment placed in a
region. Records are sealed to a real hub key and merged through a signed bundle
(helpers of tests/test_scorecards.py); the report is made by `fieldkit hub report`.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from fieldkit.cli import cli
from fieldkit.core.crypto.hubkeys import generate_hub_keys
from sync.hub.store import init_hub
from tests.test_scorecards import PEER_FLAGS, assessment, interview, opening, push

THRESHOLD = 5
ABUSIVE = ("A-01", "A-02", "B-01", "B-02", "B-03")
SMALL = "A-09"  # three interviews, one of them reports restraint
ONE_VISIT = "B-09"  # one centre assessment, nobody interviewed
UNPLACED = "X-77"  # people interviewed, no assessment: no region
NO_FLAGS = {flag: "no" for flag in PEER_FLAGS}
GOOD_VISIT: dict[str, Any] = {
    "access_hours": "in_place",
    "access_transport": "yes",
    "consent_informed": "in_place",
    "rf_no_way_to_leave": "no",
    "rf_beatings": "no",
    "visit_sources": ["observation", "staff_talk"],
}


def centre_records() -> list:
    records = []
    for region in ("A", "B"):
        for number in range(1, 10):
            code = f"{region}-{number:02d}"
            if code in (ONE_VISIT, SMALL):
                continue
            records.append(assessment(code, region.lower(), **GOOD_VISIT))
            for person in range(6):
                answers: dict[str, Any] = {**NO_FLAGS, "staff_respect": 5, "could_say_no": "yes"}
                if code in ABUSIVE:
                    # Everything else looks fine; six people report detention without a hearing,
                    # five forced work, and at A-01 six were stopped from leaving.
                    answers["held_without_hearing"] = "yes"
                    answers["forced_work"] = "yes" if person < 5 else "no"
                    if code == "A-01":
                        answers["stopped_from_leaving"] = "yes"
                records.append(interview(code, **answers))
    # Region A has centres A-01..A-09 and A-10: ten centres per region with those below.
    records.append(assessment("A-10", "a", **GOOD_VISIT))
    records += [interview("A-10", **NO_FLAGS, staff_respect=5) for _ in range(5)]
    records.append(assessment("B-10", "b", **GOOD_VISIT))
    records += [interview("B-10", **NO_FLAGS, staff_respect=5) for _ in range(5)]
    records.append(assessment(SMALL, "a", **GOOD_VISIT))
    records += [interview(SMALL, **NO_FLAGS, staff_respect=4) for _ in range(2)]
    records.append(interview(SMALL, **{**NO_FLAGS, "restrained_or_isolated": "yes"}, staff_respect=4))
    # The one visit also says where people get two harm-reduction services.
    records.append(assessment(ONE_VISIT, "b", **GOOD_VISIT, hr_needles_syringes="not_offered", hr_oat="by_referral"))
    for person in range(8):  # 43 red-flag reports in all at a centre no assessment placed
        flags = {flag: "yes" for flag in PEER_FLAGS[: 6 if person < 3 else 5]}
        records.append(interview(UNPLACED, **{**NO_FLAGS, **flags}))
    return records


class Hub:
    def __init__(self, root: Path) -> None:
        keys = generate_hub_keys(root / "hub-keys", None)
        self.identity = keys.identity_path
        self.hub = root / "hub"
        init_hub(self.hub, keys.recipient, hub_id="hub-truth")
        self.records = centre_records()
        push(self.hub, keys.recipient, self.records)

    def report(self, out: Path, *extra: object) -> Result:
        args = ["hub", "report", "--data", self.hub, "--identity", self.identity, "--out", out, *extra]
        result = CliRunner().invoke(cli, [str(arg) for arg in args])
        assert result.exit_code == 0, result.output
        assert "Traceback" not in result.output
        return result


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Hub:
    return Hub(tmp_path_factory.mktemp("truth"))


@pytest.fixture(scope="module")
def report(hub: Hub, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Result]:
    out = tmp_path_factory.mktemp("truth-report") / "out"
    return out, hub.report(out)


def rows_of(out: Path) -> list[dict[str, str]]:
    with (out / "figures.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def by(out: Path, measure: str) -> dict[str, str]:
    return {row["centre"]: row["value"] for row in rows_of(out) if row["measure"] == measure}


def centre_section(page: str, code: str) -> str:
    start = page.index('<h2 id="centre-c', page.index(f">Centre {code}</h2>") - 40)
    return page[start : page.index("</section>", start)]


def test_every_abusive_centre_is_critical_first_with_its_rights_rating_capped(report: tuple[Path, Result]) -> None:
    out, result = report
    status = by(out, "rights_status")
    assert len(status) == 21, "20 centres in two regions, and the unplaced one under 'no region'"
    assert {code for code, value in status.items() if value == "Critical"} == set(ABUSIVE) | {UNPLACED}
    rights = {row["centre"]: row for row in rows_of(out) if row["measure"] == "rating" and row["area"] == "rights"}
    for code in ABUSIVE:
        assert rights[code]["value"] == "Not initiated", code
        assert "red flags decide" in rights[code]["note"]
    # The same answers without the red flags average to "in full": the cap is what decides.
    assert rights["A-10"]["value"] == "Achieved in full"
    page = (out / "report.html").read_text(encoding="utf-8")
    critical = page.split('id="critical"', 1)[1].split("</section>", 1)[0]
    for code in ABUSIVE:
        assert f"Centre {code}</a>" in critical
    assert opening("peer-interview", "held_without_hearing") in critical
    # Critical centres come before the others, in the contents and in the pages.
    order = re.findall(r'<h2 id="centre-c\d+-title">Centre ([A-Z]-\d+)</h2>', page)
    regions = {row["centre"]: row["region"] for row in rows_of(out) if row["measure"] == "rights_status"}
    assert len(order) == 21
    for region in ("A", "B"):
        in_region = [code for code in order if regions[code] == region]
        flagged = [code for code in in_region if status[code] == "Critical"]
        assert in_region[: len(flagged)] == flagged, "critical centres first in each region"
    assert "6 in critical status" in result.output


def test_the_disagreement_between_sources_is_shown_beside_the_rating(report: tuple[Path, Result]) -> None:
    out, _result = report
    found = [row for row in rows_of(out) if row["measure"] == "source_disagreement"]
    assert [row["centre"] for row in found] == ["A-01"], "the visit saw no locked doors; six people were stopped"
    assert "Are doors, gates or windows locked" in found[0]["note"]
    assert "locked doors, guards or threats" in found[0]["note"]
    rights = next(
        r for r in rows_of(out) if r["centre"] == "A-01" and r["measure"] == "rating" and r["area"] == "rights"
    )
    assert "sources disagree" in rights["note"]


def test_the_small_centre_shows_nothing_of_its_one_report(report: tuple[Path, Result]) -> None:
    out, _result = report
    rows = [row for row in rows_of(out) if row["centre"] == SMALL]
    flags = [row for row in rows if row["measure"].startswith("red_flag:peer-interview/")]
    assert len(flags) == len(PEER_FLAGS) and {row["value"] for row in flags} == {"<5"}
    assert by(out, "peer_interviews")[SMALL] == "<5"
    assert by(out, "rights_status")[SMALL] != "Critical"
    assert not any(row["note"] == "reported" for row in rows)
    page = (out / "report.html").read_text(encoding="utf-8")
    section = centre_section(page, SMALL)
    assert "restrain" not in section.lower()
    # One report in the whole region is below the threshold there too: not mentioned at all.
    in_region = {
        row["measure"]
        for row in rows_of(out)
        if row["region"] == "A" and row["measure"].startswith("red_flag_in_region:")
    }
    assert "red_flag_in_region:peer-interview/restrained_or_isolated" not in in_region
    assert "red_flag_in_region:peer-interview/held_without_hearing" in in_region


def test_the_summary_for_advocates_ranks_and_counts_only_published_figures(report: tuple[Path, Result]) -> None:
    out, _result = report
    rows = {row["figure"]: row for row in rows_of(out)}
    page = (out / "report.html").read_text(encoding="utf-8")
    summary = page.split('id="summary"', 1)[1].split("</section>", 1)[0]
    assert page.index('id="summary"') < page.index('id="critical"')
    assert rows["hub|period"]["value"] == "2026-03-02 to 2026-03-02"
    top = summary.split("The most frequent red flags", 1)[1].split("Harm-reduction services missing", 1)[0]
    keys = re.findall(r'data-fig="([^"]+)"', top)
    values = [int(rows[key]["value"]) for key in keys]  # a hidden "<5" or "‡" would not be a number
    assert len(values) == 5 and values == sorted(values, reverse=True)
    assert all(rows[key]["centre"] == "" and rows[key]["measure"].startswith("red_flag:") for key in keys)
    # Detention without a hearing: six people at each of B-01, B-02 and B-03, the largest total.
    assert (
        rows[keys[0]]["region"] == "B"
        and rows[keys[0]]["value"] == "18"
        and rows[keys[0]]["label"].startswith(opening("peer-interview", "held_without_hearing"))
    )
    # The peer interviews in all leave out the small centre, whose three would show as a difference.
    shown = sum(int(value) for value in by(out, "peer_interviews").values() if value.isdigit())
    assert rows["hub|count|peer_interviews_total"]["value"] == str(shown)
    assert rows["hub|count|centre_assessments_total"]["value"] == str(
        sum(map(int, by(out, "centre_assessments").values()))
    )


def test_services_and_data_quality_per_centre(report: tuple[Path, Result]) -> None:
    out, _result = report
    services = {
        row["measure"].split(":", 1)[1]: row["value"]
        for row in rows_of(out)
        if row["centre"] == ONE_VISIT and row["measure"].startswith("harm_reduction_service:")
    }
    assert services["hr_needles_syringes"] == "○" and services["hr_oat"] == "◐"
    assert services["hr_condoms"] == "–", "no answer is not shown as a service missing"
    gap = {row["measure"]: row for row in rows_of(out)}["service_missing:hr_needles_syringes"]
    assert gap["value"] == "1" and gap["note"].endswith("of 1 assessed")
    quality = {row["centre"]: row for row in rows_of(out) if row["measure"] == "share_prefer_not"}
    assert quality[SMALL]["note"] == "centre assessments only", "three people's answers are not a share"
    assert quality["A-10"]["value"] == "0%" and quality["A-10"]["note"] == ""
    missing = {row["centre"]: row["value"] for row in rows_of(out) if row["measure"] == "missing_sources"}
    assert missing["A-10"] == "documents" and missing[UNPLACED] == "no centre assessment"


def test_the_one_visit_centre_rests_on_its_visit_alone(report: tuple[Path, Result]) -> None:
    out, _result = report
    assert by(out, "peer_interviews")[ONE_VISIT] == "0"
    assert by(out, "centre_assessments")[ONE_VISIT] == "1"
    ratings = [r for r in rows_of(out) if r["centre"] == ONE_VISIT and r["measure"] == "rating"]
    assert {r["respondents"] for r in ratings} <= {"0", "1"}
    assert all("peer interviews" not in r["sources"] for r in ratings)


def test_the_report_arithmetic_is_consistent(hub: Hub, report: tuple[Path, Result]) -> None:
    out, result = report
    rows = rows_of(out)
    cell = {(row["region"], row["centre"], row["measure"]): row["value"] for row in rows}
    for region in ("A", "B"):
        for flag in PEER_FLAGS:
            measure = f"red_flag:peer-interview/{flag}"
            column = [v for (r, c, m), v in cell.items() if r == region and c and m == measure]
            total = cell[(region, "", measure)]
            if total == "<5":
                assert all(v == "<5" for v in column), "no cell shown beside a total below the threshold"
                continue
            if total == "‡":  # hidden to protect the cells: 5 or more, and nothing else to check
                assert any(v == "‡" for v in column)
                continue
            shown = sum(int(v) for v in column if v.isdigit())
            others = column.count("‡")
            assert int(total) >= shown + THRESHOLD * others, (region, flag)
            if not others:
                assert int(total) <= shown + (THRESHOLD - 1) * column.count("<5"), (region, flag)
    # Every record is used, and the count of interviews per centre adds up to what was sent.
    assert f"{len(hub.records)} records used of {len(hub.records)}" in result.output
    counted = sum(int(v) for v in by(out, "centre_assessments").values())
    counted += sum(int(v) for v in by(out, "peer_interviews").values() if v.isdigit())
    assert counted == len(hub.records) - 3, "all but the three interviews of the small centre, hidden as <5"


def test_a_region_filter_names_the_centre_it_cannot_place(hub: Hub, tmp_path: Path) -> None:
    out = tmp_path / "a"
    result = hub.report(out, "--region", "a")
    assert set(by(out, "rights_status")) == {f"A-{n:02d}" for n in range(1, 11)}
    unplaced = [row for row in rows_of(out) if row["measure"] == "centre_without_region"]
    assert [row["centre"] for row in unplaced] == [UNPLACED]
    assert unplaced[0]["value"] == "8" and "43" in unplaced[0]["note"]
    page = (out / "report.html").read_text(encoding="utf-8")
    assert f"Centre {UNPLACED}: no centre assessment gives its region" in page
    assert f"centre {UNPLACED} has no region" in result.output
    used_line = re.search(r"(\d+) records used of (\d+)", result.output)
    others_line = re.search(r"(\d+) records not used: centres in other regions", result.output)
    assert used_line and others_line, result.output
    used, others = int(used_line.group(1)), int(others_line.group(1))
    assert used + others + 8 == len(hub.records), "every record is accounted for in the summary"


def test_the_pipeline_stages_run_one_by_one_in_one_direction(hub: Hub) -> None:
    import dataclasses

    from fieldkit.cli.options import unlock_hub_identities
    from fieldkit.core import paths
    from fieldkit.core.formengine.catalogue import load_directory
    from sync.hub.reports.collect import Collected, collect, tally
    from sync.hub.reports.facts import facts_of
    from sync.hub.reports.render import figures_csv, render_html
    from sync.hub.reports.score import score
    from sync.hub.reports.suppress import protect
    from sync.hub.reports.text import ReportWords
    from sync.hub.reports.view import build_view

    forms = load_directory(paths.forms_dir())
    collected = collect(hub.hub, unlock_hub_identities(hub.identity, None), forms)
    assert collected.read == collected.used == len(hub.records)
    scored = score(collected, threshold=THRESHOLD)
    assert {centre.code for centre in scored.critical} == set(ABUSIVE) | {UNPLACED}
    protected = protect(scored, forms)
    assert all(table.table.threshold == THRESHOLD for table in protected.tables)
    words = ReportWords("en", paths.translations_dir())
    view = build_view(protected, words, hub_id="hub-truth", forms=forms)
    with pytest.raises(dataclasses.FrozenInstanceError):
        view.threshold = 3  # type: ignore[misc]
    page, table = render_html(view, words), figures_csv(view)
    assert len(table.splitlines()) == len(view.figures) + 1
    assert all(f'data-fig="{figure.key}"' in page for figure in view.figures)
    # Collecting keeps tallies, not records: twice the records, the same tallies, counts doubled.
    form, answers = interview("A-01", **{**NO_FLAGS, "forced_work": "yes"}, staff_respect=5)
    once, twice = Collected(), Collected()
    for _ in range(50):
        tally(once, facts_of(form, answers))
    for _ in range(100):
        tally(twice, facts_of(form, answers))
    assert once.centres.keys() == twice.centres.keys()
    one, two = once.centres["A-01"], twice.centres["A-01"]
    assert one.flags.keys() == two.flags.keys() and one.areas.keys() == two.areas.keys()
    assert two.flags[("peer-interview", "forced_work")] == 2 * one.flags[("peer-interview", "forced_work")] == 100
    assert {area: sum(t.interview_levels.values()) for area, t in two.areas.items()} == {
        area: 2 * sum(t.interview_levels.values()) for area, t in one.areas.items()
    }

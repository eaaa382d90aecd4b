"""The under-18 protocol (issue 19 point 2): an answer whose ``stop_if`` holds ends the interview.

The peer interview is for adults. When the person is under 18 the kit shows the stop note
to read aloud, deletes the draft (nothing of it is saved or sealed) and keeps only a
counter per form, centre, cycle, item and answer, which travels to the hub in the sealed
tally and shows in the report beside the declined counts, suppressed as they are.
Real kit folders, the real Flask test client, a real ``hub serve`` and real Chromium.
"""

from __future__ import annotations

import csv
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from fieldkit.cli import cli
from fieldkit.core import paths
from fieldkit.core.formengine.answers import stop_holds
from fieldkit.core.formengine.catalogue import load_directory
from fieldkit.core.formengine.loader import load_form_text
from fieldkit.core.storage.records import RecordStore
from fieldkit.kit.config import unlock
from fieldkit.kit.declined import (
    DeclinedCell,
    StoppedCell,
    count_declined,
    count_stopped,
    stopped_cells,
    tally_digest,
    tally_payload,
)
from fieldkit.kit.outbox import Outbox, SyncState
from fieldkit.kit.programme import Programme
from fieldkit.kit.web.app import WebSettings, create_app
from fieldkit.kit.web.interview import IN_PLACE_HEADER, PAGE_URL_HEADER
from sync.protocol.bundle import canonical_json
from sync.protocol.tally import TALLY_FORMAT, TALLY_FORMAT_STOPPED, TallyError, parse_tally
from tests.conftest import PASSPHRASE, scan_for
from tests.http_servers import OPERATOR_PASSWORD, start_hub_process
from tests.sync_cli import PASSPHRASE as CLI_PASSPHRASE
from tests.sync_cli import enrol, init_hub_folder, new_kit, run
from tests.webclient import SHOWN_ITEM, Interviewer, csrf_token

FORMS = load_directory(paths.forms_dir())
PEER = FORMS["peer-interview"]
AGE = PEER.item("age_band")
UNDER_18 = "age_under_18"
STOP_NOTE = "This interview is only for people aged 18 or over"
ENDED = "Interview ended"


def _to_age_page(interviewer: Interviewer, answers: dict[str, str] | None = None) -> tuple[str, str]:
    """Start a peer interview, give consent and go on to the page that asks the age band.

    Returns (that page's url, the draft id). Pages between are saved with ``answers``
    for what they show (nothing by default: the peer interview's questions may be skipped).
    """
    url = interviewer.start("peer-interview")
    draft_id = url.split("/d/")[1].split("/")[0]
    response = interviewer.submit(url, [("consent", "given")])
    assert response.status_code == 302, response.get_data(as_text=True)
    url = response.headers["Location"]
    for _ in range(len(PEER.sections)):
        shown = SHOWN_ITEM.findall(interviewer.client.get(url).get_data(as_text=True))
        if AGE.id in shown:
            return url, draft_id
        pairs = [(key, value) for key, value in (answers or {}).items() if key in shown]
        response = interviewer.submit(url, pairs)
        assert response.status_code == 302
        url = response.headers["Location"]
    raise AssertionError("no page asks the age band")


def _stopped_counts(data_dir: Path) -> list[tuple[Any, ...]]:
    return [(c.form, c.centre, c.cycle, c.item, c.answer, c.count) for c in stopped_cells(data_dir)]


def _assert_nothing_kept(app, kit_dir: Path, draft_id: str) -> None:
    services = app.extensions["fieldkit"]
    assert list(services.drafts.ids()) == [], "the draft is deleted"
    assert services.records.count() == 0, "no record is sealed"
    assert not services.pairing.holds(services.pairing.sessions()[-1], draft_id)
    assert services.declined_counts() == {}, "a stop is not a decline"


# --- On the kit ----------------------------------------------------------------------------


def test_the_shipped_age_question_stops_on_under_18_only() -> None:
    assert AGE.stop_if is not None and STOP_NOTE in AGE.stop_note
    assert "under 18" in AGE.hint, "the interviewer's hint says what happens"
    for choice in AGE.choice_ids():
        assert stop_holds(PEER, AGE, {"consent": "given", AGE.id: choice}) is (choice == UNDER_18), choice
    assert not stop_holds(PEER, AGE, {"consent": "given", AGE.id: "prefer_not"})
    assert not stop_holds(PEER, AGE, {"consent": "given"})


def test_under_18_ends_the_interview_with_the_note_and_keeps_only_a_count(client, app, kit) -> None:
    """JavaScript off: a plain POST of the page, with another answer on it too."""
    interviewer = Interviewer(client, app)
    interviewer.pair()
    url, draft_id = _to_age_page(interviewer)
    services = app.extensions["fieldkit"]
    draft = services.drafts.load(draft_id)
    draft.centre, draft.cycle = "C01", "2027-q1"  # what the centre picker and the pack set
    services.drafts.save(draft)
    page = client.get(url).get_data(as_text=True)
    assert 'id="s-age_band"' in page and " hidden>" in page.split('id="s-age_band"')[1][:300], (
        "the stop note is on the page, hidden until the answer is picked (no script: never shown before Save)"
    )
    others = [(item.id, "prefer_not") for item in PEER.section_of(AGE.id).items if "prefer_not" in item.offer]
    pairs = [(key, value) for key, value in others if key != AGE.id] + [(AGE.id, UNDER_18)]
    response = interviewer.submit(url, pairs)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert ENDED in body and STOP_NOTE in body and "Nothing from this interview was kept" in body
    assert "Traceback" not in body
    _assert_nothing_kept(app, kit.data_dir, draft_id)
    assert _stopped_counts(kit.data_dir) == [("peer-interview", "C01", "2027-q1", AGE.id, UNDER_18, 1)]
    assert Outbox(kit.data_dir).tally_waiting(), "the new count waits to be sent"
    # The draft is gone for every route: its pages, its review, its finalise.
    assert client.get(url).status_code == 404
    assert client.get(f"/d/{draft_id}/review").status_code == 404
    operator = app.test_client().get("/operator/").get_data(as_text=True)
    assert "Stopped by a form rule" in operator


def test_with_the_page_script_the_stop_page_comes_in_place_and_leaves_no_address(client, app, kit) -> None:
    interviewer = Interviewer(client, app)
    interviewer.pair()
    url, draft_id = _to_age_page(interviewer)
    token = csrf_token(client.get(url).get_data(as_text=True))
    response = client.post(
        url, data={"csrf_token": token, "action": "next", AGE.id: UNDER_18}, headers={IN_PLACE_HEADER: "1"}
    )
    assert response.status_code == 200 and STOP_NOTE in response.get_data(as_text=True)
    assert response.headers[PAGE_URL_HEADER] == "/home", "the phone's address bar does not keep the draft's page"
    _assert_nothing_kept(app, kit.data_dir, draft_id)
    assert _stopped_counts(kit.data_dir) == [("peer-interview", None, None, AGE.id, UNDER_18, 1)]


def test_the_stop_note_is_read_in_the_interview_language(client, app, kit) -> None:
    from fieldkit.kit.web.i18n import form_text

    interviewer = Interviewer(client, app)
    interviewer.pair()
    url = interviewer.start("peer-interview", language="ar")
    response = interviewer.submit(url, [("consent", "given")])
    url = response.headers["Location"]
    while AGE.id not in SHOWN_ITEM.findall(client.get(url).get_data(as_text=True)):
        url = interviewer.submit(url, []).headers["Location"]
    response = interviewer.submit(url, [(AGE.id, UNDER_18)])
    body = response.get_data(as_text=True)
    with app.app_context():
        arabic = form_text("ar", "peer-interview/age_band:stop", AGE.stop_note)
    assert arabic != AGE.stop_note and arabic in body
    assert '<html lang="ar" dir="rtl">' in body and STOP_NOTE not in body


def test_other_ages_go_on_and_the_back_button_cannot_get_past_the_stop(client, app, kit) -> None:
    interviewer = Interviewer(client, app)
    interviewer.pair()
    url, draft_id = _to_age_page(interviewer)
    response = interviewer.submit(url, [(AGE.id, "age_18_to_24")])
    assert response.status_code == 302, "an adult's interview goes on"
    services = app.extensions["fieldkit"]
    assert services.drafts.load(draft_id).answers[AGE.id] == "age_18_to_24"
    # Back on the age page (the browser's back button, or "Save and go back"): under 18 now.
    response = interviewer.submit(url, [(AGE.id, UNDER_18)], action="back")
    assert response.status_code == 200 and STOP_NOTE in response.get_data(as_text=True)
    _assert_nothing_kept(app, kit.data_dir, draft_id)
    assert sum(cell.count for cell in stopped_cells(kit.data_dir)) == 1


def test_a_crafted_post_to_a_later_page_cannot_set_the_age_and_a_crafted_draft_is_stopped(client, app, kit) -> None:
    interviewer = Interviewer(client, app)
    interviewer.pair()
    url, draft_id = _to_age_page(interviewer)
    later = interviewer.submit(url, [(AGE.id, "age_25_to_34")]).headers["Location"]
    assert later != url
    # The age band sent to a page that does not ask it is ignored: nothing stops, nothing changes.
    token = csrf_token(client.get(later).get_data(as_text=True))
    response = client.post(later, data={"csrf_token": token, "action": "next", AGE.id: UNDER_18})
    assert response.status_code == 302
    services = app.extensions["fieldkit"]
    assert services.drafts.load(draft_id).answers[AGE.id] == "age_25_to_34"
    assert stopped_cells(kit.data_dir) == ()
    # A draft that holds the stop answer anyway (written past the pages) cannot be sealed.
    draft = services.drafts.load(draft_id)
    draft.answers[AGE.id] = UNDER_18
    services.drafts.save(draft)
    review = client.get(f"/d/{draft_id}/review")
    assert review.status_code == 200 and STOP_NOTE in review.get_data(as_text=True)
    _assert_nothing_kept(app, kit.data_dir, draft_id)
    assert sum(cell.count for cell in stopped_cells(kit.data_dir)) == 1
    finalise = client.post(f"/d/{draft_id}/finalise", data={"csrf_token": token, "confirm_missing": "yes"})
    assert finalise.status_code == 404, "nothing is left to seal"
    assert RecordStore(kit.data_dir).count() == 0


def test_switching_language_with_under_18_picked_saves_nothing_of_it(client, app, kit) -> None:
    interviewer = Interviewer(client, app)
    interviewer.pair()
    url, draft_id = _to_age_page(interviewer)
    token = csrf_token(client.get(url).get_data(as_text=True))
    switched = client.post(url, data={"csrf_token": token, "action": "language", "_lang": "fr", AGE.id: UNDER_18})
    assert switched.status_code == 302
    services = app.extensions["fieldkit"]
    draft = services.drafts.load(draft_id)
    assert AGE.id not in draft.answers and draft.language == "fr"
    assert stopped_cells(kit.data_dir) == (), "changing the language is not an answer"
    response = interviewer.submit(url, [(AGE.id, UNDER_18)])
    assert response.status_code == 200 and ENDED not in response.get_data(as_text=True)  # in French now
    _assert_nothing_kept(app, kit.data_dir, draft_id)
    assert sum(cell.count for cell in stopped_cells(kit.data_dir)) == 1


def test_after_a_restart_of_the_kit_the_stop_still_holds(client, app, kit, shipped_forms) -> None:
    interviewer = Interviewer(client, app)
    interviewer.pair()
    url, draft_id = _to_age_page(interviewer)
    # The kit restarts: new services over the same folder; the phone pairs again and the operator hands the draft over.
    restarted = create_app(WebSettings(testing=True), kit.unlock(), Programme.from_forms(shipped_forms.values()))
    phone = restarted.test_client()
    again = Interviewer(phone, restarted)
    again.pair()
    again.drafts_handed_over()
    resumed = phone.get(f"/d/{draft_id}")
    assert resumed.status_code == 302 and resumed.headers["Location"] == url
    response = again.submit(url, [(AGE.id, UNDER_18)])
    assert response.status_code == 200 and STOP_NOTE in response.get_data(as_text=True)
    services = restarted.extensions["fieldkit"]
    assert list(services.drafts.ids()) == [] and services.records.count() == 0
    assert _stopped_counts(kit.data_dir) == [("peer-interview", None, None, AGE.id, UNDER_18, 1)]


def test_simulated_interviews_never_pick_an_answer_that_stops_them() -> None:
    import random

    from fieldkit.kit.simulate import random_answers

    rng = random.Random(7)
    for _ in range(200):
        assert random_answers(PEER, rng).get(AGE.id) != UNDER_18


# --- The tally: format 2 beside format 1 ---------------------------------------------------


def test_a_kit_without_stops_makes_the_tally_it_always_made() -> None:
    cells = [DeclinedCell("peer-interview", "C01", "2027-q1", 3)]
    old_digest = __import__("hashlib").sha256(canonical_json([c.to_json() for c in cells])).hexdigest()
    assert tally_digest(cells) == old_digest, "an upgraded kit does not send an acknowledged tally again"
    payload = tally_payload("kit-a", 1, cells, "2027-01-31")
    assert payload["format"] == TALLY_FORMAT and "stopped" not in payload
    stopped = [StoppedCell("peer-interview", "C01", "2027-q1", AGE.id, UNDER_18, 2)]
    with_stops = tally_payload("kit-a", 1, cells, "2027-01-31", stopped)
    assert with_stops["format"] == TALLY_FORMAT_STOPPED
    assert tally_digest(cells, stopped) != old_digest
    parsed = parse_tally(json.loads(json.dumps(with_stops)))
    assert [(s.form, s.centre, s.cycle, s.item, s.answer, s.count) for s in parsed.stopped] == [
        ("peer-interview", "C01", "2027-q1", AGE.id, UNDER_18, 2)
    ]
    assert parse_tally(payload).stopped == ()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda d: {**d, "format": TALLY_FORMAT}, "must hold exactly"),  # /1 cannot carry stops
        (lambda d: {k: v for k, v in d.items() if k != "stopped"}, "must hold exactly"),
        (lambda d: {**d, "stopped": {}}, "stopped must be a list"),
        (lambda d: {**d, "stopped": [{**d["stopped"][0], "answer": "Under 18!"}]}, "the answer id is malformed"),
        (lambda d: {**d, "stopped": [{**d["stopped"][0], "count": -1}]}, "is not a whole number"),
        (lambda d: {**d, "stopped": [{**d["stopped"][0], "note": "x"}]}, "must hold exactly"),
        (lambda d: {**d, "stopped": d["stopped"] * 2}, "counted twice"),
        (lambda d: {**d, "format": "fieldkit-tally/3"}, "is not a fieldkit-tally/1 or fieldkit-tally/2 document"),
    ],
)
def test_a_malformed_tally_with_stops_is_refused_with_its_reason(change, reason: str) -> None:
    stopped = [StoppedCell("peer-interview", "C01", None, AGE.id, UNDER_18, 1)]
    document = tally_payload("kit-a", 1, [], "2027-01-31", stopped)
    with pytest.raises(TallyError, match=reason):
        parse_tally(change(document))


# --- Kit to hub, then the report ----------------------------------------------------------


def _figures(out: Path) -> dict[tuple[str, str], dict[str, str]]:
    with (out / "figures.csv").open(encoding="utf-8", newline="") as handle:
        return {(row["centre"], row["measure"]): row for row in csv.DictReader(handle)}


def test_stops_reach_a_real_hub_serve_and_the_report_shows_them_suppressed_below_5(
    tmp_path: Path, hub_keys: Path, passphrase_file: Path
) -> None:
    from tests.test_declined_tallies import PEER as REPORTED
    from tests.test_declined_tallies import peer_answers, put_on_kit

    hub = init_hub_folder(tmp_path, hub_keys)
    kit_dir = new_kit(tmp_path, hub_keys, passphrase_file)
    enrol(hub, kit_dir, passphrase_file, tmp_path)
    # Seven interviews stopped through the kit's own pages: six at C01, one at C02.
    app = create_app(WebSettings(testing=True), unlock(kit_dir, CLI_PASSPHRASE), Programme.from_forms(FORMS.values()))
    interviewer = Interviewer(app.test_client(), app)
    interviewer.pair()
    services = app.extensions["fieldkit"]
    for centre in ["C01"] * 6 + ["C02"]:
        url, draft_id = _to_age_page(interviewer)
        draft = services.drafts.load(draft_id)
        draft.centre, draft.cycle = centre, "2027-q1"
        services.drafts.save(draft)
        assert STOP_NOTE in interviewer.submit(url, [(AGE.id, UNDER_18)]).get_data(as_text=True)
    assert services.records.count() == 0 and list(services.drafts.ids()) == []
    for _ in range(6):
        put_on_kit(kit_dir, REPORTED, peer_answers("C01"), centre="C01", cycle="2027-q1")
    for _ in range(5):
        count_declined(kit_dir, "peer-interview", "C01", "2027-q1")

    password_file = tmp_path / "operator.txt"
    password_file.write_text(OPERATOR_PASSWORD + "\n")
    server = start_hub_process(hub, 0, password_file)
    try:
        pushed = run("sync", "push", "--data", kit_dir, "--hub", server.url, "--passphrase-file", passphrase_file)
        assert "and the tally of declined interviews" in pushed.output
        assert SyncState(kit_dir).tally()["acked_by"] and not Outbox(kit_dir).tally_waiting()
        # One more stop and nothing else: a bundle of the tally alone carries it.
        count_stopped(kit_dir, "peer-interview", "C02", "2027-q1", AGE.id, UNDER_18)
        assert Outbox(kit_dir).tally_waiting()
        status = run("sync", "status", "--data", kit_dir)
        assert "Interviews a form's rule stopped (such as under 18): 8 counted on this kit; the latest counts wait" in (
            status.output
        )
        third = run("sync", "push", "--data", kit_dir, "--hub", server.url, "--passphrase-file", passphrase_file)
        assert "Sending 0 records and the tally of declined interviews" in third.output
    finally:
        server.stop()

    out = tmp_path / "report"
    args = ["hub", "report", "--data", hub, "--identity", hub_keys / "hub-identity.txt", "--out", out]
    written = CliRunner().invoke(cli, [str(arg) for arg in args])
    assert written.exit_code == 0, written.output
    assert "tallies of 1 kit key(s) read" in written.output and "not used in the report" not in written.output
    found = _figures(out)
    measure = f"interviews_stopped:peer-interview:{AGE.id}:{UNDER_18}"
    assert found[("C01", measure)]["value"] == "6"
    assert found[("C02", measure)]["value"] == "<5", "two stops at C02: under the threshold, hidden"
    assert found[("C01", measure)]["label"].endswith(": Under 18")
    # Stops are not offered interviews: the response rate is 6 / (6 + 5) as before.
    assert found[("C01", "response_rate:peer-interview")]["value"] in ("55%", "55 %", "55\u00a0%")
    assert found[("C02", "interviews_declined:peer-interview")]["value"] == "<5"
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Ended early" in page and "Under 18: " in page
    stored = [path for path in scan_for(UNDER_18, hub) if "reports" not in path.relative_to(hub).parts]
    assert stored == [], "the hub stores the stop counts sealed only (the report it wrote names them)"


# --- forms check -----------------------------------------------------------------------------

FORM_HEAD = """\
id: t
version: 1
title: T
choice_lists:
  ages:
    - {id: minor, label: Under 18}
    - {id: adult, label: 18 or over}
sections:
  - id: s
    title: S
    items:
"""


def _problems(items: str) -> list[str]:
    text = FORM_HEAD + textwrap.indent(textwrap.dedent(items), " " * 6)
    _form, problems = load_form_text(text, Path("t.yaml"))
    return [f"{p.line}: {p.message}" for p in problems]


CONSENT = "- {id: consent, type: consent, label: May we talk?, tags: [P1]}\n"
AGE_ITEM = "- {id: age, type: select_one, label: A, tags: [P1], choices: ages, "


def test_a_well_formed_stop_rule_passes() -> None:
    assert _problems(CONSENT + "- {id: age, type: select_one, label: Age, tags: [P1], choices: ages, "
                     "stop_if: \". == 'minor'\", stop_note: Thank you.}\n") == []  # fmt: skip


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (CONSENT + AGE_ITEM + "stop_if: \". == 'minor'\"}\n",
         "13: a 'stop_if' needs a 'stop_note'"),
        (CONSENT + AGE_ITEM + "stop_note: Thanks}\n",
         "13: a 'stop_note' is read only with a 'stop_if'"),
        (CONSENT + "- {id: n, type: note, label: N, tags: [P1], stop_if: \"1 == 1\", stop_note: Thanks}\n",
         "13: 'stop_if' does not apply to note items"),
        ("- {id: consent, type: consent, label: C, tags: [P1], stop_if: \". == 'declined'\", stop_note: Thanks}\n",
         "12: 'stop_if' does not apply to consent items"),
        (CONSENT + "- {id: years, type: integer, label: Y, tags: [P1], stop_if: \". < 18\", stop_note: Thanks}\n",
         "13: 'stop_if' does not apply to integer items"),
        (AGE_ITEM + "stop_if: \". == 'minor'\", stop_note: T}\n"
         + CONSENT, "12: stop_if: this item comes before the consent item 'consent'"),
        (CONSENT + AGE_ITEM + "stop_if: \"agee == 'minor'\", "
         "stop_note: T}\n", "13: stop_if: unknown item 'agee'"),
        (CONSENT + AGE_ITEM + "stop_if: \". == 'minr'\", "
         "stop_note: T}\n", "'minr' is not a choice"),
        (CONSENT + AGE_ITEM + "stop_if: \". > 3\", stop_note: T}\n",
         "13: stop_if: "),
        (CONSENT + AGE_ITEM + "stop_if: \". ==\", stop_note: T}\n",
         "13: stop_if: "),
        (CONSENT + AGE_ITEM + "stop_if: 3, stop_note: T}\n",
         "13: 'stop_if' must be a condition written as text"),
    ],
    ids=[
        "no-note", "no-rule", "on-a-note", "on-consent", "on-a-number", "before-consent", "unknown-item",
        "unknown-choice", "wrong-kind", "syntax", "not-text",
    ],
)  # fmt: skip
def test_forms_check_names_each_broken_stop_rule_with_its_line(items: str, expected: str) -> None:
    problems = _problems(items)
    assert any(expected in problem for problem in problems), problems


def test_forms_check_cli_reports_a_broken_stop_rule_without_a_traceback(tmp_path: Path) -> None:
    broken = FORM_HEAD + textwrap.indent(CONSENT + AGE_ITEM + "stop_if: \". == 'minor'\"}\n", " " * 6)
    (tmp_path / "t.yaml").write_text(broken, encoding="utf-8")
    result = CliRunner().invoke(cli, ["forms", "check", "--forms-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "t.yaml:13" in result.output and "a 'stop_if' needs a 'stop_note'" in result.output
    assert "Traceback" not in result.output


def test_the_stop_note_is_in_the_forms_catalogue_and_not_in_the_reading_time() -> None:
    from fieldkit.core.formengine.timing import words_read_aloud
    from fieldkit.core.formengine.wording import form_strings

    strings = {s.context: s for s in form_strings(PEER)}
    assert strings["peer-interview/age_band:stop"].text == AGE.stop_note
    label_words = len(AGE.label.split()) + sum(len(choice.label.split()) for choice in AGE.choices)
    assert words_read_aloud(AGE) == label_words


# --- Real Chromium ----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("language", "javascript"), [("en", True), ("ar", True), ("en", False)], ids=["en-js", "ar-js", "en-no-js"]
)
def test_in_chromium_picking_under_18_shows_the_note_at_once_and_save_ends_the_interview(
    kit, tmp_path: Path, artifacts_dir: Path, language: str, javascript: bool
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from tests.browser import chromium, full_page_screenshot, serve
    from tests.test_browser_interview import _click_and_wait, _next, _start_peer_interview

    def _choose(driver, name: str, value: str) -> None:
        """Tick an answer by its value, scrolled to the middle of the screen (clear of the sticky header)."""
        box = driver.find_element(By.CSS_SELECTOR, f"input[name='{name}'][value='{value}']")
        label = box.find_element(By.XPATH, "..")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", label)
        label.click()

    passphrase_file = tmp_path / "pass"
    passphrase_file.write_text(PASSPHRASE + "\n")
    served = serve(kit.data_dir, passphrase_file)
    driver = chromium(javascript=javascript)
    tag = f"{language}-{'js' if javascript else 'no-js'}"
    try:
        driver.get(served.url + "pair")
        driver.find_element(By.ID, "code").send_keys(served.code)
        Select(driver.find_element(By.ID, "interviewer")).select_by_visible_text("P03")
        _click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form[action='/pair'] button"))
        _start_peer_interview(driver, language)
        _choose(driver, "consent", "given")
        _next(driver)
        for _ in range(len(PEER.sections)):
            if driver.find_elements(By.ID, f"q-{AGE.id}"):
                break
            _next(driver)
        note = driver.find_element(By.ID, f"s-{AGE.id}")
        assert not note.is_displayed()
        _choose(driver, AGE.id, UNDER_18)
        if javascript:
            assert note.is_displayed(), "the note shows as soon as under 18 is picked"
            full_page_screenshot(driver, artifacts_dir / f"under-18-{tag}-1-note.png")
            _choose(driver, AGE.id, "age_18_to_24")
            assert not note.is_displayed(), "another answer hides it again"
            _choose(driver, AGE.id, UNDER_18)
            assert note.is_displayed()
        else:
            assert not note.is_displayed(), "without a script the kit says it on Save"
        _next(driver)
        shown = driver.find_element(By.ID, "stop-note")
        assert shown.is_displayed() and shown.text
        assert driver.find_element(By.TAG_NAME, "html").get_attribute("dir") == ("rtl" if language == "ar" else "ltr")
        if language == "en":
            assert STOP_NOTE in shown.text
        full_page_screenshot(driver, artifacts_dir / f"under-18-{tag}-2-ended.png")
        width = driver.execute_script("return document.documentElement.scrollWidth") if javascript else None
        assert width is None or width <= 360, "nothing runs off a 360 px screen"
    finally:
        driver.quit()
        served.stop()
    assert RecordStore(kit.data_dir).count() == 0
    assert _stopped_counts(kit.data_dir) == [("peer-interview", None, None, AGE.id, UNDER_18, 1)]

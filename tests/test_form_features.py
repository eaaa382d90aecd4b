"""What XLSForm forms commonly use, in fieldkit's engine (issue 22, point 2, part 1).

``calculate`` items, ``default``, ``required_message``, ``${item}`` in labels and hints, and
``time`` and ``datetime`` items: the loader's errors (as ``forms check`` prints them, with
lines), the server through the real app, and the XLSForm import and export of each.
"""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

import pytest
from click.testing import CliRunner
from pyxform.xls2xform import convert

from fieldkit.cli import cli
from fieldkit.core.crypto import age
from fieldkit.core.formengine.answers import AnswerError, parse_answer, validate_record, with_calculations
from fieldkit.core.formengine.loader import load_form, load_form_collecting
from fieldkit.core.formengine.model import Form
from fieldkit.core.formengine.wording import form_strings
from fieldkit.core.formengine.xlsform_export import xlsform_sheets
from fieldkit.core.formengine.xlsform_import import read_xlsform
from fieldkit.core.i18n.placeholders import message_problems
from fieldkit.core.storage.records import RecordStore
from fieldkit.kit.programme import Programme
from fieldkit.kit.web.app import WebSettings, create_app
from sync.hub.export.columns import ValueStats, plan_columns
from sync.hub.export.staging import StagedTable
from tests.test_xlsform import SETTINGS, sheet_rows, write_xlsx
from tests.webclient import ERROR, SHOWN_ITEM, Interviewer, csrf_token

FEATURES_FORM = """\
id: features
version: 1
title: Features
choice_lists:
  places:
    - {id: street, label: "The street"}
    - {id: shelter, label: "A shelter"}
sections:
  - id: start
    title: Before we start
    items:
      - {id: agree, type: consent, label: "Do you agree to take part?", tags: [P2]}
  - id: stay
    title: The stay
    items:
      - id: nights
        type: integer
        label: How many nights did you stay?
        default: 3
        min: 0
        required: true
        required_message: Ask for the nights, even a rough number.
        tags: [P1]
      - {id: place, type: select_one, choices: places, label: "Where did you sleep before?", default: shelter,
         tags: [P1]}
      - {id: weeks, type: calculate, calculation: "nights / 7"}
      - {id: long_stay, type: yes_no, label: "Was a stay that long a help?", relevant: "weeks >= 1", tags: [P1]}
      - {id: arrived_at, type: time, label: "At what time did you arrive?", default: "09:30", tags: [P1]}
      - {id: left, type: datetime, label: "When did you leave?", tags: [P1]}
      - {id: words, type: text, label: "Anything else?", tags: [P7]}
  - id: after
    title: Afterwards
    items:
      - id: recall
        type: note
        label: "You said ${nights} nights, before that ${place}; and: ${words}."
        tags: [P1]
      - {id: long_enough, type: yes_no, label: "Were ${nights} nights enough?", hint: "About ${weeks} weeks.",
         tags: [P1]}
"""


def write_form(folder: Path, text: str, form_id: str = "features") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{form_id}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def form(tmp_path: Path) -> Form:
    return load_form(write_form(tmp_path / "forms", FEATURES_FORM))


@pytest.fixture
def features_app(kit, form):
    return create_app(WebSettings(testing=True), kit.unlock(), Programme.from_forms([form]))


def started(app) -> tuple[Interviewer, str]:
    """A paired phone, the consent given: the URL of the "stay" page."""
    interviewer = Interviewer(app.test_client(), app)
    interviewer.pair()
    first = interviewer.start("features")
    response = interviewer.submit(first, [("agree", "given")])
    assert response.status_code == 302, ERROR.findall(response.get_data(as_text=True))
    return interviewer, response.headers["Location"]


def draft_of(app, url: str):
    return app.extensions["fieldkit"].drafts.load(url.split("/d/")[1].split("/")[0])


# -- the loader: forms check's errors ------------------------------------------------------------

BROKEN = """\
id: broken
version: 1
title: Broken
choice_lists:
  places:
    - {id: street, label: "The street"}
sections:
  - id: main
    title: Main
    items:
      - {id: agree, type: consent, label: "Agree?", default: given, tags: [P2]}
      - {id: many, type: select_multiple, choices: places, label: "Which?", tags: [P1]}
      - {id: total, type: calculate}
      - {id: early, type: calculate, calculation: "later + 1", hint: "Never shown", required: true}
      - {id: picked, type: calculate, calculation: "many"}
      - {id: later, type: integer, label: "How many?", max: 10, default: 12, tags: [P1]}
      - {id: place, type: select_one, choices: places, label: "Where?", default: park, tags: [P1]}
      - {id: at, type: time, label: "When?", default: 14:30, tags: [P1]}
      - {id: when, type: datetime, label: "And the day?", default: "2026-02-30T10:00", tags: [P1]}
      - {id: blank, type: text, label: "Say", required_message: "Please say.", tags: [P1]}
      - {id: shown, type: note, label: "You said ${later}, ${nobody} and ${after}.", hint: "${read}", tags: [P1]}
      - {id: read, type: note, label: "Read this.", tags: [P1]}
      - {id: after, type: integer, label: "After?", tags: [P1]}
"""


def test_the_loader_reports_every_misuse_of_the_new_keys_with_its_line(tmp_path: Path) -> None:
    _form, problems = load_form_collecting(write_form(tmp_path, BROKEN, "broken"))
    found = [str(problem).split("broken.yaml:", 1)[1] for problem in problems]
    expected = [
        "11: [item agree] a consent item cannot have a 'default': consent must be asked, never assumed",
        "13: [item total] a calculate item needs a 'calculation': what it works out",
        "14: [item early] a calculate item is never shown nor asked, so 'hint' does not apply",
        "14: [item early] a calculate item is never shown nor asked, so 'required' does not apply",
        "16: [item later] 'default' 12: Enter 10 or less.",
        "17: [item place] 'default' 'park': Choose one of the answers shown.",
        "18: [item at] 'default': write a time in quotes, such as '14:30'",
        "19: [item when] 'default' '2026-02-30T10:00': Enter a date and time as year-month-day hours:minutes, "
        "such as 2026-03-31 14:30.",
        "20: [item blank] a 'required_message' is shown only when a required question is left blank; "
        "add 'required: true'",
        "14: [item early] calculation: 'later' is not asked before this item; only an earlier item's value can be used",
        "15: [item picked] calculation: gives choices; a calculation gives one value, not a list of them",
        "21: [item shown] label ${...}: 'after' is not asked before this item; "
        "only an earlier item's value can be used",
        "21: [item shown] label ${...}: unknown item 'nobody'",
        "21: [item shown] hint ${...}: 'read' is a note and has no answer",
    ]
    assert sorted(found) == sorted(expected)


def test_forms_check_prints_them_with_the_file_and_line(tmp_path: Path) -> None:
    write_form(tmp_path / "forms", BROKEN, "broken")
    result = CliRunner().invoke(cli, ["forms", "check", "--forms-dir", str(tmp_path / "forms")])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "broken.yaml:21: [item shown] label ${...}: unknown item 'nobody'" in result.output


def test_the_features_form_loads_with_a_typed_calculation_and_stored_defaults(form: Form) -> None:
    assert form.item("weeks").value_type is not None and form.item("weeks").value_type.value == "number"
    assert not form.item("weeks").takes_answer and form.item("weeks").stores_value
    assert (form.item("nights").default, form.item("place").default) == (3, "shelter")
    assert form.item("arrived_at").default == "09:30"


def test_a_calculation_on_a_later_answer_is_a_circle_the_loader_refuses(tmp_path: Path) -> None:
    text = FEATURES_FORM.replace('relevant: "weeks >= 1"', "relevant: \"weeks >= 1 and long_stay == 'yes'\"")
    _form, problems = load_form_collecting(write_form(tmp_path, text))
    assert any("circle: long_stay -> long_stay" in str(problem) for problem in problems), problems


# -- translations: the wording keeps ${item} -------------------------------------------------------


def test_wording_for_translators_keeps_the_placeholders_and_the_required_message(form: Form) -> None:
    strings = {string.context: string for string in form_strings(form)}
    assert strings["features/recall"].text == "You said ${nights} nights, before that ${place}; and: ${words}."
    assert "keep each ${...} exactly as it is" in strings["features/recall"].comment
    assert strings["features/nights:required"].text == "Ask for the nights, even a rough number."
    assert "features/weeks" not in strings, "a calculate item is never shown, so never translated"


def test_a_translation_must_keep_each_item_placeholder_whole() -> None:
    source = "Were ${nights} nights enough?"
    assert message_problems(source, None, ["Les ${nights} nuits ont-elles suffi ?"], python_format=False) == []
    dropped = message_problems(source, None, ["Les {nights} nuits ont-elles suffi ?"], python_format=False)
    assert [problem for _index, problem in dropped] == [
        "the translation must keep ${nights} exactly as in the source",
        "the translation has {nights}, which the source does not have",
    ]


# -- time and datetime ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "typed", "stored"),
    [
        ("time", "09:30", "09:30"),
        ("time", "09:30:00", "09:30"),
        ("time", "23:59:07", "23:59:07"),
        ("datetime", "2026-03-31T14:30", "2026-03-31T14:30"),
        ("datetime", "2026-03-31 14:30", "2026-03-31T14:30"),
    ],
)
def test_times_are_stored_as_iso_text(form: Form, kind: str, typed: str, stored: str) -> None:
    item = form.item("arrived_at" if kind == "time" else "left")
    assert parse_answer(item, typed) == stored


@pytest.mark.parametrize(
    ("kind", "typed"),
    [("time", "24:00"), ("time", "9.30"), ("time", "0930"), ("datetime", "2026-02-30T10:00"),
     ("datetime", "2026-03-31"), ("datetime", "2026-03-31T14:30+02:00"), ("datetime", "20260331T1430")],
)  # fmt: skip
def test_a_time_that_is_not_one_gets_a_clear_message(form: Form, kind: str, typed: str) -> None:
    item = form.item("arrived_at" if kind == "time" else "left")
    with pytest.raises(AnswerError) as refused:
        parse_answer(item, typed)
    assert str(refused.value).startswith("Enter a time as" if kind == "time" else "Enter a date and time as")


def test_time_inputs_are_real_time_pickers_and_bad_times_are_refused_in_the_language(features_app) -> None:
    interviewer, url = started(features_app)
    page = interviewer.client.get(url).get_data(as_text=True)
    assert re.search(r'<input id="i-arrived_at" name="arrived_at" type="time" value="09:30"', page)
    assert '<input id="i-left" name="left" type="datetime-local" value=""' in page
    bad = interviewer.submit(url, [("nights", "3"), ("arrived_at", "25:00"), ("left", "yesterday")])
    assert bad.status_code == 422
    errors = dict(ERROR.findall(bad.get_data(as_text=True)))
    assert errors == {
        "arrived_at": "Enter a time as hours:minutes, such as 14:30.",
        "left": "Enter a date and time as year-month-day hours:minutes, such as 2026-03-31 14:30.",
    }
    draft = draft_of(features_app, url)
    draft.show_in("fr")
    features_app.extensions["fieldkit"].drafts.save(draft)
    french = interviewer.submit(url, [("nights", "3"), ("arrived_at", "25:00")])
    assert dict(ERROR.findall(unescape(french.get_data(as_text=True))))["arrived_at"] == (
        "Saisissez l’heure sous la forme heures:minutes, par exemple 14:30."
    )
    good = interviewer.submit(url, [("nights", "3"), ("arrived_at", "07:05:00"), ("left", "2026-04-01T08:15")])
    assert good.status_code == 302
    answers = draft_of(features_app, url).answers
    assert (answers["arrived_at"], answers["left"]) == ("07:05", "2026-04-01T08:15")


# -- calculate ------------------------------------------------------------------------------------


def test_a_calculated_value_is_the_kits_whatever_the_phone_sends(features_app, kit) -> None:
    interviewer, url = started(features_app)
    page = interviewer.client.get(url).get_data(as_text=True)
    assert "weeks" not in SHOWN_ITEM.findall(page) and 'name="weeks"' not in page, "never shown"
    # weeks >= 1 depends on this page's nights: the page script gets the calculation itself.
    when = re.search(r'id="q-long_stay" data-when="([^"]+)"', page)
    assert when is not None
    assert json.loads(unescape(when.group(1))) == [
        "cmp", ">=", ["math", "/", ["ref", "nights"], ["lit", 7]], ["lit", 1]
    ]  # fmt: skip
    saved = interviewer.submit(url, [("nights", "14"), ("weeks", "0"), ("long_stay", "yes")])
    assert saved.status_code == 302
    assert draft_of(features_app, url).answers["weeks"] == 2
    assert draft_of(features_app, url).answers["long_stay"] == "yes"
    # Fewer nights: weeks < 1 hides long_stay, and the server drops its answer.
    back = interviewer.submit(url, [("nights", "3"), ("weeks", "99"), ("long_stay", "yes")])
    assert back.status_code == 302
    answers = draft_of(features_app, url).answers
    assert answers["weeks"] == pytest.approx(3 / 7) and "long_stay" not in answers
    after = interviewer.client.get(back.headers["Location"]).get_data(as_text=True)
    assert "About 0.43 weeks." in after, "a calculated share, as a sentence shows it"
    review = interviewer.client.get(url.replace("/s/stay", "/review")).get_data(as_text=True)
    done = interviewer.client.post(
        url.replace("/s/stay", "/finalise"), data={"csrf_token": csrf_token(review), "confirm_missing": "yes"}
    )
    assert done.status_code == 302, done.get_data(as_text=True)
    store = RecordStore(kit.data_dir)
    (record_id,) = list(store.ids())
    sealed = json.loads(age.decrypt(store.get(record_id), kit.identities()))["answers"]
    assert sealed["weeks"] == pytest.approx(3 / 7) and sealed["nights"] == 3


def test_sealing_works_calculations_out_again_from_the_answers_kept(form: Form) -> None:
    answers = {"agree": "given", "nights": 21, "weeks": 1000, "long_stay": "no"}
    assert validate_record(form, answers)["weeks"] == 3
    assert with_calculations(form, {"agree": "given"}) == {"agree": "given"}, "no nights: no value"


# -- default --------------------------------------------------------------------------------------


def test_a_new_interview_starts_with_the_defaults_and_a_cleared_one_stays_cleared(features_app) -> None:
    interviewer, url = started(features_app)
    page = interviewer.client.get(url).get_data(as_text=True)
    assert '<input id="i-nights" name="nights" type="text" value="3"' in page
    assert re.search(r'<input type="radio" name="place" value="shelter" checked>', page)
    assert not re.search(r'value="street" checked', page)
    # Saved with the place cleared and the nights changed: the defaults are not offered again.
    saved = interviewer.submit(url, [("nights", "5")])
    assert saved.status_code == 302
    assert "place" not in draft_of(features_app, url).answers
    again = interviewer.client.get(url).get_data(as_text=True)
    assert 'value="shelter" checked' not in again and 'name="nights" type="text" value="5"' in again
    assert 'name="arrived_at" type="time" value=""' in again


# -- required_message ------------------------------------------------------------------------------


def test_a_required_question_left_blank_says_the_forms_own_words(features_app) -> None:
    interviewer, url = started(features_app)
    fresh = interviewer.client.get(url).get_data(as_text=True)
    assert "Ask for the nights" not in fresh, "not before the page was saved with it blank"
    saved = interviewer.submit(url, [("nights", "")])
    assert saved.status_code == 302, "a required question may stay blank until the review"
    after = interviewer.submit(saved.headers["Location"], [])
    review = interviewer.client.get(after.headers["Location"]).get_data(as_text=True)
    assert "How many nights did you stay?: Ask for the nights, even a rough number." in review
    page = interviewer.client.get(url).get_data(as_text=True)
    note = re.search(r'<p class="error required-note" id="r-nights" data-when="([^"]+)">([^<]*)</p>', page)
    assert note is not None and note.group(2) == "Ask for the nights, even a rough number."
    # The page script hides it as soon as there is an answer: the skip logic's "no answer".
    assert json.loads(unescape(note.group(1))) == ["not", ["cmp", "!=", ["ref", "nights"], ["lit", ""]]]
    answered = interviewer.submit(url, [("nights", "2")])
    assert answered.status_code == 302
    assert 'id="r-nights"' not in interviewer.client.get(url).get_data(as_text=True)


# -- ${item} in labels -------------------------------------------------------------------------------


def test_labels_show_earlier_answers_escaped_and_choices_by_their_label(features_app) -> None:
    interviewer, url = started(features_app)
    saved = interviewer.submit(url, [("nights", "14"), ("place", "street"), ("words", "<b>bold</b> & more")])
    assert saved.status_code == 302
    page = interviewer.client.get(saved.headers["Location"]).get_data(as_text=True)
    assert (
        '<p class="note">You said 14 nights, before that The street; and: &lt;b&gt;bold&lt;/b&gt; &amp; more.</p>'
        in page
    )
    assert "Were 14 nights enough?" in page
    assert "About 2 weeks." in page, "a calculated value in a hint"
    assert "<b>bold</b>" not in page


# -- XLSForm ------------------------------------------------------------------------------------------


def test_an_xlsform_with_the_new_features_imports_and_exports_again(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "features.xlsx",
        [
            {"type": "select_one agree", "name": "consent", "label::English (en)": "Do you agree to talk?",
             "required": "yes", "fieldkit_type": "consent", "fieldkit_standard": "P2"},
            {"type": "begin_group", "name": "visit", "label::English (en)": "The visit",
             "label::French (fr)": "La visite"},
            {"type": "integer", "name": "nights", "label::English (en)": "How many nights?",
             "label::French (fr)": "Combien de nuits ?", "required": "yes", "default": "3",
             "required_message::English (en)": "Ask for the nights.",
             "required_message::French (fr)": "Demandez le nombre de nuits.", "fieldkit_standard": "P1"},
            {"type": "calculate", "name": "weeks", "calculation": "${nights} div 7"},
            {"type": "time", "name": "arrived_at", "label::English (en)": "At what time?",
             "label::French (fr)": "À quelle heure ?", "default": "09:30", "fieldkit_standard": "P1"},
            {"type": "datetime", "name": "left", "label::English (en)": "When did you leave?",
             "label::French (fr)": "Quand êtes-vous parti ?", "relevant": "${weeks} >= 1",
             "fieldkit_standard": "P1"},
            {"type": "note", "name": "recall", "label::English (en)": "You stayed ${nights} nights.",
             "label::French (fr)": "Vous êtes resté ${nights} nuits.", "fieldkit_standard": "P1"},
            {"type": "end_group", "name": "visit"},
        ],
        [
            {"list_name": "agree", "name": "given", "label::English (en)": "Yes"},
            {"list_name": "agree", "name": "declined", "label::English (en)": "No"},
        ],
        SETTINGS,
    )  # fmt: skip
    imported = read_xlsform(path)
    folder = tmp_path / "forms"
    form = load_form(write_form(folder, imported.yaml_text, imported.form_id))
    nights = form.item("nights")
    assert (nights.default, nights.required_message) == (3, "Ask for the nights.")
    weeks = form.item("weeks")
    assert weeks.type == "calculate" and weeks.calculation is not None and weeks.calculation.source == "nights / 7"
    assert (form.item("arrived_at").type, form.item("arrived_at").default) == ("time", "09:30")
    left = form.item("left")
    assert left.type == "datetime" and left.relevant is not None and left.relevant.source == "weeks >= 1"
    assert form.item("recall").label == "You stayed ${nights} nights."
    french = imported.catalogues["fr"]
    assert 'msgctxt "kobo-visit/nights:required"' in french and "Demandez le nombre de nuits." in french
    assert "Vous êtes resté ${nights} nuits." in french

    survey = {row["name"]: row for row in xlsform_sheets(form, [])["survey"] if "name" in row}
    assert survey["weeks"]["type"] == "calculate" and survey["weeks"]["calculation"] == "(${nights} div 7)"
    assert (survey["nights"]["default"], survey["arrived_at"]["default"]) == ("3", "09:30")
    assert (survey["arrived_at"]["type"], survey["left"]["type"]) == ("time", "datetime")

    out = tmp_path / "again.xlsx"
    result = CliRunner().invoke(cli, ["forms", "export", "kobo-visit", "--forms-dir", str(folder), "--out", str(out)])
    assert result.exit_code == 0, result.output
    warnings: list[str] = []
    assert "<h:html" in convert(xlsform=str(out), warnings=warnings).xform
    assert warnings == []
    rows = {row["name"]: row for row in sheet_rows(out, "survey")}
    assert rows["nights"]["required_message::English (en)"] == "Ask for the nights."


def test_the_hub_exports_a_calculated_value_as_a_column_of_its_item(form: Form) -> None:
    table = StagedTable("features", {1: form}, Path("."))
    stats = {"weeks": ValueStats(kinds={"float", "int"}), "nights": ValueStats(kinds={"int"})}
    columns = {column.key: column for column in plan_columns(form, table.items, stats, {}, "")}
    weeks = columns["weeks"]
    assert (weeks.kind, weeks.field_type, weeks.notes) == ("item", "number", ())


# -- in Chromium -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_defaults_a_live_calculation_and_the_required_words_in_chromium(kit, tmp_path: Path, artifacts_dir) -> None:
    from selenium.webdriver.common.by import By

    from tests.browser import chromium, full_page_screenshot, serve
    from tests.conftest import PASSPHRASE
    from tests.test_browser_interview import _choose, _next, _start_form
    from tests.test_browser_small_things import _pair

    write_form(tmp_path / "forms", FEATURES_FORM)
    passphrase_file = tmp_path / "pass"
    passphrase_file.write_text(PASSPHRASE + "\n")
    served = serve(kit.data_dir, passphrase_file, "--forms", str(tmp_path / "forms"))
    driver = chromium(javascript=True)
    try:
        _pair(driver, served, "en")
        _start_form(driver, "features", "en")
        _choose(driver, "agree", "given")
        _next(driver)
        stay = driver.current_url
        nights = driver.find_element(By.ID, "i-nights")
        assert nights.get_attribute("value") == "3", "the default, filled in"
        assert driver.find_element(By.CSS_SELECTOR, "input[name='place'][value='shelter']").is_selected()
        arrived = driver.find_element(By.ID, "i-arrived_at")
        assert (arrived.get_attribute("type"), arrived.get_attribute("value")) == ("time", "09:30")
        assert driver.find_element(By.ID, "i-left").get_attribute("type") == "datetime-local"
        # weeks = nights / 7, worked out on the page: long_stay shows from 7 nights on.
        long_stay = driver.find_element(By.ID, "q-long_stay")
        assert not long_stay.is_displayed()
        nights.clear()
        nights.send_keys("14")
        assert long_stay.is_displayed()
        nights.clear()
        nights.send_keys("3")
        assert not long_stay.is_displayed()
        # Saved blank, then back: the form's own words, gone as soon as there is an answer.
        nights.clear()
        _next(driver)
        driver.get(stay)
        note = driver.find_element(By.ID, "r-nights")
        assert note.is_displayed() and note.text == "Ask for the nights, even a rough number."
        full_page_screenshot(driver, artifacts_dir / "form-features-required.png")
        driver.find_element(By.ID, "i-nights").send_keys("2")
        assert not driver.find_element(By.ID, "r-nights").is_displayed()
    finally:
        driver.quit()
        served.stop()


def test_an_xlsform_default_worked_out_by_an_expression_is_refused_with_its_row(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "dynamic.xlsx",
        [
            {"type": "select_one agree", "name": "consent", "label::English (en)": "Do you agree?",
             "required": "yes", "fieldkit_type": "consent", "fieldkit_standard": "P2"},
            {"type": "date", "name": "visited", "label::English (en)": "When?", "default": "today()",
             "fieldkit_standard": "P1"},
        ],
        [
            {"list_name": "agree", "name": "given", "label::English (en)": "Yes"},
            {"list_name": "agree", "name": "declined", "label::English (en)": "No"},
        ],
        SETTINGS,
    )  # fmt: skip
    result = CliRunner().invoke(cli, ["forms", "import", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "survey sheet, row 3, column default: a default worked out by an expression is not supported" in (
        result.output
    )
    assert not (tmp_path / "out").exists()

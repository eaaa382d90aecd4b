"""Form-engine features XLSForm forms use, part 2: cascading selects (``choice_filter``), groups
inside groups (sections with their parents' titles) and the ``minimal`` and ``horizontal``
appearances. Each through the real loader, the real Flask app, the XLSForm importer and exporter,
and (the phone screenshot) a real ``fieldkit serve`` in real Chromium.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from pyxform.xls2xform import convert

from fieldkit.cli import cli
from fieldkit.core import paths
from fieldkit.core.formengine.answers import allowed_choices, check_answer
from fieldkit.core.formengine.loader import Problem, load_form, load_form_text
from fieldkit.core.formengine.model import Form
from fieldkit.core.formengine.wording import form_strings
from fieldkit.core.formengine.xlsform_export import complete_languages, write_xlsform, xlsform_sheets
from fieldkit.core.i18n.catalogues import load_catalogue
from fieldkit.kit.programme import Programme
from fieldkit.kit.web.app import WebSettings, create_app
from tests.browser import chromium, full_page_screenshot, serve
from tests.conftest import PASSPHRASE
from tests.test_browser_interview import _click_and_wait, _next, _start_form
from tests.test_xlsform import write_xlsx
from tests.webclient import ERROR, SHOWN_ITEM, Interviewer

EXAMPLES = Path(__file__).resolve().parent.parent / "forms" / "examples"
SCREENSHOTS = os.environ.get("FIELDKIT_FORM_SCREENSHOTS")
SETTINGS = {"form_id": "nested-visit", "version": "1", "form_title": "Nested visit", "default_language": "English (en)"}

# Districts cascade from the region: on the same page (district) and on a later one (district_again).
CASCADE_FORM = """
id: cascade
version: 1
title: Where the service is
choice_lists:
  regions:
    - {id: north, label: North}
    - {id: south, label: South}
  districts:
    - {id: hill, label: Hill district, region: north}
    - {id: lake, label: Lake district, region: north}
    - {id: coast, label: Coast district, region: south}
sections:
  - id: where
    title: Where
    items:
      - {id: region, type: select_one, label: Which region?, choices: regions, tags: [P1], appearance: horizontal}
      - id: district
        type: select_one
        label: Which district?
        choices: districts
        choice_filter: "choice('region') == region"
        appearance: minimal
        offer: [prefer_not]
        tags: [P1]
  - id: again
    title: Once more
    heading: Where
    items:
      - id: district_again
        type: select_multiple
        label: Which districts does the team visit?
        choices: districts
        choice_filter: "choice('region') == region"
        tags: [P1]
"""


def run(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in result.output, result.output
    return result


def loaded(text: str, name: str = "cascade") -> tuple[Form | None, list[Problem]]:
    return load_form_text(text, Path(f"{name}.yaml"))


def cascade() -> Form:
    form, problems = loaded(CASCADE_FORM)
    assert form is not None and not problems, problems
    return form


# -- the loader ---------------------------------------------------------------------------------


def test_a_choice_filter_keeps_the_choices_whose_attributes_fit_the_earlier_answers() -> None:
    form = cascade()
    district = form.item("district")
    assert district.choices[0].attribute_map == {"region": "north"}

    def kept(answers: dict[str, object]) -> list[str]:
        return [choice.id for choice in allowed_choices(form, district, answers)]

    assert kept({"region": "north"}) == ["hill", "lake"]
    assert kept({"region": "south"}) == ["coast"]
    assert kept({}) == [], "no region yet: no district fits"
    assert kept({"region": "prefer_not"}) == [], "an offer counts as no answer"
    refused = check_answer(form, district, "hill", {"region": "south"})
    assert refused is not None and "does not go with an earlier answer" in str(refused)
    assert check_answer(form, district, "coast", {"region": "south"}) is None
    assert check_answer(form, district, "prefer_not", {"region": "south"}) is None, "an offer is not filtered"
    several = form.item("district_again")
    assert check_answer(form, several, ["hill", "lake"], {"region": "north"}) is None
    assert check_answer(form, several, ["hill", "coast"], {"region": "north"}) is not None, "every ticked one fits"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("choice_filter: \"choice('region') == region\"\n        appearance",
         "choice_filter: \"choice('regoin') == region\"\n        appearance",
         "choice_filter: no choice of this list has the attribute 'regoin' (did you mean 'region'?)"),
        ("choice_filter: \"choice('region') == region\"\n        appearance",
         "choice_filter: \"choice(region) == region\"\n        appearance",
         "choice() needs an attribute name in quotes"),
        ("choice_filter: \"choice('region') == region\"\n        appearance",
         "choice_filter: \"choice('region') == district\"\n        appearance",
         "choice_filter: it cannot read this item's own answer"),
        ("choice_filter: \"choice('region') == region\"\n        appearance",
         "choice_filter: \"region == 'west'\"\n        appearance",
         "'west' is not a choice of item 'region'"),
        ("appearance: horizontal}", "appearance: horizontal, relevant: \"choice('region') == 'north'\"}",
         "relevant: choice('...') can only be used in a choice_filter"),
        ("{id: coast, label: Coast district, region: south}", "{id: coast, label: Coast district, regoin: south}",
         "unknown key 'regoin' (allowed: id, label, translator_note; other keys are attributes, "
         "and no item's choice_filter reads choice('regoin'))"),
        ("{id: coast, label: Coast district, region: south}", "{id: coast, label: Coast district, region: true}",
         "attribute 'region' must be text or a number"),
        ("type: select_multiple\n", "type: text\n", "'choice_filter' does not apply to text items"),
    ],
)  # fmt: skip
def test_choice_filter_mistakes_are_reported_with_what_is_wrong(old: str, new: str, expected: str) -> None:
    assert CASCADE_FORM.count(old) >= 1, old
    form, problems = loaded(CASCADE_FORM.replace(old, new, 1))
    assert form is None
    assert any(expected in str(problem) for problem in problems), problems


@pytest.mark.parametrize(
    ("appearance", "expected"),
    [
        ("minimal", "appearance 'minimal' applies to select_one, yes_no, likert items, not to select_multiple items"),
        ("minimal horizontal", "choose 'minimal' (a drop-down list) or 'horizontal' (answers side by side), not both"),
        ("3", "'appearance' must be words such as 'minimal'"),
    ],
)
def test_an_appearance_that_cannot_apply_is_an_error(appearance: str, expected: str) -> None:
    text = CASCADE_FORM.replace(
        "choice_filter: \"choice('region') == region\"\n        tags", f"appearance: {appearance}\n        tags"
    )
    form, problems = loaded(text)
    assert form is None
    assert any(expected in str(problem) for problem in problems), problems


def test_forms_check_warns_of_an_appearance_fieldkit_does_not_render_and_accepts_the_form(tmp_path: Path) -> None:
    folder = tmp_path / "forms"
    folder.mkdir()
    (folder / "cascade.yaml").write_text(CASCADE_FORM.replace("appearance: minimal", "appearance: minimal quick"))
    result = run("forms", "check", "--forms-dir", str(folder), "--update-lock")
    assert result.exit_code == 0, result.output
    assert (
        "forms/cascade.yaml:18: [item district] warning: appearance 'quick' changes nothing in fieldkit "
        "(it renders: minimal, horizontal); the question is shown as usual"
    ) in result.output
    assert load_form(folder / "cascade.yaml").item("district").appearance == ("minimal", "quick")


def test_a_sections_heading_is_translatable_wording() -> None:
    strings = {string.context: string for string in form_strings(cascade())}
    heading = strings["cascade/section:again:heading"]
    assert heading.text == "Where" and "section title" in heading.comment


# -- the kit's pages (the real Flask app) ---------------------------------------------------------


@pytest.fixture
def phone(kit):
    form = cascade()
    app = create_app(WebSettings(testing=True), kit.unlock(), Programme.from_forms([form]))
    interviewer = Interviewer(app.test_client(), app)
    interviewer.pair()
    return interviewer


def _options(page: str, name: str) -> list[str]:
    select = re.search(rf'<select id="i-{name}" name="{name}"[^>]*>(.*?)</select>', page, re.DOTALL)
    assert select, f"no drop-down for {name}"
    return re.findall(r'<option value="([^"]*)"', select.group(1))


def _when(page: str, value: str) -> object:
    found = re.search(rf'<option value="{value}"[^>]* data-when="([^"]+)"', page)
    assert found, value
    return json.loads(html.unescape(found.group(1)))


def test_minimal_is_a_drop_down_and_horizontal_a_row_of_answers(phone) -> None:
    url = phone.start("cascade")
    page = phone.client.get(url).get_data(as_text=True)
    assert '<label for="i-district" class="lbl">Which district?</label>' in page
    assert _options(page, "district") == ["", "hill", "lake", "coast", "prefer_not"]
    assert '<option value="">Choose an answer</option>' in page
    row = re.search(r'<div class="row">(.*?)</div>', page, re.DOTALL)
    assert row and re.findall(r'name="region" value="(\w+)"', row.group(1)) == ["north", "south"]


def test_a_filter_on_the_same_page_is_left_to_the_script_and_checked_by_the_kit(phone) -> None:
    url = phone.start("cascade")
    page = phone.client.get(url).get_data(as_text=True)
    # Each choice carries its own condition: the region it needs, against the answer on the page.
    assert _when(page, "hill") == ["cmp", "==", ["lit", "north"], ["ref", "region"]]
    assert _when(page, "coast") == ["cmp", "==", ["lit", "south"], ["ref", "region"]]
    assert '<option value="prefer_not">' in page, "an offer is never filtered"
    # Without the script every district is shown, so a line says which ones count.
    assert '<p class="cue">Choose an answer that goes with the answers above.</p>' in page
    refused = phone.submit(url, [("region", "south"), ("district", "hill")])
    assert refused.status_code == 422
    errors = dict(ERROR.findall(refused.get_data(as_text=True)))
    assert errors == {"district": "This answer does not go with an earlier answer. Choose one of the answers shown."}
    saved = phone.submit(url, [("region", "south"), ("district", "coast")])
    assert saved.status_code == 302, ERROR.findall(saved.get_data(as_text=True))
    assert saved.headers["Location"].endswith("/again")


def test_a_filtered_choice_of_a_question_skip_logic_hides_carries_the_questions_condition_too(kit) -> None:
    text = CASCADE_FORM.replace(
        "        appearance: minimal\n", "        appearance: minimal\n        relevant: region != 'south'\n"
    )
    form, problems = loaded(text)
    assert form is not None and not problems, problems
    app = create_app(WebSettings(testing=True), kit.unlock(), Programme.from_forms([form]))
    interviewer = Interviewer(app.test_client(), app)
    interviewer.pair()
    page = interviewer.client.get(interviewer.start("cascade")).get_data(as_text=True)
    # So that the script cannot enable a choice inside the hidden question.
    asked = ["cmp", "!=", ["ref", "region"], ["lit", "south"]]
    assert _when(page, "hill") == ["and", [asked, ["cmp", "==", ["lit", "north"], ["ref", "region"]]]]


def test_a_filter_on_an_earlier_page_shows_only_the_choices_it_keeps(phone) -> None:
    url = phone.start("cascade")
    assert phone.submit(url, [("region", "north"), ("district", "lake")]).status_code == 302
    later = url.replace("/where", "/again")
    page = phone.client.get(later).get_data(as_text=True)
    assert SHOWN_ITEM.findall(page) == ["district_again"]
    assert re.findall(r'name="district_again" value="(\w+)"', page) == ["hill", "lake"]
    assert "data-when" not in page and 'class="cue"' not in page
    assert '<p class="crumb" id="heading">Where</p>' in page, "the section's heading, above its title"
    refused = phone.submit(later, [("district_again", "hill"), ("district_again", "coast")])
    assert refused.status_code == 422
    assert "does not go with an earlier answer" in refused.get_data(as_text=True)
    assert phone.submit(later, [("district_again", "hill")]).status_code == 302


def test_the_review_lists_an_answer_an_earlier_change_no_longer_fits(phone) -> None:
    url = phone.start("cascade")
    assert phone.submit(url, [("region", "north"), ("district", "hill")]).status_code == 302
    later = url.replace("/where", "/again")
    assert phone.submit(later, [("district_again", "lake")]).status_code == 302
    # Back on the first page the region changes, with a district that fits it...
    assert phone.submit(url, [("region", "south"), ("district", "coast")]).status_code == 302
    # ... and the later page's districts of the north no longer do.
    review = phone.client.get(url.replace("/s/where", "/review")).get_data(as_text=True)
    assert "Which districts does the team visit?" in review
    assert "does not go with an earlier answer" in review
    sealed = phone.client.post(
        url.replace("/s/where", "/finalise"),
        data={"csrf_token": re.search(r'name="csrf_token"[^>]*value="([^"]+)"', review).group(1)},  # type: ignore[union-attr]
    )
    assert sealed.status_code == 422, "nothing is sealed while an answer does not fit"


# -- the XLSForm importer and exporter -----------------------------------------------------------


def _import(tmp_path: Path, survey: list[dict[str, str]], choices: list[dict[str, str]]) -> tuple[Result, Path]:
    path = write_xlsx(tmp_path / "visit.xlsx", survey, choices, SETTINGS)
    folder = tmp_path / "out"
    return run("forms", "import", str(path), "--out", str(folder)), folder


REGION_CHOICES = [
    {"list_name": "regions", "name": "north", "label::English (en)": "North", "label::French (fr)": "Nord"},
    {"list_name": "regions", "name": "south", "label::English (en)": "South", "label::French (fr)": "Sud"},
    {"list_name": "districts", "name": "hill", "label::English (en)": "Hill", "label::French (fr)": "Colline",
     "region": "north", "notes": "an unread column"},
    {"list_name": "districts", "name": "coast", "label::English (en)": "Coast", "label::French (fr)": "Côte",
     "region": "south", "notes": "an unread column"},
]  # fmt: skip


def _question(kind: str, name: str, english: str, french: str, **extra: str) -> dict[str, str]:
    return {"type": kind, "name": name, "label::English (en)": english, "label::French (fr)": french,
            "fieldkit_standard": "P1", **extra}  # fmt: skip


def _group(name: str, english: str, french: str, **extra: str) -> dict[str, str]:
    return {"type": "begin_group", "name": name, "label::English (en)": english, "label::French (fr)": french, **extra}


def test_a_cascading_select_imports_with_the_columns_its_filter_reads(tmp_path: Path) -> None:
    survey = [
        _question("select_one regions", "region", "Which region?", "Quelle région ?"),
        _question("select_one districts", "district", "Which district?", "Quel district ?",
                  choice_filter="region=${region}"),
    ]  # fmt: skip
    result, folder = _import(tmp_path, survey, REGION_CHOICES)
    assert result.exit_code == 0, result.output
    form = load_form(folder / "nested-visit.yaml")
    district = form.item("district")
    assert district.choice_filter is not None and district.choice_filter.source == "choice('region') == region"
    assert [choice.attribute_map for choice in district.choices] == [{"region": "north"}, {"region": "south"}]
    assert "notes" not in (folder / "nested-visit.yaml").read_text(), "a column no filter reads is left out"


def test_a_choice_filter_naming_a_column_the_choices_lack_is_refused_with_its_place(tmp_path: Path) -> None:
    survey = [
        _question("select_one regions", "region", "Which region?", "Quelle région ?"),
        _question("select_one districts", "district", "Which district?", "Quel district ?",
                  choice_filter="province=${region}"),
        _question("select_one yes_no", "water", "Is there water?", "Y a-t-il de l'eau ?", fieldkit_type="yes_no",
                  choice_filter="region=${region}"),
    ]  # fmt: skip
    yes_no = [{"list_name": "yes_no", "name": word, "label::English (en)": word} for word in ("yes", "no")]
    result, folder = _import(tmp_path, survey, REGION_CHOICES + yes_no)
    assert result.exit_code == 1
    assert "survey sheet, row 3, column choice_filter: 'province=${region}': 'province' has no equivalent" in (
        result.output
    )
    assert (
        "survey sheet, row 4, column choice_filter: a choice_filter applies to select_one and select_multiple "
        "questions, not to a yes_no question"
    ) in result.output
    assert not folder.exists()


def test_groups_inside_groups_become_sections_with_their_parents_titles_and_conditions(tmp_path: Path) -> None:
    survey = [
        _question("select_one regions", "region", "Which region?", "Quelle région ?"),
        _group("service", "The service", "Le service", relevant="${region} = 'north'"),
        _question("integer", "visits", "How many visits?", "Combien de visites ?"),
        _group("staff", "The staff", "L'équipe", relevant="${visits} > 0", appearance="field-list"),
        _question("text", "kind_words", "What did staff say?", "Qu'a dit l'équipe ?"),
        _group("peers", "Peer workers", "Pairs aidants"),
        _question("integer", "peers_met", "How many peer workers?", "Combien de pairs aidants ?"),
        {"type": "end_group", "name": "peers"},
        {"type": "end_group", "name": "staff"},
        _question("text", "after", "Anything else?", "Autre chose ?"),
        {"type": "end_group", "name": "service"},
    ]
    result, folder = _import(tmp_path, survey, REGION_CHOICES[:2])
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output.lower(), "field-list is what a section is anyway"
    form = load_form(folder / "nested-visit.yaml")
    shape = [(s.id, s.heading, s.title, [i.id for i in s.items]) for s in form.sections]
    assert shape == [
        ("page_1", "", "Nested visit", ["region"]),
        ("service", "", "The service", ["visits"]),
        ("staff", "The service", "The staff", ["kind_words"]),
        ("peers", "The service: The staff", "Peer workers", ["peers_met"]),
        ("service_2", "", "The service", ["after"]),
    ]
    relevant = {s.id: s.relevant.source if s.relevant else None for s in form.sections}
    assert relevant == {
        "page_1": None,
        "service": "region == 'north'",
        "staff": "(region == 'north') and (visits > 0)",
        "peers": "(region == 'north') and (visits > 0)",
        "service_2": "region == 'north'",
    }
    french = load_catalogue(folder / "translations", "fr", "forms")
    assert french.get("nested-visit/section:peers:heading", "The service: The staff") == "Le service: L'équipe"
    assert french.get("nested-visit/section:service_2", "The service") == "Le service"
    assert french.get("nested-visit/section:staff:heading", "The service") == "Le service"


def test_appearances_fieldkit_renders_are_kept_and_others_are_warnings_with_their_place(tmp_path: Path) -> None:
    survey = [
        _question("select_one regions", "region", "Which region?", "Quelle région ?", appearance="horizontal"),
        _question("select_one regions", "region_again", "Region again?", "Encore ?", appearance="minimal search"),
        _question("select_multiple regions", "regions", "Which regions?", "Quelles régions ?", appearance="minimal"),
        _question("text", "words", "Words?", "Mots ?", appearance="multiline"),
    ]
    result, folder = _import(tmp_path, survey, REGION_CHOICES[:2])
    assert result.exit_code == 0, result.output
    assert (
        "visit.xlsx: warning: survey sheet, row 3, column appearance: appearance 'search' is left out "
        "(fieldkit renders 'minimal' (select_one, yes_no, likert), 'horizontal' (select_one, select_multiple, "
        "yes_no, likert)); shown as usual"
    ) in result.output
    assert (
        "survey sheet, row 4, column appearance: appearance 'minimal' is left out "
        "(it applies to select_one, yes_no, likert items); shown as usual"
    ) in result.output
    assert "row 5, column appearance: appearance 'multiline' is left out" in result.output
    form = load_form(folder / "nested-visit.yaml")
    assert [form.item(name).appearance for name in ("region", "region_again", "regions", "words")] == [
        ("horizontal",),
        ("minimal",),
        (),
        (),
    ]


def test_the_exporter_writes_each_feature_and_importing_it_gives_them_back(tmp_path: Path) -> None:
    form = cascade()
    sheets = xlsform_sheets(form, complete_languages(form, tmp_path / "no-translations"))
    rows = {row["name"]: row for row in sheets["survey"] if row["type"] != "end_group"}
    assert rows["district"]["choice_filter"] == "region = ${region}"
    assert rows["district"]["appearance"] == "minimal"
    assert rows["region"]["appearance"] == "horizontal"
    assert rows["again"]["fieldkit_heading::English (en)"] == "Where"
    districts = [row for row in sheets["choices"] if row["list_name"] == "districts"]
    assert [row["region"] for row in districts] == ["north", "north", "south"]
    out = tmp_path / "cascade.xlsx"
    write_xlsform(form, complete_languages(form, tmp_path / "no-translations"), out)
    warnings: list[str] = []
    convert(xlsform=str(out), warnings=warnings)  # pyxform accepts it: the filter is XLSForm's own
    assert warnings == []
    result = run("forms", "import", str(out), "--out", str(tmp_path / "back"))
    assert result.exit_code == 0, result.output
    back = load_form(tmp_path / "back" / "cascade.yaml")
    for name in ("region", "district", "district_again"):
        original, imported = form.item(name), back.item(name)
        assert imported.appearance == original.appearance, name
        assert (imported.choice_filter and imported.choice_filter.source) == (
            original.choice_filter and original.choice_filter.source
        ), name
        assert imported.choices == original.choices, name
    assert [s.heading for s in back.sections] == ["", "Where"]


# -- the example spreadsheet, imported and served, on a phone ----------------------------------------


def test_the_example_outreach_spreadsheet_converts_and_imports_with_no_warning(tmp_path: Path) -> None:
    warnings: list[str] = []
    convert(xlsform=str(EXAMPLES / "example-outreach.xlsx"), warnings=warnings)
    assert warnings == []
    result = run("forms", "import", str(EXAMPLES / "example-outreach.xlsx"), "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output.lower()
    form = load_form(tmp_path / "example-outreach.yaml")
    assert any(item.choice_filter for item in form.items)
    assert any(section.heading for section in form.sections)
    assert {word for item in form.items for word in item.appearance} == {"minimal", "horizontal"}


def test_without_javascript_every_choice_is_shown_and_the_kit_refuses_one_that_does_not_fit(
    kit, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    forms, translations = _served_folders(tmp_path)
    passphrase_file = tmp_path / "pass"
    passphrase_file.write_text(PASSPHRASE + "\n")
    served = serve(kit.data_dir, passphrase_file, "--forms", str(forms), "--translations", str(translations))
    driver = chromium(javascript=False)
    try:
        driver.get(served.url + "pair")
        driver.find_element(By.ID, "code").send_keys(served.code)
        _click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form[action='/pair'] button"))
        _start_form(driver, "example-outreach", "en")
        _tick(driver, "consent", "given")
        _next(driver)
        _tick(driver, "area", "coast")
        picker = Select(driver.find_element(By.ID, "i-neighbourhood"))
        every = [o.get_attribute("value") for o in picker.options if o.is_displayed() or o.is_enabled()]
        assert every == ["", "upper_valley", "pine_ridge", "harbour", "dunes", "market", "station", "prefer_not"]
        assert "Choose an answer that goes with the answers above." in driver.page_source
        picker.select_by_value("market")
        _no_sideways_scroll_without_script(driver)
        _next(driver)
        assert "/s/place" in driver.current_url, "the page comes back with the error"
        error = driver.find_element(By.ID, "e-neighbourhood").text
        assert error == "This answer does not go with an earlier answer. Choose one of the answers shown."
        _shot(driver, "outreach-place-en-no-script-error-360")
        Select(driver.find_element(By.ID, "i-neighbourhood")).select_by_value("dunes")
        _next(driver)
        assert driver.current_url.endswith("/site")
    finally:
        driver.quit()
        served.stop()


def _no_sideways_scroll_without_script(driver) -> None:
    """With scripts off the driver cannot ask the page: the widest element must fit the window."""
    from selenium.webdriver.common.by import By

    width = driver.get_window_size()["width"]
    widest = max(
        element.rect["x"] + element.rect["width"] for element in driver.find_elements(By.CSS_SELECTOR, "main *")
    )
    assert widest <= width, f"an element reaches {widest} px on a {width} px window"


def _served_folders(tmp_path: Path) -> tuple[Path, Path]:
    """The example imported by ``fieldkit forms import``, and a translations folder with its French."""
    forms = tmp_path / "imported"
    result = run("forms", "import", str(EXAMPLES / "example-outreach.xlsx"), "--out", str(forms))
    assert result.exit_code == 0, result.output
    translations = tmp_path / "translations"
    shutil.copytree(paths.translations_dir(), translations)
    for language in ("fr",):
        imported = forms / "translations" / language / "LC_MESSAGES" / "forms.po"
        shutil.copyfile(imported, translations / language / "LC_MESSAGES" / "forms.po")
    shutil.rmtree(forms / "translations")
    assert run("forms", "check", "--forms-dir", str(forms), "--update-lock").exit_code == 0
    return forms, translations


def _no_sideways_scroll(driver, where: str) -> None:
    wide = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 0, f"{where}: the page scrolls sideways by {wide} px"


def _tick(driver, name: str, value: str) -> None:
    """Tick an answer by its value, scrolled to the middle of the screen, clear of the sticky header."""
    from selenium.webdriver.common.by import By

    label = driver.find_element(By.CSS_SELECTOR, f"input[name='{name}'][value='{value}']").find_element(By.XPATH, "..")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", label)
    label.click()


def _shot(driver, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        driver.execute_script("scrollTo(0, 0)")  # the page from its top, as the phone first shows it
        full_page_screenshot(driver, Path(SCREENSHOTS) / f"{name}.png")


def test_the_imported_example_on_a_phone_has_no_sideways_scroll_and_filters_live(kit, tmp_path: Path) -> None:
    """The example spreadsheet, imported by ``fieldkit forms import`` and served by ``fieldkit serve``,
    at 360x740 in Chromium, in English and French; FIELDKIT_FORM_SCREENSHOTS=DIR keeps the pictures."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    forms, translations = _served_folders(tmp_path)
    passphrase_file = tmp_path / "pass"
    passphrase_file.write_text(PASSPHRASE + "\n")
    served = serve(kit.data_dir, passphrase_file, "--forms", str(forms), "--translations", str(translations))
    driver = chromium()
    try:
        driver.get(served.url + "pair")
        driver.find_element(By.ID, "code").send_keys(served.code)
        _click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form[action='/pair'] button"))
        for language in ("en", "fr"):
            driver.get(served.url + "home")
            _start_form(driver, "example-outreach", language)
            assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == language
            _tick(driver, "consent", "given")
            _next(driver)
            assert driver.current_url.endswith("/place")
            # Live: picking an area leaves only its neighbourhoods in the drop-down.
            _tick(driver, "area", "coast")
            picker = Select(driver.find_element(By.ID, "i-neighbourhood"))
            shown = [o.get_attribute("value") for o in picker.options if o.is_enabled()]
            assert shown == ["", "harbour", "dunes", "prefer_not"], shown
            picker.select_by_value("harbour")
            _tick(driver, "area", "hills")
            assert picker.first_selected_option.get_attribute("value") == "", "a neighbourhood of another area"
            picker.select_by_value("pine_ridge")
            _no_sideways_scroll(driver, f"{language} place")
            _shot(driver, f"outreach-place-{language}-360")
            _next(driver)
            assert driver.current_url.endswith("/site")
            assert driver.find_element(By.ID, "heading").text == (
                "Where we meet" if language == "en" else "Où nous nous rencontrons"
            )
            _tick(driver, "site_kind", "van")
            _tick(driver, "offered", "naloxone")
            _tick(driver, "offered", "talk")
            _no_sideways_scroll(driver, f"{language} site")
            _shot(driver, f"outreach-site-{language}-360")
    finally:
        driver.quit()
        served.stop()

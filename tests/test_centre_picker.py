"""The centre picker on the phone: the pack's centres, searchable with and without JavaScript.

The kit is enrolled with a throwaway test hub and applies a real signed pack
(``tests.packs.give_test_pack``); the pages run through Flask's test client, a real
``fieldkit serve`` process and real Chromium; records are opened with the hub's identity.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from fieldkit.core import paths
from fieldkit.core.crypto import age
from fieldkit.core.formengine.catalogue import load_directory
from fieldkit.core.storage.records import RecordStore
from fieldkit.kit.drafts import DraftStore
from fieldkit.kit.packs import load_programme
from fieldkit.kit.web.app import WebSettings, create_app
from sync.protocol.pack import PackCentre, PackCycle
from tests.conftest import PASSPHRASE, KitFixture
from tests.packs import cycle_over, give_test_pack, shipped_pack_forms
from tests.webclient import CENTRE_CHOICE, SHOWN_ITEM, Interviewer, csrf_token

CENTRES = (
    PackCentre("T-01", "NORTH", "residential"),
    PackCentre("T-02", "NORTH", "community"),
    PackCentre("T-03", "SOUTH", "specialised_outpatient"),
    PackCentre("X-9", "EAST", "primary_care"),
)


def _cycle_without_x9() -> PackCycle:
    cycle = cycle_over(shipped_pack_forms())
    return PackCycle(cycle.cycle_id, cycle.name, cycle.start, cycle.end, cycle.forms, ("T-01", "T-02", "T-03"))


def _app(kit: KitFixture):
    programme = load_programme(kit.data_dir, load_directory(paths.forms_dir()))
    return create_app(WebSettings(testing=True), kit.unlock(), programme)


def _paired(kit: KitFixture):
    """The kit's app, a phone's test client, and its interviewer, paired."""
    app = _app(kit)
    client = app.test_client()
    interviewer = Interviewer(client, app)
    interviewer.pair()
    return app, client, interviewer


@pytest.fixture
def passphrase_file(tmp_path: Path) -> Path:
    """The test kit's passphrase, for ``fieldkit serve --passphrase-file``."""
    path = tmp_path / "kit-passphrase"
    path.write_text(PASSPHRASE + "\n", encoding="utf-8")
    return path


@pytest.fixture
def packed(kit: KitFixture) -> KitFixture:
    """The kit with a pack of four centres, whose cycle covers three of them."""
    give_test_pack(kit.data_dir, PASSPHRASE, centres=CENTRES, cycle=_cycle_without_x9())
    return kit


def _picker(client, app, form_id: str = "peer-interview", language: str = "en") -> tuple[Interviewer, str]:
    interviewer = Interviewer(client, app)
    interviewer.pair()
    home = client.get("/home").get_data(as_text=True)
    started = client.post("/start", data={"csrf_token": csrf_token(home), "form": form_id, "lang": language})
    assert started.status_code == 302 and started.headers["Location"].startswith("/centre?"), started.headers
    return interviewer, started.headers["Location"]


def test_the_picker_lists_the_cycles_centres_by_region_and_starting_creates_nothing(packed: KitFixture) -> None:
    app = _app(packed)
    client = app.test_client()
    _interviewer, url = _picker(client, app)
    assert list(app.extensions["fieldkit"].drafts.ids()) == [], "choosing the form creates no draft yet"
    page = client.get(url).get_data(as_text=True)
    assert CENTRE_CHOICE.findall(page) == ["T-01", "T-02", "T-03", "_prefers_not"]
    assert "X-9" not in page, "a centre the cycle does not cover is not offered"
    assert page.index("NORTH") < page.index("T-01") < page.index("T-02") < page.index("SOUTH") < page.index("T-03")
    assert "Residential centre" in page and "Specialised outpatient service" in page  # the kinds' labels
    assert '<fieldset id="centre-list"' in page and "<legend>" in page and 'for="centre-q"' in page
    assert "The person prefers not to say" in page


def test_searching_without_javascript_filters_on_the_kit_by_code_and_region(packed: KitFixture) -> None:
    app = _app(packed)
    client = app.test_client()
    _interviewer, url = _picker(client, app)
    by_region = client.get(url + "&q=south").get_data(as_text=True)
    assert CENTRE_CHOICE.findall(by_region) == ["T-03", "_prefers_not"]
    assert "1 of 3 centres matches." in by_region and "Show every centre" in by_region
    # Fullwidth letters and an invisible character fold to the same code, case apart.
    typed = client.get(url + "&q=%EF%BD%94-0%E2%80%8B2").get_data(as_text=True)
    assert CENTRE_CHOICE.findall(typed) == ["T-02", "_prefers_not"]
    nothing = client.get(url + "&q=ZZZ").get_data(as_text=True)
    assert CENTRE_CHOICE.findall(nothing) == ["_prefers_not"]
    assert re.search(r'<p class="nomatch" id="no-match" role="status">No centre on the list', nothing)
    assert 'value="ZZZ"' in nothing, "the search box keeps what was searched"


def test_the_sealed_record_has_centre_region_cycle_and_pack(packed: KitFixture) -> None:
    _web_app, _client, interviewer = _paired(packed)
    receipt, _seen = interviewer.complete("centre-assessment", {"consent": "given", "capacity": 12}, centre="T-03")
    (record_id,) = RecordStore(packed.data_dir).ids()
    payload = json.loads(age.decrypt(RecordStore(packed.data_dir).get(record_id), packed.identities()))
    assert payload["centre"] == {"code": "T-03", "region": "SOUTH"}
    assert payload["cycle"] == "2027-q1" and payload["pack"] == 1
    assert payload["form"]["version"] == load_directory(paths.forms_dir())["centre-assessment"].version
    assert payload["answers"] == {"consent": "given", "capacity": 12}
    assert receipt


def test_the_centre_is_shown_small_on_every_page_and_on_review(packed: KitFixture) -> None:
    _web_app, client, interviewer = _paired(packed)
    url = interviewer.start("peer-interview", centre="T-02")
    page = client.get(url).get_data(as_text=True)
    assert '<p class="centre-tag" id="centre-tag">Centre <bdi dir="ltr">T-02</bdi></p>' in page
    assert "Community service" not in page and "NORTH" not in page, "the code only"
    assert interviewer.submit(url, [("consent", "given")]).status_code == 302
    review = client.get(url.rsplit("/s/", 1)[0] + "/review").get_data(as_text=True)
    assert 'id="centre-tag">Centre <bdi dir="ltr">T-02</bdi>' in review


def test_prefers_not_to_say_gives_a_record_without_a_centre_in_the_peer_interview_only(packed: KitFixture) -> None:
    app, client, interviewer = _paired(packed)
    interviewer.complete("peer-interview", {"consent": "given"}, centre="_prefers_not")
    (record_id,) = RecordStore(packed.data_dir).ids()
    payload = json.loads(age.decrypt(RecordStore(packed.data_dir).get(record_id), packed.identities()))
    assert payload["centre"] is None and payload["cycle"] == "2027-q1" and payload["pack"] == 1
    # The centre assessment is about a centre: it offers no such choice and refuses it.
    _i, url = _picker(client, app, "centre-assessment")
    page = client.get(url).get_data(as_text=True)
    assert "_prefers_not" not in page
    refused = client.post(
        "/centre",
        data={"csrf_token": csrf_token(page), "form": "centre-assessment", "lang": "en", "centre": "_prefers_not"},
    )
    assert refused.status_code == 422 and "not on this kit's list" in html.unescape(refused.get_data(as_text=True))


@pytest.mark.parametrize("chosen", ["", "X-9", "t-01", "NOPE", "T-01\u200b", "../T-01"])
def test_no_choice_or_a_crafted_code_is_refused_clearly_and_creates_nothing(packed: KitFixture, chosen: str) -> None:
    app = _app(packed)
    client = app.test_client()
    _interviewer, url = _picker(client, app)
    page = client.get(url).get_data(as_text=True)
    data = {"csrf_token": csrf_token(page), "form": "peer-interview", "lang": "en"}
    if chosen:
        data["centre"] = chosen
    refused = client.post("/centre", data=data)
    text = html.unescape(refused.get_data(as_text=True))
    assert refused.status_code == 422 and "Traceback" not in text
    expected = "Choose the centre this interview is about." if not chosen else "That centre is not on this kit's list."
    assert expected in text and 'role="alert"' in text
    assert CENTRE_CHOICE.findall(text) == ["T-01", "T-02", "T-03", "_prefers_not"], "the list is shown again"
    assert list(app.extensions["fieldkit"].drafts.ids()) == []


def test_the_refusal_is_translated(packed: KitFixture) -> None:
    app = _app(packed)
    client = app.test_client()
    _interviewer, url = _picker(client, app, language="ar")
    page = client.get(url).get_data(as_text=True)
    assert '<html lang="ar" dir="rtl">' in page and "عن أي مركز هذه المقابلة؟" in page
    refused = client.post("/centre", data={"csrf_token": csrf_token(page), "form": "peer-interview", "lang": "ar"})
    assert refused.status_code == 422 and "اختر المركز الذي تتناوله هذه المقابلة." in refused.get_data(as_text=True)


def test_a_form_or_language_not_served_is_refused_on_the_picker(packed: KitFixture) -> None:
    app = _app(packed)
    client = app.test_client()
    Interviewer(client, app).pair()
    assert client.get("/centre?form=nope&lang=en").status_code == 404
    assert client.get("/centre?form=peer-interview&lang=xx").status_code == 400


def test_without_a_centre_list_the_interview_starts_at_once_and_the_operator_is_told(app, client) -> None:
    interviewer = Interviewer(client, app)
    interviewer.pair()
    url = interviewer.start("peer-interview")
    assert "/d/" in url
    (draft_id,) = app.extensions["fieldkit"].drafts.ids()
    draft = app.extensions["fieldkit"].drafts.load(draft_id)
    assert (draft.centre, draft.cycle, draft.pack_version) == (None, None, None)
    operator = app.test_client().get("/operator/").get_data(as_text=True)
    assert "Interviews are recorded without a centre until a form pack with a centre list is applied." in operator


def test_no_page_of_either_form_asks_for_a_typed_code(packed: KitFixture) -> None:
    app, client, interviewer = _paired(packed)
    for form in app.extensions["fieldkit"].forms.values():
        assert not {"centre_code", "region_code"} & {item.id for item in form.items}, form.key
        url = interviewer.start(form.id, centre="T-01")
        base = url.rsplit("/", 1)[0]
        interviewer.submit(url, [("consent", "given")])
        for section in form.sections:
            page = client.get(f"{base}/{section.id}").get_data(as_text=True)
            assert not re.search(r'name="(centre|region)_code"', page), f"{form.key}/{section.id}"
            for item_id in SHOWN_ITEM.findall(page):
                assert "code" not in item_id, f"{form.key}/{section.id}: {item_id}"


def test_a_retired_centre_is_no_longer_offered_after_the_next_pack_and_a_restart(
    kit: KitFixture, passphrase_file: Path
) -> None:
    from tests.browser import serve
    from tests.test_degradation import Browser

    given = give_test_pack(kit.data_dir, passphrase_file, centres=CENTRES)

    def offered() -> list[str]:
        served = serve(kit.data_dir, passphrase_file)
        try:
            phone = Browser(served.url.rstrip("/"))
            page = phone.get("/pair")
            home = phone.post("/pair", {"csrf_token": csrf_token(page), "code": served.code, "interviewer": "P01"})
            picker = phone.post("/start", {"csrf_token": csrf_token(home), "form": "peer-interview", "lang": "en"})
            return CENTRE_CHOICE.findall(picker)
        finally:
            served.stop()

    assert offered() == ["X-9", "T-01", "T-02", "T-03", "_prefers_not"]  # regions: EAST, NORTH, SOUTH
    give_test_pack(kit.data_dir, passphrase_file, centres=CENTRES[1:], hub_dir=given.hub_dir)  # T-01 retired
    assert offered() == ["X-9", "T-02", "T-03", "_prefers_not"]


def _draft_id(driver) -> str:
    return driver.current_url.split("/d/")[1].split("/")[0]


@pytest.mark.slow
def test_in_chromium_the_search_filters_as_one_types_and_the_picker_fits_a_small_phone(
    kit: KitFixture, passphrase_file: Path, artifacts_dir: Path
) -> None:
    from selenium.webdriver.common.by import By

    from tests.browser import PHONE_SIZE, chromium, serve
    from tests.test_browser_interview import _click_and_wait, _start_form

    give_test_pack(kit.data_dir, passphrase_file, centres=CENTRES)
    served = serve(kit.data_dir, passphrase_file)
    shots = {}
    try:
        for language in ("en", "ar"):
            driver = chromium(javascript=True)
            try:
                driver.get(served.url + "pair")
                if language != "en":
                    from selenium.webdriver.support.ui import Select

                    Select(driver.find_element(By.ID, "ui-lang")).select_by_value(language)
                    _click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form.lang button"))
                driver.find_element(By.ID, "code").send_keys(_next_code(served))
                _click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form[action='/pair'] button"))
                _start_form(driver, "peer-interview", language)
                assert "/centre?" in driver.current_url
                assert driver.find_element(By.TAG_NAME, "html").get_attribute("dir") == (
                    "rtl" if language == "ar" else "ltr"
                )
                width = driver.execute_script("return document.documentElement.scrollWidth")
                assert width <= 360, f"{language}: the picker scrolls sideways ({width} px)"
                shot = artifacts_dir / f"centre-picker-{language}.png"
                height = driver.execute_script("return document.documentElement.scrollHeight")
                driver.set_window_size(360, height + 200)  # the whole list and its button, at the phone's width
                driver.save_screenshot(str(shot))
                driver.set_window_size(*PHONE_SIZE)
                shots[language] = shot
                box = driver.find_element(By.ID, "centre-q")
                box.send_keys("sOuTh")
                labels = driver.find_elements(By.CSS_SELECTOR, "label[data-match]")
                assert [label.is_displayed() for label in labels] == [False, False, False, True]  # X-9 T-01 T-02 T-03
                box.clear()
                box.send_keys("\uff34-0\u200b1")  # fullwidth T, an invisible character
                visible = [label.text.split()[0] for label in labels if label.is_displayed()]
                assert visible == ["T-01"], visible
                assert not driver.find_element(By.ID, "no-match").is_displayed()
                box.clear()
                box.send_keys("zzz")
                assert driver.find_element(By.ID, "no-match").is_displayed()
                box.clear()
                box.send_keys("t-03")
                driver.find_element(By.CSS_SELECTOR, "input[value='T-03']").find_element(By.XPATH, "..").click()
                _click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form[method='post'] .nav button"))
                assert "/d/" in driver.current_url
                assert driver.find_element(By.ID, "centre-tag").text.endswith("T-03")
                draft = DraftStore(kit.data_dir / "drafts", kit.unlock().draft_key).load(_draft_id(driver))
                assert (draft.centre, draft.region, draft.cycle, draft.pack_version) == ("T-03", "SOUTH", "2027-q1", 1)
            finally:
                driver.quit()
    finally:
        served.stop()
    assert sorted(shots) == ["ar", "en"] and all(shot.stat().st_size > 0 for shot in shots.values())


def _next_code(served) -> str:
    """The current pairing code, from the operator page (on the kit's own address)."""
    import urllib.request

    with urllib.request.urlopen(served.url + "operator/", timeout=10) as response:
        page = response.read().decode()
    found = re.search(r'<p class="code"><bdi>(\d+)</bdi>', page)
    assert found, page
    return found.group(1)


@pytest.mark.slow
def test_with_javascript_off_the_picker_searches_on_the_kit_and_starts(kit: KitFixture, passphrase_file: Path) -> None:
    from selenium.webdriver.common.by import By

    from tests.browser import chromium, serve
    from tests.test_browser_interview import _click_and_wait, _start_form

    give_test_pack(kit.data_dir, passphrase_file, centres=CENTRES)
    served = serve(kit.data_dir, passphrase_file)
    driver = chromium(javascript=False)
    try:
        driver.get(served.url + "pair")
        driver.find_element(By.ID, "code").send_keys(_next_code(served))
        _click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form[action='/pair'] button"))
        _start_form(driver, "centre-assessment", "en")
        driver.find_element(By.ID, "centre-q").send_keys("east")
        _click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form[role='search'] button"))
        assert "q=east" in driver.current_url
        assert [e.get_attribute("value") for e in driver.find_elements(By.CSS_SELECTOR, "input[name='centre']")] == [
            "X-9"
        ]
        driver.find_element(By.CSS_SELECTOR, "input[value='X-9']").find_element(By.XPATH, "..").click()
        _click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form[method='post'] .nav button"))
        assert driver.current_url.endswith("/s/before_we_start")
        draft = DraftStore(kit.data_dir / "drafts", kit.unlock().draft_key).load(_draft_id(driver))
        assert (draft.centre, draft.region) == ("X-9", "EAST")
    finally:
        driver.quit()
        served.stop()

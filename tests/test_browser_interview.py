"""The peer interview end to end in real Chromium at a phone's size, with and without JavaScript."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fieldkit.core.crypto import age
from fieldkit.core.storage.records import RecordStore
from tests.browser import chromium, full_page_screenshot, serve
from tests.conftest import PASSPHRASE, scan_for

CANARY = "browser-canary-51c0"


def _click_label(driver, text: str) -> None:
    from selenium.webdriver.common.by import By

    for label in driver.find_elements(By.CSS_SELECTOR, "label.opt"):
        if label.is_displayed() and label.text.strip() == text:
            label.click()
            return
    raise AssertionError(f"no visible answer '{text}' on {driver.current_url}")


def _gone(element):
    """A wait condition: the element left the document (a new page, or a replaced body)."""
    from selenium.common.exceptions import WebDriverException

    def check(_driver) -> bool:
        try:
            element.is_enabled()
        except WebDriverException:
            return True
        return False

    return check


def _click_and_wait(driver, button) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    old = driver.find_element(By.TAG_NAME, "body")
    button.click()
    WebDriverWait(driver, 10).until(_gone(old))


def _press(driver, text: str) -> None:
    from selenium.webdriver.common.by import By

    for button in driver.find_elements(By.TAG_NAME, "button"):
        if button.text.strip() == text:
            _click_and_wait(driver, button)
            return
    raise AssertionError(f"no button '{text}' on {driver.current_url}")


def _choose(driver, name: str, value: str) -> None:
    """Tick one answer by its value, whatever the page's language."""
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, f"input[name='{name}'][value='{value}']").find_element(By.XPATH, "..").click()


def _next(driver) -> None:
    from selenium.webdriver.common.by import By

    _click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "button[value='next']"))


def _start_peer_interview(driver, language: str) -> None:
    _start_form(driver, "peer-interview", language)


def _start_form(driver, form_id: str, language: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    card = next(
        f for f in driver.find_elements(By.CSS_SELECTOR, "form.card")
        if f.find_element(By.CSS_SELECTOR, "input[name='form']").get_attribute("value") == form_id
    )  # fmt: skip
    Select(card.find_element(By.TAG_NAME, "select")).select_by_value(language)
    _click_and_wait(driver, card.find_element(By.TAG_NAME, "button"))


@pytest.mark.slow
@pytest.mark.parametrize("language", ["en", "ar"])
@pytest.mark.parametrize("javascript", [True, False], ids=["js-on", "js-off"])
def test_peer_interview_in_chromium(kit, tmp_path: Path, artifacts_dir: Path, javascript: bool, language: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait

    passphrase_file = tmp_path / "pass"
    passphrase_file.write_text(PASSPHRASE + "\n")
    served = serve(kit.data_dir, passphrase_file)
    driver = chromium(javascript=javascript)
    tag = f"{language}-js-on" if javascript else f"{language}-js-off"
    direction = "rtl" if language == "ar" else "ltr"
    try:
        driver.get(served.url + "pair")
        driver.find_element(By.ID, "code").send_keys(served.code)
        Select(driver.find_element(By.ID, "interviewer")).select_by_visible_text("P03")
        full_page_screenshot(driver, artifacts_dir / f"peer-{tag}-0-pair.png")
        _click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form[action='/pair'] button"))
        assert driver.current_url.endswith("/home")
        _start_peer_interview(driver, language)
        assert driver.find_element(By.TAG_NAME, "html").get_attribute("dir") == direction
        full_page_screenshot(driver, artifacts_dir / f"peer-{tag}-1-consent.png")
        _choose(driver, "consent", "given")
        _next(driver)

        pages = 0
        while "/review" not in driver.current_url and pages < 20:
            pages += 1
            section = driver.current_url.rsplit("/", 1)[1]
            assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == language
            if section == "medication":
                gated = driver.find_element(By.ID, "q-oat_continued")
                if javascript:
                    assert not gated.is_displayed(), "skip logic should hide the OAT question until it applies"
                _choose(driver, "on_oat_before", "yes")
                assert gated.is_displayed()
                full_page_screenshot(driver, artifacts_dir / f"peer-{tag}-2-medication.png")
            if section == "closing":
                driver.find_element(By.ID, "i-what_to_change").send_keys(CANARY)
            _next(driver)
        full_page_screenshot(driver, artifacts_dir / f"peer-{tag}-3-review.png")
        _click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form[action$='/finalise'] button"))
        receipt = driver.find_element(By.CSS_SELECTOR, ".receipt bdi").text
        assert len(receipt) == 8
        full_page_screenshot(driver, artifacts_dir / f"peer-{tag}-4-done.png")

        # Quick exit from inside a new interview.
        driver.get(served.url + "home")
        _start_peer_interview(driver, language)
        if javascript:
            driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
        else:
            driver.find_element(By.ID, "quick-exit").click()
        # kit.js shows /x in the address bar at once, before the neutral page has come.
        WebDriverWait(driver, 10).until(
            lambda d: d.current_url.endswith("/x") and d.find_elements(By.CSS_SELECTOR, "body.neutral h1")
        )
        assert driver.find_elements(By.ID, "quick-exit") == [] and driver.find_elements(By.TAG_NAME, "form") == []
        full_page_screenshot(driver, artifacts_dir / f"peer-{tag}-5-exit.png")
        driver.get(served.url + "home")
        assert driver.current_url.endswith("/pair"), "after a quick exit the phone must pair again"
    finally:
        driver.quit()
        served.stop()

    store = RecordStore(kit.data_dir)
    (record_id,) = list(store.ids())
    payload = json.loads(age.decrypt(store.get(record_id), kit.identities()))
    assert payload["language"] == language
    assert payload["answers"]["consent"] == "given"
    assert payload["answers"]["on_oat_before"] == "yes"
    assert payload["answers"]["what_to_change"] == CANARY
    assert scan_for(CANARY, kit.data_dir) == []


@pytest.mark.slow
def test_dropped_connection_keeps_the_page_and_retries(kit, tmp_path: Path, artifacts_dir: Path) -> None:
    """With JavaScript, a page sent while the network is down says so and is saved once it is back."""
    import time
    from urllib.parse import urlsplit

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.flaky_link import FlakyLink

    passphrase_file = tmp_path / "pass"
    passphrase_file.write_text(PASSPHRASE + "\n")
    served = serve(kit.data_dir, passphrase_file)
    link = FlakyLink(urlsplit(served.url).port)
    base = f"http://127.0.0.1:{link.port}/"
    driver = chromium(javascript=True)
    try:
        driver.get(base + "pair")
        driver.find_element(By.ID, "code").send_keys(served.code)
        _press(driver, "Connect")
        peer = next(f for f in driver.find_elements(By.CSS_SELECTOR, "form.card") if "Peer interview" in f.text)
        _click_and_wait(driver, peer.find_element(By.TAG_NAME, "button"))
        consent_url = driver.current_url
        _click_label(driver, "Consent given")
        link.down = True
        next(b for b in driver.find_elements(By.TAG_NAME, "button") if b.text == "Save and continue").click()
        status = driver.find_element(By.ID, "save-status")
        WebDriverWait(driver, 10).until(lambda d: "Not saved yet" in status.text)
        full_page_screenshot(driver, artifacts_dir / "peer-js-on-6-not-saved-yet.png")
        assert driver.current_url == consent_url
        assert link.refused >= 1
        time.sleep(1.5)
        link.down = False
        WebDriverWait(driver, 30).until(lambda d: d.current_url != consent_url)
        assert driver.current_url.endswith("/s/about_your_stay")
    finally:
        driver.quit()
        link.close()
        served.stop()
    kit_services_drafts = list((kit.data_dir / "drafts").glob("*.draft"))
    assert len(kit_services_drafts) == 1
    from fieldkit.kit.drafts import DraftStore

    draft = DraftStore(kit.data_dir / "drafts", kit.unlock().draft_key).load(kit_services_drafts[0].stem)
    assert draft.answers == {"consent": "given"}


@pytest.mark.slow
def test_arabic_interview_renders_right_to_left(kit, tmp_path: Path, artifacts_dir: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    passphrase_file = tmp_path / "pass"
    passphrase_file.write_text(PASSPHRASE + "\n")
    served = serve(kit.data_dir, passphrase_file)
    driver = chromium(javascript=True)
    try:
        driver.get(served.url + "pair")
        Select(driver.find_element(By.ID, "ui-lang")).select_by_value("ar")
        _click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form.lang button"))
        assert driver.find_element(By.TAG_NAME, "html").get_attribute("dir") == "rtl"
        driver.find_element(By.ID, "code").send_keys(served.code)
        _click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form[action='/pair'] button"))
        peer = driver.find_elements(By.CSS_SELECTOR, "form.card")[1]
        Select(peer.find_element(By.TAG_NAME, "select")).select_by_value("ar")
        _click_and_wait(driver, peer.find_element(By.TAG_NAME, "button"))
        driver.find_element(By.CSS_SELECTOR, "input[value='given']").click()
        _click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "button[value='next']"))
        html_element = driver.find_element(By.TAG_NAME, "html")
        assert html_element.get_attribute("lang") == "ar" and html_element.get_attribute("dir") == "rtl"
        assert driver.execute_script("return getComputedStyle(document.body).direction") == "rtl"
        exit_control = driver.find_element(By.ID, "quick-exit")
        assert exit_control.rect["x"] < driver.execute_script("return window.innerWidth") / 2, (
            "Exit sits at the start (left) in RTL"
        )
        first_option = driver.find_element(By.CSS_SELECTOR, "label.opt input")
        label = first_option.find_element(By.XPATH, "..")
        assert first_option.rect["x"] > label.rect["x"] + label.rect["width"] / 2, "radio buttons sit on the right"
        assert "page" not in driver.find_element(By.CSS_SELECTOR, ".crumb").text
        full_page_screenshot(driver, artifacts_dir / "peer-ar-about-your-stay.png")
    finally:
        driver.quit()
        served.stop()


# The consent message's fixed words, in each language shown here.
CONSENT_NEEDED = {
    "en": "No answer is saved before the person gives consent.",
    "ar": "لا تُحفظ أي إجابة قبل أن يعطي الشخص موافقته.",
}


@pytest.mark.slow
@pytest.mark.parametrize("language", ["en", "ar"])
@pytest.mark.parametrize("javascript", [True, False], ids=["js-on", "js-off"])
def test_nothing_goes_past_consent_in_chromium(
    kit, tmp_path: Path, artifacts_dir: Path, javascript: bool, language: str
) -> None:
    """A blank consent page stays put with a message; a review page cannot seal a draft without consent."""
    from selenium.webdriver.common.by import By

    from fieldkit.kit.drafts import DraftStore

    passphrase_file = tmp_path / "pass"
    passphrase_file.write_text(PASSPHRASE + "\n")
    served = serve(kit.data_dir, passphrase_file)
    driver = chromium(javascript=javascript)
    drafts = DraftStore(kit.data_dir / "drafts", kit.unlock().draft_key)
    tag = f"{language}-js-on" if javascript else f"{language}-js-off"
    direction = "rtl" if language == "ar" else "ltr"

    def consent_error_shown() -> None:
        message = driver.find_element(By.ID, "e-consent")
        assert message.is_displayed() and CONSENT_NEEDED[language] in message.text
        assert driver.find_element(By.ID, "error-summary").is_displayed()
        assert driver.find_elements(By.CSS_SELECTOR, "input[name='consent']"), "still the consent question"
        assert driver.find_element(By.TAG_NAME, "html").get_attribute("dir") == direction

    try:
        driver.get(served.url + "pair")
        driver.find_element(By.ID, "code").send_keys(served.code)
        _click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form[action='/pair'] button"))

        # "Save and continue" on a blank consent page: the same page again, with the message.
        _start_form(driver, "peer-interview", language)
        consent_url = driver.current_url
        draft_id = consent_url.split("/d/")[1].split("/")[0]
        _next(driver)
        assert driver.current_url.split("?")[0] == consent_url  # without JavaScript the form posts to "?s"
        consent_error_shown()
        full_page_screenshot(driver, artifacts_dir / f"consent-needed-{tag}.png")
        assert drafts.load(draft_id).answers == {}
        # Typing the review address sends the phone back to consent, saying why.
        driver.get(served.url + f"d/{draft_id}/review")
        assert driver.current_url.startswith(consent_url) and "consent=needed" in driver.current_url
        consent_error_shown()

        # A review page still open for a draft without consent (as an older kit could save
        # one): "Finish without these answers" is ticked, and nothing is sealed.
        driver.get(served.url + "home")
        _start_form(driver, "centre-assessment", language)
        centre_url = driver.current_url
        centre_draft = centre_url.split("/d/")[1].split("/")[0]
        _choose(driver, "consent", "given")
        _next(driver)
        driver.get(served.url + f"d/{centre_draft}/review")
        confirm = driver.find_element(By.CSS_SELECTOR, "input[name='confirm_missing']")
        draft = drafts.load(centre_draft)
        draft.answers = {"capacity": 4242}
        drafts.save(draft)
        confirm.find_element(By.XPATH, "..").click()
        _click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form[action$='/finalise'] button"))
        assert driver.current_url.startswith(centre_url) and "consent=needed" in driver.current_url
        consent_error_shown()
        full_page_screenshot(driver, artifacts_dir / f"consent-finish-refused-{tag}.png")
    finally:
        driver.quit()
        served.stop()
    assert list(RecordStore(kit.data_dir).ids()) == []
    assert drafts.load(centre_draft).answers == {}, "answers held without consent are dropped, not sealed"

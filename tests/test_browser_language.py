"""Switching the interview's language mid-interview in real Chromium at 360x640, JavaScript on and off.

The interface language chosen on the pairing page survives pairing and becomes the
interview's default; on a section page the interviewer changes the language with the
page half answered, and the page comes back in the other language and direction with
every answer still there; the sealed record lists both languages.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fieldkit.core.crypto import age
from fieldkit.core.storage.records import RecordStore
from tests.browser import chromium, serve
from tests.conftest import PASSPHRASE

SIZE = (360, 640)
OTHER = {"en": "ar", "ar": "en"}


def _wait_for_new_page(driver, action) -> None:
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    old = driver.find_element(By.TAG_NAME, "body")
    action()

    def gone(_driver) -> bool:
        try:
            old.is_enabled()
        except WebDriverException:
            return True
        return False

    WebDriverWait(driver, 15).until(gone)


def _html(driver) -> tuple[str | None, str | None]:
    from selenium.webdriver.common.by import By

    root = driver.find_element(By.TAG_NAME, "html")
    return root.get_attribute("lang"), root.get_attribute("dir")


def _switch_to(driver, language: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element(By.ID, "i-lang")).select_by_value(language)
    button = driver.find_element(By.CSS_SELECTOR, "button[name='action'][value='language']")
    _wait_for_new_page(driver, button.click)


def _screenshot_of_control(driver, path: Path) -> None:
    """The viewport with the language control in it: a fragment scrolls there with or without scripts."""
    url = driver.current_url.split("#")[0]
    driver.get(url + "#i-lang")
    driver.save_screenshot(str(path))
    driver.get(url)  # the page again, from the draft: what was switched was saved


@pytest.mark.slow
@pytest.mark.parametrize("language", ["en", "ar"])
@pytest.mark.parametrize("javascript", [True, False], ids=["js-on", "js-off"])
def test_switching_language_mid_interview_keeps_the_answers(
    kit, tmp_path: Path, artifacts_dir: Path, javascript: bool, language: str
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    passphrase_file = tmp_path / "pass"
    passphrase_file.write_text(PASSPHRASE + "\n")
    served = serve(kit.data_dir, passphrase_file)
    driver = chromium(javascript=javascript, size=SIZE)
    other = OTHER[language]
    tag = f"{language}-{'js-on' if javascript else 'js-off'}"
    try:
        driver.get(served.url + "pair")
        if language != "en":  # the interface language, chosen before pairing
            Select(driver.find_element(By.ID, "ui-lang")).select_by_value(language)
            button = driver.find_element(By.CSS_SELECTOR, "form.lang button")
            _wait_for_new_page(driver, button.click)
        assert _html(driver)[0] == language
        driver.find_element(By.ID, "code").send_keys(served.code)
        _wait_for_new_page(driver, driver.find_element(By.CSS_SELECTOR, "form[action='/pair'] button").click)
        assert driver.current_url.endswith("/home") and _html(driver)[0] == language, "lost at pairing"

        card = next(
            f for f in driver.find_elements(By.CSS_SELECTOR, "form.card")
            if f.find_element(By.CSS_SELECTOR, "input[name='form']").get_attribute("value") == "centre-assessment"
        )  # fmt: skip
        chosen = Select(card.find_element(By.TAG_NAME, "select")).first_selected_option.get_attribute("value")
        assert chosen == language, "the interview should start in the interface language"
        _wait_for_new_page(driver, card.find_element(By.TAG_NAME, "button").click)

        # Consent on the first page, saved; then the centre's profile, half answered: a
        # number typed, nothing saved yet.
        consent = driver.find_element(By.CSS_SELECTOR, "input[name='consent'][value='given']")
        consent.find_element(By.XPATH, "..").click()
        _wait_for_new_page(driver, driver.find_element(By.CSS_SELECTOR, "button[value='next']").click)
        assert driver.current_url.endswith("/s/centre_profile")
        driver.find_element(By.ID, "i-capacity").send_keys("35")
        title = driver.find_element(By.TAG_NAME, "h1").text
        _switch_to(driver, other)
        assert _html(driver) == (other, "rtl" if other == "ar" else "ltr")
        assert driver.find_element(By.TAG_NAME, "h1").text != title, "the page's wording should change"
        assert driver.find_element(By.ID, "i-capacity").get_attribute("value") == "35"
        _screenshot_of_control(driver, artifacts_dir / f"language-switch-{tag}-to-{other}.png")

        # On to the next page and back to the first language there; then finish.
        _wait_for_new_page(driver, driver.find_element(By.CSS_SELECTOR, "button[value='next']").click)
        assert driver.current_url.endswith("/s/p1_access") and _html(driver)[0] == other
        _switch_to(driver, language)
        assert driver.current_url.endswith("/s/p1_access") and _html(driver)[0] == language
        review = driver.current_url.rsplit("/s/", 1)[0] + "/review"
        driver.get(review)
        driver.find_element(By.CSS_SELECTOR, "input[name='confirm_missing']").click()
        finish = driver.find_element(By.CSS_SELECTOR, "form[action$='/finalise'] button")
        _wait_for_new_page(driver, finish.click)
        assert "/done/" in driver.current_url
    finally:
        driver.quit()
        served.stop()

    store = RecordStore(kit.data_dir)
    (record_id,) = list(store.ids())
    payload = json.loads(age.decrypt(store.get(record_id), kit.identities()))
    assert payload["languages"] == [language, other]
    assert payload["language"] == language
    assert payload["answers"]["capacity"] == 35

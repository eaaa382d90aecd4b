"""A bad link in real Chromium: a stalled kit, a dead network, a restart, a quick exit with no link.

The phone reaches the kit through :class:`tests.flaky_link.FlakyLink`, a loopback relay
that can drop or stall every connection; the kit is a real ``fieldkit serve``.
"""

from __future__ import annotations

import contextlib
import re
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from fieldkit.kit.drafts import DraftStore
from fieldkit.kit.web.pairing import Pairing
from tests.browser import PHONE_SIZE, _has_js, chromium, serve
from tests.conftest import PASSPHRASE
from tests.flaky_link import FlakyLink
from tests.test_browser_interview import _choose, _click_and_wait, _next, _start_form

SESSION_ENDED = {"en": "Session ended", "ar": "انتهت الجلسة"}
SCREEN = (360, 640)  # what a small phone shows at once


def _screen(driver, artifacts_dir: Path, name: str, show: str | None = None) -> None:
    """A screenshot of a 360x640 viewport, scrolled to the element ``show`` names (CSS)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    driver.set_window_size(*SCREEN)
    if _has_js(driver):  # with scripts off the page cannot be asked how much the window's frame takes
        chrome = driver.execute_script("return outerHeight - innerHeight")  # headless has a little
        driver.set_window_size(SCREEN[0], SCREEN[1] + chrome)
    if show:  # the wheel, which works with scripts off too
        target = driver.find_element(By.CSS_SELECTOR, show)
        # scroll_to_element brings the element to the bottom edge; a little more shows what follows it
        ActionChains(driver).scroll_to_element(target).scroll_by_amount(0, 200).perform()
    driver.save_screenshot(str(artifacts_dir / f"link-{name}.png"))
    driver.set_window_size(*PHONE_SIZE)


def _passphrase(tmp_path: Path) -> Path:
    passphrase_file = tmp_path / "pass"
    passphrase_file.write_text(PASSPHRASE + "\n")
    return passphrase_file


def _to_second_page(driver, base: str, code: str, language: str) -> str:
    """Pair through ``base``, start the peer interview, give consent: the first page after it."""
    from selenium.webdriver.common.by import By

    driver.get(base + "pair")
    driver.find_element(By.ID, "code").send_keys(code)
    _click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form[action='/pair'] button"))
    _start_form(driver, "peer-interview", language)
    _choose(driver, "consent", "given")
    _next(driver)
    assert driver.current_url.endswith("/s/about_your_stay"), driver.current_url
    return driver.current_url.split("/d/")[1].split("/")[0]


def _pick(driver, name: str, value: str) -> None:
    """Tick an answer after bringing it to the middle of the screen (the sticky header covers the top)."""
    from selenium.webdriver.common.by import By

    box = driver.find_element(By.CSS_SELECTOR, f"input[name='{name}'][value='{value}']")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", box)
    box.find_element(By.XPATH, "..").click()


def _sessions_on_kit(served_url: str) -> int:
    """How many phones the operator page lists (it is read on the kit, not through the link)."""
    with urllib.request.urlopen(served_url + "operator/", timeout=10) as response:
        return len(re.findall(r'action="/operator/revoke"', response.read().decode()))


def operator_hands_over(served_url: str) -> int:
    """Press every "Give it ... unfinished interviews" button on the operator page (on the kit); how many."""
    import html
    import http.cookiejar
    import urllib.parse

    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    with opener.open(served_url + "operator/", timeout=10) as response:
        page = response.read().decode()
    token = html.unescape(re.search(r'name="csrf_token" value="([^"]+)"', page).group(1))
    sessions = re.findall(r'action="/operator/hand-over">.*?name="session" value="([^"]+)"', page)
    for session in sessions:
        body = urllib.parse.urlencode({"csrf_token": token, "session": session}).encode()
        with opener.open(served_url + "operator/hand-over", data=body, timeout=10) as response:
            assert response.status == 200  # the redirect back to the operator page, followed
    return len(sessions)


def _until(check, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.parametrize("language", ["en", "ar"])
def test_a_stalled_link_times_out_and_the_page_as_it_is_now_is_saved(
    kit, tmp_path: Path, artifacts_dir: Path, language: str
) -> None:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    served = serve(kit.data_dir, _passphrase(tmp_path))
    link = FlakyLink(urlsplit(served.url).port)
    driver = chromium(javascript=True)
    try:
        draft_id = _to_second_page(driver, f"http://127.0.0.1:{link.port}/", served.code, language)
        page_url = driver.current_url
        code_box = driver.find_element(By.CSS_SELECTOR, "input[name='in_centre_when'][value='in_centre_now']")
        _pick(driver, "in_centre_when", "in_centre_now")
        link.stalled = True
        tapped = time.monotonic()
        driver.find_element(By.CSS_SELECTOR, "button[value='next']").click()
        status = driver.find_element(By.ID, "save-status")
        try_now = WebDriverWait(driver, 30).until(lambda d: status.find_elements(By.TAG_NAME, "button"))[0]
        waited = time.monotonic() - tapped
        assert waited < 20, f"the timeout state took {waited:.1f} s"
        assert link.swallowed >= 1, "the request went into the stall"
        assert status.text.startswith(status.get_attribute("data-retrying"))
        assert try_now.text == status.get_attribute("data-try") and try_now.is_displayed()
        assert code_box.is_enabled() and driver.find_element(By.CSS_SELECTOR, "button[value='next']").is_enabled()
        assert driver.current_url == page_url
        _screen(driver, artifacts_dir, f"stalled-try-now-{language}", "#save-status")
        _pick(driver, "in_centre_when", "left_last_12_months")  # changed while the kit did not answer
        link.stalled = False
        # "Try now", unless the next automatic try (at most 8 s away) was quicker.
        with contextlib.suppress(StaleElementReferenceException, NoSuchElementException):
            driver.find_element(By.CSS_SELECTOR, "#save-status button").click()
        WebDriverWait(driver, 30).until(lambda d: d.current_url.endswith("/s/coming_to_the_centre"))
        WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "input[name='could_say_no']"))
    finally:
        driver.quit()
        link.close()
        served.stop()
    draft = DraftStore(kit.data_dir / "drafts", kit.unlock().draft_key).load(draft_id)
    assert draft.answers.get("in_centre_when") == "left_last_12_months", draft.answers
    assert draft.section == "coming_to_the_centre"


@pytest.mark.slow
def test_an_answer_changed_while_a_try_is_on_its_way_is_sent_again(kit, tmp_path: Path) -> None:
    """The try in the stall holds the old answer; whatever becomes of it, the kit ends with the new one."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    served = serve(kit.data_dir, _passphrase(tmp_path))
    link = FlakyLink(urlsplit(served.url).port)
    driver = chromium(javascript=True)
    try:
        draft_id = _to_second_page(driver, f"http://127.0.0.1:{link.port}/", served.code, "en")
        _pick(driver, "in_centre_when", "in_centre_now")
        link.stalled = True
        driver.find_element(By.CSS_SELECTOR, "button[value='next']").click()
        status = driver.find_element(By.ID, "save-status")
        WebDriverWait(driver, 5).until(lambda d: status.text == status.get_attribute("data-saving"))
        _until(lambda: link.swallowed >= 1, 5, "the first try is in the stall")
        _pick(driver, "in_centre_when", "left_earlier")  # before the try gives up
        assert status.find_elements(By.TAG_NAME, "button") == [], "still the first try"
        link.stalled = False
        WebDriverWait(driver, 30).until(lambda d: d.current_url.endswith("/s/coming_to_the_centre"))
    finally:
        driver.quit()
        link.close()
        served.stop()
    draft = DraftStore(kit.data_dir / "drafts", kit.unlock().draft_key).load(draft_id)
    assert draft.answers.get("in_centre_when") == "left_earlier", draft.answers


@pytest.mark.slow
@pytest.mark.parametrize("language", ["en", "ar"])
def test_without_javascript_next_offline_then_back_keeps_the_page(
    kit, tmp_path: Path, artifacts_dir: Path, language: str
) -> None:
    from selenium.webdriver.common.by import By

    served = serve(kit.data_dir, _passphrase(tmp_path))
    link = FlakyLink(urlsplit(served.url).port)
    driver = chromium(javascript=False)
    try:
        _to_second_page(driver, f"http://127.0.0.1:{link.port}/", served.code, language)
        _pick(driver, "in_centre_when", "left_last_12_months")
        _next(driver)  # saved: the draft now holds this page
        _click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "button[value='back']"))
        assert driver.current_url.endswith("/s/about_your_stay")
        link.down = True
        _next(driver)  # the browser's own error page
        assert driver.find_elements(By.CSS_SELECTOR, "form[data-save]") == []
        link.down = False
        driver.back()
        assert driver.current_url.endswith("/s/about_your_stay"), driver.current_url
        kept = driver.find_element(By.CSS_SELECTOR, "input[name='in_centre_when'][value='left_last_12_months']")
        assert kept.is_selected()
        assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == language
        _screen(driver, artifacts_dir, f"js-off-back-after-offline-{language}", "h1")
        _next(driver)  # the page shown after Back still saves
        assert driver.current_url.endswith("/s/coming_to_the_centre")
    finally:
        driver.quit()
        link.close()
        served.stop()


@pytest.mark.slow
@pytest.mark.parametrize("language", ["en", "ar"])
def test_a_restart_mid_interview_says_so_and_the_draft_keeps_the_saved_pages(
    kit, tmp_path: Path, artifacts_dir: Path, language: str
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    passphrase_file = _passphrase(tmp_path)
    served = serve(kit.data_dir, passphrase_file)
    link = FlakyLink(urlsplit(served.url).port)
    base = f"http://127.0.0.1:{link.port}/"
    driver = chromium(javascript=True)
    try:
        draft_id = _to_second_page(driver, base, served.code, language)
        _pick(driver, "in_centre_when", "in_centre_now")
        _next(driver)
        served.stop()
        served = serve(kit.data_dir, passphrase_file)
        link.target_port = urlsplit(served.url).port  # the phone keeps the address it knows
        _choose(driver, "could_say_no", "yes")
        _next(driver)
        heading = WebDriverWait(driver, 20).until(lambda d: d.find_element(By.TAG_NAME, "h1"))
        assert heading.text == SESSION_ENDED[language]
        assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == language
        message = driver.find_element(By.CSS_SELECTOR, "main p").text
        if language == "en":
            assert "the kit was restarted" in message and "Unfinished interviews" in message
            assert "ask the kit's operator to give this phone its interviews" in message
            assert "reload" not in message.lower()
        _screen(driver, artifacts_dir, f"restart-session-ended-{language}")
        # What the page promises: pair again, the operator gives this pairing its drafts
        # (drafts are bound to the pairing that made them, and a restart forgets every
        # pairing), and the draft opens where the phone was.
        driver.get(base + "pair")
        driver.find_element(By.ID, "code").send_keys(served.code)
        _click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form[action='/pair'] button"))
        assert draft_id not in driver.page_source
        assert driver.find_element(By.ID, "elsewhere").is_displayed()
        if language != "en":  # the restart forgot the phone's language: choose it again
            from selenium.webdriver.support.ui import Select

            Select(driver.find_element(By.ID, "ui-lang")).select_by_value(language)
            _click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form.lang button"))
        driver.execute_script("document.getElementById('elsewhere').scrollIntoView()")
        _screen(driver, artifacts_dir, f"restart-held-elsewhere-{language}")
        driver.get(served.url + "operator/")  # what the kit's screen shows beside the new pairing
        driver.execute_script("document.querySelector('form[action=\"/operator/hand-over\"]').scrollIntoView()")
        _screen(driver, artifacts_dir, f"restart-operator-give-{language}")
        assert operator_hands_over(served.url) == 1
        driver.get(base + "home")
        assert draft_id in driver.page_source
        driver.get(base + f"d/{draft_id}")
        assert driver.current_url.endswith("/s/coming_to_the_centre")
    finally:
        driver.quit()
        link.close()
        served.stop()
    draft = DraftStore(kit.data_dir / "drafts", kit.unlock().draft_key).load(draft_id)
    assert draft.answers.get("in_centre_when") == "in_centre_now"


@pytest.mark.slow
@pytest.mark.parametrize("language", ["en", "ar"])
def test_quick_exit_with_no_link_clears_at_once_and_the_kit_hears_later(
    kit, tmp_path: Path, artifacts_dir: Path, language: str
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    served = serve(kit.data_dir, _passphrase(tmp_path))
    link = FlakyLink(urlsplit(served.url).port)
    driver = chromium(javascript=True)
    try:
        _to_second_page(driver, f"http://127.0.0.1:{link.port}/", served.code, language)
        first_band = driver.find_element(By.CSS_SELECTOR, "input[name='age_band']").get_attribute("value")
        _choose(driver, "age_band", first_band)
        _next(driver)
        assert _sessions_on_kit(served.url) == 1
        link.down = True
        driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
        # At once, with no answer from the kit: nothing on screen, no title, no section address.
        assert driver.execute_script("return document.body.hidden") is True
        assert driver.execute_script("return document.title") == ""
        assert driver.execute_script("return location.pathname") == "/x"
        _screen(driver, artifacts_dir, f"exit-offline-blank-{language}")
        assert _sessions_on_kit(served.url) == 1, "the kit cannot have heard yet"
        link.down = False
        _until(lambda: _sessions_on_kit(served.url) == 0, 30, "the kit hears of the exit once the link is back")
        WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "body.neutral h1"))
        assert driver.find_elements(By.ID, "quick-exit") == [] and driver.find_elements(By.TAG_NAME, "form") == []
        _screen(driver, artifacts_dir, f"exit-neutral-after-link-{language}")
        # The tab's history: every entry Back can reach, none of them an interview page.
        visited = [driver.current_url]
        for _ in range(int(driver.execute_script("return history.length"))):
            driver.back()
            visited.append(driver.current_url)
        assert not [url for url in visited if "/d/" in url], visited
        driver.get(f"http://127.0.0.1:{link.port}/home")
        assert driver.current_url.endswith("/pair"), "after a quick exit the phone must pair again"
    finally:
        driver.quit()
        link.close()
        served.stop()


@pytest.mark.slow
def test_an_idle_session_expires_on_the_kit_and_the_page_says_so(kit, tmp_path: Path, artifacts_dir: Path) -> None:
    """``--idle-minutes`` ends a session the phone left without a word (0.15 minutes: 9 s)."""
    from selenium.webdriver.common.by import By

    served = serve(kit.data_dir, _passphrase(tmp_path), "--idle-minutes", "0.15")
    driver = chromium(javascript=True)
    try:
        _to_second_page(driver, served.url, served.code, "en")
        assert _sessions_on_kit(served.url) == 1
        _until(lambda: _sessions_on_kit(served.url) == 0, 30, "the idle session expires")
        _next(driver)
        assert driver.find_element(By.TAG_NAME, "h1").text == "Session ended"
        assert "not used for a while" in driver.find_element(By.CSS_SELECTOR, "main p").text
    finally:
        driver.quit()
        served.stop()


def test_idle_expiry_follows_the_clock_and_use_keeps_a_session() -> None:
    now = [1000.0]
    pairing = Pairing(("P01",), idle_seconds=30 * 60, clock=lambda: now[0])
    kept = pairing.pair("phone", pairing.code, "P01")
    left = pairing.pair("other", pairing.code, "P01")
    assert kept is not None and left is not None
    now[0] += 29 * 60
    assert pairing.session(kept.session_id) is kept  # used: its idle time starts again
    now[0] += 2 * 60
    assert pairing.session(left.session_id) is None, "31 minutes without a request"
    assert pairing.sessions() == [kept]
    now[0] += 31 * 60
    assert pairing.sessions() == []


# -- the same promises through the app itself, without a browser --------------------------------


def test_a_javascript_next_is_answered_with_the_next_page_itself(client, app) -> None:
    from tests.webclient import Interviewer, csrf_token

    interviewer = Interviewer(client, app)
    interviewer.pair()
    url = interviewer.start("peer-interview")
    data = {"csrf_token": csrf_token(client.get(url).get_data(as_text=True)), "consent": "given", "action": "next"}
    response = client.post(url, data=data, headers={"Fk-Save": "1"})
    assert response.status_code == 200
    next_url = response.headers["Fk-Url"]
    assert next_url == url.rsplit("/", 1)[0] + "/about_your_stay"
    page = response.get_data(as_text=True)
    assert 'name="in_centre_when"' in page and 'name="consent"' not in page
    assert response.headers["Cache-Control"] == client.get(next_url).headers["Cache-Control"]  # no-store too
    # The page it gave saves like the one a GET shows: its token works.
    fields = {"csrf_token": csrf_token(page), "in_centre_when": "in_centre_now"}
    saved = client.post(next_url, data=fields, headers={"Fk-Save": "1"})
    assert saved.status_code == 200 and saved.headers["Fk-Url"].endswith("/coming_to_the_centre")
    without_script = interviewer.submit(next_url, [("in_centre_when", "left_earlier")])
    assert without_script.status_code == 302 and "Fk-Url" not in without_script.headers


def test_a_page_sent_after_the_session_ended_says_so_and_changes_nothing(client, app) -> None:
    from tests.webclient import Interviewer, csrf_token

    interviewer = Interviewer(client, app)
    interviewer.pair()
    url = interviewer.start("peer-interview")
    token = csrf_token(client.get(url).get_data(as_text=True))
    services = app.extensions["fieldkit"]
    (session,) = services.pairing.sessions()
    services.pairing.end(session.session_id)  # as the operator's "Disconnect" or an idle expiry does
    response = client.post(url, data={"csrf_token": token, "consent": "given"})
    page = response.get_data(as_text=True)
    assert response.status_code == 403
    assert "Session ended: it was not used for a while" in page and "Unfinished interviews" in page
    (draft_id,) = list(services.drafts.ids())
    assert services.drafts.load(draft_id).answers == {}
    # A cookie signed before a restart (another key) is read as a restart.
    stranger = app.test_client()
    stranger.set_cookie("fk", "eyJzaWQiOiJ4In0.old.signature")
    restarted = stranger.post(url, data={"consent": "given"})
    assert restarted.status_code == 403 and "the kit was restarted" in restarted.get_data(as_text=True)
    assert services.drafts.load(draft_id).answers == {}

"""Issue 20 point 2: the operator page laid out for the operator's phone, and "Stop the kit".

Through the Flask test client for what the page says, a real ``fieldkit serve`` for the
stop (the process ends with status 0, records intact, a second start works), and real
Chromium at 360x800 in English and Arabic for the layout.
"""

from __future__ import annotations

import html
import re
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from fieldkit.core.storage.records import RECORDS_DIR_NAME, RecordStore
from fieldkit.kit.packs import PackSummary
from fieldkit.kit.push import HubLinks
from tests.browser import chromium, full_page_screenshot, serve
from tests.conftest import PASSPHRASE
from tests.sync_cli import simulate
from tests.test_degradation import Browser
from tests.webclient import Interviewer, csrf_token

PHONE = (360, 800)
STOP_SECONDS = 15  # "Stop the kit" to the process's exit, at most


def _page(client, path: str = "/operator/") -> str:
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    return html.unescape(response.get_data(as_text=True))


def test_the_interview_counts_are_a_stacked_list_not_a_wide_table(app, client) -> None:
    page = _page(client)
    assert "<table" not in page
    section = page[page.index('id="interviews"') : page.index('id="sync"')]
    assert section.count('<dl class="counts">') == len(app.extensions["fieldkit"].forms) == 2
    for label in ("Unfinished", "Sealed", "Declined", "Stopped by a form rule"):
        assert section.count(f"<dt>{label}</dt>") == 2
    assert '<bdi class="key" dir="ltr">peer-interview@' in section


def test_ids_and_interviewer_codes_are_isolated_for_right_to_left_pages(app, client) -> None:
    kit = app.extensions["fieldkit"]
    app.config["FIELDKIT_PACK"] = PackSummary(version=3, hub_id="hub-7f3a", made="2026-05-06T14:00Z", cycle=None)
    app.config["FIELDKIT_REFUSED_HUBS"] = ({"hub_id": "hub-0bad", "fingerprint": "ab12 cd34"},)
    phone = Interviewer(app.test_client(), app, "P02")
    phone.pair()
    phone.start("peer-interview")
    Interviewer(app.test_client(), app, "P02").pair()  # the same code on a second phone: drafts are elsewhere
    page = _page(client)
    assert f"<h1>Kit <bdi>{kit.kit.config.kit_id}</bdi></h1>" in page
    assert 'Form pack 3 from hub <bdi dir="ltr">hub-7f3a</bdi>, made' in page
    assert 'Hub <bdi dir="ltr">hub-0bad</bdi> (receipt key <bdi dir="ltr">ab12 cd34</bdi>) is not trusted' in page
    assert "Give it 1 unfinished interview of <bdi>P02</bdi>" in page


def test_the_page_reloads_itself_but_the_stop_pages_do_not(app, client) -> None:
    assert client.get("/operator/").headers["Refresh"] == "15"
    confirm = client.get("/operator/stop")
    assert confirm.status_code == 200 and "Refresh" not in confirm.headers
    stops: list[str] = []
    app.config["FIELDKIT_STOP"] = lambda: stops.append("stop")
    token = csrf_token(confirm.get_data(as_text=True))
    stopped = client.post("/operator/stop", data={"csrf_token": token})
    assert stopped.status_code == 200 and "Refresh" not in stopped.headers
    assert stops == [], "not before the page is sent"
    stopped.close()  # as the server does once the page is written out
    assert stops == ["stop"]


def test_the_stop_asks_first_and_says_what_happens_to_unsent_records(kit, app, client, tmp_path: Path) -> None:
    passphrase_file = tmp_path / "pass"
    passphrase_file.write_text(PASSPHRASE + "\n")
    simulate(kit.data_dir, passphrase_file, 2, seed=3)
    overview = _page(client)
    assert '<a class="button danger" href="/operator/stop">Stop the kit</a>' in overview
    assert 'action="/operator/stop"' not in overview, "the operator page itself never stops the kit at one tap"
    confirm = _page(client, "/operator/stop")
    assert "<h1>Stop the kit?</h1>" in confirm
    assert "2 records wait for the hub." in confirm
    assert "Unsent records stay sealed on the kit and are sent at the next start." in confirm
    assert re.search(r'<form method="post" action="/operator/stop">\s*<input type="hidden" name="csrf_token"', confirm)


def test_a_stop_without_its_token_or_from_the_network_changes_nothing(app, client) -> None:
    stops: list[str] = []
    app.config["FIELDKIT_STOP"] = lambda: stops.append("stop")
    refused = client.post("/operator/stop", data={})
    assert refused.status_code == 400 and "The kit has stopped" not in refused.get_data(as_text=True)
    network = {"REMOTE_ADDR": "192.168.4.20"}  # a phone on the kit's Wi-Fi, not the kit itself
    assert app.test_client().get("/operator/stop", environ_base=network).status_code == 404
    token = csrf_token(_page(client, "/operator/stop"))
    assert client.post("/operator/stop", data={"csrf_token": token}, environ_base=network).status_code == 404
    assert stops == []
    assert client.get("/operator/").status_code == 200


def test_a_kit_that_cannot_be_stopped_from_its_page_says_so(app, client) -> None:
    assert "FIELDKIT_STOP" not in app.config  # an app not served by 'fieldkit serve'
    token = csrf_token(_page(client, "/operator/stop"))
    response = client.post("/operator/stop", data={"csrf_token": token})
    assert response.status_code == 409
    text = html.unescape(response.get_data(as_text=True))
    assert "This kit cannot be stopped from this page: stop it where it was started (Ctrl+C)." in text
    assert "The kit has stopped" not in text


def test_the_outbox_shows_the_count_waiting_and_the_last_sync_in_local_time(kit, app, client, tmp_path) -> None:
    passphrase_file = tmp_path / "pass"
    passphrase_file.write_text(PASSPHRASE + "\n")
    simulate(kit.data_dir, passphrase_file, 3, seed=5)
    page = _page(client)
    assert '<p class="figure" id="waiting">3 records wait for the hub.</p>' in page
    assert "3 sealed records are stored on this kit." in page
    assert "No hub address is set: send records by USB ('fieldkit sync export')." in page

    links = HubLinks(kit.data_dir)
    links.set_url("hub-1", "http://192.168.4.1:8900/")
    assert 'id="last-sync">Nothing has been sent to the hub yet.' in _page(client)
    links.record_success("hub-1")
    page = _page(client)
    sent = re.search(r'id="last-sync">Last sent to the hub ([^<]+)\.</p>', page)
    assert sent and not re.search(r"\d{4}-\d\d-\d\dT", sent.group(1)), "a time on the wall, not a UTC stamp"
    links.record_failure("hub-1", "the hub did not answer.", 60)
    page = _page(client)
    assert "Last sent to the hub" in page, "the last success stays shown while tries fail"
    assert re.search(r'id="last-failure">Last try [^<]+ failed: the hub did not answer\. Next try [^<]+\.</p>', page)


def test_low_free_disk_space_is_a_warning(kit, shipped_forms) -> None:
    from fieldkit.kit.programme import Programme
    from fieldkit.kit.web.app import WebSettings, create_app

    programme = Programme.from_forms(shipped_forms.values())
    roomy = create_app(WebSettings(testing=True, low_disk_bytes=1), kit.unlock(), programme)
    page = _page(roomy.test_client())
    assert 'id="free-disk">Free disk space:' in page and "Free disk space is low" not in page
    # A threshold above any disk this runs on: the free space is always "low" for this app.
    full = create_app(WebSettings(testing=True, low_disk_bytes=1 << 62), kit.unlock(), programme)
    page = _page(full.test_client())
    assert '<p class="error" role="alert" id="disk-low">Free disk space is low:' in page


def _records(data_dir: Path) -> dict[str, bytes]:
    """Every file of the record store, byte for byte (sealed records, sidecars, counts)."""
    assert sorted(RecordStore(data_dir).ids())
    folder = data_dir / RECORDS_DIR_NAME
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


@pytest.mark.slow
def test_stop_the_kit_ends_serve_with_status_0_and_the_next_start_works(kit, tmp_path: Path) -> None:
    passphrase_file = tmp_path / "pass"
    passphrase_file.write_text(PASSPHRASE + "\n")
    simulate(kit.data_dir, passphrase_file, 2, seed=7)
    before = _records(kit.data_dir)
    assert len(list(RecordStore(kit.data_dir).ids())) == 2
    served = serve(kit.data_dir, passphrase_file)
    try:
        port = re.search(r"http://127\.0\.0\.1:(\d+)/operator/", "\n".join(served.output))
        assert port, served.output
        operator = Browser(f"http://127.0.0.1:{port.group(1)}")
        confirm = operator.get("/operator/stop")
        started = time.monotonic()
        stopped = operator.post("/operator/stop", {"csrf_token": csrf_token(confirm)})
        assert "The kit has stopped." in html.unescape(stopped)
        assert "You can switch it off when its light stops blinking." in html.unescape(stopped)
        status = served.process.wait(STOP_SECONDS)
        took = time.monotonic() - started
        rest = served.process.stdout.read()
    except subprocess.TimeoutExpired:
        pytest.fail(f"'fieldkit serve' still runs {STOP_SECONDS} s after 'Stop the kit'")
    finally:
        served.stop()
    assert status == 0, rest  # systemd's Restart=on-failure leaves it stopped
    assert took < STOP_SECONDS
    assert "stopped; the draft key is gone from memory" in rest
    assert "Traceback" not in rest
    assert _records(kit.data_dir) == before

    again = serve(kit.data_dir, passphrase_file)
    try:
        with urllib.request.urlopen(again.url.replace("localhost", "127.0.0.1") + "operator/", timeout=10) as page:
            text = page.read().decode()
        assert "2 records wait for the hub." in text
    finally:
        again.stop()
    assert again.process.returncode == 0


NO_OVERFLOW_JS = """
var buttons = Array.from(document.querySelectorAll('button, a.button'))
    .filter(function (el) { return el.offsetParent !== null; })
    .map(function (el) { return [el.textContent.trim(), el.getBoundingClientRect().height]; });
var qr = document.querySelector('img.qr');
return {scroll: document.documentElement.scrollWidth, buttons: buttons,
        qr: qr ? qr.getBoundingClientRect().width : null, dir: document.documentElement.dir};
"""


@pytest.mark.slow
@pytest.mark.parametrize("language", ["en", "ar"])
def test_the_operator_pages_fit_a_360_px_phone(kit, tmp_path: Path, artifacts_dir: Path, language: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from tests.test_browser_interview import _click_and_wait

    passphrase_file = tmp_path / "pass"
    passphrase_file.write_text(PASSPHRASE + "\n")
    simulate(kit.data_dir, passphrase_file, 1, seed=9)
    served = serve(kit.data_dir, passphrase_file)
    operator_url = re.search(r"(http://127\.0\.0\.1:\d+/)operator/", "\n".join(served.output))
    assert operator_url, served.output
    base = operator_url.group(1)
    driver = chromium(javascript=True, size=PHONE)
    try:
        # A phone paired first, so the page lists one; the language is chosen on the pairing page.
        driver.get(base + "pair")
        if language != "en":
            Select(driver.find_element(By.ID, "ui-lang")).select_by_value(language)
            _click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form.lang button"))
        driver.find_element(By.ID, "code").send_keys(served.code)
        _click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form[action='/pair'] button"))
        driver.get(base + "operator/")
        shown = driver.execute_script(NO_OVERFLOW_JS)
        full_page_screenshot(driver, artifacts_dir / f"operator-phone-{language}.png")
        assert shown["dir"] == ("rtl" if language == "ar" else "ltr")
        assert shown["scroll"] <= PHONE[0], f"the page scrolls sideways: {shown['scroll']} px wide"
        assert shown["qr"] >= 240, f"the QR code is {shown['qr']} px wide: too small to scan from another phone"
        assert driver.find_elements(By.CSS_SELECTOR, "ul.drafts li"), "the paired phone is listed"
        assert all(height >= 44 for _text, height in shown["buttons"]), shown["buttons"]

        _click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "a.button.danger"))
        assert driver.current_url.endswith("/operator/stop")
        shown = driver.execute_script(NO_OVERFLOW_JS)
        full_page_screenshot(driver, artifacts_dir / f"operator-stop-{language}.png")
        assert shown["scroll"] <= PHONE[0] and all(height >= 44 for _text, height in shown["buttons"])

        driver.find_element(By.CSS_SELECTOR, "button.danger").click()
        served.process.wait(STOP_SECONDS)
        assert driver.find_element(By.ID, "stopped")
        assert driver.execute_script("return document.documentElement.scrollWidth") <= PHONE[0]
        full_page_screenshot(driver, artifacts_dir / f"operator-stopped-{language}.png")
    finally:
        driver.quit()
        served.stop()
    assert served.process.returncode == 0


def test_a_stop_asked_by_the_app_lets_a_request_in_flight_finish() -> None:
    """``BoundServer.request_stop`` from a view: an answer still being sent goes out in full.

    Larger than the socket takes at once, so the server's own loop must go on sending it.
    """
    import threading

    from fieldkit.webbase.server import ServerOptions, bind

    server = bind("127.0.0.1", 0, ServerOptions(4, "test", 10, 30, 1024))
    BIG = bytes(range(256)) * (64 * 1024)  # 16 MiB
    slow_started = threading.Event()

    def app(environ, start_response):
        if environ["PATH_INFO"] == "/slow":
            slow_started.set()
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(BIG)))])
            return [BIG]
        server.request_stop()  # as the kit's stop view does
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"stopping"]

    answers: dict[str, bytes] = {}

    def fetch(path: str) -> None:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=10) as response:
            time.sleep(0.5)  # a slow phone: the answer waits in the kit's buffers
            answers[path] = response.read()

    def client() -> None:
        slow = threading.Thread(target=fetch, args=("/slow",))
        slow.start()
        assert slow_started.wait(10)
        fetch("/stop")
        slow.join(10)

    said: list[str] = []
    thread = threading.Thread(target=client)
    thread.start()
    started = time.monotonic()
    server.serve(app, echo=said.append, stopped="stopped")  # returns once stopped
    thread.join(10)
    assert answers.get("/stop") == b"stopping"
    assert answers.get("/slow") == BIG
    assert said == ["ready", "stopped"]
    assert time.monotonic() - started < 5

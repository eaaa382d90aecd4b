"""Round trips per Next: the requests the kit receives for one JavaScript "Save and continue".

On a slow link (2 s round trip) each request a page costs is felt. Real Chromium, with
its script on, pairs with a real ``fieldkit serve`` through a loopback relay that
counts every HTTP request it carries to the kit; the figure is how many requests for
pages (not the cached ``/static/`` files) arrive between the tap on "Save and continue"
on the consent page and the next page being on screen. The budget is one: the page's
answers go up and the next page comes back in the same exchange. Without Chromium the
figure is not measured (``None``).
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.browser_check import _driver
from benchmarks.kits import make_hub_keys, make_kit
from benchmarks.phones import operator_code_source
from benchmarks.served import start_serve
from tests.flaky_link import FlakyLink

SETTLE_SECONDS = 1.0  # after the next page is shown, a late request would still be counted


class CountingRelay(FlakyLink):
    """The tests' loopback relay to the kit, noting each request line a phone sends.

    Requests are framed by their ``Content-Length`` (Chromium sends one for form posts
    and for ``fetch`` with ``FormData``); pages are not sent chunked.
    """

    def __init__(self, target_port: int) -> None:
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self._framing: dict[socket.socket, tuple[bytes, int]] = {}  # per phone connection: unread head, body left
        super().__init__(target_port)

    def carried(self, client: socket.socket, data: bytes) -> None:
        pending, body_left = self._framing.get(client, (b"", 0))
        self._framing[client] = self._note(pending + data, body_left)

    def _note(self, data: bytes, body_left: int) -> tuple[bytes, int]:
        while data:
            if body_left:
                skipped = min(body_left, len(data))
                data, body_left = data[skipped:], body_left - skipped
                continue
            head_end = data.find(b"\r\n\r\n")
            if head_end < 0:
                return data, 0
            head = data[:head_end].decode("latin-1").split("\r\n")
            with self._lock:
                self.requests.append(head[0])
            length = next((int(h.split(":", 1)[1]) for h in head[1:] if h.lower().startswith("content-length:")), 0)
            data, body_left = data[head_end + 4 :], length
        return b"", body_left

    def pages_since(self, start: int) -> list[str]:
        with self._lock:
            return [line for line in self.requests[start:] if " /static/" not in line]


def measure() -> tuple[dict[str, float], list[str]]:
    if not shutil.which("chromium") or not shutil.which("chromedriver"):
        return {}, ["Chromium is not installed: next_round_trips not measured"]
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with tempfile.TemporaryDirectory(prefix="fieldkit-bench-trips-") as folder_name:
        folder = Path(folder_name)
        kit = make_kit(folder, make_hub_keys(folder))
        served = start_serve(kit)
        relay = CountingRelay(int(served.base_url.rsplit(":", 1)[1]))
        profile = tempfile.mkdtemp(prefix="fieldkit-bench-chromium-")
        driver = _driver(profile)
        try:
            base = f"http://127.0.0.1:{relay.port}"
            driver.get(f"{base}/pair?code={operator_code_source(served.base_url)()}")
            driver.find_element(By.CSS_SELECTOR, "form[action='/pair'] button[type=submit]").click()
            driver.find_element(By.CSS_SELECTOR, "form.card button[type=submit]").click()
            consent = driver.find_element(By.CSS_SELECTOR, "input[name='consent'][value='given']")
            driver.execute_script("arguments[0].click()", consent)
            first_url = driver.current_url
            start = len(relay.requests)
            driver.find_element(By.CSS_SELECTOR, "button[value='next']").click()
            WebDriverWait(driver, 30).until(lambda d: d.current_url != first_url)
            driver.find_element(By.CSS_SELECTOR, "form[data-save]")  # the next page is on screen
            time.sleep(SETTLE_SECONDS)  # not a wait for progress: a window for requests that should not come
            pages = relay.pages_since(start)
        finally:
            driver.quit()
            shutil.rmtree(profile, ignore_errors=True)
            relay.close()
            served.stop()
    return {"next_round_trips": float(len(pages))}, [f"requests for one Next: {', '.join(pages)}"]

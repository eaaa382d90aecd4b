"""Optional: what a real Chromium asks the network for while it uses the kit's pages.

Headless Chromium (with Debian's matching chromedriver, through selenium) pairs with a
running ``fieldkit serve``, opens the home page, starts an interview and opens its
first page. Chromium's own network log lists every request the pages made; any whose
host is not the kit's is counted. Without Chromium this check is skipped (``None``).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import urllib.parse
from collections.abc import Callable
from typing import Any

_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=360,740",
)  # fmt: skip


def _driver(profile: str) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in _FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")  # lint-allow: user -- Chromium's own flag name
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=shutil.which("chromedriver")), options=options)
    driver.implicitly_wait(10)  # each click below loads a new page
    return driver


def _requested_urls(driver: Any) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def off_kit_requests(base_url: str, next_code: Callable[[], str]) -> tuple[int, int] | None:
    """(requests made, of which off the kit) while using four pages; None without Chromium."""
    if not shutil.which("chromium") or not shutil.which("chromedriver"):
        return None
    from selenium.webdriver.common.by import By

    kit_host = urllib.parse.urlsplit(base_url).hostname
    profile = tempfile.mkdtemp(prefix="fieldkit-bench-chromium-")
    driver = _driver(profile)
    try:
        driver.get(f"{base_url}/pair?code={next_code()}")
        driver.find_element(By.CSS_SELECTOR, "form[action='/pair'] button[type=submit]").click()
        driver.find_element(By.CSS_SELECTOR, "form.card button[type=submit]").click()  # start the first form
        driver.find_element(By.CSS_SELECTOR, "form[data-save]")  # an interview page has loaded
        urls = _requested_urls(driver)
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
    # chrome:// and data: addresses never leave the browser; everything else is the network.
    network = [url for url in urls if url.startswith(("http:", "https:", "ws:", "wss:", "ftp:"))]
    outside = [url for url in network if urllib.parse.urlsplit(url).hostname != kit_host]
    return len(network), len(outside)

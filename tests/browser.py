"""Real Chromium (Debian's, with its version-matched chromedriver) and a real `fieldkit serve`."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import require_tool
from tests.processes import start_until_ready, stop

PHONE_SIZE = (360, 740)


@dataclass
class ServedKit:
    process: subprocess.Popen
    url: str
    code: str
    output: list[str]

    def stop(self) -> None:
        stop(self.process)


def serve(data_dir: Path, passphrase_file: Path, *extra: str) -> ServedKit:
    """Start `fieldkit serve` on a free loopback port and wait until it says ready."""
    process, text = start_until_ready(
        "serve", "--data", str(data_dir), "--passphrase-file", str(passphrase_file),
        "--host", "127.0.0.1", "--port", "0", *extra,
    )  # fmt: skip
    url = re.search(r"phones: (http://\S+)", text)
    code = re.search(r"pairing code: (\d+)", text)
    assert url and code, text
    return ServedKit(process, url.group(1), code.group(1), text.splitlines())


def chromium(*, javascript: bool = True, size: tuple[int, int] = PHONE_SIZE):
    """A headless Chromium driven by selenium, sized like a small phone."""
    binary = require_tool("chromium")
    driver_path = require_tool("chromedriver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    profile = tempfile.mkdtemp(prefix="fieldkit-chromium-")
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}",
        "--force-device-scale-factor=1",
    ):  # fmt: skip
        options.add_argument(flag)
    if not javascript:
        options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    service = Service(executable_path=driver_path, log_output=os.devnull)
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_window_size(*size)
    return driver


def full_page_screenshot(driver, path: Path) -> None:
    """A screenshot tall enough for the whole page, at the phone's width."""
    width = driver.execute_script("return window.innerWidth") if _has_js(driver) else PHONE_SIZE[0]
    height = driver.execute_script("return document.documentElement.scrollHeight") if _has_js(driver) else 1600
    driver.set_window_size(width, min(max(height + 20, PHONE_SIZE[1]), 4000))
    driver.save_screenshot(str(path))
    driver.set_window_size(*PHONE_SIZE)


def _has_js(driver) -> bool:
    try:
        return driver.execute_script("return 1") == 1
    except Exception:  # scripts disabled: drivers refuse execute_script in differing ways
        return False

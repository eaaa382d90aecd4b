"""Booting locked, unlocking from a phone over TLS, and the operator's login from the network.

Every test runs a real ``fieldkit serve`` on 127.0.0.1 and talks to it with the standard
library's HTTP client. The TLS client trusts only the kit's own certificate and checks
that its SHA-256 fingerprint is the one the kit printed. Linux answers all of 127/8 on
the loopback interface, so a client bound to 127.0.0.2 looks like a phone on the network.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import socket
import ssl
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path

import pytest

from tests.conftest import scan_for
from tests.processes import read_until_ready, stop
from tests.sync_cli import CHEAP_KDF, PASSPHRASE, make_hub_keys, run

OPERATOR_PASSWORD = "a long operator password"
NETWORK = "127.0.0.2"  # looks like a phone on the Wi-Fi
# Seconds: the throttles' short window in these tests. Long enough that six attempts
# (a TLS handshake and a scrypt each) fit in it on a loaded machine; a test waits it out once.
WINDOW = "10"


def _loopback_aliases_work() -> bool:
    try:
        with socket.socket() as probe:
            probe.bind((NETWORK, 0))
    except OSError:
        return False
    return True


pytestmark = pytest.mark.skipif(not _loopback_aliases_work(), reason="127.0.0.2 is not a loopback address here")


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: str

    def header(self, name: str) -> str:
        return self.headers.get(name, "")


@dataclass
class Client:
    """One browser: a cookie jar, talking to one port from one source address."""

    port: int
    tls: ssl.SSLContext | None = None
    source: str = "127.0.0.1"
    fingerprint: str | None = None  # pinned: every TLS connection must present it
    cookies: dict[str, str] = field(default_factory=dict)
    set_cookies: list[str] = field(default_factory=list)

    def _connection(self) -> http.client.HTTPConnection:
        if self.tls is None:
            return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30, source_address=(self.source, 0))
        return http.client.HTTPSConnection(
            "127.0.0.1", self.port, timeout=30, source_address=(self.source, 0), context=self.tls
        )

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> Answer:
        connection = self._connection()
        headers = {"Host": f"127.0.0.1:{self.port}"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            connection.request(method, path, body=body, headers=headers)
            if self.tls is not None:
                der = connection.sock.getpeercert(binary_form=True)
                assert _fingerprint(der) == self.fingerprint, "the kit presented another certificate"
            response = connection.getresponse()
            text = response.read().decode("utf-8")
        finally:
            connection.close()
        for raw in response.headers.get_all("Set-Cookie") or []:
            self.set_cookies.append(raw)
            jar = SimpleCookie()
            jar.load(raw)
            for name, morsel in jar.items():
                if morsel.value and morsel["max-age"] != "0" and "1970" not in morsel["expires"]:
                    self.cookies[name] = morsel.value
                else:
                    self.cookies.pop(name, None)
        return Answer(response.status, response.headers, text)

    def get(self, path: str) -> Answer:
        return self.request("GET", path)

    def post(self, path: str, form: dict[str, str], *, csrf_from: str | None = None) -> Answer:
        page = self.get(csrf_from or path).body
        return self.request("POST", path, {"csrf_token": _csrf(page), **form})


def _fingerprint(der: bytes) -> str:
    return ":".join(f"{byte:02X}" for byte in hashlib.sha256(der).digest())


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


@dataclass
class Served:
    process: subprocess.Popen
    output: list[str]
    http_port: int
    https_port: int
    fingerprint: str
    context: ssl.SSLContext

    def phone(self, source: str = NETWORK) -> Client:
        return Client(self.http_port, source=source)

    def browser(self, source: str = NETWORK) -> Client:
        return Client(self.https_port, tls=self.context, source=source, fingerprint=self.fingerprint)

    def text(self) -> str:
        return "\n".join(self.output)


def _kit(tmp_path: Path, *, operator_password: bool = True) -> Path:
    keys = make_hub_keys(tmp_path)
    passphrase_file = tmp_path / "pass.txt"
    passphrase_file.write_text(PASSPHRASE + "\n")
    extra: list[object] = []
    if operator_password:
        password_file = tmp_path / "operator.txt"
        password_file.write_text(OPERATOR_PASSWORD + "\n")
        extra = ["--operator-password-file", password_file]
    data = tmp_path / "kit"
    result = run(
        "init", "--data", data, "--hub-recipient-file", keys / "hub-recipient.txt",
        "--passphrase-file", passphrase_file, *extra, *CHEAP_KDF,
    )  # fmt: skip
    assert re.search(r"([0-9A-F]{2}:){31}[0-9A-F]{2}", result.output), result.output
    return data


def _serve(data: Path, *args: str) -> Served:
    process = subprocess.Popen(
        [sys.executable, "-m", "fieldkit", "serve", "--data", str(data), "--host", "127.0.0.1", "--port", "0",
         "--operator-port", "0", "--attempt-window", WINDOW, *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    lines: list[str] = []
    if not read_until_ready(process, 30, lines):
        stop(process, gently=False)
        raise AssertionError("serve did not become ready:\n" + "\n".join(lines))
    text = "\n".join(lines)
    http_port = re.search(r"phones(?:, once unlocked)?: http://127\.0\.0\.1:(\d+)/", text)
    https_port = re.search(r"https://127\.0\.0\.1:(\d+)/operator/", text)
    printed = re.search(r"certificate SHA-256 fingerprint: (\S+)", text)
    assert http_port and https_port and printed, text
    # Trust the kit's certificate alone (checked by name and chain), and pin its printed fingerprint.
    context = ssl.create_default_context(cafile=str(data / "tls" / "cert.pem"))
    served = Served(process, lines, int(http_port.group(1)), int(https_port.group(1)), printed.group(1), context)
    _drain(served)
    return served


def _drain(served: Served) -> None:
    """Keep reading the output, so a full pipe never stops the kit, and keep it for the canary checks."""
    import threading

    def read() -> None:
        assert served.process.stdout is not None
        for line in served.process.stdout:
            served.output.append(line.rstrip("\n"))

    threading.Thread(target=read, daemon=True).start()


@pytest.fixture
def locked(tmp_path: Path):
    data = _kit(tmp_path)
    served = _serve(data, "--wait-for-unlock")
    yield data, served
    stop(served.process)


def test_a_locked_kit_answers_only_the_unlock_page(locked) -> None:
    data, served = locked
    kit_id = json.loads((data / "kit.json").read_text())["kit_id"]
    for path in ("/", "/pair", "/home", "/operator/", "/operator/unlock", "/anything/else"):
        answer = served.phone().get(path)
        assert answer.status == 503, path
        assert "The kit is locked. The operator unlocks it." in answer.body
        assert f"https://127.0.0.1:{served.https_port}/operator/unlock" in answer.body
        assert "<form" not in answer.body and "<input" not in answer.body
    assert served.phone().request("POST", "/pair", {"code": "123456", "interviewer": "P01"}).status == 503
    # Over TLS every other path leads to the unlock page, which shows the kit and the fingerprint to check.
    for path in ("/", "/operator/", "/operator/login", "/pair"):
        answer = served.browser().get(path)
        assert answer.status == 302 and answer.header("Location").endswith("/operator/unlock"), path
    page = served.browser().get("/operator/unlock")
    assert page.status == 200
    assert kit_id in page.body and served.fingerprint in page.body.replace("<wbr>", "")
    assert 'type="password"' in page.body and 'name="passphrase"' in page.body
    assert served.fingerprint == _fingerprint(ssl.PEM_cert_to_DER_cert((data / "tls" / "cert.pem").read_text()))


def test_a_client_that_does_not_trust_the_kit_certificate_is_refused(locked) -> None:
    _, served = locked
    stranger = Client(served.https_port, tls=ssl.create_default_context(), fingerprint=served.fingerprint)
    with pytest.raises(ssl.SSLCertVerificationError):
        stranger.get("/operator/unlock")


def test_wrong_passphrases_are_refused_then_throttled_and_the_kit_stays_locked(locked) -> None:
    data, served = locked
    browser = served.browser()
    wrong = browser.post("/operator/unlock", {"passphrase": "not the passphrase"})
    assert wrong.status == 403 and "That passphrase does not unlock this kit." in wrong.body
    assert "fko" not in browser.cookies
    statuses = [browser.post("/operator/unlock", {"passphrase": f"guess {n}"}).status for n in range(5)]
    assert statuses[-1] == 429, statuses
    limited = browser.post("/operator/unlock", {"passphrase": PASSPHRASE})  # even the right one waits
    assert limited.status == 429 and "Wait" in limited.body
    assert 1 <= int(limited.header("Retry-After")) <= float(WINDOW)
    assert served.phone().get("/").status == 503  # still locked
    # The person at the kit is not kept out by the network's failures.
    at_the_kit = served.browser(source="127.0.0.1")
    assert at_the_kit.post("/operator/unlock", {"passphrase": "a typo"}).status == 403
    # After the wait, the network address may try again.
    time.sleep(int(limited.header("Retry-After")) + 0.2)
    opened = browser.post("/operator/unlock", {"passphrase": PASSPHRASE})
    assert opened.status == 302, opened.body
    assert served.phone().get("/").status == 302  # the interview's start: pair first
    assert data.exists()


def test_the_right_passphrase_unlocks_logs_the_browser_in_and_phones_can_pair(locked) -> None:
    data, served = locked
    browser = served.browser()
    opened = browser.post("/operator/unlock", {"passphrase": PASSPHRASE})
    assert opened.status == 302 and opened.header("Location") == "/operator/"
    cookie = next(raw for raw in browser.set_cookies if raw.startswith("fko="))
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"secure", "httponly", "samesite=strict", "path=/operator"} <= flags, cookie
    page = browser.get("/operator/")
    assert page.status == 200 and "Pair a phone" in page.body
    code = re.search(r'<p class="code"><bdi>(\d+)</bdi>', page.body)
    assert code, page.body
    # A phone pairs over plain HTTP, from the network, with the code the operator sees.
    phone = served.phone()
    paired = phone.post("/pair", {"code": code.group(1), "interviewer": "P01"})
    assert paired.status == 302 and paired.header("Location").endswith("/home"), paired.body
    assert phone.get("/home").status == 200
    # The operator's page is still not for the phone's plain HTTP, cookie or not.
    phone.cookies["fko"] = browser.cookies["fko"]
    assert phone.get("/operator/").status == 404
    assert "was unlocked from the operator's page" in served.text()
    # Canary: neither secret is on the disk nor in what the kit printed.
    stop(served.process)
    for secret in (PASSPHRASE, OPERATOR_PASSWORD):
        assert scan_for(secret, data) == []
        assert secret not in served.text()


def test_a_kit_whose_settings_were_changed_stays_locked_and_says_why(locked) -> None:
    data, served = locked
    settings = json.loads((data / "kit.json").read_text())
    settings["recipients"].append(settings["recipients"][0])
    (data / "kit.json").write_text(json.dumps(settings))
    answer = served.browser().post("/operator/unlock", {"passphrase": PASSPHRASE})
    assert answer.status == 409
    assert "The kit cannot be unlocked. It stays locked." in answer.body
    assert served.phone().get("/").status == 503


@pytest.fixture
def serving(tmp_path: Path):
    data = _kit(tmp_path)
    served = _serve(data, "--passphrase-file", str(tmp_path / "pass.txt"))
    yield data, served
    stop(served.process)


def test_the_operator_logs_in_from_the_network_over_tls_only(serving) -> None:
    _, served = serving
    assert served.phone().get("/operator/").status == 404  # plain HTTP from the network
    assert served.phone().get("/operator/login").status == 404
    assert served.phone(source="127.0.0.1").get("/operator/").status == 200  # the kit's own screen, as before
    browser = served.browser()
    first = browser.get("/operator/")
    assert first.status == 302 and first.header("Location").endswith("/operator/login")
    login = browser.get("/operator/login")
    assert login.status == 200 and 'name="password"' in login.body
    wrong = browser.post("/operator/login", {"password": "not it at all"})
    assert wrong.status == 403 and "That is not the operator password." in wrong.body
    answer = browser.post("/operator/login", {"password": OPERATOR_PASSWORD})
    assert answer.status == 302 and answer.header("Location") == "/operator/"
    page = browser.get("/operator/")
    assert page.status == 200 and "Pair a phone" in page.body and "Log out" in page.body
    assert browser.post("/operator/revoke", {"session": "none"}, csrf_from="/operator/").status == 302
    token = browser.cookies["fko"]
    out = browser.post("/operator/logout", {}, csrf_from="/operator/")
    assert out.status == 302 and "fko" not in browser.cookies
    browser.cookies["fko"] = token  # an old cookie no longer opens anything
    assert browser.get("/operator/").status == 302


def test_wrong_operator_passwords_are_throttled_then_the_right_one_works(serving) -> None:
    _, served = serving
    browser = served.browser()
    statuses = [browser.post("/operator/login", {"password": f"wrong guess {n}"}).status for n in range(6)]
    assert statuses[:5] == [403] * 5 and statuses[5] == 429, statuses
    limited = browser.post("/operator/login", {"password": OPERATOR_PASSWORD})
    assert limited.status == 429 and "fko" not in browser.cookies
    time.sleep(int(limited.header("Retry-After")) + 0.2)
    assert browser.post("/operator/login", {"password": OPERATOR_PASSWORD}).status == 302
    assert browser.get("/operator/").status == 200


def test_a_verifier_written_without_the_passphrase_is_refused(tmp_path: Path) -> None:
    data = _kit(tmp_path, operator_password=False)
    from fieldkit.core.crypto.passwords import hash_password

    forged = {
        "format": "fieldkit-kit-operator/1",
        "kit_id": json.loads((data / "kit.json").read_text())["kit_id"],
        "hash": hash_password("the attacker's password", work_factor=10),
        "set": "2026-01-01T00:00:00Z",
        "signature": "AAAA",
    }
    (data / "operator-password.json").write_text(json.dumps(forged))
    served = _serve(data, "--passphrase-file", str(tmp_path / "pass.txt"))
    try:
        assert "OPERATOR LOGIN OFF" in served.text() and "not written by this kit" in served.text()
        browser = served.browser()
        page = browser.get("/operator/login")
        assert page.status == 200 and 'name="password"' not in page.body
        assert "was not written by this kit" in page.body
        tried = browser.request("POST", "/operator/login", {"csrf_token": "x", "password": "the attacker's password"})
        assert "fko" not in browser.cookies and tried.status in (200, 400)
        assert browser.get("/operator/").status == 302
        local = served.phone(source="127.0.0.1").get("/operator/")
        assert local.status == 200 and "fieldkit operator password" in local.body
    finally:
        stop(served.process)


def test_wait_for_unlock_and_a_passphrase_file_exclude_each_other(tmp_path: Path) -> None:
    data = _kit(tmp_path)
    result = run("serve", "--data", data, "--wait-for-unlock", "--passphrase-file", tmp_path / "pass.txt", expect=1)
    assert "--wait-for-unlock" in result.output and "--passphrase-file" in result.output


def test_serve_without_a_terminal_suggests_waiting_for_the_unlock(tmp_path: Path) -> None:
    data = _kit(tmp_path)
    result = run("serve", "--data", data, "--port", "0", "--operator-port", "0", expect=1)
    assert "--passphrase-file" in result.output and "--wait-for-unlock" in result.output


def test_init_refuses_an_operator_password_equal_to_the_passphrase(tmp_path: Path) -> None:
    keys = make_hub_keys(tmp_path)
    same = tmp_path / "same.txt"
    same.write_text(PASSPHRASE + "\n")
    result = run(
        "init", "--data", tmp_path / "kit", "--hub-recipient-file", keys / "hub-recipient.txt",
        "--passphrase-file", same, "--operator-password-file", same, *CHEAP_KDF, expect=1,
    )  # fmt: skip
    assert "must differ from the kit passphrase" in result.output
    assert not (tmp_path / "kit").exists()
    short = tmp_path / "short.txt"
    short.write_text("short\n")
    result = run(
        "init", "--data", tmp_path / "kit", "--hub-recipient-file", keys / "hub-recipient.txt",
        "--passphrase-file", same, "--operator-password-file", short, *CHEAP_KDF, expect=1,
    )  # fmt: skip
    assert "at least 8 characters" in result.output and not (tmp_path / "kit").exists()


def test_operator_password_changes_it_and_needs_the_passphrase(tmp_path: Path) -> None:
    from fieldkit.kit.config import load_config
    from fieldkit.kit.operator_password import load_verifier

    data = _kit(tmp_path)
    new = tmp_path / "new.txt"
    new.write_text("another operator password\n")
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not the kit passphrase\n")
    before = (data / "operator-password.json").read_bytes()
    result = run("operator", "password", "--data", data, "--passphrase-file", wrong,
                 "--operator-password-file", new, expect=1)  # fmt: skip
    assert "wrong passphrase" in result.output
    assert (data / "operator-password.json").read_bytes() == before
    run("operator", "password", "--data", data, "--passphrase-file", tmp_path / "pass.txt",
        "--operator-password-file", new, "--work-factor", "10")  # fmt: skip
    verifier = load_verifier(load_config(data))
    assert verifier is not None
    assert verifier.check("another operator password") and not verifier.check(OPERATOR_PASSWORD)


def test_operator_certificate_prints_the_fingerprint_and_renews_it(tmp_path: Path) -> None:
    data = _kit(tmp_path)
    cert = data / "tls" / "cert.pem"
    shown = run("operator", "certificate", "--data", data).output.strip()
    assert shown == _fingerprint(ssl.PEM_cert_to_DER_cert(cert.read_text()))
    assert (data / "tls" / "key.pem").stat().st_mode & 0o777 == 0o600
    renewed = run("operator", "certificate", "--data", data, "--renew").output
    assert "NEW CERTIFICATE" in renewed and shown not in renewed
    assert _fingerprint(ssl.PEM_cert_to_DER_cert(cert.read_text())) in renewed
    (data / "tls" / "key.pem").write_text("not a key")
    broken = run("operator", "certificate", "--data", data, expect=1).output
    assert "--renew" in broken and "Traceback" not in broken


def test_a_kit_made_before_gets_its_certificate_at_serve(tmp_path: Path) -> None:
    import shutil

    data = _kit(tmp_path, operator_password=False)
    shutil.rmtree(data / "tls")
    served = _serve(data, "--passphrase-file", str(tmp_path / "pass.txt"))
    try:
        assert "Made this kit's TLS certificate" in served.text()
        assert "operator login from the network is off" in served.text()
        page = served.browser().get("/operator/login")
        assert page.status == 200 and "fieldkit operator password" in page.body
    finally:
        stop(served.process)


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_operator_sessions_end_after_30_idle_minutes_and_on_logout() -> None:
    from fieldkit.kit.web.operator_access import IDLE_SECONDS, Sessions

    clock = _Clock()
    sessions = Sessions(clock=clock)
    token = sessions.start()
    clock.now += IDLE_SECONDS - 1
    assert sessions.valid(token)  # used: idle from now
    clock.now += IDLE_SECONDS - 1
    assert sessions.valid(token) and not sessions.valid(token + "x") and not sessions.valid(None)
    clock.now += IDLE_SECONDS + 1
    assert not sessions.valid(token)
    other = sessions.start()
    sessions.end(other)
    assert not sessions.valid(other)


def test_waits_grow_with_failures_but_never_pass_the_long_window() -> None:
    from fieldkit.kit.web.operator_access import Attempts

    clock = _Clock()
    attempts = Attempts(60.0, clock=clock)
    waits = []
    for _ in range(200):  # a guesser who tries again as soon as allowed, for a long time
        wait = attempts.retry_after(NETWORK, local=False)
        if wait:
            waits.append(wait)
            clock.now += wait
            continue
        attempts.failed(NETWORK, local=False)
        clock.now += 0.5
    assert max(waits) > 60 and max(waits) <= 300, waits  # grew past the short window, capped at the long one
    assert min(waits) <= 60
    # Meanwhile the person at the kit was never held back by the network's failures.
    assert attempts.retry_after("127.0.0.1", local=True) == 0
    attempts.failed("127.0.0.1", local=True)
    assert attempts.retry_after("127.0.0.1", local=True) == 0

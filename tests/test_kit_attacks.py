"""Hostile requests against the kit: every one refused with the right status, never a 500."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from itsdangerous import URLSafeTimedSerializer

from tests.browser import serve
from tests.conftest import PASSPHRASE
from tests.webclient import Interviewer, csrf_token


@pytest.fixture
def paired(client, app):
    interviewer = Interviewer(client, app)
    interviewer.pair()
    url = interviewer.start("peer-interview")
    return interviewer, url


def test_wrong_or_missing_csrf_token_is_refused_everywhere(client, app, paired) -> None:
    _, url = paired
    draft_id = url.split("/d/")[1].split("/")[0]
    targets = [url, "/start", f"/d/{draft_id}/finalise", f"/d/{draft_id}/discard", "/lang", "/pair", "/operator/revoke"]
    for target in targets:
        for token in (None, "", "forged-token", "a" * 200):
            data = {"consent": "given", "form": "peer-interview", "lang": "en", "code": "123456"}
            if token is not None:
                data["csrf_token"] = token
            response = client.post(target, data=data)
            assert response.status_code == 400, (target, token, response.status_code)
    assert list(app.extensions["fieldkit"].drafts.ids()) == [draft_id]
    assert app.extensions["fieldkit"].drafts.load(draft_id).answers == {}


def test_forged_session_cookie_gets_nothing(app, paired) -> None:
    _, url = paired
    real_sid = app.extensions["fieldkit"].pairing.sessions()[0].session_id
    stranger = app.test_client()
    wrong_key = URLSafeTimedSerializer("not-the-key", salt="cookie-session", signer_kwargs={"key_derivation": "hmac"})
    stranger.set_cookie("fk", wrong_key.dumps({"sid": real_sid}))
    assert stranger.get(url).headers["Location"].endswith("/pair")
    stranger.set_cookie("fk", "garbage.!!.cookie")
    assert stranger.get("/home").status_code == 302
    stranger.set_cookie("fk", "x" * 4000)
    assert stranger.get("/home").status_code == 302


def test_traversal_and_odd_paths_are_plain_404s(client, paired) -> None:
    for path in (
        "/static/../fieldkit/kit.py",
        "/static/%2e%2e/%2e%2e/kit.json",
        "/static/..%2f..%2fkit-keys.json",
        "/d/../../etc/passwd",
        "/d/%2e%2e%2f%2e%2e/s/x",
        "/d/0123456789abcdef0123456789abcdef/s/consent",
        "/d/" + "a" * 5000,
        "/done/../../x",
        "/operator/../operator/",
    ):
        response = client.get(path)
        assert response.status_code in (302, 404), (path, response.status_code)
        assert b"Traceback" not in response.data


def test_wrong_methods_and_content_types(client, paired) -> None:
    _, url = paired
    assert client.delete(url).status_code == 405
    assert client.put("/start").status_code == 405
    assert client.get("/start").status_code == 405
    assert client.post(url, json={"consent": "given"}).status_code == 400
    assert client.post(url, data=b"\xff\xfe\x00", content_type="application/x-www-form-urlencoded").status_code == 400
    with Path(__file__).open("rb") as upload:
        multipart = client.post(url, data={"consent": (upload, "x.txt")}, content_type="multipart/form-data")
    assert multipart.status_code == 400


def test_oversized_bodies_are_refused(client, paired) -> None:
    _, url = paired
    page = client.get(url).get_data(as_text=True)
    huge = client.post(url, data={"csrf_token": csrf_token(page), "consent": "x" * 400_000})
    assert huge.status_code == 413


@pytest.mark.slow
def test_slow_bodies_do_not_block_other_phones(kit, tmp_path: Path) -> None:
    passphrase_file = tmp_path / "pass"
    passphrase_file.write_text(PASSPHRASE + "\n")
    served = serve(kit.data_dir, passphrase_file)
    port = int(served.url.rsplit(":", 1)[1].strip("/"))
    slow = []
    try:
        for _ in range(12):
            connection = socket.create_connection(("127.0.0.1", port))
            connection.sendall(
                b"POST /pair HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                b"Content-Length: 100000\r\n\r\ncode="
            )
            slow.append(connection)
        started = time.monotonic()
        with urllib.request.urlopen(served.url + "pair", timeout=5) as response:
            assert response.status == 200
        assert time.monotonic() - started < 3
        for connection in slow:
            connection.sendall(b"1")
        with pytest.raises(urllib.error.HTTPError) as refused:
            request = urllib.request.Request(served.url + "pair", data=b"x" * 300_000, method="POST")
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code in (400, 413)
        refused.value.close()
    finally:
        for connection in slow:
            connection.close()
        served.stop()
    assert served.process.returncode is not None

"""The hub's web app: operator login and its limits, CSRF, what the pages show, the API's
statuses and reasons (the malicious-bundle corpus over real HTTP), security headers, and
a small fuzz that must never produce a server error."""

from __future__ import annotations

import base64
import gzip
import html
import http.client
import io
import json
import random
import re
import stat
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Blueprint
from werkzeug.security import check_password_hash

from fieldkit.kit.config import init_kit, unlock
from fieldkit.kit.enrolment import apply_enrolment_response, make_enrolment_request
from sync.hub.enrolment import create_token
from sync.hub.operators import Operators
from sync.hub.store import HubStore, init_hub
from sync.hub.web import HubSettings, OperatorPages, create_hub_app
from sync.hub.web.auth import PASSWORD_FILE, OperatorPassword
from sync.protocol.bundle import SourceRef
from sync.protocol.enrolment import EnrolmentError, EnrolmentToken, token_keys
from sync.protocol.receipts import load_public_key, public_key_text, read_receipt
from tests.bundle_corpus import (
    CORPUS,
    HUB_RECIPIENT,
    CorpusEnv,
    add_clash_and_stranger,
    archive_end,
    enrol_key,
    make_bundle,
    sealed_records,
)
from tests.http_servers import OPERATOR_PASSWORD, hub_with_operator, running_hub
from tests.hub_backend import every_stored_value
from tests.sync_cli import run
from tests.webclient import csrf_token

TOKEN = re.compile(r'<p class="token" id="token"><bdi>([A-Z2-7]{5}(?:-[A-Z2-7]{5}){3})</bdi></p>')


@pytest.fixture
def hub_dir(tmp_path: Path) -> Path:
    return hub_with_operator(tmp_path / "hub", "hub-web")


@pytest.fixture
def store(hub_dir: Path):
    with HubStore(hub_dir) as opened:
        yield opened


def make_app(store: HubStore, **settings):
    return create_hub_app(HubSettings(**{"max_bundle_bytes": 512 * 1024, **settings}), store)


@pytest.fixture
def app(store: HubStore):
    return make_app(store)


@pytest.fixture
def client(app):
    return app.test_client()


def login(client, password: str = OPERATOR_PASSWORD, address: str = "127.0.0.1"):
    page = client.get("/login", environ_base={"REMOTE_ADDR": address}).get_data(as_text=True)
    return client.post(
        "/login",
        data={"csrf_token": csrf_token(page), "name": "admin", "password": password, "next": "/operator/"},
        environ_base={"REMOTE_ADDR": address},
    )


def overview(client) -> str:
    response = client.get("/operator/")
    assert response.status_code == 200
    return response.get_data(as_text=True)


# --- Login ------------------------------------------------------------------------------


def test_operator_pages_need_a_login(client, store: HubStore) -> None:
    assert client.get("/").headers["Location"] == "/operator/"
    response = client.get("/operator/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=/operator/")
    # A POST with a valid CSRF token but no login changes nothing.
    token = csrf_token(client.get("/login").get_data(as_text=True))
    response = client.post("/operator/token", data={"csrf_token": token})
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert store.events(("token",)) == []


def test_login_sets_a_strict_httponly_session_and_logout_ends_it(client) -> None:
    response = login(client)
    assert response.status_code == 302 and response.headers["Location"] == "/operator/"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    page = overview(client)
    assert "hub-web" in page and "Log out" in page
    client.post("/logout", data={"csrf_token": csrf_token(page)})
    assert client.get("/operator/").status_code == 302


def test_login_never_redirects_off_the_hub(app) -> None:
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        client = app.test_client()
        page = client.get("/login").get_data(as_text=True)
        response = client.post(
            "/login",
            data={"csrf_token": csrf_token(page), "name": "admin", "password": OPERATOR_PASSWORD, "next": target},
        )
        assert response.headers["Location"] == "/operator/"


def test_wrong_passwords_are_limited_per_address_and_overall(store: HubStore) -> None:
    client = make_app(store, login_failures_per_address=5, login_failures_overall=8).test_client()
    for _ in range(5):
        response = login(client, "not the password", address="10.0.0.1")
        assert response.status_code == 401 and "Wrong name or password." in response.get_data(as_text=True)
    # The limit holds even for the right password from that address...
    blocked = login(client, address="10.0.0.1")
    assert blocked.status_code == 429 and "Too many wrong passwords" in blocked.get_data(as_text=True)
    # ...but not from another one, until the overall limit is reached.
    assert login(client, address="10.0.0.2").status_code == 302
    client.post("/logout", data={"csrf_token": csrf_token(overview(client))})
    for address in ("10.0.0.3", "10.0.0.4", "10.0.0.5"):
        assert login(client, "wrong again", address=address).status_code == 401
    assert login(client, address="10.0.0.6").status_code == 429


def test_setting_a_new_password_ends_open_sessions(client, store: HubStore) -> None:
    login(client)
    assert client.get("/operator/").status_code == 200
    Operators(store).set_password("admin", "another operator password", work_factor=10)
    assert client.get("/operator/").status_code == 302
    assert login(client, "another operator password").status_code == 302


def test_the_password_is_kept_as_a_private_scrypt_hash(hub_dir: Path, tmp_path: Path) -> None:
    path = hub_dir / PASSWORD_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert OPERATOR_PASSWORD.encode() not in path.read_bytes()
    assert json.loads(path.read_text())["kdf"]["name"] == "scrypt"
    new = tmp_path / "new.txt"
    new.write_text("a brand new operator password\n")
    result = run("hub", "password", "--data", hub_dir, "--passphrase-file", new)
    # The single password became operator admin's, in the store; the file is gone.
    assert "now the password of operator 'admin'" in result.output and not path.exists()
    with HubStore(hub_dir) as store:
        accounts = Operators(store)
        assert accounts.check("admin", "a brand new operator password") is not None
        assert accounts.check("admin", OPERATOR_PASSWORD) is None
    assert "a brand new operator password" not in every_stored_value(hub_dir)
    # 'hub serve' with another password in its file refuses to start.
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not the operator password\n")
    result = run("hub", "serve", "--data", hub_dir, "--port", "0", "--passphrase-file", wrong, expect=1)
    assert "is not the password of an admin of this hub" in result.output


# What 'fieldkit hub password' wrote before the hash was werkzeug's (format 1), for
# OPERATOR_PASSWORD with work factor 10: a hub set up then must keep its password.
FIRST_FORMAT_PASSWORD_FILE = {
    "format": "fieldkit-hub-operator/1",
    "kdf": {"name": "scrypt", "work_factor": 10, "r": 8, "p": 1},
    "salt": "AV3Dc1xSNtE5hQE9CrOuig==",
    "hash": "BP2FfFJTI/Iv9xl3xh6CFOHxtiHN9UeqN/DK9q6Npjs=",
    "set": "2025-03-01T09:00:00Z",
}


def test_a_new_password_is_a_werkzeug_scrypt_hash(hub_dir: Path) -> None:
    stored = json.loads((hub_dir / PASSWORD_FILE).read_text())
    assert stored["format"] == "fieldkit-hub-operator/2"
    assert stored["hash"].startswith("scrypt:1024:8:1$"), "werkzeug's scrypt, with the work factor asked for"
    assert check_password_hash(stored["hash"], OPERATOR_PASSWORD)
    assert not OperatorPassword.for_hub(hub_dir).check("not the operator password")


def _admin_hash(store: HubStore) -> str:
    found = Operators(store).get("admin")
    assert found is not None
    return found.password_hash


def test_a_password_in_the_first_format_still_works_and_is_upgraded_at_login(store: HubStore, hub_dir: Path) -> None:
    path = hub_dir / PASSWORD_FILE
    path.write_text(json.dumps(FIRST_FORMAT_PASSWORD_FILE))
    secret = OperatorPassword.for_hub(hub_dir)
    assert secret.check(OPERATOR_PASSWORD) and not secret.check("not the operator password")
    client = make_app(store).test_client()  # opening the hub makes the single password admin's
    assert not path.exists()
    assert json.loads(_admin_hash(store)) == FIRST_FORMAT_PASSWORD_FILE, "kept as it was"
    assert login(client, "not the operator password").status_code == 401
    assert json.loads(_admin_hash(store)) == FIRST_FORMAT_PASSWORD_FILE, "a wrong password changes nothing"

    assert login(client).status_code == 302
    upgraded = _admin_hash(store)
    assert upgraded.startswith("scrypt:1024:8:1$"), "werkzeug's scrypt, at the same cost as before"
    assert check_password_hash(upgraded, OPERATOR_PASSWORD)
    assert "hub-web" in overview(client), "the session the upgrading login started goes on"
    assert login(make_app(store).test_client()).status_code == 302, "and the password still works"


def test_a_session_is_refused_once_its_lifetime_is_over(store: HubStore) -> None:
    client = make_app(store, session_hours=1 / 3600).test_client()  # one second
    login(client)
    overview(client)
    cookie = client.get_cookie("fkhub")
    assert cookie is not None and cookie.expires is None, "still a cookie that ends with the browser"
    time.sleep(2.5)  # Flask counts whole seconds since the cookie was signed
    response = client.get("/operator/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# --- Operator pages ------------------------------------------------------------------------


def test_revoking_needs_the_csrf_token(client, store: HubStore) -> None:
    enrol_key(store, Ed25519PrivateKey.generate(), "kit-field")
    login(client)
    page = overview(client)
    assert "kit-field" in page and "Revoke" in page
    refused = client.post("/operator/revoke", data={"source_id": "kit-field"})
    assert refused.status_code == 400 and "Page expired" in refused.get_data(as_text=True)
    assert [source.status for source in store.sources()] == ["active"]
    done = client.post("/operator/revoke", data={"source_id": "kit-field", "csrf_token": csrf_token(page)})
    assert done.status_code == 302
    assert [source.status for source in store.sources()] == ["revoked"]
    page = overview(client)
    assert "<bdi>kit-field</bdi> revoked: later bundles are refused; those up to the last one acknowledged are" in page
    assert 'class="error">revoked' in page


def test_quarantine_and_refusal_reasons_are_on_the_overview(client, store: HubStore) -> None:
    add_clash_and_stranger(store)

    login(client)
    page = html.unescape(overview(client))
    (item,) = store.quarantine()
    assert item.record_id in page and item.reasons[0] in page
    (refusal,) = store.events(("refused",))
    assert refusal.message in page and "unknown-source" in page
    assert "2 records accepted. 1 record id in quarantine." in page
    row = (
        r'<td data-label="Kit"><bdi>kit-a</bdi></td><td data-label="Form"><bdi>peer-interview</bdi></td>'
        r'<td data-label="Version">1</td><td data-label="Records">2</td>'
    )
    assert re.search(row, page)
    # Metadata only: no ciphertext bytes (or their base64) anywhere on the page.
    for version in item.versions:
        assert base64.b64encode(version.ciphertext[:30]).decode()[:24] not in page


def test_the_token_button_shows_a_token_that_enrols_exactly_once(client, store: HubStore) -> None:
    login(client)
    page = overview(client)
    response = client.post("/operator/token", data={"csrf_token": csrf_token(page), "valid_days": "3"})
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    shown = TOKEN.search(text).group(1)
    assert "fieldkit sync enrol --data KITDIR --hub http://localhost --token " + shown in text
    assert client.get("/operator/token").status_code == 405  # shown once, from the POST only
    first = Ed25519PrivateKey.generate()
    token_id = token_keys(shown).token_id
    store.enrol_with_token(token_id, SourceRef("kit", "kit-one", 1), public_key_text(first.public_key()))
    with pytest.raises(EnrolmentError, match="already used"):
        second = public_key_text(Ed25519PrivateKey.generate().public_key())
        store.enrol_with_token(token_id, SourceRef("kit", "kit-two", 1), second)


def test_more_operator_pages_are_registered_behind_the_login(store: HubStore) -> None:
    reports = Blueprint("reports", __name__, url_prefix="/reports")

    @reports.get("/")
    def index() -> str:
        return "report placeholder"

    pages = [OperatorPages(reports, "reports.index", "Reports")]
    client = create_hub_app(HubSettings(), store, pages=pages).test_client()
    assert client.get("/reports/").status_code == 302
    login(client)
    assert client.get("/reports/").get_data(as_text=True) == "report placeholder"
    assert '<a href="/reports/">Reports</a>' in overview(client)


# --- Security headers ------------------------------------------------------------------


def test_every_kind_of_response_carries_the_security_headers(client) -> None:
    anonymous = [
        client.get("/login"),
        client.get("/operator/"),
        client.get("/static/hub.css"),
        client.get("/no-such-page"),
        client.get("/api/v1/hello"),
        client.post("/api/v1/bundles", data=b"x", content_type="text/plain"),
        client.post("/login", data={"password": "x"}),  # no CSRF token: 400
    ]
    login(client)
    signed_in = [client.get("/operator/")]
    for response in anonymous + signed_in:
        headers = response.headers
        policy = headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy and "script-src" not in policy
        assert headers["Cache-Control"] == "no-store"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert headers["X-Frame-Options"] == "DENY"
        assert b"<script" not in response.get_data()
        response.close()


# --- API -----------------------------------------------------------------------------------


def test_api_answers_with_statuses_and_json_reasons(client, store: HubStore) -> None:
    hello = client.get("/api/v1/hello").get_json()
    assert hello == {
        "format": "fieldkit-hub-hello/1",
        "hub_id": "hub-web",
        "receipt_public_key": store.config.receipt_public_key,
    }
    key = Ed25519PrivateKey.generate()
    enrol_key(store, key, "kit-a")
    bundle = make_bundle(key, "kit-a", sealed_records("kit-a", 3, seed=5))

    accepted = client.post("/api/v1/bundles", data=bundle, content_type="application/x-tar")
    assert accepted.status_code == 200 and accepted.mimetype == "application/json"
    assert accepted.headers["Fieldkit-Import"].startswith("accepted; new=3")
    receipt, document = read_receipt(accepted.get_data())
    assert document.verify(load_public_key(store.config.receipt_public_key))
    assert len(receipt.records) == 3
    again = client.post("/api/v1/bundles", data=bundle, content_type="application/x-tar")
    assert again.status_code == 200 and again.get_data() == accepted.get_data()
    assert again.headers["Fieldkit-Import"].startswith("already-merged")

    def refusal(response, status: int, code: str) -> str:
        assert response.status_code == status, response.get_data(as_text=True)
        body = response.get_json()
        assert body["error"] == code and body["reason"]
        return body["reason"]

    tar = "application/x-tar"
    refusal(client.post("/api/v1/bundles", data=b"<html>", content_type="text/html"), 415, "unsupported-media-type")
    refusal(client.post("/api/v1/bundles", data=bundle), 415, "unsupported-media-type")
    reason = refusal(client.get("/api/v1/bundles"), 405, "method-not-allowed")
    assert reason and client.get("/api/v1/bundles").headers["Allow"] == "OPTIONS, POST"
    refusal(client.put("/api/v1/hello", data=b"x"), 405, "method-not-allowed")
    refusal(client.post("/api/v1/bundles", data=b"", content_type=tar), 400, "not-a-tar")
    refusal(client.post("/api/v1/bundles", data=b"x" * 2048, content_type=tar), 400, "not-a-tar")
    refusal(client.post("/api/v1/bundles", data=gzip.compress(bundle), content_type=tar), 400, "compressed")
    refusal(client.post("/api/v1/bundles", data=b"\0" * (600 * 1024), content_type=tar), 413, "too-large")
    stranger = make_bundle(Ed25519PrivateKey.generate(), "kit-x", sealed_records("kit-x", 1, seed=6))
    unknown = client.post("/api/v1/bundles", data=stranger, content_type=tar)
    assert "not enrolled" in refusal(unknown, 403, "unknown-source")
    refusal(client.get("/api/v1/nothing"), 404, "not-found")


def test_a_chunked_upload_over_the_limit_is_refused(hub_dir: Path) -> None:
    # No Content-Length to check first: the body is counted as it arrives.
    with running_hub(hub_dir, max_bundle_bytes=512 * 1024) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.server.port, timeout=30)
        try:
            chunks = (b"\0" * 65536 for _ in range(12))
            connection.request(
                "POST", "/api/v1/bundles", body=chunks, encode_chunked=True,
                headers={"Content-Type": "application/x-tar", "Transfer-Encoding": "chunked"},
            )  # fmt: skip
            answer = connection.getresponse()
            body = json.loads(answer.read())
        finally:
            connection.close()
    assert answer.status == 413 and body["error"] == "too-large"


def test_a_bundle_larger_than_memory_spooling_is_merged_and_leaves_no_file(hub_dir: Path) -> None:
    # Past 16 MiB the body moves from memory to an unnamed file in HUBDIR/incoming/.
    key = Ed25519PrivateKey.generate()
    records = sealed_records("kit-big", 3, seed=9, size=6 * 1024 * 1024)
    with running_hub(hub_dir) as server:
        enrol_key(server.store, key, "kit-big")
        bundle = make_bundle(key, "kit-big", records)
        assert len(bundle) > 16 * 1024 * 1024
        request = urllib.request.Request(
            server.url + "/api/v1/bundles", data=bundle, method="POST",
            headers={"Content-Type": "application/x-tar"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=120) as answer:
            assert answer.status == 200
            assert answer.headers["Fieldkit-Import"].startswith("accepted; new=3")
        stored = {record.record_id for record in server.store.iter_records()}
    assert stored == {record.record_id for record in records}
    incoming = hub_dir / "incoming"
    assert incoming.is_dir() and stat.S_IMODE(incoming.stat().st_mode) == 0o700
    assert list(incoming.iterdir()) == []


def test_enrolment_over_the_api(client, store: HubStore, tmp_path: Path) -> None:
    config = init_kit(tmp_path / "kit", HUB_RECIPIENT, "a kit passphrase", work_factor=10)
    kit = unlock(config.data_dir, "a kit passphrase")
    token = create_token(store)
    request = make_enrolment_request(kit, EnrolmentToken.from_text(token.token))

    garbage = client.post("/api/v1/enrol", data=b'{"format": 1}', content_type="application/json")
    assert garbage.status_code == 400 and garbage.get_json()["error"] == "bad-request"
    wrong_type = client.post("/api/v1/enrol", data=request, content_type="application/x-tar")
    assert wrong_type.status_code == 415

    answer = client.post("/api/v1/enrol", data=request, content_type="application/json")
    assert answer.status_code == 200
    again = client.post("/api/v1/enrol", data=request, content_type="application/json")
    assert again.status_code == 200  # a lost response can be fetched again
    hub = apply_enrolment_response(kit, answer.get_data())
    assert hub.hub_id == "hub-web"

    other = init_kit(tmp_path / "kit2", HUB_RECIPIENT, "a kit passphrase", work_factor=10)
    stolen = make_enrolment_request(unlock(other.data_dir, "a kit passphrase"), EnrolmentToken.from_text(token.token))
    refused = client.post("/api/v1/enrol", data=stolen, content_type="application/json")
    assert refused.status_code == 403
    assert refused.get_json() == {
        "error": "enrolment-refused",
        "reason": "the enrolment token was already used by another kit",
    }


def _corpus_env(store: HubStore) -> CorpusEnv:
    kit_key, revoked_key = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    merged = sealed_records("kit-a", 3, seed=1)
    revoked_old = make_bundle(revoked_key, "kit-r", sealed_records("kit-r", 2, seed=2))
    enrol_key(store, kit_key, "kit-a")
    enrol_key(store, revoked_key, "kit-r")
    for bundle in (make_bundle(kit_key, "kit-a", merged), revoked_old):
        assert store.import_bundle(bundle).status == "accepted"
    store.revoke("kit-r", keep_up_to=0)  # nothing kept: the corpus checks refusals
    return CorpusEnv("kit-a", kit_key, "kit-r", revoked_key, revoked_old, merged)


def test_the_malicious_bundle_corpus_over_real_http(tmp_path: Path) -> None:
    hub_dir = tmp_path / "hub"
    init_hub(hub_dir, HUB_RECIPIENT, hub_id="hub-corpus")
    with HubStore(hub_dir) as store:
        env = _corpus_env(store)
    with running_hub(hub_dir) as server:
        for case in sorted(CORPUS, key=lambda case: case.code is None):  # the accepted conflict last
            before = server.store.state_digest()
            request = urllib.request.Request(
                server.url + "/api/v1/bundles", data=case.build(env), method="POST",
                headers={"Content-Type": "application/x-tar"},
            )  # fmt: skip
            if case.code is None:
                with urllib.request.urlopen(request, timeout=30) as answer:
                    assert answer.status == 200
                    receipt, _document = read_receipt(answer.read())
                assert len(receipt.records) == 1
                assert len(server.store.quarantine()) == 1
                continue
            with pytest.raises(urllib.error.HTTPError) as caught:
                urllib.request.urlopen(request, timeout=30)
            with caught.value as answer:
                body = json.loads(answer.read())
                assert 400 <= answer.code < 500, case.name
            assert body["error"] == case.code, case.name
            assert case.says in body["reason"], (case.name, body["reason"])
            assert server.store.state_digest() == before, case.name


# --- No server errors on garbage ----------------------------------------------------------


def test_no_request_of_garbage_gets_a_server_error(store: HubStore) -> None:
    key = Ed25519PrivateKey.generate()
    enrol_key(store, key, "kit-a")
    valid = make_bundle(key, "kit-a", sealed_records("kit-a", 2, seed=9))
    rng = random.Random(7)
    tarish = io.BytesIO()
    with tarfile.open(fileobj=tarish, mode="w") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"null"))
    bodies = [
        b"",
        bytes(rng.getrandbits(8) for _ in range(3000)),
        tarish.getvalue(),
        valid[: archive_end(valid) - 100],  # cut inside the last record
        gzip.compress(b"x" * 1000),
        b'{"format": "fieldkit-signed/1", "payload": "e30=", "signature": "AA=="}',
        b'{"format": "fieldkit-signed/1", "payload": "!!", "signature": 5}',
        json.dumps(
            {
                "format": "fieldkit-signed/1",
                "payload": base64.b64encode(
                    b'{"format": "fieldkit-enrolment-request/1", "kit_id": [1], "epoch": true}'
                ).decode(),
                "signature": "AAAA",
            }
        ).encode(),
        b"[" * 5000,
        b"password=x&csrf_token=y&source_id=../../etc",
        "\u202e\u0000\ud7ff".encode("utf-8", "surrogatepass") * 100,
        b"\xff" * (70 * 1024),  # above the form limit
    ]
    paths = [
        "/", "/login", "/logout", "/operator/", "/operator/revoke", "/operator/token", "/api/v1/hello",
        "/api/v1/bundles", "/api/v1/enrol", "/api/v1/rollups", "/api/v1/", "/static/hub.css",
        "/static/../hub.json", "/%ff",
    ]  # fmt: skip
    methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
    types = [
        None, "application/x-tar", "application/json", "text/html", "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=zz", "multipart/form-data", "application/x-tar; charset=\u00ff",
    ]  # fmt: skip
    combos = [(p, m, t, b) for p in paths for m in methods for t in types for b in range(len(bodies))]
    posts = [
        "/api/v1/bundles", "/api/v1/enrol", "/api/v1/rollups", "/login", "/logout", "/operator/revoke",
        "/operator/token",
    ]  # fmt: skip
    # Every POST target with every type and body, and a sample of everything else.
    chosen = [(p, "POST", t, b) for p in posts for t in types for b in range(len(bodies))]
    chosen += rng.sample(combos, 500)
    anonymous = make_app(store).test_client()
    operator = make_app(store).test_client()
    login(operator)
    for client in (anonymous, operator):
        for path, method, content_type, index in chosen:
            kwargs = {"data": bodies[index]}
            if content_type is not None:
                kwargs["content_type"] = content_type
            response = client.open(path, method=method, **kwargs)
            response.close()
            assert response.status_code < 500, (path, method, content_type, index, response.status_code)
            if path.startswith("/api/") and response.status_code >= 400 and method != "HEAD":
                body = response.get_json(silent=True)
                assert body and set(body) == {"error", "reason"}, (path, method, response.status_code)
    assert store.record_count() == 0  # garbage stored nothing
    assert [source.source_id for source in store.sources()] == ["kit-a"]
    assert [source.status for source in store.sources()] == ["active"]

"""Hub operator sessions and login (issue 17, point 7): sessions on the hub, a strict ``next``,
the per-address limit behind a TLS proxy, and the operator's unlock.

Through the real hub app and its store; the CLI commands run in-process with click.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from sync.hub.store import HubStore
from sync.hub.web import HubSettings, create_hub_app
from tests.http_servers import OPERATOR_PASSWORD, hub_with_operator
from tests.hub_backend import hub_db
from tests.sync_cli import run
from tests.webclient import csrf_token


@pytest.fixture
def hub_dir(tmp_path: Path) -> Path:
    return hub_with_operator(tmp_path / "hub", "hub-sessions")


@pytest.fixture
def store(hub_dir: Path):
    with HubStore(hub_dir) as opened:
        yield opened


def _app(store: HubStore, **settings):
    return create_hub_app(HubSettings(**settings), store)


def _login(client, password: str = OPERATOR_PASSWORD, next_path: str = "/operator/", **environ):
    page = client.get("/login", **environ).get_data(as_text=True)
    return client.post(
        "/login",
        data={"csrf_token": csrf_token(page), "name": "admin", "password": password, "next": next_path},
        **environ,
    )


def _copy_cookie(source, target) -> str:
    cookie = source.get_cookie("fkhub")
    assert cookie is not None
    target.set_cookie("fkhub", cookie.value)
    return cookie.value


def _session_rows(hub_dir: Path) -> list[tuple]:
    with hub_db(hub_dir) as connection:
        return connection.execute("SELECT id_sha256, data, operator FROM sessions").fetchall()


def test_a_cookie_copied_before_logout_is_worthless_afterwards(store: HubStore, hub_dir: Path) -> None:
    app = _app(store)
    operator, thief = app.test_client(), app.test_client()
    assert _login(operator).status_code == 302
    stolen = _copy_cookie(operator, thief)
    # The cookie is a random id only: no data, no signature to replay elsewhere.
    assert "." not in stolen and len(stolen) >= 40
    rows = _session_rows(hub_dir)
    assert [row[0] for row in rows if row[2]] == [hashlib.sha256(stolen.encode()).hexdigest()]
    assert all(stolen not in row[1] for row in rows)
    page = thief.get("/operator/").get_data(as_text=True)
    assert "hub-sessions" in page  # the copy works while the session lasts...
    operator.post("/logout", data={"csrf_token": csrf_token(operator.get("/operator/").get_data(as_text=True))})
    # ...and not after logout: no page, and no token made with the old CSRF token.
    assert thief.get("/operator/").status_code == 302
    response = thief.post("/operator/token", data={"csrf_token": csrf_token(page), "valid_days": "365"})
    assert response.status_code in (302, 400)
    assert store.events(("token",)) == []
    assert [row for row in _session_rows(hub_dir) if row[2]] == []


def test_a_login_gets_a_new_session_id(store: HubStore) -> None:
    client = _app(store).test_client()
    client.get("/login")
    before = client.get_cookie("fkhub")
    assert before is not None
    _login(client)
    after = client.get_cookie("fkhub")
    assert after is not None and after.value != before.value  # no session fixation


def test_a_new_password_ends_every_session_on_the_hub(store: HubStore, hub_dir: Path, tmp_path: Path) -> None:
    app = _app(store)
    operator, copy = app.test_client(), app.test_client()
    _login(operator)
    _copy_cookie(operator, copy)
    new = tmp_path / "new-password.txt"
    new.write_text("a quite different operator password\n")
    result = run("hub", "password", "--data", hub_dir, "--passphrase-file", new)
    assert "1 open sessions ended" in result.output
    assert _session_rows(hub_dir) == []
    assert operator.get("/operator/").status_code == 302
    assert copy.get("/operator/").status_code == 302


@pytest.mark.parametrize(
    "target",
    [
        "/%09/evil.example/phish",
        "/\t/evil.example/phish",
        "//evil.example/x",
        "/\\evil.example",
        "\\\\evil.example",
        "https://evil.example/",
        "/operator/\r\nLocation: https://evil.example/",
        "/operator/\n",
        "/%2F%2Fevil.example",
        "/ /evil.example",
        "/operator//evil.example",
        "x" * 5000,
    ],
)
def test_next_after_login_is_a_plain_path_on_the_hub_or_ignored(store: HubStore, target: str) -> None:
    client = _app(store).test_client()
    shown = client.get("/login", query_string={"next": target})
    assert shown.status_code == 200 and "evil.example" not in shown.get_data(as_text=True)
    response = _login(client, next_path=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/operator/"


def test_next_keeps_a_plain_path(store: HubStore) -> None:
    response = _login(_app(store).test_client(), next_path="/operator/")
    assert response.headers["Location"] == "/operator/"
    response = _login(_app(store).test_client(), next_path="/reports/centre-c01.html")
    assert response.headers["Location"] == "/reports/centre-c01.html"


def _from(client_address: str, proxy: str = "127.0.0.1") -> dict:
    return {"environ_base": {"REMOTE_ADDR": proxy}, "headers": {"X-Forwarded-For": client_address}}


def test_behind_a_proxy_the_limit_is_per_forwarded_address_only_when_configured(store: HubStore) -> None:
    limits = {"login_failures_per_address": 3, "login_failures_overall": 50}
    behind = _app(store, behind_proxy=1, **limits).test_client()
    for _ in range(3):
        assert _login(behind, "a wrong guess", **_from("203.0.113.7")).status_code == 401
    assert _login(behind, **_from("203.0.113.7")).status_code == 429
    # The operator, forwarded from another address by the same proxy, is not locked out.
    assert _login(behind, **_from("198.51.100.20")).status_code == 302

    # Without --behind-proxy the header is ignored: a guesser cannot escape the limit by
    # inventing addresses.
    direct = _app(store, **limits).test_client()
    for index in range(3):
        assert _login(direct, "a wrong guess", **_from(f"203.0.113.{index}")).status_code == 401
    assert _login(direct, **_from("198.51.100.20")).status_code == 429


def test_the_operator_can_lift_the_login_limits_of_a_running_hub(store: HubStore, hub_dir: Path) -> None:
    client = _app(store, login_failures_per_address=3, login_failures_overall=3).test_client()
    for _ in range(3):
        assert _login(client, "a wrong guess").status_code == 401
    assert _login(client).status_code == 429
    result = run("hub", "unlock-login", "--data", hub_dir)
    assert "Login limits lifted" in result.output
    assert _login(client).status_code == 302
    assert [event.kind for event in store.events(("unlock",))] == ["unlock"]

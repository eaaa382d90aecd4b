"""Hub operators and roles (issue 21, point 1): named accounts, a role check on every page
and POST, sessions that end with a changed or removed operator, and old hubs migrating.

Through the real hub app (Flask's test client) over a real store, and the real
``fieldkit hub operators`` commands in-process with click.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Blueprint

from sync.hub.operators import PERMISSIONS, ROLES, OperatorError, Operators, allowed
from sync.hub.reports.web import reports_pages
from sync.hub.store import DB_FILE, SCHEMA_VERSION, HubStore, init_hub
from sync.hub.web import HubSettings, OperatorPages, create_hub_app
from sync.hub.web.auth import PASSWORD_FILE, current_operator, require_login
from tests.bundle_corpus import enrol_key
from tests.http_servers import HUB_RECIPIENT, OPERATOR_PASSWORD, hub_with_operator
from tests.hub_backend import hub_db
from tests.hub_schemas import VERSIONS_BEFORE_6
from tests.sync_cli import run
from tests.webclient import csrf_token

PASSWORDS = {"ada": "ada's long password", "ana": "ana's long password", "vic": "vic's long password"}
ROLE_OF = {"ada": "admin", "ana": "analyst", "vic": "viewer"}
CHEAP = ("--work-factor", "10")


@pytest.fixture
def hub_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "hub"
    init_hub(folder, HUB_RECIPIENT, hub_id="hub-roles")
    with HubStore(folder) as store:
        accounts = Operators(store)
        for name, password in PASSWORDS.items():
            accounts.add(name, ROLE_OF[name], password, work_factor=10)
        enrol_key(store, Ed25519PrivateKey.generate(), "kit-a")
    return folder


@pytest.fixture
def store(hub_dir: Path):
    with HubStore(hub_dir) as opened:
        yield opened


def _export_pages() -> OperatorPages:
    """A page that needs the ``export`` permission, as an export page would."""
    pages = Blueprint("exports", __name__, url_prefix="/operator/exports")

    @pages.get("/")
    def index() -> str:
        operator = current_operator()
        assert operator is not None
        return f"export page for {operator.name} ({operator.role})"

    return OperatorPages(pages, "exports.index", "Exports", permission="export")


def _app(store: HubStore):
    return create_hub_app(HubSettings(), store, pages=[reports_pages(), _export_pages()])


def _login(client, name: str, password: str | None = None):
    page = client.get("/login").get_data(as_text=True)
    return client.post(
        "/login",
        data={"csrf_token": csrf_token(page), "name": name, "password": password or PASSWORDS[name], "next": "/"},
    )


def _client(store: HubStore, name: str):
    client = _app(store).test_client()
    assert _login(client, name).status_code == 302
    return client


def _token(client) -> str:
    return csrf_token(client.get("/operator/").get_data(as_text=True))


def _session_owners(hub_dir: Path) -> list[str]:
    with hub_db(hub_dir) as connection:
        rows = connection.execute("SELECT operator_name FROM sessions WHERE operator=1").fetchall()
    return sorted(str(row[0]) for row in rows)


def _names(store: HubStore) -> list[tuple[str, str]]:
    return [(o.name, o.role) for o in Operators(store).list()]


# --- Roles on pages and POSTs ------------------------------------------------------------


def test_the_permission_table_gives_each_role_its_actions() -> None:
    assert set(ROLES) == {"admin", "analyst", "viewer"}
    assert all(allowed("admin", permission) for permission in PERMISSIONS)
    assert [p for p in PERMISSIONS if allowed("analyst", p)] == ["status", "reports", "export", "report"]
    assert [p for p in PERMISSIONS if allowed("viewer", p)] == ["status", "reports"]
    assert not allowed(None, "status")
    with pytest.raises(KeyError):
        allowed("admin", "no-such-permission")


@pytest.mark.parametrize("name", ["ada", "ana", "vic"])
def test_every_role_sees_the_status_and_the_reports(store: HubStore, name: str) -> None:
    client = _client(store, name)
    page = client.get("/operator/").get_data(as_text=True)
    assert "hub-roles" in page and f"{name}, {ROLE_OF[name]}" in page
    assert client.get("/operator/reports/").status_code == 200
    assert '<a href="/operator/reports/">Reports</a>' in page


@pytest.mark.parametrize("name", ["ana", "vic"])
def test_only_an_admin_enrols_revokes_and_decides_on_quarantine(store: HubStore, name: str) -> None:
    client = _client(store, name)
    page = client.get("/operator/").get_data(as_text=True)
    # What the role may not use is not shown...
    assert "New enrolment token" not in page and ">Revoke<" not in page
    token = csrf_token(page)
    events_before = store.events()
    # ...and refused on the hub if posted anyway: a 403 page, never a redirect to the login.
    posts = [
        ("/operator/token", {"valid_days": "3"}),
        ("/operator/revoke", {"source_id": "kit-a"}),
        ("/operator/drop-source", {"kit_id": "kit-a"}),
        ("/operator/resolve", {"record_id": "r", "version": "v", "action": "drop"}),
    ]
    for path, form in posts:
        response = client.post(path, data={"csrf_token": token, **form})
        assert response.status_code == 403, path
        assert "Location" not in response.headers
        text = response.get_data(as_text=True)
        assert f"You are logged in as {name} ({ROLE_OF[name]})" in text and "Nothing was changed" in text
    assert store.events() == events_before
    assert [s.status for s in store.sources()] == ["active"]


def test_an_admin_may_do_everything(store: HubStore) -> None:
    client = _client(store, "ada")
    page = client.get("/operator/").get_data(as_text=True)
    assert "New enrolment token" in page and ">Revoke<" in page and "/operator/exports/" in page
    assert client.post("/operator/token", data={"csrf_token": csrf_token(page), "valid_days": "3"}).status_code == 200
    assert client.get("/operator/exports/").get_data(as_text=True) == "export page for ada (admin)"
    response = client.post("/operator/revoke", data={"csrf_token": csrf_token(page), "source_id": "kit-a"})
    assert response.status_code == 302 and [s.status for s in store.sources()] == ["revoked"]


def test_a_viewer_cannot_export_and_an_analyst_can(store: HubStore) -> None:
    viewer, analyst = _client(store, "vic"), _client(store, "ana")
    assert viewer.get("/operator/exports/").status_code == 403
    assert "/operator/exports/" not in viewer.get("/operator/").get_data(as_text=True)
    assert analyst.get("/operator/exports/").get_data(as_text=True) == "export page for ana (analyst)"
    assert '<a href="/operator/exports/">Exports</a>' in analyst.get("/operator/").get_data(as_text=True)
    # Nobody logged in: the login page, for every kind of page.
    anonymous = _app(store).test_client()
    for path in ("/operator/", "/operator/exports/", "/operator/reports/"):
        assert anonymous.get(path).headers["Location"].startswith("/login?next=")


def test_only_an_admin_sees_the_operators_and_never_a_hash(store: HubStore) -> None:
    admin = _client(store, "ada")
    page = admin.get("/operator/operators").get_data(as_text=True)
    assert '<a href="/operator/operators">Operators</a>' in admin.get("/operator/").get_data(as_text=True)
    for name in PASSWORDS:
        assert f"<bdi>{name}</bdi>" in page
    assert "scrypt" not in page and all(o.password_hash not in page for o in Operators(store).list())
    for name in ("ana", "vic"):
        client = _client(store, name)
        assert client.get("/operator/operators").status_code == 403
        assert "/operator/operators" not in client.get("/operator/").get_data(as_text=True)


def test_a_view_that_names_no_permission_is_refused(store: HubStore) -> None:
    unnamed = Blueprint("unnamed", __name__, url_prefix="/operator/unnamed")

    @unnamed.get("/")
    def index() -> str:
        return "should not be shown"

    app = _app(store)
    app.register_blueprint(unnamed)
    require_login(app, {"unnamed": None})
    client = app.test_client()
    assert _login(client, "ada").status_code == 302
    response = client.get("/operator/unnamed/")
    assert response.status_code == 403 and "should not be shown" not in response.get_data(as_text=True)


# --- Login and sessions --------------------------------------------------------------------


def test_login_needs_the_right_name_and_password(store: HubStore) -> None:
    client = _app(store).test_client()
    for name, password in [("ada", PASSWORDS["ana"]), ("nobody", PASSWORDS["ada"]), ("", PASSWORDS["ada"])]:
        response = _login(client, name, password)
        assert response.status_code == 401 and "Wrong name or password." in response.get_data(as_text=True)
    assert client.get("/operator/").status_code == 302
    assert _login(client, "ada").status_code == 302 and client.get("/operator/").status_code == 200


def test_a_new_password_ends_the_sessions_of_that_operator_only(store: HubStore, hub_dir: Path, tmp_path: Path):
    ada, ana, vic = _client(store, "ada"), _client(store, "ana"), _client(store, "vic")
    assert _session_owners(hub_dir) == ["ada", "ana", "vic"]
    new = tmp_path / "new.txt"
    new.write_text("ana's brand new password\n")
    result = run("hub", "operators", "password", "--data", hub_dir, "ana", "--password-file", new, *CHEAP)
    assert "1 open sessions ended" in result.output
    assert _session_owners(hub_dir) == ["ada", "vic"]
    assert ana.get("/operator/").status_code == 302
    assert ada.get("/operator/").status_code == 200 and vic.get("/operator/").status_code == 200
    assert _login(ana, "ana", "ana's brand new password").status_code == 302


def test_a_removed_operators_cookie_no_longer_works(store: HubStore, hub_dir: Path) -> None:
    vic = _client(store, "vic")
    copy = _app(store).test_client()
    cookie = vic.get_cookie("fkhub")
    assert cookie is not None
    copy.set_cookie("fkhub", cookie.value)
    assert copy.get("/operator/").status_code == 200
    run("hub", "operators", "remove", "--data", hub_dir, "vic")
    assert vic.get("/operator/").status_code == 302 and copy.get("/operator/").status_code == 302
    assert "vic" not in _session_owners(hub_dir)
    assert _login(_app(store).test_client(), "vic").status_code == 401


def test_a_disabled_operator_cannot_log_in_until_enabled(store: HubStore, hub_dir: Path) -> None:
    vic = _client(store, "vic")
    assert "1 open sessions ended" in run("hub", "operators", "disable", "--data", hub_dir, "vic").output
    assert vic.get("/operator/").status_code == 302
    assert _login(vic, "vic").status_code == 401
    assert "disabled" in run("hub", "operators", "list", "--data", hub_dir).output
    run("hub", "operators", "enable", "--data", hub_dir, "vic")
    assert _login(vic, "vic").status_code == 302


def test_a_role_change_ends_the_session_and_the_new_role_applies(store: HubStore, hub_dir: Path) -> None:
    ana = _client(store, "ana")
    assert ana.get("/operator/exports/").status_code == 200
    result = run("hub", "operators", "role", "--data", hub_dir, "ana", "viewer")
    assert "ana is now viewer" in result.output
    assert ana.get("/operator/exports/").status_code == 302  # logged out
    assert _login(ana, "ana").status_code == 302
    assert ana.get("/operator/exports/").status_code == 403


def test_a_session_whose_hash_changed_behind_its_back_is_refused(store: HubStore, hub_dir: Path) -> None:
    # Even with the session row left in place, the fingerprint no longer matches.
    ada = _client(store, "ada")
    with hub_db(hub_dir) as connection:
        connection.execute("UPDATE operators SET password_hash=? WHERE name='ada'", ("scrypt:1024:8:1$x$" + "0" * 64,))
    assert ada.get("/operator/").status_code == 302


# --- Keeping the accounts -------------------------------------------------------------------


def test_the_last_admin_is_never_removed_demoted_or_disabled(store: HubStore, hub_dir: Path) -> None:
    before = _names(store)
    refused = run("hub", "operators", "remove", "--data", hub_dir, "ada", expect=1)
    assert "ada is the last admin of this hub and cannot be removed" in refused.output
    refused = run("hub", "operators", "role", "--data", hub_dir, "ada", "analyst", expect=1)
    assert "cannot be given another role" in refused.output
    refused = run("hub", "operators", "disable", "--data", hub_dir, "ada", expect=1)
    assert "cannot be disabled" in refused.output
    assert _names(store) == before
    # With a second admin, the first may go.
    Operators(store).set_role("ana", "admin")
    run("hub", "operators", "remove", "--data", hub_dir, "ada")
    assert _names(store) == [("ana", "admin"), ("vic", "viewer")]


def test_bad_names_duplicates_and_unknown_roles_are_refused_and_change_nothing(
    store: HubStore, hub_dir: Path, tmp_path: Path
) -> None:
    password = tmp_path / "password.txt"
    password.write_text("a long enough password\n")
    before = _names(store)
    add = ("hub", "operators", "add", "--data", hub_dir)
    for name in ("bad name", "../etc", "_under", ".dot", "x" * 33, "émile", ""):
        refused = run(*add, name, "--role", "viewer", "--password-file", password, *CHEAP, expect=1)
        assert "is not an operator name" in refused.output, name
    refused = run(*add, "ADA", "--role", "viewer", "--password-file", password, *CHEAP, expect=1)
    assert "there is already an operator 'ada'" in refused.output
    refused = run(*add, "zoe", "--role", "boss", "--password-file", password, expect=2)
    assert "'boss' is not one of 'admin', 'analyst', 'viewer'" in refused.output
    short = tmp_path / "short.txt"
    short.write_text("short\n")
    refused = run(*add, "zoe", "--role", "viewer", "--password-file", short, expect=1)
    assert "at least 10 characters" in refused.output
    for command in (("remove", "--data", hub_dir, "nobody"), ("password", "--data", hub_dir, "nobody")):
        refused = run("hub", "operators", *command, expect=1)
        assert "there is no operator 'nobody' on this hub (operators: ada, ana, vic)" in refused.output
    with pytest.raises(OperatorError, match="is not a role"):
        Operators(store).add("zoe", "boss", "a long enough password", work_factor=10)
    assert _names(store) == before


def test_a_password_needs_a_file_or_a_terminal(hub_dir: Path) -> None:
    # CliRunner's stdin is no terminal, as in CI: refused, nothing added.
    refused = run("hub", "operators", "add", "--data", hub_dir, "zoe", "--role", "viewer", expect=1)
    assert "no terminal to ask on: use --password-file FILE" in refused.output
    assert "zoe" not in run("hub", "operators", "list", "--data", hub_dir).output


def test_add_and_list_never_print_a_hash(store: HubStore, hub_dir: Path, tmp_path: Path) -> None:
    password = tmp_path / "password.txt"
    password.write_text("zoe's long password\n")
    added = run("hub", "operators", "add", "--data", hub_dir, "zoe", "--role", "analyst", "--password-file", password)
    assert "Operator zoe added as analyst: may status, reports, export, report." in added.output
    listed = run("hub", "operators", "list", "--data", hub_dir).output
    assert [line.split()[:2] for line in listed.splitlines()] == [
        ["ada", "admin"], ["ana", "analyst"], ["vic", "viewer"], ["zoe", "analyst"],
    ]  # fmt: skip
    for operator in Operators(store).list():
        assert operator.password_hash not in listed and operator.password_hash not in repr(operator)
    assert "scrypt" not in listed and "$" not in listed
    assert Operators(store).check("zoe", "zoe's long password") is not None


# --- Old hubs -----------------------------------------------------------------------------------


def _as_schema_3(hub_dir: Path) -> None:
    """Turn a new hub's database back into what the previous version made (schema 3)."""
    connection = sqlite3.connect(hub_dir / DB_FILE)
    try:
        connection.executescript(
            f"BEGIN; {VERSIONS_BEFORE_6} DROP TABLE operators; ALTER TABLE sessions DROP COLUMN operator_name;"
            "DROP TABLE audit; DELETE FROM meta WHERE key='audit_head';"
            "UPDATE meta SET value='3' WHERE key='schema'; COMMIT;"
        )
    finally:
        connection.close()


@pytest.mark.sqlite_only  # an old release's SQLite file; PostgreSQL hubs began at schema 5
def test_an_old_hub_with_the_single_password_migrates_and_the_password_still_logs_in(tmp_path: Path) -> None:
    hub_dir = hub_with_operator(tmp_path / "old-hub", "old-hub")  # operator-password.json, as before
    _as_schema_3(hub_dir)
    with HubStore(hub_dir) as store:
        assert store.read("SELECT value FROM meta WHERE key='schema'") == [(SCHEMA_VERSION,)]
        assert _names(store) == []  # nothing is made before the hub is served or logged in to
        client = create_hub_app(HubSettings(), store).test_client()
        assert _names(store) == [("admin", "admin")]
        assert not (hub_dir / PASSWORD_FILE).exists(), "the hash lives in the store now"
        assert _login(client, "admin", OPERATOR_PASSWORD).status_code == 302
        page = client.get("/operator/").get_data(as_text=True)
        assert "admin, admin" in page and "New enrolment token" in page
        assert _session_owners(hub_dir) == ["admin"]


def test_old_hub_commands_keep_working(tmp_path: Path) -> None:
    hub_dir = hub_with_operator(tmp_path / "old-hub", "old-hub")
    listed = run("hub", "operators", "list", "--data", hub_dir).output
    assert "single operator password is now the password of operator 'admin'" in listed
    assert listed.splitlines()[-1].split()[:2] == ["admin", "admin"]
    new = tmp_path / "new.txt"
    new.write_text("the new admin password\n")
    assert (
        "Password of operator admin set." in run("hub", "password", "--data", hub_dir, "--passphrase-file", new).output
    )
    with HubStore(hub_dir) as store:
        assert Operators(store).check("admin", "the new admin password") is not None
        assert Operators(store).check("admin", OPERATOR_PASSWORD) is None


def test_a_new_hub_served_for_the_first_time_gets_operator_admin(tmp_path: Path) -> None:
    hub_dir = tmp_path / "new-hub"
    init_hub(hub_dir, HUB_RECIPIENT, hub_id="new-hub")
    password = tmp_path / "password.txt"
    password.write_text("the first admin password\n")
    made = run("hub", "password", "--data", hub_dir, "--passphrase-file", password).output
    assert "Operator admin (role admin) set up." in made
    with HubStore(hub_dir) as store:
        assert _names(store) == [("admin", "admin")]

"""Shared fixtures and helpers for the fieldkit test suite."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import hypothesis_profiles
from tests.hub_backend import hub_database  # noqa: F401  (every hub of a test on the run's backend)
from tests.postgres import postgres_server, postgres_url  # noqa: F401  (fixtures for every test module)

hypothesis_profiles.load()  # before any test module builds its @settings

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"


def require_tool(name: str) -> str:
    """The path of a system tool; skip without it, but fail in CI where it must exist."""
    found = shutil.which(name)
    if found:
        return found
    message = f"'{name}' is not installed (scripts/install-system-packages.sh installs it)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)
    raise AssertionError("unreachable")


# Seconds each test module took in a whole run (setup, call and teardown of all its tests),
# for the order below. Refresh after adding or speeding up slow tests:
#   FIELDKIT_RECORD_DURATIONS=1 .venv/bin/python -m pytest -n 2 --maxschedchunk 1 -p no:cacheprovider
MODULE_DURATIONS = ROOT / "tests" / "durations.json"
UNRECORDED_SLOW_SECONDS = 30.0  # a guess for a slow test in a module the file does not know yet
UNRECORDED_SECONDS = 0.05


def _module(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[0]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest modules first, by their recorded time, slow tests first inside each.

    With pytest-xdist (``--maxschedchunk 1``) each free worker takes the next test in this
    order, so the long ones start early and short ones fill the gaps at the end: the workers
    end together. A module's tests stay together, so each worker sets up a module-scoped
    fixture once, not once per test. Sorting is stable and the same on every worker.
    """
    recorded: dict[str, float] = {}
    if MODULE_DURATIONS.is_file():
        recorded = json.loads(MODULE_DURATIONS.read_text(encoding="utf-8"))
    guessed: dict[str, float] = {}
    for item in items:
        slow = item.get_closest_marker("slow") is not None
        guessed[_module(item)] = guessed.get(_module(item), 0.0) + (
            UNRECORDED_SLOW_SECONDS if slow else UNRECORDED_SECONDS
        )
    items.sort(
        key=lambda item: (
            -recorded.get(_module(item), guessed[_module(item)]),
            _module(item),
            item.get_closest_marker("slow") is None,
        )
    )


_module_seconds: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if os.environ.get("FIELDKIT_RECORD_DURATIONS"):
        module = report.nodeid.split("::", 1)[0]
        _module_seconds[module] = _module_seconds.get(module, 0.0) + report.duration


def pytest_sessionfinish(session: pytest.Session) -> None:
    """With FIELDKIT_RECORD_DURATIONS set, update tests/durations.json with the modules that ran
    (once, by the xdist controller, not by each worker)."""
    if not os.environ.get("FIELDKIT_RECORD_DURATIONS") or hasattr(session.config, "workerinput"):
        return
    if not _module_seconds:
        return
    figures = json.loads(MODULE_DURATIONS.read_text(encoding="utf-8")) if MODULE_DURATIONS.is_file() else {}
    figures.update({module: round(seconds, 1) for module, seconds in _module_seconds.items()})
    figures = dict(sorted(figures.items()))
    MODULE_DURATIONS.write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")


@pytest.fixture
def artifacts_dir() -> Path:
    """Where tests keep screenshots and other artefacts a person should look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


PASSPHRASE = "a kit passphrase for tests"


@dataclass(frozen=True)
class KitFixture:
    data_dir: Path
    hub_identity: Path
    hub_recipient: str

    def identities(self):
        from fieldkit.core.crypto.hubkeys import load_hub_identities

        return load_hub_identities(self.hub_identity, None)

    def unlock(self):
        from fieldkit.kit.config import unlock

        return unlock(self.data_dir, PASSPHRASE)


@pytest.fixture
def kit(tmp_path: Path) -> KitFixture:
    """A fresh hub key (unprotected) and a kit sealing to it, with a cheap scrypt."""
    from fieldkit.core.crypto.hubkeys import generate_hub_keys
    from fieldkit.kit.config import init_kit

    hub = generate_hub_keys(tmp_path / "hub-keys", None)
    config = init_kit(tmp_path / "kit", hub.recipient, PASSPHRASE, work_factor=10)
    return KitFixture(config.data_dir, hub.identity_path, hub.recipient)


@pytest.fixture(scope="session")
def shipped_forms():
    from fieldkit.core import paths
    from fieldkit.core.formengine.catalogue import load_directory

    return load_directory(paths.forms_dir())


@pytest.fixture
def app(kit: KitFixture, shipped_forms):
    from fieldkit.kit.programme import Programme
    from fieldkit.kit.web.app import WebSettings, create_app

    return create_app(WebSettings(testing=True), kit.unlock(), Programme.from_forms(shipped_forms.values()))


@pytest.fixture
def client(app):
    return app.test_client()


def scan_for(needle: str, *roots: Path) -> list[Path]:
    """Every file under ``roots`` whose raw bytes contain ``needle`` (UTF-8 or UTF-16)."""
    patterns = [needle.encode("utf-8"), needle.encode("utf-16-le")]
    hits = []
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and any(p in path.read_bytes() for p in patterns):
                hits.append(path)
    return hits


@pytest.fixture
def passphrase_file(tmp_path: Path) -> Path:
    """A file holding the test kit passphrase, for --passphrase-file."""
    from tests.sync_cli import write_passphrase_file

    return write_passphrase_file(tmp_path)


@pytest.fixture
def hub_keys(tmp_path: Path) -> Path:
    """An unprotected hub identity and its recipient file, made with ``fieldkit hub keygen``."""
    from tests.sync_cli import make_hub_keys

    return make_hub_keys(tmp_path)


def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of this pytest run that all its pytest-xdist workers share."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def x86_64_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of x86_64 wheels that ``scripts/offline-bundle.sh OUT --platform x86_64`` made.

    Made once per run: the first worker that needs it makes it, under a lock, and the
    others wait for it and share it (the tests only read it).
    """
    from tests.offline import make_bundle

    shared = run_folder(tmp_path_factory)
    out = shared / "offline-bundle"
    made = shared / "offline-bundle.made"
    with open(shared / "offline-bundle.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not made.exists():
            shutil.rmtree(out, ignore_errors=True)  # a try that failed, in another worker
            done = make_bundle(out, "--platform", "x86_64")
            assert done.returncode == 0, done.stdout + done.stderr
            made.touch()
    return out / "x86_64"

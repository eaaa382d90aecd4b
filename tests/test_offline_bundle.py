"""scripts/offline-bundle.sh: wheels from the lock that install fieldkit with no index reachable.

The x86_64 bundle (made once per session, tests/offline.py) is installed into a fresh
virtual environment with README.txt's command while pip can reach no index at all, and
the installed ``fieldkit demo`` serves the pair page. pip's cache may make the bundle
quick to make; installing from it uses nothing but the folder.
"""

from __future__ import annotations

import platform
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.installed_smoke import running
from tests.offline import make_bundle, no_index_environment

pytestmark = pytest.mark.slow


def _locked_names() -> set[str]:
    """The packages of the lock that CPython on Linux installs (not, say, tzdata for Windows)."""
    from packaging.markers import Marker

    text = (ROOT / "requirements" / "runtime.lock").read_text(encoding="utf-8")
    return {
        re.sub(r"[-_.]+", "_", name).lower()
        for name, marker in re.findall(r"^([A-Za-z0-9_.-]+)==\S+(?: ; ([^\\\n]+))?", text, re.MULTILINE)
        if not marker or Marker(marker.strip()).evaluate({"sys_platform": "linux", "implementation_name": "cpython"})
    }


def _wheel_names(folder: Path) -> set[str]:
    return {wheel.name.split("-")[0].lower() for wheel in folder.glob("*.whl")}


def _run(command: list, **kwargs) -> subprocess.CompletedProcess[str]:
    command = [str(part) for part in command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False, **kwargs)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}"
    return done


# First in the file: it makes its own bundle, so while one pytest-xdist worker runs it, the
# other makes the shared x86_64 bundle (conftest.py) instead of waiting for it.
def test_the_aarch64_bundle_has_a_wheel_for_every_locked_package(tmp_path: Path) -> None:
    done = make_bundle(tmp_path / "out", "--platform", "aarch64")
    assert done.returncode == 0, done.stdout + done.stderr
    folder = tmp_path / "out" / "aarch64"
    assert _wheel_names(folder) == _locked_names() | {"fieldkit"}
    for wheel in folder.glob("*.whl"):
        tags = wheel.name.removesuffix(".whl").split("-")[-1]
        assert tags == "any" or "aarch64" in tags, wheel.name
    assert not (tmp_path / "out" / "x86_64").exists()


def test_the_x86_64_bundle_installs_with_no_index_and_the_demo_serves(x86_64_bundle: Path, tmp_path: Path) -> None:
    if platform.machine() != "x86_64":
        pytest.skip(f"the x86_64 bundle cannot be installed on {platform.machine()}")
    assert _wheel_names(x86_64_bundle) == _locked_names() | {"fieldkit"}
    _run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=x86_64_bundle)
    readme = (x86_64_bundle.parent / "README.txt").read_text(encoding="utf-8")
    command = re.search(r"^    VENV/bin/pip install --no-index --find-links DIR fieldkit$", readme, re.MULTILINE)
    assert command, readme

    venv = tmp_path / "venv"
    environment = no_index_environment()
    _run([sys.executable, "-m", "venv", venv], env=environment)
    _run([venv / "bin" / "pip", "install", "--quiet", "--no-index", "--find-links", x86_64_bundle, "fieldkit"],
         env=environment, cwd=tmp_path)  # fmt: skip
    where = _run([venv / "bin" / "python", "-c", "import fieldkit; print(fieldkit.__file__)"], cwd=tmp_path)
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout  # the installed one, not this checkout's

    serving = [str(venv / "bin" / "fieldkit"), "demo", "--host", "127.0.0.1", "--port", "0"]
    with running(serving, cwd=str(tmp_path), env=environment) as (base, code, output):
        assert code and "Traceback" not in output, output
        with urllib.request.urlopen(base + "/pair", timeout=30) as response:
            assert response.status == 200
            assert b"<form" in response.read()


def test_without_an_index_pip_really_finds_nothing(tmp_path: Path) -> None:
    """The environment above can fail: with no --find-links, the same install finds no fieldkit."""
    venv = tmp_path / "venv"
    environment = no_index_environment()
    _run([sys.executable, "-m", "venv", "--without-pip", venv])
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--quiet",
         "--retries", "0", "--timeout", "5", "fieldkit"],
        capture_output=True, text=True, timeout=120, check=False, env=environment,
    )  # fmt: skip
    assert done.returncode != 0
    assert "No matching distribution found for fieldkit" in done.stderr, done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--platform", "arm"], "--platform arm: use x86_64, aarch64 or all"),
        (["--python-version", "three"], "--python-version three: use a version like 3.11"),
        (["--frobnicate"], "unknown option --frobnicate"),
    ],
)
def test_bad_options_are_refused_and_make_nothing(tmp_path: Path, args: list[str], message: str) -> None:
    done = make_bundle(tmp_path / "out", *args)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert not (tmp_path / "out").exists()


def test_a_folder_that_holds_files_already_is_refused(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.whl").write_text("old")
    done = make_bundle(tmp_path / "out", "--platform", "x86_64")
    assert done.returncode == 2 and "is not empty" in done.stderr, done.stderr
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["old.whl"]
